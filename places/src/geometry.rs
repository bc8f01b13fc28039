//! Polygons as city GIS exports them: GeoJSON `Polygon` or `MultiPolygon` in WGS84, with
//! positions as `[longitude, latitude]`. Parsing checks what a broken export gets wrong (unclosed
//! rings, too few positions, coordinates out of range); the measures the import needs are
//! computed in metres on a local projection around the shape, accurate enough for street-sized
//! areas.

use geo::line_intersection::{LineIntersection, line_intersection};
use geo::{Area, BooleanOps};
use serde_json::Value;

/// Mean Earth radius (IUGG), the radius of the local projection.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// How close to an edge, in degrees, a point counts as on it: about 0.1 mm, far below survey
/// precision, so only points that really lie on the line land there.
const BOUNDARY_TOLERANCE_DEG: f64 = 1e-9;

/// A position: `[longitude, latitude]` in degrees, as GeoJSON writes it.
pub type Coord = [f64; 2];

/// One polygon: an exterior ring and its holes. Every ring is closed (first == last).
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    pub exterior: Vec<Coord>,
    pub holes: Vec<Vec<Coord>>,
}

/// A polygon or a multipolygon: the area a grid, micro-grid or overlay covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub polygons: Vec<Polygon>,
}

/// A bounding box in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub min: Coord,
    pub max: Coord,
}

impl BBox {
    pub fn intersects(&self, other: &BBox) -> bool {
        self.min[0] <= other.max[0]
            && other.min[0] <= self.max[0]
            && self.min[1] <= other.max[1]
            && other.min[1] <= self.max[1]
    }

    pub fn contains(&self, p: Coord) -> bool {
        self.min[0] <= p[0] && p[0] <= self.max[0] && self.min[1] <= p[1] && p[1] <= self.max[1]
    }
}

/// The great-circle distance in metres between two WGS84 positions (haversine on the mean
/// Earth radius). Its error against the ellipsoid stays under 0.5 %, far below GPS accuracy, and
/// it holds at any distance, unlike the local projection used for areas.
pub fn distance_m(a: Coord, b: Coord) -> f64 {
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let dlat = lat2 - lat1;
    let dlng = (b[0] - a[0]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    // Rounding can push h a hair above 1 for antipodal points; asin would then be NaN.
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Why a GeoJSON geometry is not a usable area.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeometryError {
    #[error("geometry must be a GeoJSON Polygon or MultiPolygon, not {0}")]
    NotPolygonal(String),
    #[error("malformed coordinates: {0}")]
    Malformed(String),
    #[error(
        "coordinate out of range at {path}: longitude must be within ±180 and latitude within ±90"
    )]
    OutOfRange { path: String },
    #[error("ring {path} is not closed: its first and last positions differ")]
    UnclosedRing { path: String },
    #[error("ring {path} has {count} positions; a closed ring needs at least 4")]
    TooFewPositions { path: String, count: usize },
    #[error("ring {path} intersects itself near [{}, {}]", at[0], at[1])]
    SelfIntersecting { path: String, at: Coord },
}

fn parse_position(v: &Value, path: &str) -> Result<Coord, GeometryError> {
    let arr = v
        .as_array()
        .filter(|a| a.len() >= 2)
        .ok_or_else(|| GeometryError::Malformed(format!("{path} is not a position")))?;
    let num = |i: usize| {
        arr[i]
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| GeometryError::Malformed(format!("{path}[{i}] is not a number")))
    };
    let (lng, lat) = (num(0)?, num(1)?);
    if !(-180.0..=180.0).contains(&lng) || !(-90.0..=90.0).contains(&lat) {
        return Err(GeometryError::OutOfRange {
            path: path.to_owned(),
        });
    }
    Ok([lng, lat])
}

