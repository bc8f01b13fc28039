//! A generated street that looks real: 青山湖街道 (Qingshanhu street, Lin'an district, Hangzhou)
//! for a newcomer's first run, and the same generator with larger numbers for the benchmarks.
//!
//! The output is an area import exactly as a city GIS export gives it (a GeoJSON
//! FeatureCollection), plus buildings with units and, in the first grid, residents. Everything is
//! drawn from a seeded splitmix64 generator, so the same params give the same street, value for
//! value, without a random-number crate.
//!
//! Why the polygons never overlap: grids are the cells of one lattice of jittered vertices, the
//! jitter small enough that every cell stays convex, and micro-grids are strips of a cell cut
//! between points at i/k along its south and north edges. Coordinates are computed as whole
//! units of 1e-7 degree (the 7 decimals a GIS export keeps), so shared vertices are bit-identical;
//! the lattice is snapped to a multiple of every strip count, so the cut points divide the edges
//! exactly and lie on them rather than beside them.

use serde::Serialize;
use serde_json::{Value, json};

use crate::geometry::{Coord, Polygon, Shape};
use crate::tree::Level;

/// What to generate. Counts below what the tree needs are raised: at least one community, one
/// grid per community and one micro-grid per grid.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoParams {
    /// Prefix of every code, e.g. "QSH".
    pub street_code: String,
    /// The street's Chinese name, e.g. "青山湖街道"; addresses read "杭州市临安区{street_name}…".
    pub street_name: String,
    /// The middle of the street, `[lng, lat]` in WGS84.
    pub center: Coord,
    /// How many communities (社区/村).
    pub communities: usize,
    /// How many grids (网格), one lattice cell each, about 400 m across.
    pub grids: usize,
    /// How many micro-grids (微网格), spread over the grids as evenly as whole numbers allow.
    pub micro_grids: usize,
    /// How many buildings stand in each micro-grid.
    pub buildings_per_micro_grid: usize,
    /// The seed: the same seed and counts give the same street.
    pub seed: u64,
}

impl DemoParams {
    /// 青山湖街道: code "QSH", 6 communities, 118 grids, 388 micro-grids, 8 buildings each.
    pub fn qingshanhu() -> Self {
        DemoParams {
            street_code: "QSH".into(),
            street_name: "青山湖街道".into(),
            center: [119.72, 30.25],
            communities: 6,
            grids: 118,
            micro_grids: 388,
            buildings_per_micro_grid: 8,
            seed: 0x5153_4801,
        }
    }
}

/// A generated street: its area import and its buildings.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoStreet {
    /// A GeoJSON FeatureCollection; each feature's properties are {code, name, level, parent_code}.
    pub areas: Value,
    /// Every building, in code order.
    pub buildings: Vec<DemoBuilding>,
}

/// A building (楼幢) with its units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoBuilding {
    /// "QSH-B0001", …
    pub code: String,
    /// "青山村12幢" in a village, "大园社区5号楼" in an urban community.
    pub name: String,
    /// "杭州市临安区青山湖街道青山村12幢".
    pub address: String,
    /// Where it stands, well inside its micro-grid.
    pub location: Coord,
    /// The code of the micro-grid it was placed in.
    pub micro_grid: String,
    /// Storeys above ground, 2–33.
    pub floors: u32,
    /// Every dwelling of the building.
    pub units: Vec<DemoUnit>,
}

/// A dwelling (户).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoUnit {
    /// Entrance, floor and door, e.g. "2单元301".
    pub number: String,
    /// The storey it is on, from 1.
    pub floor: i32,
    /// Who lives there; only filled in the first grid, to keep the demo small.
    pub residents: Vec<DemoResident>,
}

/// A registered resident of a unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoResident {
    /// A common Chinese name.
    pub name: String,
    /// "139" and 8 digits.
    pub phone: String,
    /// An 18-digit resident ID of Lin'an (330112) with a valid check digit.
    pub id_number: String,
    /// "户主", "配偶", "子女" or "租户".
    pub relation: String,
}

/// Generates the street `p` describes; the same `p` always gives the same street.
pub fn generate(p: &DemoParams) -> DemoStreet {
    let plan = Plan::new(p);
    let mut features = vec![feature(
        &p.street_code,
        &p.street_name,
        Level::Street,
        None,
        Value::Null,
    )];
    features.extend(plan.communities.iter().map(|c| {
        feature(
            &c.code,
            &c.name,
            Level::Community,
            Some(&p.street_code),
            Value::Null,
        )
    }));
    features.extend(plan.grids.iter().map(|g| {
        let parent = &plan.communities[g.community].code;
        feature(
            &g.code,
            &g.name,
            Level::Grid,
            Some(parent),
            polygon(&g.cell),
        )
    }));
    features.extend(plan.grids.iter().flat_map(|g| {
        g.micro_grids.iter().map(|m| {
            feature(
                &m.code,
                &m.name,
                Level::MicroGrid,
                Some(&g.code),
                polygon(&m.strip),
            )
        })
    }));
    features.extend(zone_features(p, &plan.lattice));
    features.extend(watch_circle_features(p, &plan.lattice));
    DemoStreet {
        areas: json!({"type": "FeatureCollection", "features": features}),
        buildings: buildings(p, &plan),
    }
}

