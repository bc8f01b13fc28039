//! The area tree and the checks an import must pass.
//!
//! A city hands over its whole area tree as one GeoJSON FeatureCollection. [`check_import`]
//! reads it and reports every problem in one go, each tied to its feature, so that whoever
//! prepared the file can fix it in one round instead of one error per upload. Nothing is
//! imported unless the whole file is clean.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::geometry::{BBox, Shape, bbox_overlap_m2};

/// The level of an area. The tree runs street → community → grid layer (optional) → grid →
/// micro-grid; zones and watch circles are overlays hanging off a street, outside the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 街道
    Street,
    /// 社区/村
    Community,
    /// 网层
    GridLayer,
    /// 网格
    Grid,
    /// 微网格
    MicroGrid,
    /// 防区: an enforcement zone.
    Zone,
    /// 重点防控圈: a key watch circle.
    WatchCircle,
}

impl Level {
    pub const ALL: [Level; 7] = [
        Level::Street,
        Level::Community,
        Level::GridLayer,
        Level::Grid,
        Level::MicroGrid,
        Level::Zone,
        Level::WatchCircle,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Street => "street",
            Level::Community => "community",
            Level::GridLayer => "grid_layer",
            Level::Grid => "grid",
            Level::MicroGrid => "micro_grid",
            Level::Zone => "zone",
            Level::WatchCircle => "watch_circle",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// Overlays lie over the tree rather than in it.
    pub fn is_overlay(self) -> bool {
        matches!(self, Level::Zone | Level::WatchCircle)
    }
}

/// One checked feature of an import, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaFeature {
    /// Position in the file's `features` array.
    pub index: usize,
    /// The city's own code of the area, unique within the import.
    pub code: String,
    /// The Chinese name, trimmed, e.g. "青山村第1网格".
    pub name: String,
    /// Where the area sits in the tree.
    pub level: Level,
    /// The parent's code; `None` only for a street.
    pub parent: Option<String>,
    /// Always present for grids, micro-grids, zones and watch circles.
    pub shape: Option<Shape>,
}

/// An area already stored that the import does not replace: parent lookups and overlap checks
/// see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingArea {
    /// The stored code; a feature with the same code replaces this area.
    pub code: String,
    /// The stored level, which decides what may hang under it.
    pub level: Level,
    /// The stored parent's code.
    pub parent: Option<String>,
    /// The stored shape, used for containment and overlap checks.
    pub shape: Option<Shape>,
}

/// One problem found in an import.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureError {
    /// The feature's position in `features`; `None` for a problem with the file as a whole.
    pub index: Option<usize>,
    /// The feature's code, when it has one.
    pub code: Option<String>,
    /// What is wrong, in words for whoever prepared the file.
    pub reason: String,
}

/// Why an import was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// The bytes do not parse as JSON; the parser's message says where.
    #[error("the file is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not `{"type": "FeatureCollection", "features": [...]}`.
    #[error("the file is not a GeoJSON FeatureCollection: {0}")]
    NotFeatureCollection(String),
    /// A FeatureCollection with problems, every one of them, ordered by feature.
    #[error("the import has {} problem(s)", .0.len())]
    Invalid(Vec<FeatureError>),
}

/// How much overlap the checks forgive: digitised neighbours rarely share their edges to the
/// last vertex, so slivers below both limits are drawing noise, not a conflict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckOptions {
    /// The share of the smaller area that may overlap (or lie outside its grid).
    pub overlap_tolerance: f64,
    /// The overlap in m² that is always forgiven, however small the areas.
    pub overlap_min_m2: f64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            overlap_tolerance: 0.001,
            overlap_min_m2: 1.0,
        }
    }
}

impl CheckOptions {
    /// The overlap in m² that is forgiven between shapes whose smaller area is `area_m2`.
    fn allowed_m2(&self, area_m2: f64) -> f64 {
        self.overlap_min_m2.max(self.overlap_tolerance * area_m2)
    }
}

/// Longest accepted code and name, in characters.
const MAX_CODE_CHARS: usize = 64;
const MAX_NAME_CHARS: usize = 100;

/// How often, in items, a phase reports its progress.
const PROGRESS_EVERY: usize = 100;