fn parse_ring(v: &Value, path: &str) -> Result<Vec<Coord>, GeometryError> {
    let arr = v
        .as_array()
        .ok_or_else(|| GeometryError::Malformed(format!("{path} is not a ring")))?;
    let ring = arr
        .iter()
        .enumerate()
        .map(|(i, p)| parse_position(p, &format!("{path}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if ring.len() < 4 {
        return Err(GeometryError::TooFewPositions {
            path: path.to_owned(),
            count: ring.len(),
        });
    }
    if ring.first() != ring.last() {
        return Err(GeometryError::UnclosedRing {
            path: path.to_owned(),
        });
    }
    check_simple_ring(&ring, path)?;
    Ok(ring)
}

fn parse_polygon(v: &Value, path: &str) -> Result<Polygon, GeometryError> {
    let rings = v
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| GeometryError::Malformed(format!("{path} is not a list of rings")))?;
    let mut parsed = rings
        .iter()
        .enumerate()
        .map(|(i, r)| parse_ring(r, &format!("{path}[{i}]")));
    let exterior = parsed
        .next()
        .ok_or_else(|| GeometryError::Malformed(format!("{path} has no exterior ring")))??;
    let holes = parsed.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon { exterior, holes })
}

/// Rejects a ring that touches or crosses itself. Segments are swept in order of their
/// western end so that only segments whose boxes meet are compared exactly: a ring of thousands
/// of vertices costs about n log n instead of n².
fn check_simple_ring(ring: &[Coord], path: &str) -> Result<(), GeometryError> {
    let points = without_repeats(ring);
    // A ring needs three distinct corners; repeated positions alone do not enclose anything.
    if points.len() < 4 {
        return Err(GeometryError::Malformed(format!(
            "ring {path} has fewer than 3 distinct positions"
        )));
    }
    let segments: Vec<geo::Line<f64>> = points
        .windows(2)
        .map(|w| geo::Line::new(to_geo(w[0]), to_geo(w[1])))
        .collect();
    let mut order: Vec<usize> = (0..segments.len()).collect();
    order.sort_by(|&a, &b| west(&segments[a]).total_cmp(&west(&segments[b])));
    for (k, &i) in order.iter().enumerate() {
        let east_i = east(&segments[i]);
        for &j in &order[k + 1..] {
            if west(&segments[j]) > east_i {
                break;
            }
            if let Some(at) = ring_crossing(&segments, i, j) {
                return Err(GeometryError::SelfIntersecting {
                    path: path.to_owned(),
                    at,
                });
            }
        }
    }
    Ok(())
}

/// The ring without consecutive repeated positions, which GIS exports often contain and which
/// would otherwise look like zero-length segments touching their neighbours.
fn without_repeats(ring: &[Coord]) -> Vec<Coord> {
    let mut out: Vec<Coord> = Vec::with_capacity(ring.len());
    for &c in ring {
        if out.last() != Some(&c) {
            out.push(c);
        }
    }
    out
}

fn west(l: &geo::Line<f64>) -> f64 {
    l.start.x.min(l.end.x)
}

fn east(l: &geo::Line<f64>) -> f64 {
    l.start.x.max(l.end.x)
}

/// Where segments `i` and `j` of a closed ring meet improperly. Neighbours always share their
/// common corner, so for them only folding back along each other counts; any contact between
/// other segments is a self-intersection.
fn ring_crossing(segments: &[geo::Line<f64>], i: usize, j: usize) -> Option<Coord> {
    let n = segments.len();
    let (lo, hi) = (i.min(j), i.max(j));
    let neighbours = hi - lo == 1 || (lo == 0 && hi == n - 1);
    match line_intersection(segments[i], segments[j])? {
        LineIntersection::Collinear { intersection } => Some(from_geo(intersection.start)),
        LineIntersection::SinglePoint { intersection, .. } if !neighbours => {
            Some(from_geo(intersection))
        }
        LineIntersection::SinglePoint { .. } => None,
    }
}

fn to_geo(c: Coord) -> geo::Coord<f64> {
    geo::Coord { x: c[0], y: c[1] }
}

fn from_geo(c: geo::Coord<f64>) -> Coord {
    [c.x, c.y]
}