/// A small, fast, well-mixed generator (Steele, Lea and Flood's splitmix64): plenty for demo data.
struct SplitMix64(u64);

impl SplitMix64 {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

    /// Separate streams keep the layout stable when only the building counts change.
    fn new(seed: u64, stream: u64) -> Self {
        SplitMix64(seed ^ stream.wrapping_mul(Self::GOLDEN).rotate_left(17))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GOLDEN);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` by multiply-shift, which avoids the bias of a plain modulo.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(u64::from(hi - lo) + 1) as u32
    }

    /// Uniform in `[0, 1)` from the top 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A position in whole units of 1e-7 degree, `[lng, lat]`: the precision a GIS export keeps.
type Units = [i64; 2];

const UNITS_PER_DEGREE: f64 = 1e7;
const CELL_METRES: f64 = 400.0;
/// Jitter of a lattice vertex per axis, as a share of a cell. Under a quarter keeps every cell
/// convex: each corner's turn stays at least 1 − 4 × 0.18 of a square's.
const JITTER: f64 = 0.18;
/// Past this many units (about 11 m) snapping the lattice would show; cut points are rounded.
const MAX_SNAP: u64 = 1000;
const WATCH_RADIUS_METRES: f64 = 300.0;
const WATCH_SIDES: usize = 24;
const ZONES: usize = 5;

fn to_coord(u: Units) -> Coord {
    [
        u[0] as f64 / UNITS_PER_DEGREE,
        u[1] as f64 / UNITS_PER_DEGREE,
    ]
}

/// Metres per degree of longitude and of latitude near `lat`; plenty for a street.
fn metres_per_degree(lat: f64) -> [f64; 2] {
    [111_320.0 * lat.to_radians().cos(), 110_574.0]
}

/// The point `num/den` of the way from `a` to `b`, exact when `den` divides the difference.
fn cut(a: Units, b: Units, num: usize, den: usize) -> Units {
    let at = |x: i64, y: i64| x + ((y - x) as f64 * num as f64 / den as f64).round() as i64;
    [at(a[0], b[0]), at(a[1], b[1])]
}

/// The jittered vertex lattice; grids take its cells row by row from the north-west.
struct Lattice {
    cols: usize,
    grids: usize,
    /// `(cols + 1) × (rows + 1)` vertices, row-major from the north-west corner.
    vertices: Vec<Units>,
}

impl Lattice {
    fn new(p: &DemoParams, grids: usize, snap: i64, rng: &mut SplitMix64) -> Self {
        let cols = (grids as f64).sqrt().ceil() as usize;
        let rows = grids.div_ceil(cols);
        let [mx, my] = metres_per_degree(p.center[1]);
        let cell = [
            CELL_METRES / mx * UNITS_PER_DEGREE,
            CELL_METRES / my * UNITS_PER_DEGREE,
        ];
        let west = p.center[0] * UNITS_PER_DEGREE - cell[0] * cols as f64 / 2.0;
        let north = p.center[1] * UNITS_PER_DEGREE + cell[1] * rows as f64 / 2.0;
        let mut jitter = |size: f64| (rng.unit() * 2.0 - 1.0) * JITTER * size;
        let snapped = |x: f64| (x / snap as f64).round() as i64 * snap;
        let mut vertices = Vec::with_capacity((cols + 1) * (rows + 1));
        for j in 0..=rows {
            for i in 0..=cols {
                let x = west + i as f64 * cell[0] + jitter(cell[0]);
                let y = north - j as f64 * cell[1] + jitter(cell[1]);
                vertices.push([snapped(x), snapped(y)]);
            }
        }
        Lattice {
            cols,
            grids,
            vertices,
        }
    }

    fn vertex(&self, i: usize, j: usize) -> Units {
        self.vertices[j * (self.cols + 1) + i]
    }

    /// The corners of grid `g`'s cell, counter-clockwise from the south-west.
    fn cell(&self, g: usize) -> [Units; 4] {
        let (c, r) = (g % self.cols, g / self.cols);
        [
            self.vertex(c, r + 1),
            self.vertex(c + 1, r + 1),
            self.vertex(c + 1, r),
            self.vertex(c, r),
        ]
    }

    /// How many cells of column `c` are grids, counted from the north.
    fn height(&self, c: usize) -> usize {
        self.grids / self.cols + usize::from(c < self.grids % self.cols)
    }

    /// The centre of grid `g`'s cell.
    fn centre(&self, g: usize) -> Units {
        let cell = self.cell(g);
        let sum = |k: usize| cell.iter().map(|v| v[k]).sum::<i64>() / 4;
        [sum(0), sum(1)]
    }
}

struct CommunityPlan {
    code: String,
    name: String,
    /// A village (村) builds low; an urban community (社区) builds high.
    village: bool,
}

struct GridPlan {
    code: String,
    name: String,
    community: usize,
    cell: [Units; 4],
    micro_grids: Vec<MicroPlan>,
}

struct MicroPlan {
    code: String,
    name: String,
    /// Counter-clockwise from the south-west, like a cell.
    strip: [Units; 4],
}

/// The area tree laid out: names, codes and polygons of everything below the street.
struct Plan {
    communities: Vec<CommunityPlan>,
    grids: Vec<GridPlan>,
    lattice: Lattice,
}

const NAMED_COMMUNITIES: [&str; 6] = ["青山村", "大园社区", "南湖社区", "洪村", "孙家村", "青南村"];

/// Width of a zero-padded number so codes sort as text: at least `min` digits.
fn digits(count: usize, min: usize) -> usize {
    count.to_string().len().max(min)
}

impl Plan {
    fn new(p: &DemoParams) -> Self {
        let communities = p.communities.max(1);
        let grids = p.grids.max(communities);
        let counts = micro_grid_counts(
            grids,
            p.micro_grids.max(grids),
            &mut SplitMix64::new(p.seed, 1),
        );
        let lattice = Lattice::new(
            p,
            grids,
            snap_unit(&counts),
            &mut SplitMix64::new(p.seed, 2),
        );
        let communities: Vec<CommunityPlan> = (0..communities)
            .map(|c| community_plan(p, c, communities))
            .collect();
        let grids = counts
            .iter()
            .enumerate()
            .map(|(g, &k)| grid_plan(p, &lattice, &communities, g, k, counts.len()))
            .collect();
        Plan {
            communities,
            grids,
            lattice,
        }
    }
}

/// Grid `g` of `grids` with its `k` micro-grids. Communities own contiguous runs of grids,
/// `g × communities / grids`, so a grid's number within its community counts from the first
/// `g` of that run.
fn grid_plan(
    p: &DemoParams,
    lattice: &Lattice,
    communities: &[CommunityPlan],
    g: usize,
    k: usize,
    grids: usize,
) -> GridPlan {
    let community = g * communities.len() / grids;
    let number = g + 1 - (community * grids).div_ceil(communities.len());
    let code = format!("{}-G{:0w$}", p.street_code, g + 1, w = digits(grids, 3));
    let name = format!("{}第{number}网格", communities[community].name);
    let cell = lattice.cell(g);
    let micro_grids = (0..k)
        .map(|i| MicroPlan {
            code: format!("{code}-{:0w$}", i + 1, w = digits(k, 2)),
            name: format!("{name}第{}微网格", i + 1),
            strip: strip(&cell, i, k),
        })
        .collect();
    GridPlan {
        code,
        name,
        community,
        cell,
        micro_grids,
    }
}

fn community_plan(p: &DemoParams, c: usize, count: usize) -> CommunityPlan {
    let name = NAMED_COMMUNITIES
        .get(c)
        .map_or_else(|| format!("第{}社区", c + 1), |n| (*n).to_owned());
    CommunityPlan {
        code: format!("{}-C{:0w$}", p.street_code, c + 1, w = digits(count, 2)),
        village: name.ends_with('村'),
        name,
    }
}

/// Micro-grids per grid: `total / grids` each, one more for a seeded choice of grids so the
/// counts add up exactly.
fn micro_grid_counts(grids: usize, total: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..grids).collect();
    for i in (1..grids).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut counts = vec![total / grids; grids];
    for &g in &order[..total % grids] {
        counts[g] += 1;
    }
    counts
}

/// The step the lattice snaps to: the least common multiple of the strip counts, so every
/// i/k cut of an edge falls on a whole unit; 1 when that step would be visible.
fn snap_unit(counts: &[usize]) -> i64 {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let lcm = counts.iter().try_fold(1u64, |acc, &k| {
        let k = k as u64;
        let next = acc / gcd(acc, k) * k;
        (next <= MAX_SNAP).then_some(next)
    });
    lcm.map_or(1, |m| m as i64)
}

/// Strip `i` of `k` of a cell, cut along its south and north edges.
fn strip(cell: &[Units; 4], i: usize, k: usize) -> [Units; 4] {
    let [sw, se, ne, nw] = *cell;
    [
        cut(sw, se, i, k),
        cut(sw, se, i + 1, k),
        cut(nw, ne, i + 1, k),
        cut(nw, ne, i, k),
    ]
}

/// A GeoJSON Polygon with one closed ring through `corners`.
fn polygon(corners: &[Units]) -> Value {
    let mut exterior: Vec<Coord> = corners.iter().map(|&u| to_coord(u)).collect();
    if let Some(&first) = exterior.first() {
        exterior.push(first);
    }
    Shape {
        polygons: vec![Polygon {
            exterior,
            holes: vec![],
        }],
    }
    .to_geojson()
}

fn feature(code: &str, name: &str, level: Level, parent: Option<&str>, geometry: Value) -> Value {
    json!({
        "type": "Feature",
        "properties": {"code": code, "name": name, "level": level.as_str(), "parent_code": parent},
        "geometry": geometry,
    })
}

/// Zones (防区): blocks of whole grid columns, each outlined along the lattice so neighbouring
/// zones share their border exactly and together cover every grid.
fn zone_features(p: &DemoParams, lattice: &Lattice) -> Vec<Value> {
    const ORDINALS: [&str; ZONES] = ["一", "二", "三", "四", "五"];
    let zones = ZONES.min(lattice.cols);
    (0..zones)
        .map(|z| {
            let (c0, c1) = (z * lattice.cols / zones, (z + 1) * lattice.cols / zones);
            feature(
                &format!("{}-Z{}", p.street_code, z + 1),
                &format!("{}第{}防区", p.street_name, ORDINALS[z]),
                Level::Zone,
                Some(&p.street_code),
                polygon(&zone_outline(lattice, c0, c1)),
            )
        })
        .collect()
}

/// The outline of the grid cells in columns `c0..c1`, counter-clockwise from the north-west. The
/// last row may be partly empty, so the south side is a staircase that climbs eastwards.
fn zone_outline(lattice: &Lattice, c0: usize, c1: usize) -> Vec<Units> {
    let mut ring: Vec<Units> = (0..=lattice.height(c0))
        .map(|j| lattice.vertex(c0, j))
        .collect();
    for c in c0..c1 {
        let h = lattice.height(c);
        ring.push(lattice.vertex(c + 1, h));
        let next = if c + 1 < c1 { lattice.height(c + 1) } else { 0 };
        ring.extend((next..h).rev().map(|j| lattice.vertex(c + 1, j)));
    }
    ring.extend((c0..c1).rev().map(|i| lattice.vertex(i, 0)));
    ring.dedup();
    if ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    ring
}

/// Two key watch circles (重点防控圈), 24-gons of about 300 m radius around the centres of two
/// grids of the middle row, a quarter and three quarters of the way across. On a street at
/// least three grids wide they stand two cells or more apart, so they never touch.
fn watch_circle_features(p: &DemoParams, lattice: &Lattice) -> Vec<Value> {
    let row = lattice.grids / lattice.cols / 2;
    let west = lattice.cols / 4;
    let east = (west + 2).max(lattice.cols * 3 / 4).min(lattice.cols - 1);
    let spots = [(west, "环湖绿道"), (east, "学校周边")];
    let [mx, my] = metres_per_degree(p.center[1]);
    let radius = [
        WATCH_RADIUS_METRES / mx * UNITS_PER_DEGREE,
        WATCH_RADIUS_METRES / my * UNITS_PER_DEGREE,
    ];
    spots
        .iter()
        .enumerate()
        .map(|(n, &(col, what))| {
            let centre = lattice.centre(row * lattice.cols + col);
            let ring: Vec<Units> = (0..WATCH_SIDES)
                .map(|s| {
                    let angle = std::f64::consts::TAU * s as f64 / WATCH_SIDES as f64;
                    [
                        centre[0] + (radius[0] * angle.cos()).round() as i64,
                        centre[1] + (radius[1] * angle.sin()).round() as i64,
                    ]
                })
                .collect();
            feature(
                &format!("{}-W{}", p.street_code, n + 1),
                &format!("{}{what}重点防控圈", p.street_name),
                Level::WatchCircle,
                Some(&p.street_code),
                polygon(&ring),
            )
        })
        .collect()
}

/// Every building: `buildings_per_micro_grid` per micro-grid, numbered within its community.
fn buildings(p: &DemoParams, plan: &Plan) -> Vec<DemoBuilding> {
    let mut rng = SplitMix64::new(p.seed, 3);
    let total: usize = plan
        .grids
        .iter()
        .map(|g| g.micro_grids.len())
        .sum::<usize>()
        * p.buildings_per_micro_grid;
    let width = digits(total, 4);
    let mut numbers = vec![0usize; plan.communities.len()];
    let mut out = Vec::with_capacity(total);
    for (g, grid) in plan.grids.iter().enumerate() {
        let community = &plan.communities[grid.community];
        for micro in &grid.micro_grids {
            for _ in 0..p.buildings_per_micro_grid {
                numbers[grid.community] += 1;
                let number = numbers[grid.community];
                let name = if community.village {
                    format!("{}{number}幢", community.name)
                } else {
                    format!("{}{number}号楼", community.name)
                };
                let floors = floors(community.village, &mut rng);
                out.push(DemoBuilding {
                    code: format!("{}-B{:0width$}", p.street_code, out.len() + 1),
                    address: format!("杭州市临安区{}{name}", p.street_name),
                    name,
                    location: point_in_strip(&micro.strip, &mut rng),
                    micro_grid: micro.code.clone(),
                    floors,
                    units: units(floors, g == 0, &mut rng),
                });
            }
        }
    }
    out
}

/// A point at least a tenth of the strip's width and height from each of its edges. Bilinear
/// interpolation of a convex quadrilateral stays inside it.
fn point_in_strip(strip: &[Units; 4], rng: &mut SplitMix64) -> Coord {
    let (u, v) = (0.1 + 0.8 * rng.unit(), 0.1 + 0.8 * rng.unit());
    let [sw, se, ne, nw] = strip.map(|p| [p[0] as f64, p[1] as f64]);
    let lerp =
        |a: [f64; 2], b: [f64; 2], t: f64| [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
    let p = lerp(lerp(sw, se, u), lerp(nw, ne, u), v);
    to_coord([p[0].round() as i64, p[1].round() as i64])
}

/// Villages build houses of 2–5 storeys; urban communities mid- and high-rise blocks.
fn floors(village: bool, rng: &mut SplitMix64) -> u32 {
    if village {
        rng.between(2, 5)
    } else {
        *rng.pick(&[6, 6, 7, 11, 11, 12, 15, 18, 18, 24, 26, 28, 32, 33])
    }
}

/// The dwellings of a building: low ones have one entrance with 1–2 doors a floor, taller ones
/// 1–3 entrances with 2–4 doors a floor each.
fn units(floors: u32, with_residents: bool, rng: &mut SplitMix64) -> Vec<DemoUnit> {
    let (entrances, doors) = if floors <= 6 {
        (1, rng.between(1, 2))
    } else {
        (rng.between(1, 3), rng.between(2, 4))
    };
    let mut out = Vec::with_capacity((entrances * floors * doors) as usize);
    for entrance in 1..=entrances {
        for floor in 1..=floors {
            for door in 1..=doors {
                out.push(DemoUnit {
                    number: format!("{entrance}单元{floor}{door:02}"),
                    floor: floor as i32,
                    residents: if with_residents {
                        household(rng)
                    } else {
                        Vec::new()
                    },
                });
            }
        }
    }
    out
}

const SURNAMES: [&str; 40] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "沈", "钱",
    "姚", "俞", "方", "汪", "金", "蒋", "章", "潘",
];
const MALE_GIVEN: [&str; 20] = [
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "建国", "建华", "志强", "国庆", "海峰", "俊杰",
    "浩然", "子轩", "宇航", "明辉", "立新", "文彬",
];
const FEMALE_GIVEN: [&str; 20] = [
    "芳", "娜", "敏", "静", "丽", "艳", "燕", "霞", "秀英", "桂英", "丽华", "美玲", "晓燕", "雪梅",
    "欣怡", "梓涵", "诗琪", "雨萱", "慧敏", "佳怡",
];

/// 1–4 people: a family (户主, then 配偶, then 子女) or, one time in five, tenants (租户).
fn household(rng: &mut SplitMix64) -> Vec<DemoResident> {
    let size = rng.between(1, 4);
    let tenants = rng.chance(0.2);
    let family = *rng.pick(&SURNAMES);
    let head_male = rng.chance(0.7);
    let head_year = rng.between(1940, 1985);
    (0..size)
        .map(|i| {
            let (relation, surname, male, year) = match (tenants, i) {
                (true, _) => (
                    "租户",
                    *rng.pick(&SURNAMES),
                    rng.chance(0.5),
                    rng.between(1970, 2005),
                ),
                (false, 0) => ("户主", family, head_male, head_year),
                (false, 1) => {
                    let year = (head_year + rng.between(0, 6)).saturating_sub(3).max(1940);
                    ("配偶", *rng.pick(&SURNAMES), !head_male, year)
                }
                (false, _) => {
                    let year = (head_year + rng.between(22, 35)).min(2005);
                    ("子女", family, rng.chance(0.5), year)
                }
            };
            resident(relation, surname, male, year, rng)
        })
        .collect()
}

fn resident(
    relation: &str,
    surname: &str,
    male: bool,
    year: u32,
    rng: &mut SplitMix64,
) -> DemoResident {
    let given = if male {
        rng.pick(&MALE_GIVEN)
    } else {
        rng.pick(&FEMALE_GIVEN)
    };
    DemoResident {
        name: format!("{surname}{given}"),
        phone: format!("139{:08}", rng.below(100_000_000)),
        id_number: id_number(year, male, rng),
        relation: relation.to_owned(),
    }
}

/// Lin'an district's administrative division code: the first six digits of its residents' IDs.
const LINAN_AREA_CODE: &str = "330112";

/// An 18-digit resident ID (GB 11643): area, birth date, a sequence number that is odd for men
/// and even for women, and the check digit.
fn id_number(year: u32, male: bool, rng: &mut SplitMix64) -> String {
    let month = rng.between(1, 12);
    let day = rng.between(1, days_in_month(year, month));
    let sequence = rng.between(0, 499) * 2 + u32::from(male);
    let first17 = format!("{LINAN_AREA_CODE}{year:04}{month:02}{day:02}{sequence:03}");
    let check = id_check_digit(&first17);
    format!("{first17}{check}")
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The ISO 7064 MOD 11-2 check character of the first 17 digits of an ID; non-digits count 0,
/// which never happens for the digits this module formats.
fn id_check_digit(first17: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let sum: u32 = first17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::geometry::Position;

    fn qingshanhu() -> &'static DemoStreet {
        static STREET: std::sync::OnceLock<DemoStreet> = std::sync::OnceLock::new();
        STREET.get_or_init(|| generate(&DemoParams::qingshanhu()))
    }

    fn features(street: &DemoStreet) -> &[Value] {
        street.areas["features"].as_array().unwrap()
    }

    fn prop<'a>(f: &'a Value, key: &str) -> Option<&'a str> {
        f["properties"][key].as_str()
    }

    /// code → shape of every feature at `level`.
    fn shapes(street: &DemoStreet, level: Level) -> Vec<(String, Shape)> {
        features(street)
            .iter()
            .filter(|f| prop(f, "level") == Some(level.as_str()))
            .map(|f| {
                let shape = Shape::from_geojson(&f["geometry"]).unwrap();
                (prop(f, "code").unwrap().to_owned(), shape)
            })
            .collect()
    }

    /// Pairs of shapes whose boxes meet and that share more than `tolerance_m2`.
    fn overlapping(shapes: &[(String, Shape)], tolerance_m2: f64) -> Vec<(String, String, f64)> {
        let mut out = Vec::new();
        for (i, (a, sa)) in shapes.iter().enumerate() {
            for (b, sb) in &shapes[i + 1..] {
                if sa.bbox().intersects(&sb.bbox()) {
                    let shared = sa.intersection_m2(sb);
                    if shared > tolerance_m2 {
                        out.push((a.clone(), b.clone(), shared));
                    }
                }
            }
        }
        out
    }

    fn is_convex_ccw(ring: &[Coord]) -> bool {
        let n = ring.len() - 1;
        (0..n).all(|i| {
            let (a, b, c) = (ring[i], ring[(i + 1) % n], ring[(i + 2) % n]);
            (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]) > 0.0
        })
    }

    #[test]
    fn qingshanhu_has_the_counts_of_the_real_street() {
        let street = qingshanhu();
        let mut per_level: HashMap<&str, usize> = HashMap::new();
        for f in features(street) {
            *per_level.entry(prop(f, "level").unwrap()).or_default() += 1;
        }
        let expected = [
            ("street", 1),
            ("community", 6),
            ("grid", 118),
            ("micro_grid", 388),
            ("zone", 5),
            ("watch_circle", 2),
        ];
        assert_eq!(per_level, expected.into_iter().collect());
        assert_eq!(street.buildings.len(), 8 * 388);
    }

    #[test]
    fn codes_are_unique_prefixed_and_parents_sit_one_level_up() {
        let street = qingshanhu();
        let level_of: HashMap<&str, &str> = features(street)
            .iter()
            .map(|f| (prop(f, "code").unwrap(), prop(f, "level").unwrap()))
            .collect();
        assert_eq!(
            level_of.len(),
            features(street).len(),
            "duplicate area code"
        );
        for f in features(street) {
            let (code, level) = (prop(f, "code").unwrap(), prop(f, "level").unwrap());
            let parent_level = prop(f, "parent_code").map(|p| level_of[p]);
            let expected = match level {
                "street" => None,
                "community" | "zone" | "watch_circle" => Some("street"),
                "grid" => Some("community"),
                "micro_grid" => Some("grid"),
                other => panic!("unexpected level {other}"),
            };
            assert_eq!(parent_level, expected, "parent of {code}");
            assert!(code == "QSH" || code.starts_with("QSH-"), "{code}");
        }
        let building_codes: HashSet<&str> =
            street.buildings.iter().map(|b| b.code.as_str()).collect();
        assert_eq!(building_codes.len(), street.buildings.len());
        assert!(building_codes.iter().all(|c| c.starts_with("QSH-B")));
        assert!(building_codes.iter().all(|c| !level_of.contains_key(c)));
        for code in [
            "QSH-C01",
            "QSH-C06",
            "QSH-G001",
            "QSH-G118",
            "QSH-G001-01",
            "QSH-Z5",
            "QSH-W2",
        ] {
            assert!(level_of.contains_key(code), "{code} missing");
        }
        assert!(building_codes.contains("QSH-B0001") && building_codes.contains("QSH-B3104"));
    }

    #[test]
    fn names_and_addresses_read_like_the_real_street() {
        let street = qingshanhu();
        let name_of: HashMap<&str, &str> = features(street)
            .iter()
            .map(|f| (prop(f, "code").unwrap(), prop(f, "name").unwrap()))
            .collect();
        assert_eq!(name_of["QSH"], "青山湖街道");
        assert_eq!(name_of["QSH-C01"], "青山村");
        assert_eq!(name_of["QSH-C02"], "大园社区");
        assert_eq!(name_of["QSH-G001"], "青山村第1网格");
        assert_eq!(name_of["QSH-G003-02"], "青山村第3网格第2微网格");
        let first = &street.buildings[0];
        assert_eq!(first.name, "青山村1幢");
        assert_eq!(first.address, "杭州市临安区青山湖街道青山村1幢");
        assert_eq!(first.micro_grid, "QSH-G001-01");
        assert!(
            street
                .buildings
                .iter()
                .any(|b| b.name.starts_with("大园社区") && b.name.ends_with("号楼"))
        );
    }

    #[test]
    fn every_geometry_parses_and_only_street_and_communities_have_none() {
        let street = qingshanhu();
        for f in features(street) {
            let level = prop(f, "level").unwrap();
            if matches!(level, "street" | "community") {
                assert!(f["geometry"].is_null());
            } else {
                let shape = Shape::from_geojson(&f["geometry"]).unwrap();
                assert_eq!(shape.polygons.len(), 1);
            }
        }
    }

    #[test]
    fn same_params_give_the_same_street_and_another_seed_another() {
        let p = DemoParams::qingshanhu();
        assert_eq!(&generate(&p), qingshanhu());
        let other = generate(&DemoParams {
            seed: p.seed + 1,
            ..p
        });
        assert_ne!(other.areas, qingshanhu().areas);
        assert_ne!(other.buildings, qingshanhu().buildings);
    }

    #[test]
    fn grids_and_micro_grids_are_convex_counter_clockwise_and_near_the_centre() {
        for level in [Level::Grid, Level::MicroGrid] {
            for (code, shape) in shapes(qingshanhu(), level) {
                assert!(is_convex_ccw(&shape.polygons[0].exterior), "{code}");
                let b = shape.bbox();
                assert!((119.69..119.75).contains(&b.min[0]) && (30.22..30.28).contains(&b.max[1]));
            }
        }
    }

    #[test]
    fn no_two_areas_of_a_level_overlap() {
        for level in [
            Level::Grid,
            Level::MicroGrid,
            Level::Zone,
            Level::WatchCircle,
        ] {
            let found = overlapping(&shapes(qingshanhu(), level), 0.01);
            assert!(found.is_empty(), "{level:?}: {found:?}");
        }
    }

    /// Planar shoelace area in square degrees, taken about the street's centre so that large
    /// longitudes do not cancel away the digits: the same formula for a grid and its strips, so
    /// a tiling shows as equal sums up to rounding.
    fn shoelace(ring: &[Coord]) -> f64 {
        let [x0, y0] = DemoParams::qingshanhu().center;
        let cross = |a: Coord, b: Coord| (a[0] - x0) * (b[1] - y0) - (b[0] - x0) * (a[1] - y0);
        ring.windows(2).map(|w| cross(w[0], w[1])).sum::<f64>() / 2.0
    }

    #[test]
    fn micro_grids_tile_their_grid_exactly() {
        let street = qingshanhu();
        let grids: HashMap<String, Shape> = shapes(street, Level::Grid).into_iter().collect();
        let mut covered: HashMap<&str, f64> = HashMap::new();
        let micro = shapes(street, Level::MicroGrid);
        for (code, shape) in &micro {
            let grid = &grids[&code[..8]];
            assert!(shape.outside_m2(grid) < 0.01, "{code} sticks out");
            *covered.entry(&code[..8]).or_default() += shoelace(&shape.polygons[0].exterior);
        }
        for (code, grid) in &grids {
            let area = shoelace(&grid.polygons[0].exterior);
            assert!(
                (covered[code.as_str()] - area).abs() < 1e-9 * area,
                "{code}"
            );
            let m2 = grid.area_m2();
            assert!((80_000.0..300_000.0).contains(&m2), "{code}: {m2} m²");
        }
    }

    #[test]
    fn neighbours_share_vertices_bit_for_bit() {
        let street = qingshanhu();
        // 118 cells of an 11-wide lattice: 10 full rows (11 × 12 vertices) and 8 cells below
        // them (9 more). Any vertex two grids computed differently would add to the count.
        let corners: HashSet<[u64; 2]> = shapes(street, Level::Grid)
            .iter()
            .flat_map(|(_, s)| s.polygons[0].exterior.clone())
            .map(|c| c.map(f64::to_bits))
            .collect();
        assert_eq!(corners.len(), 11 * 12 + 9);
        // Strip i's east edge is strip i + 1's west edge, the very same numbers.
        let micro = shapes(street, Level::MicroGrid);
        let bits = |c: Coord| c.map(f64::to_bits);
        let mut shared = 0;
        for pair in micro.windows(2) {
            let ((a, sa), (b, sb)) = (&pair[0], &pair[1]);
            if a[..8] == b[..8] {
                let (ea, eb) = (&sa.polygons[0].exterior, &sb.polygons[0].exterior);
                assert_eq!(
                    [bits(ea[1]), bits(ea[2])],
                    [bits(eb[0]), bits(eb[3])],
                    "{a} {b}"
                );
                shared += 1;
            }
        }
        assert_eq!(shared, 388 - 118);
    }

    #[test]
    fn zones_cover_exactly_the_grids() {
        let street = qingshanhu();
        let total = |level| {
            shapes(street, level)
                .iter()
                .map(|(_, s)| shoelace(&s.polygons[0].exterior))
                .sum::<f64>()
        };
        let (zones, grids) = (total(Level::Zone), total(Level::Grid));
        assert!((zones - grids).abs() < 1e-9 * grids, "{zones} vs {grids}");
    }

    #[test]
    fn every_building_stands_inside_its_micro_grid() {
        let street = qingshanhu();
        let micro: HashMap<String, Shape> = shapes(street, Level::MicroGrid).into_iter().collect();
        for b in &street.buildings {
            assert_eq!(
                micro[&b.micro_grid].position(b.location),
                Position::Inside,
                "{}",
                b.code
            );
        }
        let per_micro_grid = street.buildings.iter().fold(HashMap::new(), |mut m, b| {
            *m.entry(&b.micro_grid).or_insert(0) += 1;
            m
        });
        assert!(per_micro_grid.len() == 388 && per_micro_grid.values().all(|&n| n == 8));
    }

    #[test]
    fn units_fit_the_building() {
        for b in &qingshanhu().buildings {
            assert!((2..=33).contains(&b.floors), "{}", b.code);
            let numbers: HashSet<&str> = b.units.iter().map(|u| u.number.as_str()).collect();
            assert_eq!(numbers.len(), b.units.len(), "{}", b.code);
            assert!(
                b.units
                    .iter()
                    .all(|u| (1..=b.floors as i32).contains(&u.floor))
            );
            let per_floor = b.units.len() as u32 / b.floors;
            if b.floors <= 6 {
                assert!((1..=2).contains(&per_floor), "{}", b.code);
            } else {
                assert!((2..=12).contains(&per_floor), "{}", b.code);
            }
            let top = b.units.last().unwrap();
            assert!(
                top.number.contains(&format!("单元{}0", b.floors)),
                "{}",
                top.number
            );
        }
        let village = qingshanhu()
            .buildings
            .iter()
            .filter(|b| b.name.contains('村'));
        assert!(village.into_iter().all(|b| b.floors <= 6));
    }

    /// ISO 7064 MOD 11-2 as the standard states it: Σ aᵢ·2^(18−i) over all 18 characters,
    /// X counting 10, leaves 1 mod 11.
    fn id_is_valid(id: &str) -> bool {
        id.len() == 18
            && id
                .chars()
                .enumerate()
                .try_fold(0u64, |sum, (i, c)| {
                    let digit = if i == 17 && c == 'X' {
                        10
                    } else {
                        u64::from(c.to_digit(10)?)
                    };
                    Some(sum + digit * (1u64 << (17 - i)))
                })
                .is_some_and(|s| s % 11 == 1)
    }

    #[test]
    fn check_digit_matches_the_standards_example() {
        assert_eq!(id_check_digit("11010519491231002"), 'X');
        assert!(id_is_valid("11010519491231002X"));
        assert!(!id_is_valid("110105194912310021"));
    }

    #[test]
    fn residents_live_only_in_the_first_grid_with_valid_ids() {
        let street = qingshanhu();
        let mut count = 0;
        for b in &street.buildings {
            let residents = b.units.iter().flat_map(|u| &u.residents);
            if !b.micro_grid.starts_with("QSH-G001-") {
                assert_eq!(residents.count(), 0, "{}", b.code);
                continue;
            }
            assert!(b.units.iter().all(|u| (1..=4).contains(&u.residents.len())));
            for r in residents {
                count += 1;
                assert!(id_is_valid(&r.id_number), "{}", r.id_number);
                assert!(r.id_number.starts_with("330112"));
                let year: u32 = r.id_number[6..10].parse().unwrap();
                let month: u32 = r.id_number[10..12].parse().unwrap();
                let day: u32 = r.id_number[12..14].parse().unwrap();
                assert!((1940..=2005).contains(&year) && (1..=12).contains(&month));
                assert!((1..=days_in_month(year, month)).contains(&day));
                assert!(r.phone.len() == 11 && r.phone.starts_with("139"));
                assert!(r.phone.bytes().all(|b| b.is_ascii_digit()));
                assert!(["户主", "配偶", "子女", "租户"].contains(&r.relation.as_str()));
                assert!((2..=3).contains(&r.name.chars().count()), "{}", r.name);
            }
        }
        assert!(count > 50, "only {count} residents");
    }

    #[test]
    fn benchmark_sized_street_generates() {
        let p = DemoParams {
            street_code: "CX".into(),
            street_name: "城厢街道".into(),
            center: [120.27, 30.16],
            communities: 36,
            grids: 600,
            micro_grids: 2000,
            buildings_per_micro_grid: 2,
            seed: 7,
        };
        let street = generate(&p);
        let count = |level: Level| {
            features(&street)
                .iter()
                .filter(|f| prop(f, "level") == Some(level.as_str()))
                .count()
        };
        assert_eq!(
            [
                Level::Community,
                Level::Grid,
                Level::MicroGrid,
                Level::Zone,
                Level::WatchCircle
            ]
            .map(count),
            [36, 600, 2000, 5, 2]
        );
        assert_eq!(street.buildings.len(), 4000);
        let names: HashSet<&str> = features(&street)
            .iter()
            .filter_map(|f| prop(f, "name"))
            .collect();
        assert!(names.contains("第36社区") && names.contains("第36社区第1网格"));
        assert!(overlapping(&shapes(&street, Level::Zone), 0.01).is_empty());
    }

    #[test]
    fn counts_are_raised_to_what_the_tree_needs() {
        let p = DemoParams {
            communities: 0,
            grids: 3,
            micro_grids: 1,
            ..DemoParams::qingshanhu()
        };
        let street = generate(&p);
        let levels: Vec<&str> = features(&street)
            .iter()
            .filter_map(|f| prop(f, "level"))
            .collect();
        assert_eq!(levels.iter().filter(|l| **l == "community").count(), 1);
        assert_eq!(levels.iter().filter(|l| **l == "micro_grid").count(), 3);
    }

    #[test]
    fn qingshanhu_passes_the_import_check() {
        let bytes = serde_json::to_vec(&qingshanhu().areas).unwrap();
        let mut phases = HashSet::new();
        let checked = crate::tree::check_import(
            &bytes,
            &[],
            &crate::tree::CheckOptions::default(),
            &mut |phase, _, _| {
                phases.insert(phase.to_owned());
            },
        );
        let features = checked.unwrap_or_else(|e| panic!("{e}: {e:?}"));
        assert_eq!(features.len(), 1 + 6 + 118 + 388 + 5 + 2);
        assert!(!phases.is_empty());
    }

    #[test]
    fn small_streets_keep_their_overlays_apart() {
        for grids in [9, 16, 30] {
            let p = DemoParams {
                grids,
                micro_grids: grids * 2,
                ..DemoParams::qingshanhu()
            };
            let street = generate(&p);
            for level in [Level::Zone, Level::WatchCircle, Level::MicroGrid] {
                let found = overlapping(&shapes(&street, level), 0.01);
                assert!(found.is_empty(), "{grids} grids, {level:?}: {found:?}");
            }
            assert_eq!(shapes(&street, Level::WatchCircle).len(), 2);
        }
    }
}