/// Checks an area-tree import against itself and the areas already stored.
///
/// Returns the features in file order, or every problem found. `progress` is called with the
/// phase (`parsing`, `geometry`, `overlaps`), the items done and the phase's total, every
/// hundred items and at the end of each phase.
pub fn check_import(
    bytes: &[u8],
    existing: &[ExistingArea],
    opts: &CheckOptions,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<Vec<AreaFeature>, Rejection> {
    let root: Value =
        serde_json::from_slice(bytes).map_err(|e| Rejection::NotJson(e.to_string()))?;
    let raw_features = feature_array(&root)?;
    let mut report = Report::default();
    if raw_features.is_empty() {
        report.file("the FeatureCollection has no features");
    }

    let mut progress = Progress::new(progress);

    let mut drafts = parse_features(raw_features, &mut report, &mut progress);
    mark_duplicates(&mut drafts, &mut report);
    // One "geometry" phase covers reading every shape, then fitting micro-grids in their grids.
    let micro_grids = drafts
        .iter()
        .filter(|d| d.level == Some(Level::MicroGrid))
        .count();
    let geometry = PhaseSize {
        shapes: drafts.len(),
        total: drafts.len() + micro_grids,
    };
    parse_shapes(&mut drafts, &mut report, &mut progress, geometry);

    let areas = AreaIndex::new(&drafts, existing);
    check_parents(&drafts, &areas, &mut report);
    check_micro_grids_in_grids(&drafts, &areas, opts, &mut report, &mut progress, geometry);
    check_overlaps(&drafts, &areas, opts, &mut report, &mut progress);

    report.finish(drafts)
}

/// The `features` array, or why the document is not a FeatureCollection.
fn feature_array(root: &Value) -> Result<&[Value], Rejection> {
    let not_fc = |why: String| Err(Rejection::NotFeatureCollection(why));
    let Some(obj) = root.as_object() else {
        return not_fc(format!(
            "the top level is {}, not an object",
            json_kind(root)
        ));
    };
    match obj.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => {}
        Some(other) => return not_fc(format!("its type is {other:?}")),
        None => return not_fc("it has no \"type\": \"FeatureCollection\"".into()),
    }
    match obj.get("features") {
        Some(Value::Array(features)) => Ok(features),
        Some(other) => not_fc(format!(
            "\"features\" is {}, not an array",
            json_kind(other)
        )),
        None => not_fc("it has no \"features\" array".into()),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every problem found so far.
#[derive(Default)]
struct Report {
    errors: Vec<FeatureError>,
}

impl Report {
    fn file(&mut self, reason: impl Into<String>) {
        self.errors.push(FeatureError {
            index: None,
            code: None,
            reason: reason.into(),
        });
    }

    fn feature(&mut self, draft: &Draft, reason: impl Into<String>) {
        self.errors.push(FeatureError {
            index: Some(draft.index),
            code: draft.code.clone(),
            reason: reason.into(),
        });
    }

    /// The features when nothing was found, else every problem ordered by feature; the checks
    /// run phase by phase, and whoever fixes the file reads it feature by feature.
    fn finish(mut self, drafts: Vec<Draft>) -> Result<Vec<AreaFeature>, Rejection> {
        if !self.errors.is_empty() {
            self.errors.sort_by_key(|e| e.index);
            return Err(Rejection::Invalid(self.errors));
        }
        // Without errors every feature has its code, name and level.
        Ok(drafts
            .into_iter()
            .filter_map(|d| {
                Some(AreaFeature {
                    index: d.index,
                    code: d.code?,
                    name: d.name?,
                    level: d.level?,
                    parent: d.parent,
                    shape: d.shape,
                })
            })
            .collect())
    }
}

/// A feature as far as it could be read. Fields that failed stay `None` so the later checks
/// can still run on what is there and report their own problems too.
struct Draft<'a> {
    index: usize,
    /// Kept even when malformed, so that its children find it and are not reported as well.
    code: Option<String>,
    name: Option<String>,
    level: Option<Level>,
    parent: Option<String>,
    /// The geometry as given, absent when missing or null.
    geometry: Option<&'a Value>,
    shape: Option<Shape>,
    /// A later feature reusing an earlier code: left out of lookups and overlap checks.
    duplicate: bool,
}

impl Draft<'_> {
    fn new(index: usize) -> Self {
        Draft {
            index,
            code: None,
            name: None,
            level: None,
            parent: None,
            geometry: None,
            shape: None,
            duplicate: false,
        }
    }
}

/// Passes progress on to the caller's callback every [`PROGRESS_EVERY`] items and at the start
/// and end of each phase, never twice for the same point.
struct Progress<'p> {
    sink: &'p mut dyn FnMut(&str, usize, usize),
    last: Option<(&'static str, usize)>,
}

impl<'p> Progress<'p> {
    fn new(sink: &'p mut dyn FnMut(&str, usize, usize)) -> Self {
        Progress { sink, last: None }
    }

    fn start(&mut self, phase: &'static str, total: usize) {
        self.send(phase, 0, total);
    }

    fn step(&mut self, phase: &'static str, done: usize, total: usize) {
        if done.is_multiple_of(PROGRESS_EVERY) {
            self.send(phase, done, total);
        }
    }

    fn end(&mut self, phase: &'static str, total: usize) {
        self.send(phase, total, total);
    }

    fn send(&mut self, phase: &'static str, done: usize, total: usize) {
        if self.last != Some((phase, done)) {
            (self.sink)(phase, done, total);
            self.last = Some((phase, done));
        }
    }
}

/// The size of the "geometry" phase: the shapes read first, then the micro-grid checks.
#[derive(Clone, Copy)]
struct PhaseSize {
    shapes: usize,
    total: usize,
}

fn parse_features<'a>(
    raw: &'a [Value],
    report: &mut Report,
    progress: &mut Progress,
) -> Vec<Draft<'a>> {
    let total = raw.len();
    progress.start("parsing", total);
    let mut drafts = Vec::with_capacity(total);
    for (index, value) in raw.iter().enumerate() {
        drafts.push(parse_feature(index, value, report));
        progress.step("parsing", index + 1, total);
    }
    progress.end("parsing", total);
    drafts
}

fn parse_feature<'a>(index: usize, value: &'a Value, report: &mut Report) -> Draft<'a> {
    let mut draft = Draft::new(index);
    let Some(feature) = value.as_object() else {
        let kind = json_kind(value);
        report.feature(&draft, format!("feature is {kind}, not a JSON object"));
        return draft;
    };
    draft.geometry = feature.get("geometry").filter(|g| !g.is_null());
    let Some(props) = feature.get("properties").and_then(Value::as_object) else {
        report.feature(&draft, "feature has no \"properties\" object");
        return draft;
    };
    // The code first, so that every later problem of this feature names it.
    let code = read_code(props);
    draft.code = code.as_ref().ok().map(|(c, _)| c.clone());
    if let Err(reason) = &code {
        report.feature(&draft, reason.clone());
    }
    if let Ok((_, Some(reason))) = code {
        report.feature(&draft, reason);
    }
    if let Some(kind) = feature.get("type")
        && kind.as_str() != Some("Feature")
    {
        report.feature(&draft, format!("feature type is {kind}, not \"Feature\""));
    }
    let name = read_name(props);
    let level = read_level(props);
    let parent = read_parent(props);
    for reason in [
        name.as_ref().err(),
        level.as_ref().err(),
        parent.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    {
        report.feature(&draft, reason.clone());
    }
    draft.name = name.ok();
    draft.level = level.ok();
    draft.parent = parent.ok().flatten();
    draft
}