impl Shape {
    /// Parses a GeoJSON geometry object. Ring paths in errors read like `coordinates[0][2]`.
    pub fn from_geojson(v: &Value) -> Result<Shape, GeometryError> {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("nothing");
        let coords = v.get("coordinates");
        let polygons = match (kind, coords) {
            ("Polygon", Some(c)) => vec![parse_polygon(c, "coordinates")?],
            ("MultiPolygon", Some(c)) => c
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    GeometryError::Malformed("coordinates is not a list of polygons".into())
                })?
                .iter()
                .enumerate()
                .map(|(i, p)| parse_polygon(p, &format!("coordinates[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
            ("Polygon" | "MultiPolygon", None) => {
                return Err(GeometryError::Malformed("no coordinates".into()));
            }
            (other, _) => return Err(GeometryError::NotPolygonal(other.to_owned())),
        };
        Ok(Shape { polygons })
    }

    /// The GeoJSON geometry: a `Polygon` when there is one polygon, else a `MultiPolygon`.
    pub fn to_geojson(&self) -> Value {
        let poly = |p: &Polygon| {
            let mut rings = vec![p.exterior.clone()];
            rings.extend(p.holes.iter().cloned());
            serde_json::json!(rings)
        };
        match self.polygons.as_slice() {
            [one] => serde_json::json!({"type": "Polygon", "coordinates": poly(one)}),
            many => serde_json::json!({
                "type": "MultiPolygon",
                "coordinates": many.iter().map(poly).collect::<Vec<_>>(),
            }),
        }
    }

    /// The smallest box around every exterior ring.
    pub fn bbox(&self) -> BBox {
        let mut b = BBox {
            min: [f64::INFINITY, f64::INFINITY],
            max: [f64::NEG_INFINITY, f64::NEG_INFINITY],
        };
        for c in self.polygons.iter().flat_map(|p| p.exterior.iter()) {
            b.min = [b.min[0].min(c[0]), b.min[1].min(c[1])];
            b.max = [b.max[0].max(c[0]), b.max[1].max(c[1])];
        }
        b
    }
}

/// An equirectangular projection centred on the shapes being measured. Over a street or a
/// district its scale error stays far below the tolerances of the import checks, and because
/// every shape of one measurement goes through the same projection, edges two shapes share stay
/// shared exactly.
struct LocalProjection {
    lng0: f64,
    lat0: f64,
    /// Metres per degree of longitude at `lat0`.
    kx: f64,
    /// Metres per degree of latitude.
    ky: f64,
}

impl LocalProjection {
    fn around(boxes: &[BBox]) -> LocalProjection {
        let finite = boxes
            .iter()
            .filter(|b| b.min.iter().chain(&b.max).all(|v| v.is_finite()));
        let mut span: Option<BBox> = None;
        for b in finite {
            span = Some(match span {
                None => *b,
                Some(s) => BBox {
                    min: [s.min[0].min(b.min[0]), s.min[1].min(b.min[1])],
                    max: [s.max[0].max(b.max[0]), s.max[1].max(b.max[1])],
                },
            });
        }
        let (lng0, lat0) = span.map_or((0.0, 0.0), |s| {
            ((s.min[0] + s.max[0]) / 2.0, (s.min[1] + s.max[1]) / 2.0)
        });
        let ky = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        LocalProjection {
            lng0,
            lat0,
            kx: ky * lat0.to_radians().cos(),
            ky,
        }
    }

    fn point(&self, c: Coord) -> geo::Coord<f64> {
        geo::Coord {
            x: (c[0] - self.lng0) * self.kx,
            y: (c[1] - self.lat0) * self.ky,
        }
    }

    fn ring(&self, ring: &[Coord]) -> geo::LineString<f64> {
        geo::LineString(ring.iter().map(|&c| self.point(c)).collect())
    }

    fn shape(&self, shape: &Shape) -> geo::MultiPolygon<f64> {
        geo::MultiPolygon(
            shape
                .polygons
                .iter()
                .map(|p| {
                    geo::Polygon::new(
                        self.ring(&p.exterior),
                        p.holes.iter().map(|h| self.ring(h)).collect(),
                    )
                })
                .collect(),
        )
    }
}

/// An upper bound, in m², for the overlap of two shapes with these boxes, measured on the same
/// projection as [`Shape::intersection_m2`]. Overlap checks use it to skip the exact computation
/// for neighbours whose boxes barely meet.
pub(crate) fn bbox_overlap_m2(a: &BBox, b: &BBox) -> f64 {
    let width = (a.max[0].min(b.max[0]) - a.min[0].max(b.min[0])).max(0.0);
    let height = (a.max[1].min(b.max[1]) - a.min[1].max(b.min[1])).max(0.0);
    let projection = LocalProjection::around(&[*a, *b]);
    width * projection.kx * height * projection.ky
}

/// Where a point lies relative to a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Strictly inside: within an exterior ring and outside all of its holes.
    Inside,
    /// Within 1e-9 degrees of an edge of an exterior ring or a hole.
    OnBoundary,
    /// Neither: outside every exterior ring or inside a hole.
    Outside,
}

