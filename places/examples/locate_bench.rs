//! Point-location benchmark: builds the index over a generated street of 2,000 micro-grids and
//! times `LocateIndex::leaf_at` on one thread over random points in the street's bounding box.
//!
//!     cargo run --release -p gridwing-places --example locate_bench [LOOKUPS]
//!
//! `scripts/bench/locate` runs it pinned to one core. The points are drawn before the clock
//! starts, so the rate is the lookup alone.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use places::demo_street::{DemoParams, generate};
use places::geometry::{BBox, Coord, Shape};
use places::locate::{LocateIndex, Node};
use places::tree::Level;
use serde_json::Value;

const DEFAULT_LOOKUPS: usize = 5_000_000;
const MICRO_GRIDS: usize = 2_000;

fn main() -> ExitCode {
    let lookups = match std::env::args().nth(1).map(|a| a.replace('_', "").parse()) {
        None => DEFAULT_LOOKUPS,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: locate_bench [LOOKUPS]");
            return ExitCode::FAILURE;
        }
    };
    match run(lookups) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("locate_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(lookups: usize) -> Result<(), String> {
    let street = generate(&DemoParams {
        street_code: "BENCH".into(),
        street_name: "基准街道".into(),
        center: [120.15, 30.28],
        communities: 36,
        grids: 600,
        micro_grids: MICRO_GRIDS,
        buildings_per_micro_grid: 0,
        seed: 0x6c6f_6361_7465,
    });
    let areas = parse_areas(&street.areas)?;
    let bbox = tree_bbox(&areas).ok_or("the generated street has no shapes")?;
    let micro_grids = areas
        .iter()
        .filter(|(n, _)| n.level == Level::MicroGrid)
        .count();

    let started = Instant::now();
    let index = LocateIndex::build(areas);
    let build_time = started.elapsed();

    let points = random_points(bbox, lookups, 0x5eed);
    let started = Instant::now();
    let mut hits = 0usize;
    for &p in &points {
        hits += usize::from(black_box(index.leaf_at(black_box(p))).is_some());
    }
    let secs = started.elapsed().as_secs_f64();

    println!(
        "locate: {micro_grids} micro-grids, {lookups} lookups in {secs:.2} s = {} lookups/s",
        thousands((lookups as f64 / secs).round() as u64)
    );
    println!(
        "  {:.1} % of the points hit a leaf ({} leaves); index built in {:.1} ms",
        100.0 * hits as f64 / lookups.max(1) as f64,
        index.leaves(),
        build_time.as_secs_f64() * 1e3
    );
    Ok(())
}

/// The FeatureCollection's features as index input: `properties` give code, name, level and
/// parent_code; a null geometry means an area without a shape.
fn parse_areas(collection: &Value) -> Result<Vec<(Node, Option<Shape>)>, String> {
    let features = collection["features"]
        .as_array()
        .ok_or("areas is not a FeatureCollection")?;
    features
        .iter()
        .map(|f| {
            let props = &f["properties"];
            let text = |key: &str| {
                props[key]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or(format!("feature without {key}: {props}"))
            };
            let level = Level::parse(&text("level")?).ok_or(format!("bad level: {props}"))?;
            let shape = match &f["geometry"] {
                Value::Null => None,
                g => Some(Shape::from_geojson(g).map_err(|e| format!("{}: {e}", props["code"]))?),
            };
            let node = Node {
                code: text("code")?,
                name: text("name")?,
                level,
                parent: props["parent_code"].as_str().map(str::to_owned),
            };
            Ok((node, shape))
        })
        .collect()
}

/// The box around every shape; the street itself may come without geometry.
fn tree_bbox(areas: &[(Node, Option<Shape>)]) -> Option<BBox> {
    areas
        .iter()
        .filter_map(|(_, s)| s.as_ref().map(Shape::bbox))
        .reduce(|a, b| BBox {
            min: [a.min[0].min(b.min[0]), a.min[1].min(b.min[1])],
            max: [a.max[0].max(b.max[0]), a.max[1].max(b.max[1])],
        })
}

/// `n` uniform points in `bbox`, from splitmix64 so every run measures the same points.
fn random_points(bbox: BBox, n: usize, seed: u64) -> Vec<Coord> {
    let mut state = seed;
    let mut unit = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let (w, h) = (bbox.max[0] - bbox.min[0], bbox.max[1] - bbox.min[1]);
    (0..n)
        .map(|_| [bbox.min[0] + unit() * w, bbox.min[1] + unit() * h])
        .collect()
}

/// 1718000 → "1,718,000".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