/// The code, with the reason it is malformed if it is; `Err` when there is no string at all.
fn read_code(props: &Map<String, Value>) -> Result<(String, Option<String>), String> {
    match props.get("code") {
        Some(Value::String(code)) => {
            let valid = (1..=MAX_CODE_CHARS).contains(&code.chars().count())
                && code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            let problem = (!valid).then(|| {
                format!(
                    "code {code:?} must be 1 to {MAX_CODE_CHARS} characters of A-Z, a-z, 0-9, '-', '_' or '.'"
                )
            });
            Ok((code.clone(), problem))
        }
        None | Some(Value::Null) => Err("missing code".into()),
        Some(other) => Err(format!("code must be a string, not {}", json_kind(other))),
    }
}

fn read_name(props: &Map<String, Value>) -> Result<String, String> {
    match props.get("name") {
        Some(Value::String(name)) => {
            let name = name.trim();
            let chars = name.chars().count();
            if chars == 0 {
                Err("name is empty".into())
            } else if chars > MAX_NAME_CHARS {
                Err(format!(
                    "name has {chars} characters; at most {MAX_NAME_CHARS} are allowed"
                ))
            } else {
                Ok(name.to_owned())
            }
        }
        None | Some(Value::Null) => Err("missing name".into()),
        Some(other) => Err(format!("name must be a string, not {}", json_kind(other))),
    }
}

fn level_names() -> String {
    Level::ALL.map(Level::as_str).join(", ")
}

fn read_level(props: &Map<String, Value>) -> Result<Level, String> {
    match props.get("level") {
        Some(Value::String(level)) => Level::parse(level)
            .ok_or_else(|| format!("level {level:?} is not one of {}", level_names())),
        None | Some(Value::Null) => Err(format!("missing level (one of {})", level_names())),
        Some(other) => Err(format!("level must be a string, not {}", json_kind(other))),
    }
}

/// The parent's code. An empty string counts as no parent: attribute tables exported from
/// shapefiles cannot hold null and write "" instead.
fn read_parent(props: &Map<String, Value>) -> Result<Option<String>, String> {
    match props.get("parent_code") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(code)) if code.trim().is_empty() => Ok(None),
        Some(Value::String(code)) => Ok(Some(code.clone())),
        Some(other) => Err(format!(
            "parent_code must be a string or null, not {}",
            json_kind(other)
        )),
    }
}

/// Reports each later use of a code, naming the feature that used it first.
fn mark_duplicates(drafts: &mut [Draft], report: &mut Report) {
    let mut first: HashMap<String, usize> = HashMap::new();
    for draft in drafts.iter_mut() {
        let Some(code) = &draft.code else { continue };
        match first.get(code) {
            Some(&earlier) => {
                draft.duplicate = true;
                report.feature(
                    draft,
                    format!("duplicate code {code:?}: feature {earlier} already uses it"),
                );
            }
            None => {
                first.insert(code.clone(), draft.index);
            }
        }
    }
}

/// Levels whose areas must be drawn: a point has to be located in them.
fn needs_geometry(level: Level) -> bool {
    matches!(
        level,
        Level::Grid | Level::MicroGrid | Level::Zone | Level::WatchCircle
    )
}

fn parse_shapes(
    drafts: &mut [Draft],
    report: &mut Report,
    progress: &mut Progress,
    size: PhaseSize,
) {
    progress.start("geometry", size.total);
    for (done, draft) in drafts.iter_mut().enumerate() {
        match (draft.geometry, draft.level) {
            (Some(geometry), _) => match Shape::from_geojson(geometry) {
                Ok(shape) => draft.shape = Some(shape),
                Err(e) => report.feature(draft, format!("invalid geometry: {e}")),
            },
            (None, Some(level)) if needs_geometry(level) => report.feature(
                draft,
                format!(
                    "missing geometry: a {} needs a Polygon or MultiPolygon",
                    level.as_str()
                ),
            ),
            (None, _) => {}
        }
        progress.step("geometry", done + 1, size.total);
    }
}

/// What the checks need to know about an area, from the file or from storage.
struct AreaRef<'a> {
    /// Position in `drafts` for a feature of the file; `None` for a stored area.
    draft: Option<usize>,
    code: &'a str,
    level: Option<Level>,
    shape: Option<&'a Shape>,
}

/// Every area the import can refer to: the file's features (first use of each code) and the
/// stored areas the file does not replace.
struct AreaIndex<'a> {
    areas: Vec<AreaRef<'a>>,
    by_code: HashMap<&'a str, usize>,
}

impl<'a> AreaIndex<'a> {
    fn new(drafts: &'a [Draft], existing: &'a [ExistingArea]) -> Self {
        let mut areas = Vec::with_capacity(drafts.len() + existing.len());
        for (i, d) in drafts.iter().enumerate().filter(|(_, d)| !d.duplicate) {
            if let Some(code) = &d.code {
                areas.push(AreaRef {
                    draft: Some(i),
                    code,
                    level: d.level,
                    shape: d.shape.as_ref(),
                });
            }
        }
        let replaced: HashSet<&str> = areas.iter().map(|a| a.code).collect();
        for e in existing
            .iter()
            .filter(|e| !replaced.contains(e.code.as_str()))
        {
            areas.push(AreaRef {
                draft: None,
                code: &e.code,
                level: Some(e.level),
                shape: e.shape.as_ref(),
            });
        }
        let mut by_code = HashMap::with_capacity(areas.len());
        for (i, a) in areas.iter().enumerate() {
            by_code.entry(a.code).or_insert(i);
        }
        AreaIndex { areas, by_code }
    }

    fn get(&self, code: &str) -> Option<&AreaRef<'a>> {
        self.by_code.get(code).map(|&i| &self.areas[i])
    }
}