/// The distance in degrees from `p` to segment `a`–`b`, treating degrees as planar; only used
/// against a tolerance far below the size at which the earth's curvature would matter.
fn distance_to_segment(p: Coord, a: Coord, b: Coord) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (p[0] - (a[0] + t * dx)).hypot(p[1] - (a[1] + t * dy))
}

fn on_ring(ring: &[Coord], p: Coord) -> bool {
    ring.windows(2)
        .any(|w| distance_to_segment(p, w[0], w[1]) <= BOUNDARY_TOLERANCE_DEG)
}

/// Even-odd ray casting to the east. Points near an edge are settled by [`on_ring`] first, so
/// the rounding of the crossing test on an edge never decides anything.
fn inside_ring(ring: &[Coord], p: Coord) -> bool {
    let mut inside = false;
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
    }
    inside
}

impl Polygon {
    fn position(&self, p: Coord) -> Position {
        let rings = std::iter::once(&self.exterior).chain(&self.holes);
        if rings.clone().any(|r| on_ring(r, p)) {
            Position::OnBoundary
        } else if inside_ring(&self.exterior, p) && !self.holes.iter().any(|h| inside_ring(h, p)) {
            Position::Inside
        } else {
            Position::Outside
        }
    }
}

impl Shape {
    /// The area in m², holes subtracted.
    pub fn area_m2(&self) -> f64 {
        LocalProjection::around(&[self.bbox()])
            .shape(self)
            .unsigned_area()
    }

    /// The area in m² that `self` and `other` have in common. Shapes that only share an edge
    /// give about 0.
    pub fn intersection_m2(&self, other: &Shape) -> f64 {
        let projection = LocalProjection::around(&[self.bbox(), other.bbox()]);
        projection
            .shape(self)
            .intersection(&projection.shape(other))
            .unsigned_area()
    }

    /// The area in m² of `self` that `container` does not cover.
    pub fn outside_m2(&self, container: &Shape) -> f64 {
        let projection = LocalProjection::around(&[self.bbox(), container.bbox()]);
        projection
            .shape(self)
            .difference(&projection.shape(container))
            .unsigned_area()
    }