/// The levels an area of `level` may hang under.
fn allowed_parents(level: Level) -> &'static [Level] {
    match level {
        Level::Street => &[],
        Level::Community => &[Level::Street],
        Level::GridLayer => &[Level::Community],
        Level::Grid => &[Level::Community, Level::GridLayer],
        Level::MicroGrid => &[Level::Grid],
        Level::Zone | Level::WatchCircle => &[Level::Street],
    }
}

fn describe_levels(levels: &[Level]) -> String {
    levels
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

fn check_parents(drafts: &[Draft], areas: &AreaIndex, report: &mut Report) {
    for draft in drafts {
        let Some(level) = draft.level else { continue };
        if let Some(reason) = parent_problem(level, draft.parent.as_deref(), areas) {
            report.feature(draft, reason);
        }
    }
}

fn parent_problem(level: Level, parent: Option<&str>, areas: &AreaIndex) -> Option<String> {
    let allowed = allowed_parents(level);
    let Some(parent) = parent else {
        return (!allowed.is_empty()).then(|| {
            format!(
                "missing parent_code: a {} belongs under a {}",
                level.as_str(),
                describe_levels(allowed)
            )
        });
    };
    if allowed.is_empty() {
        return Some(format!(
            "a {} has no parent, but parent_code is {parent:?}",
            level.as_str()
        ));
    }
    let Some(found) = areas.get(parent) else {
        return Some(format!("unknown parent {parent}"));
    };
    // A parent whose own level is unreadable has been reported already.
    let parent_level = found.level?;
    (!allowed.contains(&parent_level)).then(|| {
        format!(
            "wrong level order: a {} cannot be under a {} (its parent {parent} must be a {})",
            level.as_str(),
            parent_level.as_str(),
            describe_levels(allowed)
        )
    })
}

/// A micro-grid must lie within its grid, up to the forgiven sliver: otherwise a point can fall
/// in the micro-grid but outside the grid that answers for it.
fn check_micro_grids_in_grids(
    drafts: &[Draft],
    areas: &AreaIndex,
    opts: &CheckOptions,
    report: &mut Report,
    progress: &mut Progress,
    size: PhaseSize,
) {
    let micro_grids = drafts.iter().filter(|d| d.level == Some(Level::MicroGrid));
    for (done, draft) in (size.shapes + 1..).zip(micro_grids) {
        if let Some(reason) = outside_grid(draft, areas, opts) {
            report.feature(draft, reason);
        }
        progress.step("geometry", done, size.total);
    }
    progress.end("geometry", size.total);
}

fn outside_grid(micro: &Draft, areas: &AreaIndex, opts: &CheckOptions) -> Option<String> {
    let shape = micro.shape.as_ref()?;
    let parent = micro.parent.as_deref()?;
    let grid = areas.get(parent)?;
    if grid.level != Some(Level::Grid) {
        return None;
    }
    let outside = shape.outside_m2(grid.shape?);
    let allowed = opts.allowed_m2(shape.area_m2());
    (outside > allowed).then(|| {
        format!(
            "micro-grid lies outside its grid {parent}: {outside:.1} m² outside (at most {allowed:.1} m² allowed)"
        )
    })
}

/// An area taking part in the overlap checks of its level.
struct Candidate<'a> {
    area: &'a AreaRef<'a>,
    shape: &'a Shape,
    bbox: BBox,
    area_m2: f64,
}

/// The levels whose areas must not overlap one another; watch circles may overlap freely.
const EXCLUSIVE_LEVELS: [Level; 3] = [Level::Grid, Level::MicroGrid, Level::Zone];

fn check_overlaps(
    drafts: &[Draft],
    areas: &AreaIndex,
    opts: &CheckOptions,
    report: &mut Report,
    progress: &mut Progress,
) {
    let groups: Vec<Vec<Candidate>> = EXCLUSIVE_LEVELS
        .iter()
        .map(|&level| candidates(areas, level))
        .filter(|group| group.iter().any(|c| c.area.draft.is_some()))
        .collect();
    let total = groups.iter().map(Vec::len).sum();
    progress.start("overlaps", total);
    let mut done = 0;
    for group in &groups {
        for k in 0..group.len() {
            for (other, m2) in overlaps_after(group, k, opts) {
                report_overlap(drafts, &group[k], other, m2, report);
                report_overlap(drafts, other, &group[k], m2, report);
            }
            done += 1;
            progress.step("overlaps", done, total);
        }
    }
    progress.end("overlaps", total);
}

/// The areas of `level` with a shape, sorted by their western edge for the sweep.
fn candidates<'a>(areas: &'a AreaIndex<'a>, level: Level) -> Vec<Candidate<'a>> {
    let mut group: Vec<Candidate> = areas
        .areas
        .iter()
        .filter(|a| a.level == Some(level))
        .filter_map(|area| {
            let shape = area.shape?;
            Some(Candidate {
                area,
                shape,
                bbox: shape.bbox(),
                area_m2: shape.area_m2(),
            })
        })
        .collect();
    group.sort_by(|a, b| a.bbox.min[0].total_cmp(&b.bbox.min[0]));
    group
}

/// The areas after `group[k]` in the sweep that overlap it by more than is forgiven, with the
/// overlap in m². Only boxes that meet are looked at, and only when the meeting of the boxes
/// could hold more than the forgiven overlap is the exact overlap measured; two stored areas
/// are not this import's business.
fn overlaps_after<'c, 'a>(
    group: &'c [Candidate<'a>],
    k: usize,
    opts: &CheckOptions,
) -> Vec<(&'c Candidate<'a>, f64)> {
    let a = &group[k];
    let mut found = Vec::new();
    for b in &group[k + 1..] {
        if b.bbox.min[0] > a.bbox.max[0] {
            break;
        }
        if (a.area.draft.is_none() && b.area.draft.is_none()) || !a.bbox.intersects(&b.bbox) {
            continue;
        }
        let allowed = opts.allowed_m2(a.area_m2.min(b.area_m2));
        if bbox_overlap_m2(&a.bbox, &b.bbox) <= allowed {
            continue;
        }
        let m2 = a.shape.intersection_m2(b.shape);
        if m2 > allowed {
            found.push((b, m2));
        }
    }
    found
}