    /// Where `p` lies: inside if strictly inside any of the polygons, on the boundary if within
    /// 1e-9 degrees of one of their edges, else outside.
    pub fn position(&self, p: Coord) -> Position {
        let mut result = Position::Outside;
        for polygon in &self.polygons {
            match polygon.position(p) {
                Position::Inside => return Position::Inside,
                Position::OnBoundary => result = Position::OnBoundary,
                Position::Outside => {}
            }
        }
        result
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use geo::GeodesicArea;
    use serde_json::json;
    use std::time::Instant;

    const LNG: f64 = 120.15;
    const LAT: f64 = 30.28;

    fn polygon(rings: Vec<Vec<Coord>>) -> Value {
        json!({"type": "Polygon", "coordinates": rings})
    }

    /// A closed axis-aligned ring from its south-west corner and its size in degrees.
    fn square_ring(min: Coord, dx: f64, dy: f64) -> Vec<Coord> {
        let (x, y) = (min[0], min[1]);
        vec![[x, y], [x + dx, y], [x + dx, y + dy], [x, y + dy], [x, y]]
    }

    fn square(min: Coord, dx: f64, dy: f64) -> Shape {
        Shape::from_geojson(&polygon(vec![square_ring(min, dx, dy)])).unwrap()
    }

    /// Degrees of longitude and latitude spanning `m` metres at [`LAT`].
    fn degrees_for(m: f64) -> (f64, f64) {
        let per_deg_lat = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        (m / (per_deg_lat * LAT.to_radians().cos()), m / per_deg_lat)
    }

    fn circle_ring(n: usize, radius_deg: f64) -> Vec<Coord> {
        let mut ring: Vec<Coord> = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                [LNG + radius_deg * a.cos(), LAT + radius_deg * a.sin()]
            })
            .collect();
        ring.push(ring[0]);
        ring
    }

    #[test]
    fn distance_matches_known_lengths() {
        assert_eq!(distance_m([LNG, LAT], [LNG, LAT]), 0.0);
        // One degree of latitude on the mean sphere: πR/180.
        let one_degree = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        assert!((distance_m([LNG, 30.0], [LNG, 31.0]) - one_degree).abs() < 1e-6);
        // Along the equator a degree of longitude is as long; at 60° it is half as long.
        assert!((distance_m([0.0, 0.0], [1.0, 0.0]) - one_degree).abs() < 1e-6);
        let at_60 = distance_m([0.0, 60.0], [1.0, 60.0]);
        assert!((at_60 - one_degree / 2.0).abs() < 5.0, "{at_60}");
        // Hangzhou to Shanghai (city centres) is about 165 km.
        let d = distance_m([120.1551, 30.2741], [121.4737, 31.2304]);
        assert!((160_000.0..170_000.0).contains(&d), "{d}");
        // Antipodes: half the circumference, not NaN.
        let half = distance_m([0.0, 0.0], [180.0, 0.0]);
        assert!(
            (half - EARTH_RADIUS_M * std::f64::consts::PI).abs() < 1e-3,
            "{half}"
        );
    }

    #[test]
    fn short_distances_agree_with_the_local_projection() {
        // 50 m east and 50 m north of a point in Hangzhou, measured both ways.
        let (dlng, dlat) = degrees_for(50.0);
        for to in [[LNG + dlng, LAT], [LNG, LAT + dlat]] {
            let d = distance_m([LNG, LAT], to);
            assert!((d - 50.0).abs() < 0.01, "{d}");
            assert!((distance_m(to, [LNG, LAT]) - d).abs() < 1e-9, "symmetric");
        }
    }

    #[test]
    fn bow_tie_is_rejected_where_it_crosses() {
        let ring = vec![[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]];
        match Shape::from_geojson(&polygon(vec![ring])) {
            Err(GeometryError::SelfIntersecting { path, at }) => {
                assert_eq!(path, "coordinates[0]");
                assert!((at[0] - 0.5).abs() < 1e-12 && (at[1] - 0.5).abs() < 1e-12);
            }
            other => panic!("expected a self-intersection, got {other:?}"),
        }
    }

    #[test]
    fn ring_touching_itself_at_a_vertex_is_rejected() {
        // A figure eight whose two loops meet at (1, 1) without crossing.
        let ring = vec![
            [0.0, 0.0],
            [1.0, 1.0],
            [2.0, 0.0],
            [2.0, 2.0],
            [1.0, 1.0],
            [0.0, 2.0],
            [0.0, 0.0],
        ];
        let err = Shape::from_geojson(&polygon(vec![ring])).unwrap_err();
        assert_eq!(
            err,
            GeometryError::SelfIntersecting {
                path: "coordinates[0]".into(),
                at: [1.0, 1.0]
            }
        );
    }

    #[test]
    fn spike_folding_back_on_itself_is_rejected() {
        let ring = vec![
            [0.0, 0.0],
            [2.0, 0.0],
            [3.0, 0.0],
            [2.0, 0.0],
            [2.0, 2.0],
            [0.0, 0.0],
        ];
        let err = Shape::from_geojson(&polygon(vec![ring])).unwrap_err();
        assert!(
            matches!(err, GeometryError::SelfIntersecting { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn self_intersecting_hole_is_reported_with_its_path() {
        let outer = square_ring([0.0, 0.0], 10.0, 10.0);
        let hole = vec![[1.0, 1.0], [2.0, 2.0], [2.0, 1.0], [1.0, 2.0], [1.0, 1.0]];
        let err = Shape::from_geojson(&polygon(vec![outer, hole])).unwrap_err();
        assert!(
            matches!(&err, GeometryError::SelfIntersecting { path, .. } if path == "coordinates[1]"),
            "{err:?}"
        );
    }

    #[test]
    fn repeated_positions_are_not_a_self_intersection() {
        let ring = vec![
            [0.0, 0.0],
            [1.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [0.0, 1.0],
            [0.0, 0.0],
        ];
        assert!(Shape::from_geojson(&polygon(vec![ring])).is_ok());
    }

    #[test]
    fn ring_of_one_repeated_position_is_rejected() {
        let ring = vec![[1.0, 1.0]; 4];
        let err = Shape::from_geojson(&polygon(vec![ring])).unwrap_err();
        assert!(matches!(err, GeometryError::Malformed(_)), "{err:?}");
    }

    #[test]
    fn unclosed_ring_is_rejected() {
        let ring = vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        let err = Shape::from_geojson(&polygon(vec![ring])).unwrap_err();
        assert_eq!(
            err,
            GeometryError::UnclosedRing {
                path: "coordinates[0]".into()
            }
        );
    }

    #[test]
    fn large_rings_are_checked_quickly() {
        let simple = circle_ring(5_000, 0.01);
        let started = Instant::now();
        assert!(Shape::from_geojson(&polygon(vec![simple.clone()])).is_ok());
        // A vertex pulled across the circle makes its two edges cross the far side.
        let mut crossed = simple;
        crossed[1_234] = [LNG - 0.02, LAT];
        let err = Shape::from_geojson(&polygon(vec![crossed])).unwrap_err();
        assert!(
            matches!(err, GeometryError::SelfIntersecting { .. }),
            "{err:?}"
        );
        let elapsed = started.elapsed();
        assert!(elapsed.as_secs_f64() < 1.0, "took {elapsed:?}");
    }

    #[test]
    fn one_kilometre_square_has_one_square_kilometre() {
        let (dx, dy) = degrees_for(1_000.0);
        let shape = square([LNG, LAT], dx, dy);
        let area = shape.area_m2();
        assert!((area - 1e6).abs() < 0.005 * 1e6, "area {area}");
        // The geodesic area on the WGS84 ellipsoid is an independent check of the projection.
        let geo_polygon = geo::Polygon::new(
            geo::LineString(
                square_ring([LNG, LAT], dx, dy)
                    .into_iter()
                    .map(to_geo)
                    .collect(),
            ),
            vec![],
        );
        let geodesic = geo_polygon.geodesic_area_unsigned();
        assert!(
            (area - geodesic).abs() < 0.005 * geodesic,
            "{area} vs {geodesic}"
        );
    }

    #[test]
    fn hole_is_subtracted_from_the_area() {
        let (dx, dy) = degrees_for(1_000.0);
        let outer = square_ring([LNG, LAT], dx, dy);
        let hole = square_ring([LNG + dx / 4.0, LAT + dy / 4.0], dx / 2.0, dy / 2.0);
        let shape = Shape::from_geojson(&polygon(vec![outer, hole])).unwrap();
        let area = shape.area_m2();
        assert!((area - 750_000.0).abs() < 0.005 * 750_000.0, "area {area}");
        // A square lying inside the hole is not covered at all.
        let in_hole = square([LNG + dx * 0.4, LAT + dy * 0.4], dx * 0.2, dy * 0.2);
        assert!(shape.intersection_m2(&in_hole) < 1e-6);
        assert!((in_hole.outside_m2(&shape) - in_hole.area_m2()).abs() < 1e-3);
    }

    #[test]
    fn squares_sharing_an_edge_do_not_overlap() {
        let (dx, dy) = degrees_for(500.0);
        let west = square([LNG, LAT], dx, dy);
        let east = square([LNG + dx, LAT], dx, dy);
        assert!(west.intersection_m2(&east) < 1e-3);
        assert!((west.outside_m2(&east) - west.area_m2()).abs() < 1e-3);
    }

    #[test]
    fn irregular_polygons_sharing_an_edge_do_not_overlap() {
        let shared = [
            [LNG + 0.003, LAT],
            [LNG + 0.0041, LAT + 0.0017],
            [LNG + 0.0029, LAT + 0.004],
        ];
        let west = vec![
            [LNG, LAT],
            shared[0],
            shared[1],
            shared[2],
            [LNG, LAT + 0.004],
            [LNG, LAT],
        ];
        let east = vec![
            shared[0],
            [LNG + 0.007, LAT],
            [LNG + 0.007, LAT + 0.004],
            shared[2],
            shared[1],
            shared[0],
        ];
        let west = Shape::from_geojson(&polygon(vec![west])).unwrap();
        let east = Shape::from_geojson(&polygon(vec![east])).unwrap();
        assert!(west.intersection_m2(&east) < 1e-3);
    }

    #[test]
    fn half_overlapping_squares_share_half_their_area() {
        let (dx, dy) = degrees_for(1_000.0);
        let a = square([LNG, LAT], dx, dy);
        let b = square([LNG + dx / 2.0, LAT], dx, dy);
        let half = a.area_m2() / 2.0;
        let overlap = a.intersection_m2(&b);
        assert!((overlap - half).abs() < 0.005 * half, "overlap {overlap}");
        assert!((b.intersection_m2(&a) - overlap).abs() < 1e-6);
        let outside = a.outside_m2(&b);
        assert!((outside - half).abs() < 0.005 * half, "outside {outside}");
        // A square within its container has nothing outside.
        let inner = square([LNG + dx / 4.0, LAT + dy / 4.0], dx / 2.0, dy / 2.0);
        assert!(inner.outside_m2(&a) < 1e-6);
    }

    #[test]
    fn multipolygon_area_adds_its_parts() {
        let (dx, dy) = degrees_for(1_000.0);
        let v = json!({"type": "MultiPolygon", "coordinates": [
            [square_ring([LNG, LAT], dx, dy)],
            [square_ring([LNG + 2.0 * dx, LAT], dx, dy)],
        ]});
        let area = Shape::from_geojson(&v).unwrap().area_m2();
        assert!((area - 2e6).abs() < 0.005 * 2e6, "area {area}");
    }

    #[test]
    fn position_inside_on_edge_on_vertex_outside_and_in_hole() {
        let outer = square_ring([0.0, 0.0], 10.0, 10.0);
        let hole = square_ring([4.0, 4.0], 2.0, 2.0);
        let shape = Shape::from_geojson(&polygon(vec![outer, hole])).unwrap();
        assert_eq!(shape.position([1.0, 1.0]), Position::Inside);
        assert_eq!(shape.position([5.0, 0.0]), Position::OnBoundary);
        assert_eq!(shape.position([10.0, 10.0]), Position::OnBoundary);
        assert_eq!(shape.position([0.0, 0.0]), Position::OnBoundary);
        assert_eq!(shape.position([11.0, 5.0]), Position::Outside);
        assert_eq!(shape.position([5.0, 5.0]), Position::Outside);
        assert_eq!(shape.position([4.0, 5.0]), Position::OnBoundary);
        // The tolerance is 1e-9 degrees: just within it counts as on the edge, beyond does not.
        assert_eq!(shape.position([5.0, 5e-10]), Position::OnBoundary);
        assert_eq!(shape.position([5.0, -5e-10]), Position::OnBoundary);
        assert_eq!(shape.position([5.0, 1e-8]), Position::Inside);
        assert_eq!(shape.position([5.0, -1e-8]), Position::Outside);
        // Level with a vertex: the ray passes a corner, which must not be counted twice.
        let diamond = vec![[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [1.0, 2.0], [0.0, 1.0]];
        let diamond = Shape::from_geojson(&polygon(vec![diamond])).unwrap();
        assert_eq!(diamond.position([1.0, 1.0]), Position::Inside);
        assert_eq!(diamond.position([-1.0, 1.0]), Position::Outside);
        assert_eq!(diamond.position([3.0, 1.0]), Position::Outside);
    }

    #[test]
    fn position_in_a_multipolygon_checks_every_part() {
        let v = json!({"type": "MultiPolygon", "coordinates": [
            [square_ring([0.0, 0.0], 1.0, 1.0)],
            [square_ring([5.0, 0.0], 1.0, 1.0)],
        ]});
        let shape = Shape::from_geojson(&v).unwrap();
        assert_eq!(shape.position([5.5, 0.5]), Position::Inside);
        assert_eq!(shape.position([6.0, 0.5]), Position::OnBoundary);
        assert_eq!(shape.position([3.0, 0.5]), Position::Outside);
    }
}