fn report_overlap(drafts: &[Draft], a: &Candidate, b: &Candidate, m2: f64, report: &mut Report) {
    let Some(i) = a.area.draft else { return };
    let level = b.area.level.map_or("area", Level::as_str);
    let stored = if b.area.draft.is_none() {
        "stored "
    } else {
        ""
    };
    report.feature(
        &drafts[i],
        format!("overlaps {stored}{level} {} by {m2:.1} m²", b.area.code),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const LNG: f64 = 120.15;
    const LAT: f64 = 30.28;

    /// A square polygon, offsets and size in thousandths of a degree from (LNG, LAT): about
    /// 96 m east-west and 111 m north-south per unit.
    fn square(x: f64, y: f64, w: f64, h: f64) -> Value {
        let (x0, y0) = (LNG + x / 1000.0, LAT + y / 1000.0);
        let (x1, y1) = (x0 + w / 1000.0, y0 + h / 1000.0);
        json!({"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]})
    }

    fn feature(
        code: &str,
        name: &str,
        level: &str,
        parent: Option<&str>,
        geometry: Value,
    ) -> Value {
        json!({
            "type": "Feature",
            "properties": {"code": code, "name": name, "level": level, "parent_code": parent},
            "geometry": geometry,
        })
    }

    fn collection(features: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({"type": "FeatureCollection", "features": features})).unwrap()
    }

    fn check(bytes: &[u8], existing: &[ExistingArea]) -> Result<Vec<AreaFeature>, Rejection> {
        check_import(bytes, existing, &CheckOptions::default(), &mut |_, _, _| {})
    }

    fn errors_of(result: Result<Vec<AreaFeature>, Rejection>) -> Vec<FeatureError> {
        match result {
            Err(Rejection::Invalid(errors)) => errors,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn shape(geometry: Value) -> Option<Shape> {
        Some(Shape::from_geojson(&geometry).unwrap())
    }

    fn stored(code: &str, level: Level, parent: Option<&str>, geometry: Value) -> ExistingArea {
        ExistingArea {
            code: code.into(),
            level,
            parent: parent.map(str::to_owned),
            shape: (!geometry.is_null()).then(|| Shape::from_geojson(&geometry).unwrap()),
        }
    }

    /// Street, community and grid as stored, for imports that add below them.
    fn stored_top() -> Vec<ExistingArea> {
        vec![
            stored("S1", Level::Street, None, Value::Null),
            stored("C1", Level::Community, Some("S1"), Value::Null),
            stored("G1", Level::Grid, Some("C1"), square(0.0, 0.0, 10.0, 10.0)),
        ]
    }

    fn valid_tree() -> Vec<Value> {
        vec![
            feature("S1", "青山街道", "street", None, Value::Null),
            feature("C1", "青山村", "community", Some("S1"), Value::Null),
            feature(
                "G1",
                "青山村第1网格",
                "grid",
                Some("C1"),
                square(0.0, 0.0, 10.0, 10.0),
            ),
            feature(
                "M1",
                "第1微网格",
                "micro_grid",
                Some("G1"),
                square(0.0, 0.0, 5.0, 10.0),
            ),
            feature(
                "M2",
                "第2微网格",
                "micro_grid",
                Some("G1"),
                square(5.0, 0.0, 5.0, 10.0),
            ),
            // Zones lie over grids freely; only zones among themselves must not overlap.
            feature(
                "Z1",
                "第1防区",
                "zone",
                Some("S1"),
                square(2.0, 2.0, 20.0, 20.0),
            ),
        ]
    }

    #[test]
    fn valid_small_tree_passes_in_file_order() {
        let features = check(&collection(valid_tree()), &[]).unwrap();
        let codes: Vec<&str> = features.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["S1", "C1", "G1", "M1", "M2", "Z1"]);
        assert_eq!(features[2].name, "青山村第1网格");
        assert_eq!(features[3].level, Level::MicroGrid);
        assert_eq!(features[3].parent.as_deref(), Some("G1"));
        assert_eq!(features[4].index, 4);
        assert!(features[0].shape.is_none() && features[0].parent.is_none());
        assert_eq!(features[5].shape, shape(square(2.0, 2.0, 20.0, 20.0)));
    }

    #[test]
    fn every_fault_of_a_file_is_reported_at_once() {
        let unclosed = json!({"type": "Polygon", "coordinates": [[
            [LNG, LAT], [LNG + 0.001, LAT], [LNG + 0.001, LAT + 0.001], [LNG, LAT + 0.001]
        ]]});
        let bow_tie = json!({"type": "Polygon", "coordinates": [[
            [LNG + 0.005, LAT + 0.005], [LNG + 0.006, LAT + 0.006],
            [LNG + 0.006, LAT + 0.005], [LNG + 0.005, LAT + 0.006], [LNG + 0.005, LAT + 0.005]
        ]]});
        let bytes = collection(vec![
            feature("S1", "青山街道", "street", None, Value::Null),
            feature("C1", "青山村", "community", Some("S1"), Value::Null),
            feature(
                "G1",
                "第1网格",
                "grid",
                Some("C1"),
                square(0.0, 0.0, 10.0, 10.0),
            ),
            feature(
                "G2",
                "第2网格",
                "grid",
                Some("C1"),
                square(5.0, 0.0, 10.0, 10.0),
            ),
            feature(
                "M1",
                "孤儿",
                "micro_grid",
                Some("NOPE"),
                square(200.0, 200.0, 5.0, 5.0),
            ),
            feature(
                "M2",
                "第2微网格",
                "micro_grid",
                Some("G1"),
                square(0.0, 0.0, 4.0, 4.0),
            ),
            feature(
                "G3",
                "错层网格",
                "grid",
                Some("M2"),
                square(100.0, 100.0, 10.0, 10.0),
            ),
            feature(
                "M2",
                "重复",
                "micro_grid",
                Some("G1"),
                square(0.0, 6.0, 2.0, 2.0),
            ),
            feature("M3", "未闭合", "micro_grid", Some("G1"), unclosed),
            feature("M4", "自相交", "micro_grid", Some("G1"), bow_tie),
            feature(
                "M5",
                "越界",
                "micro_grid",
                Some("G1"),
                square(8.0, 5.0, 4.0, 4.0),
            ),
            feature("G4", "无图形", "grid", Some("C1"), Value::Null),
        ]);
        let errors = errors_of(check(&bytes, &[]));
        let expected: [(usize, &str, &str); 9] = [
            (2, "G1", "overlaps grid G2 by "),
            (3, "G2", "overlaps grid G1 by "),
            (4, "M1", "unknown parent NOPE"),
            (
                6,
                "G3",
                "wrong level order: a grid cannot be under a micro_grid",
            ),
            (7, "M2", "duplicate code \"M2\": feature 5 already uses it"),
            (
                8,
                "M3",
                "invalid geometry: ring coordinates[0] is not closed",
            ),
            (
                9,
                "M4",
                "invalid geometry: ring coordinates[0] intersects itself",
            ),
            (10, "M5", "micro-grid lies outside its grid G1: "),
            (
                11,
                "G4",
                "missing geometry: a grid needs a Polygon or MultiPolygon",
            ),
        ];
        for (index, code, reason) in expected {
            assert!(
                errors.iter().any(|e| e.index == Some(index)
                    && e.code.as_deref() == Some(code)
                    && e.reason.starts_with(reason)),
                "no error {index} {code} {reason:?} in {errors:#?}"
            );
        }
        assert_eq!(
            errors.len(),
            expected.len(),
            "unexpected extra errors: {errors:#?}"
        );
        // Half of G1 lies in G2: about 482 m × 1112 m.
        let overlap = &errors.iter().find(|e| e.index == Some(2)).unwrap().reason;
        let m2: f64 = overlap
            .trim_start_matches("overlaps grid G2 by ")
            .trim_end_matches(" m²")
            .parse()
            .unwrap();
        assert!((m2 - 535_000.0).abs() < 10_000.0, "{overlap}");
        let indices: Vec<Option<usize>> = errors.iter().map(|e| e.index).collect();
        assert!(
            indices.is_sorted(),
            "errors are not in file order: {indices:?}"
        );
    }

    #[test]
    fn malformed_features_are_each_explained() {
        let long_name = "网".repeat(101);
        let bytes = collection(vec![
            json!("not a feature"),
            json!({"type": "Feature", "geometry": null}),
            json!({"type": "Feature", "properties": {"name": "无编号", "level": "street"}}),
            json!({"type": "Feature", "properties": {"code": "bad code!", "name": "坏编号", "level": "street"}}),
            json!({"type": "Feature", "properties": {"code": "S2", "name": "  ", "level": "street"}}),
            json!({"type": "Feature", "properties": {"code": "S3", "name": long_name, "level": "street"}}),
            json!({"type": "Feature", "properties": {"code": "S4", "name": "街道", "level": "city"}}),
            json!({"type": "Feature", "properties": {"code": "S5", "name": "街道"}}),
            json!({"type": "Feature", "properties": {"code": "S6", "name": "街道", "level": "street", "parent_code": 7}}),
            json!({"type": "Feature", "properties": {"code": 8, "name": "街道", "level": "street"}}),
            json!({"type": "Feature", "properties": {"code": "S9", "name": "街道", "level": "street"},
                   "geometry": {"type": "Point", "coordinates": [LNG, LAT]}}),
            json!({"type": "Feature", "properties": {"code": "S10", "name": "街道", "level": "street", "parent_code": "S2"}}),
            json!({"type": "Feature", "properties": {"code": "Z1", "name": "防区", "level": "zone"},
                   "geometry": square(0.0, 0.0, 1.0, 1.0)}),
        ]);
        let errors = errors_of(check(&bytes, &[]));
        let expected: [(usize, Option<&str>, &str); 13] = [
            (0, None, "feature is a string, not a JSON object"),
            (1, None, "feature has no \"properties\" object"),
            (2, None, "missing code"),
            (
                3,
                Some("bad code!"),
                "code \"bad code!\" must be 1 to 64 characters",
            ),
            (4, Some("S2"), "name is empty"),
            (
                5,
                Some("S3"),
                "name has 101 characters; at most 100 are allowed",
            ),
            (
                6,
                Some("S4"),
                "level \"city\" is not one of street, community, grid_layer, grid, micro_grid, zone, watch_circle",
            ),
            (7, Some("S5"), "missing level"),
            (
                8,
                Some("S6"),
                "parent_code must be a string or null, not a number",
            ),
            (9, None, "code must be a string, not a number"),
            (
                10,
                Some("S9"),
                "invalid geometry: geometry must be a GeoJSON Polygon or MultiPolygon, not Point",
            ),
            (
                11,
                Some("S10"),
                "a street has no parent, but parent_code is \"S2\"",
            ),
            (
                12,
                Some("Z1"),
                "missing parent_code: a zone belongs under a street",
            ),
        ];
        for (index, code, reason) in expected {
            assert!(
                errors.iter().any(|e| e.index == Some(index)
                    && e.code.as_deref() == code
                    && e.reason.starts_with(reason)),
                "no error {index} {code:?} {reason:?} in {errors:#?}"
            );
        }
        assert_eq!(
            errors.len(),
            expected.len(),
            "unexpected extra errors: {errors:#?}"
        );
    }

    #[test]
    fn not_json_and_not_a_feature_collection_are_rejected() {
        assert!(matches!(
            check(b"{\"type\": ", &[]),
            Err(Rejection::NotJson(_))
        ));
        assert!(matches!(
            check("青山".as_bytes(), &[]),
            Err(Rejection::NotJson(_))
        ));
        for doc in [
            json!([1, 2]),
            json!({"type": "Feature", "properties": {}, "geometry": null}),
            json!({"type": "FeatureCollection"}),
            json!({"type": "FeatureCollection", "features": {}}),
            json!({"features": []}),
        ] {
            let bytes = serde_json::to_vec(&doc).unwrap();
            assert!(
                matches!(check(&bytes, &[]), Err(Rejection::NotFeatureCollection(_))),
                "{doc}"
            );
        }
    }

    #[test]
    fn empty_collection_is_a_file_level_error() {
        let errors = errors_of(check(&collection(vec![]), &[]));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].index, None);
        assert!(errors[0].reason.contains("no features"));
    }

    #[test]
    fn parents_are_found_among_stored_areas() {
        let bytes = collection(vec![
            feature(
                "M1",
                "第1微网格",
                "micro_grid",
                Some("G1"),
                square(0.0, 0.0, 5.0, 10.0),
            ),
            feature(
                "G2",
                "第2网格",
                "grid",
                Some("C1"),
                square(10.0, 0.0, 10.0, 10.0),
            ),
            feature(
                "Z1",
                "防区",
                "zone",
                Some("S1"),
                square(0.0, 0.0, 30.0, 30.0),
            ),
        ]);
        let features = check(&bytes, &stored_top()).unwrap();
        assert_eq!(features.len(), 3);
        // The stored grid's shape is what a new micro-grid must fit in.
        let outside = collection(vec![feature(
            "M1",
            "越界",
            "micro_grid",
            Some("G1"),
            square(5.0, 0.0, 10.0, 10.0),
        )]);
        let errors = errors_of(check(&outside, &stored_top()));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0]
                .reason
                .starts_with("micro-grid lies outside its grid G1")
        );
        // And a stored micro-grid is no place for a grid.
        let mut existing = stored_top();
        existing.push(stored(
            "M9",
            Level::MicroGrid,
            Some("G1"),
            square(0.0, 0.0, 1.0, 1.0),
        ));
        let wrong = collection(vec![feature(
            "G5",
            "网格",
            "grid",
            Some("M9"),
            square(50.0, 0.0, 1.0, 1.0),
        )]);
        let errors = errors_of(check(&wrong, &existing));
        assert!(
            errors[0]
                .reason
                .starts_with("wrong level order: a grid cannot be under a micro_grid")
        );
    }

    #[test]
    fn overlap_with_a_stored_grid_is_reported() {
        let bytes = collection(vec![feature(
            "G2",
            "第2网格",
            "grid",
            Some("C1"),
            square(7.0, 0.0, 10.0, 10.0),
        )]);
        let errors = errors_of(check(&bytes, &stored_top()));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].index, Some(0));
        assert_eq!(errors[0].code.as_deref(), Some("G2"));
        assert!(
            errors[0].reason.starts_with("overlaps stored grid G1 by "),
            "{errors:#?}"
        );
    }

    #[test]
    fn stored_areas_overlapping_each_other_are_not_this_imports_business() {
        let mut existing = stored_top();
        existing.push(stored(
            "G8",
            Level::Grid,
            Some("C1"),
            square(5.0, 0.0, 10.0, 10.0),
        ));
        let bytes = collection(vec![feature(
            "G2",
            "第2网格",
            "grid",
            Some("C1"),
            square(100.0, 0.0, 10.0, 10.0),
        )]);
        assert!(check(&bytes, &existing).is_ok());
    }

    #[test]
    fn replacing_a_stored_area_does_not_compare_it_with_its_old_self() {
        let mut existing = stored_top();
        // A neighbour sharing the grid's eastern edge exactly must not count as an overlap.
        existing.push(stored(
            "G9",
            Level::Grid,
            Some("C1"),
            square(12.0, 0.0, 10.0, 10.0),
        ));
        let bytes = collection(vec![feature(
            "G1",
            "第1网格(调整)",
            "grid",
            Some("C1"),
            square(2.0, 0.0, 10.0, 10.0),
        )]);
        let features = check(&bytes, &existing).unwrap();
        assert_eq!(features[0].name, "第1网格(调整)");
    }

    #[test]
    fn overlaps_below_the_tolerance_are_forgiven() {
        // Grids of about 962 m × 1112 m (1.07 km²) overlapping in a strip 0.48 m wide: about
        // 535 m², under 0.1 % of their area but over 0.01 %.
        let sliver = 0.005;
        let bytes = collection(vec![
            feature("S1", "街道", "street", None, Value::Null),
            feature("C1", "社区", "community", Some("S1"), Value::Null),
            feature(
                "G1",
                "网格1",
                "grid",
                Some("C1"),
                square(0.0, 0.0, 10.0, 10.0),
            ),
            feature(
                "G2",
                "网格2",
                "grid",
                Some("C1"),
                square(10.0 - sliver, 0.0, 10.0, 10.0),
            ),
        ]);
        assert!(check(&bytes, &[]).is_ok());
        let strict = CheckOptions {
            overlap_tolerance: 0.0001,
            overlap_min_m2: 1.0,
        };
        let result = check_import(&bytes, &[], &strict, &mut |_, _, _| {});
        assert_eq!(errors_of(result).len(), 2);
    }

    #[test]
    fn watch_circles_may_overlap_but_zones_may_not() {
        let bytes = collection(vec![
            feature("S1", "街道", "street", None, Value::Null),
            feature(
                "W1",
                "圈1",
                "watch_circle",
                Some("S1"),
                square(0.0, 0.0, 10.0, 10.0),
            ),
            feature(
                "W2",
                "圈2",
                "watch_circle",
                Some("S1"),
                square(5.0, 0.0, 10.0, 10.0),
            ),
            feature(
                "Z1",
                "防区1",
                "zone",
                Some("S1"),
                square(0.0, 0.0, 10.0, 10.0),
            ),
            feature(
                "Z2",
                "防区2",
                "zone",
                Some("S1"),
                square(5.0, 0.0, 10.0, 10.0),
            ),
        ]);
        let errors = errors_of(check(&bytes, &[]));
        let indices: Vec<Option<usize>> = errors.iter().map(|e| e.index).collect();
        assert_eq!(indices, [Some(3), Some(4)], "{errors:#?}");
        assert!(errors[0].reason.starts_with("overlaps zone Z2"));
    }

    /// A street of `cols` × `rows` micro-grids under one grid. Inner corners are shifted
    /// pseudo-randomly so that edges are slanted and neighbouring boxes overlap, as with real
    /// drawings; neighbours share their corners exactly.
    fn lattice(cols: usize, rows: usize) -> Vec<Value> {
        let step = 0.001;
        let corner = |i: usize, j: usize| -> [f64; 2] {
            let inner = i > 0 && j > 0 && i < cols && j < rows;
            let h = (i * 7919 + j * 104_729) % 1000;
            let (dx, dy) = if inner {
                (
                    (h as f64 / 1000.0 - 0.5) * 0.4 * step,
                    ((h * 31 % 1000) as f64 / 1000.0 - 0.5) * 0.4 * step,
                )
            } else {
                (0.0, 0.0)
            };
            [LNG + i as f64 * step + dx, LAT + j as f64 * step + dy]
        };
        let (w, h) = (cols as f64 * step, rows as f64 * step);
        let mut features = vec![
            feature("S1", "街道", "street", None, Value::Null),
            feature("C1", "社区", "community", Some("S1"), Value::Null),
            feature(
                "G1",
                "网格",
                "grid",
                Some("C1"),
                json!({"type": "Polygon", "coordinates": [[
                    [LNG, LAT], [LNG + w, LAT], [LNG + w, LAT + h], [LNG, LAT + h], [LNG, LAT]
                ]]}),
            ),
        ];
        for i in 0..cols {
            for j in 0..rows {
                // Corners along the grid's border sit on it, so edge points of the outer cells
                // are listed too.
                let ring = [
                    corner(i, j),
                    corner(i + 1, j),
                    corner(i + 1, j + 1),
                    corner(i, j + 1),
                    corner(i, j),
                ];
                features.push(feature(
                    &format!("M{i}-{j}"),
                    "微网格",
                    "micro_grid",
                    Some("G1"),
                    json!({"type": "Polygon", "coordinates": [ring]}),
                ));
            }
        }
        features
    }

    #[test]
    fn two_thousand_neighbouring_micro_grids_pass_and_report_progress() {
        let bytes = collection(lattice(40, 50));
        let mut calls: Vec<(String, usize, usize)> = Vec::new();
        let result = check_import(
            &bytes,
            &[],
            &CheckOptions::default(),
            &mut |phase, done, total| {
                calls.push((phase.to_owned(), done, total));
            },
        );
        assert_eq!(result.unwrap().len(), 2_003);
        let phases: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect::<Vec<_>>();
        let mut order = phases.clone();
        order.dedup();
        assert_eq!(order, ["parsing", "geometry", "overlaps"]);
        for phase in ["parsing", "geometry", "overlaps"] {
            let mine: Vec<_> = calls.iter().filter(|c| c.0 == phase).collect();
            let last = mine.last().unwrap();
            assert_eq!(last.1, last.2, "{phase} does not end at its total");
            assert!(
                mine.windows(2)
                    .all(|w| w[0].1 < w[1].1 && w[1].1 - w[0].1 <= 100)
            );
            assert!(
                mine.len() >= 20,
                "{phase} reported only {} times",
                mine.len()
            );
        }
        assert_eq!(calls.iter().find(|c| c.0 == "parsing").unwrap().2, 2_003);
        assert_eq!(
            calls.iter().find(|c| c.0 == "geometry").unwrap().2,
            2_003 + 2_000
        );
        assert_eq!(
            calls.iter().find(|c| c.0 == "overlaps").unwrap().2,
            1 + 2_000
        );
    }

    #[test]
    fn one_shifted_micro_grid_among_two_thousand_is_found() {
        let mut features = lattice(40, 50);
        // Move one cell a third of a step east, on top of its neighbour.
        let moved = features
            .iter_mut()
            .find(|f| f["properties"]["code"] == "M20-20")
            .unwrap();
        for p in moved["geometry"]["coordinates"][0].as_array_mut().unwrap() {
            p[0] = json!(p[0].as_f64().unwrap() + 0.000_33);
        }
        let errors = errors_of(check(&collection(features), &[]));
        let codes: HashSet<&str> = errors.iter().filter_map(|e| e.code.as_deref()).collect();
        assert!(
            codes.contains("M20-20") && codes.contains("M21-20"),
            "{errors:#?}"
        );
        assert!(
            errors
                .iter()
                .filter(|e| e.code.as_deref() == Some("M20-20"))
                .any(|e| e.reason.starts_with("overlaps micro_grid M21-20")),
            "{errors:#?}"
        );
    }

    #[test]
    fn demo_street_import_passes() {
        let street = crate::demo_street::generate(&crate::demo_street::DemoParams::qingshanhu());
        let bytes = serde_json::to_vec(&street.areas).unwrap();
        let features = check(&bytes, &[]).unwrap();
        assert!(
            features
                .iter()
                .filter(|f| f.level == Level::MicroGrid)
                .count()
                >= 388
        );
    }

    #[test]
    fn feature_error_serializes_for_the_api() {
        let e = FeatureError {
            index: Some(3),
            code: Some("G1".into()),
            reason: "unknown parent X".into(),
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"index": 3, "code": "G1", "reason": "unknown parent X"})
        );
    }
}
