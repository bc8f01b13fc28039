//! Point location: which micro-grid a position falls in, the chain of areas above it, and the
//! overlays (zones, watch circles) over it. Every event lands in a grid through
//! [`LocateIndex::leaf_at`], so the lookup is exact and allocation-free: an R-tree over the
//! bounding boxes of the leaves' polygons picks the few candidates, and a crossing-number test
//! over a flat coordinate array decides each one.
//!
//! # Which areas are leaves
//!
//! Micro-grids are leaves, and so is every grid that has no micro-grid child (a child being any
//! micro-grid whose parent code is the grid's, with or without a shape). Streets, communities,
//! grid layers and grids with micro-grids are never returned by a lookup; they appear in the
//! chain above the leaf. Overlays ([`Level::is_overlay`]) are not leaves: they are reported
//! beside the chain.
//!
//! # Border rule
//!
//! Positions are `[lng, lat]` in degrees and compared as plane coordinates.
//!
//! - A point strictly inside one leaf belongs to that leaf.
//! - A point on a border belongs to the leaf whose code sorts first in byte order, among all
//!   leaves whose border it is on. "On a border" means within 1e-9 degrees (about 0.1 mm) of an
//!   edge, vertices included, of an exterior ring or of a hole. So a point on the edge two
//!   micro-grids share, or on the corner four share, has exactly one answer, and it does not
//!   depend on the order the areas were loaded in.
//! - A point strictly inside one leaf and on the border of another (which only overlapping
//!   leaves allow) belongs to the one it is strictly inside; if it is strictly inside several,
//!   to the one whose code sorts first.
//! - A point outside every leaf, farther than 1e-9 degrees from all of them, has no leaf.
//! - A hole is outside its polygon; a multipolygon contains a point when any of its polygons
//!   does. Rings are read with the even-odd rule, so their orientation does not matter.
//! - Overlays use the same test, boundary inclusive: every overlay whose area or border holds
//!   the point is reported, sorted by code.
//!
//! Areas are identified by code; when several areas share a code, the first one given wins.
//! Areas without a shape are kept for chains but can never be found by position.

use std::ops::ControlFlow;

use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};
use serde::Serialize;

use crate::geometry::{BBox, Coord, Polygon, Shape};
use crate::tree::Level;

/// Distance in degrees within which a point counts as on an edge.
const BORDER_TOLERANCE: f64 = 1e-9;

/// One area of the tree as the index returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// The area's code, unique within the tree.
    pub code: String,
    /// The area's display name.
    pub name: String,
    /// Where the area sits in the tree, or which kind of overlay it is.
    pub level: Level,
    /// The code of the area above, `None` for the street and for orphans.
    pub parent: Option<String>,
}

/// The answer to "where is this point": the leaf and every area above it, plus the overlays.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<'a> {
    /// The leaf first, then its parent, and so on up to the street.
    pub chain: Vec<&'a Node>,
    /// Every overlay at the point, boundary inclusive, sorted by code.
    pub overlays: Vec<&'a Node>,
}

/// Where a point lies relative to one polygon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    Inside,
    OnBoundary,
    Outside,
}

/// A polygon flattened into [`PolygonSet`]'s arrays.
#[derive(Debug)]
struct FlatPolygon {
    /// Index of the owning node in [`LocateIndex::nodes`].
    node: u32,
    /// The exterior's bounding box grown by the border tolerance, so that a point within
    /// tolerance of the outermost edges is still a candidate.
    bbox: BBox,
    /// Range of this polygon's rings in [`PolygonSet::rings`]; the exterior comes first.
    rings: [u32; 2],
}

/// R-tree entry: a polygon's grown bounding box and the polygon's index.
type Entry = GeomWithData<Rectangle<Coord>, u32>;

/// A set of polygons stored flat, so a lookup touches few cache lines and allocates nothing.
#[derive(Default)]
struct PolygonSet {
    /// Every ring's vertices, ring after ring; each ring is closed (first == last).
    coords: Vec<Coord>,
    /// Range of each ring in `coords`.
    rings: Vec<[u32; 2]>,
    polygons: Vec<FlatPolygon>,
    tree: RTree<Entry>,
}

impl PolygonSet {
    /// Flattens the polygons of each `(node index, shape)` and bulk-loads the R-tree.
    fn build<'s>(shapes: impl Iterator<Item = (u32, &'s Shape)>) -> Self {
        let mut set = PolygonSet::default();
        for (node, shape) in shapes {
            for polygon in &shape.polygons {
                set.push_polygon(node, polygon);
            }
        }
        let entries = set
            .polygons
            .iter()
            .enumerate()
            .map(|(i, poly)| {
                let rect = Rectangle::from_corners(poly.bbox.min, poly.bbox.max);
                GeomWithData::new(rect, i as u32)
            })
            .collect();
        set.tree = RTree::bulk_load(entries);
        set
    }

    fn push_polygon(&mut self, node: u32, polygon: &Polygon) {
        let (first_coord, first_ring) = (self.coords.len(), self.rings.len() as u32);
        for ring in std::iter::once(&polygon.exterior).chain(&polygon.holes) {
            self.push_ring(ring);
        }
        let rings = [first_ring, self.rings.len() as u32];
        // A polygon whose exterior had too few positions to form an edge can hold no point.
        if rings[0] == rings[1] || self.ring_coords(rings[0]).is_empty() {
            self.rings.truncate(first_ring as usize);
            self.coords.truncate(first_coord);
            return;
        }
        let bbox = grown_bbox(self.ring_coords(rings[0]));
        self.polygons.push(FlatPolygon { node, bbox, rings });
    }

    /// Appends a ring, closing it when the caller built it open; rings with fewer than two
    /// positions have no edge and are recorded empty so the exterior stays first.
    fn push_ring(&mut self, ring: &[Coord]) {
        let start = self.coords.len() as u32;
        if let [first, .., last] = ring {
            self.coords.extend_from_slice(ring);
            if first != last {
                self.coords.push(*first);
            }
        }
        self.rings.push([start, self.coords.len() as u32]);
    }

    fn ring_coords(&self, ring: u32) -> &[Coord] {
        let [start, end] = self.rings[ring as usize];
        &self.coords[start as usize..end as usize]
    }

    fn classify(&self, poly: &FlatPolygon, p: Coord) -> Hit {
        if !poly.bbox.contains(p) {
            return Hit::Outside;
        }
        let mut inside = false;
        for ring in poly.rings[0]..poly.rings[1] {
            match ring_parity(self.ring_coords(ring), p) {
                None => return Hit::OnBoundary,
                Some(odd) => inside ^= odd,
            }
        }
        if inside { Hit::Inside } else { Hit::Outside }
    }

    /// Calls `visit(node, hit)` for every polygon that contains `p` or has it on its border.
    #[inline]
    fn for_each_hit(&self, p: Coord, mut visit: impl FnMut(u32, Hit)) {
        let _ = self.tree.locate_all_at_point_int(&p, |entry| {
            let poly = &self.polygons[entry.data as usize];
            let hit = self.classify(poly, p);
            if hit != Hit::Outside {
                visit(poly.node, hit);
            }
            ControlFlow::<()>::Continue(())
        });
    }
}

/// The ring's bounding box grown by the border tolerance on every side.
fn grown_bbox(ring: &[Coord]) -> BBox {
    let mut b = BBox {
        min: [f64::INFINITY, f64::INFINITY],
        max: [f64::NEG_INFINITY, f64::NEG_INFINITY],
    };
    for c in ring {
        b.min = [b.min[0].min(c[0]), b.min[1].min(c[1])];
        b.max = [b.max[0].max(c[0]), b.max[1].max(c[1])];
    }
    b.min = [b.min[0] - BORDER_TOLERANCE, b.min[1] - BORDER_TOLERANCE];
    b.max = [b.max[0] + BORDER_TOLERANCE, b.max[1] + BORDER_TOLERANCE];
    b
}

/// Crossing-number test against one closed ring: `Some(true)` when a ray from `p` towards +x
/// crosses the ring an odd number of times, `None` when `p` is on the ring.
#[inline]
fn ring_parity(ring: &[Coord], p: Coord) -> Option<bool> {
    let [px, py] = p;
    let mut odd = false;
    for edge in ring.windows(2) {
        let (a, b) = (edge[0], edge[1]);
        if near_segment(p, a, b) {
            return None;
        }
        // Half-open in y, so a ray through a vertex counts the two edges meeting there once.
        if (a[1] > py) != (b[1] > py) {
            let x_at_py = a[0] + (py - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if px < x_at_py {
                odd = !odd;
            }
        }
    }
    Some(odd)
}

/// Whether `p` is within the border tolerance of segment `a`–`b`. Most edges fail the box
/// test, which keeps the exact distance off the hot path.
#[inline]
fn near_segment(p: Coord, a: Coord, b: Coord) -> bool {
    let e = BORDER_TOLERANCE;
    if p[0] < a[0].min(b[0]) - e
        || p[0] > a[0].max(b[0]) + e
        || p[1] < a[1].min(b[1]) - e
        || p[1] > a[1].max(b[1]) + e
    {
        return false;
    }
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cy) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    cx * cx + cy * cy <= e * e
}

/// The point-location index over one area tree. Immutable once built, `Send + Sync`, meant to
/// be shared behind an `Arc` and rebuilt when the tree changes.
pub struct LocateIndex {
    /// Every area, sorted by code, so a smaller node index means a code that sorts first.
    nodes: Vec<Node>,
    /// Index of each node's parent, resolved once so chains need no lookups.
    parents: Vec<Option<u32>>,
    leaves: PolygonSet,
    overlays: PolygonSet,
    /// Leaves that have at least one polygon, i.e. that a lookup can return.
    leaf_count: usize,
}

impl std::fmt::Debug for LocateIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocateIndex")
            .field("nodes", &self.nodes.len())
            .field("leaves", &self.leaf_count)
            .field("leaf_polygons", &self.leaves.polygons.len())
            .field("overlay_polygons", &self.overlays.polygons.len())
            .finish()
    }
}

impl LocateIndex {
    /// An index with no areas: every lookup answers `None`.
    pub fn empty() -> Self {
        Self::build(Vec::new())
    }

    /// Builds the index from areas with their shapes (`None` for areas without geometry).
    /// Leaves are micro-grids, plus grids that have no micro-grid child; overlays are
    /// [`Level::Zone`] and [`Level::WatchCircle`]. See the module documentation for the rules.
    pub fn build(mut areas: Vec<(Node, Option<Shape>)>) -> Self {
        // Stable, so the first of several areas with one code is the one kept.
        areas.sort_by(|a, b| a.0.code.cmp(&b.0.code));
        areas.dedup_by(|later, first| later.0.code == first.0.code);
        let (nodes, shapes): (Vec<Node>, Vec<Option<Shape>>) = areas.into_iter().unzip();

        let is_leaf = leaf_flags(&nodes);
        let leaves = PolygonSet::build(shapes_where(&shapes, |i| is_leaf[i]));
        let overlays = PolygonSet::build(shapes_where(&shapes, |i| nodes[i].level.is_overlay()));
        let mut with_polygons: Vec<u32> = leaves.polygons.iter().map(|p| p.node).collect();
        with_polygons.dedup();
        let parents = nodes
            .iter()
            .map(|n| n.parent.as_deref().and_then(|c| index_of(&nodes, c)))
            .collect();
        LocateIndex {
            nodes,
            parents,
            leaves,
            overlays,
            leaf_count: with_polygons.len(),
        }
    }

    /// The leaf containing `p` under the border rule, or `None` outside every leaf. This is
    /// the hot path: it allocates nothing.
    pub fn leaf_at(&self, p: Coord) -> Option<&Node> {
        self.leaf_index_at(p).map(|i| &self.nodes[i as usize])
    }

    /// The leaf at `p` with its chain of parents and the overlays at `p`; `None` when no leaf
    /// contains `p`, whatever overlays do.
    pub fn locate(&self, p: Coord) -> Option<Located<'_>> {
        let leaf = self.leaf_index_at(p)?;
        Some(Located {
            chain: self.chain_from(leaf),
            overlays: self.overlays_at(p),
        })
    }

    /// The area with this code, whatever its level.
    pub fn node(&self, code: &str) -> Option<&Node> {
        index_of(&self.nodes, code).map(|i| &self.nodes[i as usize])
    }

    /// The area with this code first, then its parents up to the street; empty for an
    /// unknown code. Stops early at a parent code the tree does not hold.
    pub fn chain(&self, code: &str) -> Vec<&Node> {
        index_of(&self.nodes, code).map_or_else(Vec::new, |i| self.chain_from(i))
    }

    /// How many leaves a lookup can return: leaves that have a shape.
    pub fn leaves(&self) -> usize {
        self.leaf_count
    }

    /// Every area the index holds, in code order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter()
    }

    /// The node index of the leaf at `p`. Node indices follow code order, so "the code that
    /// sorts first" is the smallest index, and strictly-inside beats on-the-border.
    #[inline]
    fn leaf_index_at(&self, p: Coord) -> Option<u32> {
        let mut best: Option<(bool, u32)> = None;
        self.leaves.for_each_hit(p, |node, hit| {
            let candidate = (hit == Hit::OnBoundary, node);
            if best.is_none_or(|b| candidate < b) {
                best = Some(candidate);
            }
        });
        best.map(|(_, node)| node)
    }

    fn overlays_at(&self, p: Coord) -> Vec<&Node> {
        let mut found = Vec::new();
        self.overlays.for_each_hit(p, |node, _| found.push(node));
        found.sort_unstable();
        found.dedup();
        found.into_iter().map(|i| &self.nodes[i as usize]).collect()
    }

    fn chain_from(&self, start: u32) -> Vec<&Node> {
        let mut chain = vec![&self.nodes[start as usize]];
        let mut at = start;
        while let Some(parent) = self.parents[at as usize] {
            let parent_node = &self.nodes[parent as usize];
            // Import checks reject cyclic parents, but a cycle must not hang a lookup.
            if chain.iter().any(|n| std::ptr::eq(*n, parent_node)) {
                break;
            }
            chain.push(parent_node);
            at = parent;
        }
        chain
    }
}

/// The shapes whose node index passes `keep`, with that index.
fn shapes_where(
    shapes: &[Option<Shape>],
    keep: impl Fn(usize) -> bool,
) -> impl Iterator<Item = (u32, &Shape)> {
    shapes
        .iter()
        .enumerate()
        .filter(move |&(i, _)| keep(i))
        .filter_map(|(i, s)| s.as_ref().map(|s| (i as u32, s)))
}

/// Position of `code` in nodes sorted by code.
fn index_of(nodes: &[Node], code: &str) -> Option<u32> {
    nodes
        .binary_search_by(|n| n.code.as_str().cmp(code))
        .ok()
        .map(|i| i as u32)
}

/// For each node, whether it is a leaf: a micro-grid, or a grid no micro-grid names as parent.
fn leaf_flags(nodes: &[Node]) -> Vec<bool> {
    let mut has_micro_grid = vec![false; nodes.len()];
    for n in nodes.iter().filter(|n| n.level == Level::MicroGrid) {
        if let Some(i) = n.parent.as_deref().and_then(|c| index_of(nodes, c)) {
            has_micro_grid[i as usize] = true;
        }
    }
    nodes
        .iter()
        .zip(has_micro_grid)
        .map(|(n, has)| match n.level {
            Level::MicroGrid => true,
            Level::Grid => !has,
            _ => false,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::geometry::Position;

    /// One unit of the test lattice in degrees, about 1 km; the block sits in Hangzhou.
    const U: f64 = 0.01;
    const X0: f64 = 120.1;
    const Y0: f64 = 30.2;

    /// Lattice point (i, j); shared edges get bit-identical coordinates.
    fn at(i: f64, j: f64) -> Coord {
        [X0 + i * U, Y0 + j * U]
    }

    fn ring(corners: &[Coord]) -> Vec<Coord> {
        let mut r = corners.to_vec();
        r.push(corners[0]);
        r
    }

    fn rect(i0: f64, j0: f64, i1: f64, j1: f64) -> Vec<Coord> {
        ring(&[at(i0, j0), at(i1, j0), at(i1, j1), at(i0, j1)])
    }

    fn square(i0: f64, j0: f64, i1: f64, j1: f64) -> Shape {
        Shape {
            polygons: vec![Polygon {
                exterior: rect(i0, j0, i1, j1),
                holes: vec![],
            }],
        }
    }

    fn node(code: &str, level: Level, parent: Option<&str>) -> Node {
        Node {
            code: code.into(),
            name: format!("name of {code}"),
            level,
            parent: parent.map(Into::into),
        }
    }

    fn area(
        code: &str,
        level: Level,
        parent: Option<&str>,
        shape: Option<Shape>,
    ) -> (Node, Option<Shape>) {
        (node(code, level, parent), shape)
    }

    /// Street S > community C > grid G > micro-grids in a 2×2 block:
    /// `M1` (0..1, 0..1), `M2` (1..2, 0..1), `M3` (0..1, 1..2), `M4` (1..2, 1..2).
    fn block() -> Vec<(Node, Option<Shape>)> {
        vec![
            area("S", Level::Street, None, Some(square(-1.0, -1.0, 5.0, 5.0))),
            area(
                "C",
                Level::Community,
                Some("S"),
                Some(square(0.0, 0.0, 2.0, 2.0)),
            ),
            area(
                "G",
                Level::Grid,
                Some("C"),
                Some(square(0.0, 0.0, 2.0, 2.0)),
            ),
            area(
                "M4",
                Level::MicroGrid,
                Some("G"),
                Some(square(1.0, 1.0, 2.0, 2.0)),
            ),
            area(
                "M3",
                Level::MicroGrid,
                Some("G"),
                Some(square(0.0, 1.0, 1.0, 2.0)),
            ),
            area(
                "M2",
                Level::MicroGrid,
                Some("G"),
                Some(square(1.0, 0.0, 2.0, 1.0)),
            ),
            area(
                "M1",
                Level::MicroGrid,
                Some("G"),
                Some(square(0.0, 0.0, 1.0, 1.0)),
            ),
        ]
    }

    fn leaf_code(index: &LocateIndex, p: Coord) -> Option<&str> {
        index.leaf_at(p).map(|n| n.code.as_str())
    }

    fn codes(nodes: &[&Node]) -> Vec<String> {
        nodes.iter().map(|n| n.code.clone()).collect()
    }

    #[test]
    fn interior_points_find_their_micro_grid() {
        let index = LocateIndex::build(block());
        assert_eq!(leaf_code(&index, at(0.5, 0.5)), Some("M1"));
        assert_eq!(leaf_code(&index, at(1.5, 0.5)), Some("M2"));
        assert_eq!(leaf_code(&index, at(0.5, 1.5)), Some("M3"));
        assert_eq!(leaf_code(&index, at(1.5, 1.5)), Some("M4"));
        assert_eq!(leaf_code(&index, at(1.999, 1.001)), Some("M4"));
        assert_eq!(index.leaves(), 4);
    }

    #[test]
    fn shared_edge_goes_to_the_smallest_code() {
        let index = LocateIndex::build(block());
        // Vertical edge between M2 and M4's left neighbours: M1|M2 and M3|M4.
        assert_eq!(leaf_code(&index, at(1.0, 0.3)), Some("M1"));
        assert_eq!(leaf_code(&index, at(1.0, 1.7)), Some("M3"));
        // Horizontal edges: M1/M3 and M2/M4.
        assert_eq!(leaf_code(&index, at(0.4, 1.0)), Some("M1"));
        assert_eq!(leaf_code(&index, at(1.6, 1.0)), Some("M2"));
        // Within tolerance of the M2/M4 edge on M4's side still counts as on the edge...
        let near = at(1.6, 1.0);
        assert_eq!(leaf_code(&index, [near[0], near[1] + 5e-10]), Some("M2"));
        // ...but 1e-8 degrees in is strictly inside M4.
        assert_eq!(leaf_code(&index, [near[0], near[1] + 1e-8]), Some("M4"));
    }

    #[test]
    fn shared_corner_goes_to_the_smallest_code() {
        let index = LocateIndex::build(block());
        assert_eq!(leaf_code(&index, at(1.0, 1.0)), Some("M1"));
        // Renamed so that the top-right square has the smallest code: the answer follows the
        // code, not the geometry or the load order.
        let renamed = block()
            .into_iter()
            .map(|(mut n, s)| {
                if n.code == "M4" {
                    n.code = "A4".into();
                }
                (n, s)
            })
            .collect();
        let index = LocateIndex::build(renamed);
        assert_eq!(leaf_code(&index, at(1.0, 1.0)), Some("A4"));
        assert_eq!(leaf_code(&index, at(1.5, 1.0)), Some("A4"));
        assert_eq!(leaf_code(&index, at(0.5, 1.0)), Some("M1"));
    }

    #[test]
    fn outside_every_leaf_is_none() {
        let index = LocateIndex::build(block());
        // Inside the street and community shapes, but those are not leaves.
        assert_eq!(leaf_code(&index, at(3.0, 3.0)), None);
        assert_eq!(leaf_code(&index, at(-0.5, 0.5)), None);
        assert_eq!(leaf_code(&index, [0.0, 0.0]), None);
        assert!(index.locate(at(3.0, 3.0)).is_none());
        // The outer border belongs to the only leaf it touches; just beyond it is outside.
        let west = at(0.0, 0.5);
        assert_eq!(leaf_code(&index, west), Some("M1"));
        assert_eq!(leaf_code(&index, [west[0] - 1e-8, west[1]]), None);
        assert_eq!(leaf_code(&index, at(2.0, 2.0)), Some("M4"));
    }

    #[test]
    fn non_finite_points_have_no_leaf() {
        let index = LocateIndex::build(block());
        assert_eq!(leaf_code(&index, [f64::NAN, Y0 + 0.5 * U]), None);
        assert_eq!(leaf_code(&index, [X0 + 0.5 * U, f64::INFINITY]), None);
    }

    #[test]
    fn a_hole_is_outside_and_its_island_inside() {
        let donut = Shape {
            polygons: vec![Polygon {
                exterior: rect(0.0, 0.0, 3.0, 3.0),
                holes: vec![rect(1.0, 1.0, 2.0, 2.0)],
            }],
        };
        let base = vec![
            area("G", Level::Grid, None, None),
            area("M-ring", Level::MicroGrid, Some("G"), Some(donut.clone())),
        ];
        let index = LocateIndex::build(base.clone());
        assert_eq!(leaf_code(&index, at(0.5, 0.5)), Some("M-ring"));
        assert_eq!(leaf_code(&index, at(1.5, 1.5)), None);
        // The hole's edge is the donut's border.
        assert_eq!(leaf_code(&index, at(1.0, 1.5)), Some("M-ring"));

        let mut with_island = base;
        with_island.push(area(
            "M-island",
            Level::MicroGrid,
            Some("G"),
            Some(square(1.0, 1.0, 2.0, 2.0)),
        ));
        let index = LocateIndex::build(with_island);
        assert_eq!(leaf_code(&index, at(1.5, 1.5)), Some("M-island"));
        assert_eq!(leaf_code(&index, at(2.5, 2.5)), Some("M-ring"));
        // On the hole's edge: "M-island" < "M-ring".
        assert_eq!(leaf_code(&index, at(2.0, 1.5)), Some("M-island"));
    }

    #[test]
    fn a_multipolygon_holds_all_its_parts() {
        let two_parts = Shape {
            polygons: vec![
                Polygon {
                    exterior: rect(0.0, 0.0, 1.0, 1.0),
                    holes: vec![],
                },
                Polygon {
                    exterior: rect(3.0, 0.0, 4.0, 1.0),
                    holes: vec![],
                },
            ],
        };
        let index = LocateIndex::build(vec![
            area("G", Level::Grid, None, None),
            area("M", Level::MicroGrid, Some("G"), Some(two_parts)),
            area(
                "N",
                Level::MicroGrid,
                Some("G"),
                Some(square(1.0, 0.0, 3.0, 1.0)),
            ),
        ]);
        assert_eq!(leaf_code(&index, at(0.5, 0.5)), Some("M"));
        assert_eq!(leaf_code(&index, at(3.5, 0.5)), Some("M"));
        assert_eq!(leaf_code(&index, at(2.0, 0.5)), Some("N"));
        assert_eq!(leaf_code(&index, at(4.5, 0.5)), None);
        assert_eq!(leaf_code(&index, at(2.0, 1.5)), None);
        // "M" counts once however many parts it has.
        assert_eq!(index.leaves(), 2);
    }

    #[test]
    fn chain_runs_from_leaf_to_street() {
        let mut areas = block();
        // Put a grid layer between the community and the grid.
        areas.push(area("L", Level::GridLayer, Some("C"), None));
        for (n, _) in &mut areas {
            if n.code == "G" {
                n.parent = Some("L".into());
            }
        }
        let index = LocateIndex::build(areas);
        let found = index.locate(at(1.5, 0.5)).unwrap();
        assert_eq!(codes(&found.chain), ["M2", "G", "L", "C", "S"]);
        assert_eq!(codes(&index.chain("M2")), ["M2", "G", "L", "C", "S"]);
        assert_eq!(codes(&index.chain("C")), ["C", "S"]);
        assert!(index.chain("nope").is_empty());
        assert_eq!(index.node("L").unwrap().level, Level::GridLayer);
        assert_eq!(index.node("M3").unwrap().name, "name of M3");
        assert!(index.node("nope").is_none());
    }

    #[test]
    fn chain_stops_at_a_missing_parent_and_survives_a_cycle() {
        let index = LocateIndex::build(vec![
            area(
                "M",
                Level::MicroGrid,
                Some("gone"),
                Some(square(0.0, 0.0, 1.0, 1.0)),
            ),
            area("A", Level::Community, Some("B"), None),
            area("B", Level::Community, Some("A"), None),
        ]);
        assert_eq!(codes(&index.chain("M")), ["M"]);
        assert_eq!(codes(&index.locate(at(0.5, 0.5)).unwrap().chain), ["M"]);
        assert_eq!(codes(&index.chain("A")), ["A", "B"]);
    }

    #[test]
    fn first_area_of_a_duplicated_code_wins() {
        let index = LocateIndex::build(vec![
            area(
                "M",
                Level::MicroGrid,
                None,
                Some(square(0.0, 0.0, 1.0, 1.0)),
            ),
            area(
                "M",
                Level::MicroGrid,
                None,
                Some(square(5.0, 5.0, 6.0, 6.0)),
            ),
        ]);
        assert_eq!(leaf_code(&index, at(0.5, 0.5)), Some("M"));
        assert_eq!(leaf_code(&index, at(5.5, 5.5)), None);
    }

    #[test]
    fn overlays_are_reported_sorted_and_boundary_inclusive() {
        let mut areas = block();
        areas.push(area(
            "Z2",
            Level::Zone,
            Some("S"),
            Some(square(0.0, 0.0, 1.0, 2.0)),
        ));
        areas.push(area(
            "W1",
            Level::WatchCircle,
            Some("S"),
            Some(square(0.5, 0.5, 1.5, 1.5)),
        ));
        areas.push(area(
            "Z1",
            Level::Zone,
            Some("S"),
            Some(square(3.0, 3.0, 4.0, 4.0)),
        ));
        let index = LocateIndex::build(areas);

        let found = index.locate(at(0.75, 0.75)).unwrap();
        assert_eq!(codes(&found.chain), ["M1", "G", "C", "S"]);
        assert_eq!(codes(&found.overlays), ["W1", "Z2"]);
        // On Z2's eastern edge, inside W1.
        assert_eq!(
            codes(&index.locate(at(1.0, 1.2)).unwrap().overlays),
            ["W1", "Z2"]
        );
        // On W1's corner only.
        assert_eq!(codes(&index.locate(at(1.5, 1.5)).unwrap().overlays), ["W1"]);
        assert!(index.locate(at(1.8, 0.2)).unwrap().overlays.is_empty());
        // Overlays are never leaves: inside Z1 there is no micro-grid.
        assert_eq!(leaf_code(&index, at(3.5, 3.5)), None);
        assert!(index.locate(at(3.5, 3.5)).is_none());
        assert_eq!(index.leaves(), 4);
    }

    #[test]
    fn a_grid_without_micro_grids_is_a_leaf() {
        let index = LocateIndex::build(vec![
            area("S", Level::Street, None, Some(square(0.0, 0.0, 10.0, 10.0))),
            area(
                "C",
                Level::Community,
                Some("S"),
                Some(square(0.0, 0.0, 10.0, 10.0)),
            ),
            // G1 has micro-grids covering only its left half.
            area(
                "G1",
                Level::Grid,
                Some("C"),
                Some(square(0.0, 0.0, 2.0, 1.0)),
            ),
            area(
                "G1-1",
                Level::MicroGrid,
                Some("G1"),
                Some(square(0.0, 0.0, 1.0, 1.0)),
            ),
            // G2 has none, so it is a leaf itself.
            area(
                "G2",
                Level::Grid,
                Some("C"),
                Some(square(2.0, 0.0, 4.0, 1.0)),
            ),
            // G3's only micro-grid has no shape: G3 is still not a leaf.
            area(
                "G3",
                Level::Grid,
                Some("C"),
                Some(square(4.0, 0.0, 6.0, 1.0)),
            ),
            area("G3-1", Level::MicroGrid, Some("G3"), None),
        ]);
        assert_eq!(leaf_code(&index, at(0.5, 0.5)), Some("G1-1"));
        assert_eq!(leaf_code(&index, at(1.5, 0.5)), None);
        assert_eq!(leaf_code(&index, at(3.0, 0.5)), Some("G2"));
        assert_eq!(
            codes(&index.locate(at(3.0, 0.5)).unwrap().chain),
            ["G2", "C", "S"]
        );
        assert_eq!(leaf_code(&index, at(5.0, 0.5)), None);
        // The edge G1-1 | G1's uncovered half, and the G1 | G2 edge, where G2 is the only leaf.
        assert_eq!(leaf_code(&index, at(2.0, 0.5)), Some("G2"));
        assert_eq!(index.leaves(), 2);
    }

    #[test]
    fn empty_index_finds_nothing() {
        let index = LocateIndex::empty();
        assert_eq!(index.leaves(), 0);
        assert!(index.leaf_at(at(0.5, 0.5)).is_none());
        assert!(index.locate(at(0.5, 0.5)).is_none());
        assert!(index.chain("S").is_empty());
    }

    #[test]
    fn index_is_send_and_sync() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<LocateIndex>();
        shareable::<std::sync::Arc<LocateIndex>>();
    }

    /// splitmix64: a tiny, well-mixed generator, enough for reproducible test points.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in [0, 1).
        fn unit(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// The border rule applied by scanning every leaf with [`Shape::position`], which
    /// geometry.rs implements on its own.
    fn brute_leaf(leaves: &[(String, Shape)], p: Coord) -> Option<String> {
        let mut inside = Vec::new();
        let mut border = Vec::new();
        for (code, shape) in leaves {
            match shape.position(p) {
                Position::Inside => inside.push(code),
                Position::OnBoundary => border.push(code),
                Position::Outside => {}
            }
        }
        inside
            .into_iter()
            .min()
            .or(border.into_iter().min())
            .cloned()
    }

    #[test]
    fn random_points_agree_with_a_brute_force_scan() {
        let mut rng = SplitMix64(0x6772_6964_7769_6e67);
        // A 12×9 lattice with jittered interior vertices: quads sharing every edge exactly,
        // with codes shuffled so that code order has nothing to do with position.
        let (nx, ny) = (12usize, 9usize);
        let mut vertex = vec![vec![[0.0; 2]; ny + 1]; nx + 1];
        for (i, column) in vertex.iter_mut().enumerate() {
            for (j, v) in column.iter_mut().enumerate() {
                let interior = i > 0 && i < nx && j > 0 && j < ny;
                let jitter = |r: &mut SplitMix64| {
                    if interior {
                        (r.unit() - 0.5) * 0.6
                    } else {
                        0.0
                    }
                };
                *v = at(i as f64 + jitter(&mut rng), j as f64 + jitter(&mut rng));
            }
        }
        let mut labels: Vec<usize> = (0..nx * ny).collect();
        for k in (1..labels.len()).rev() {
            labels.swap(k, rng.below(k + 1));
        }
        let mut leaves = Vec::new();
        let mut areas = vec![area("G", Level::Grid, None, None)];
        for i in 0..nx {
            for j in 0..ny {
                let code = format!("M{:03}", labels[i * ny + j]);
                let quad = ring(&[
                    vertex[i][j],
                    vertex[i + 1][j],
                    vertex[i + 1][j + 1],
                    vertex[i][j + 1],
                ]);
                let shape = Shape {
                    polygons: vec![Polygon {
                        exterior: quad,
                        holes: vec![],
                    }],
                };
                areas.push(area(
                    &code,
                    Level::MicroGrid,
                    Some("G"),
                    Some(shape.clone()),
                ));
                leaves.push((code, shape));
            }
        }
        let index = LocateIndex::build(areas);
        assert_eq!(index.leaves(), nx * ny);

        let (mut on_border, mut outside) = (0, 0);
        for k in 0..20_000 {
            let p = match k % 4 {
                // Anywhere in and around the lattice.
                0 | 1 => at(
                    rng.unit() * (nx + 2) as f64 - 1.0,
                    rng.unit() * (ny + 2) as f64 - 1.0,
                ),
                // Exactly on a vertex.
                2 => vertex[rng.below(nx + 1)][rng.below(ny + 1)],
                // On an edge (up to rounding, far below the tolerance).
                _ => {
                    let (i, j) = (rng.below(nx), rng.below(ny + 1));
                    let (a, b) = (vertex[i][j], vertex[i + 1][j]);
                    let t = rng.unit();
                    [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
                }
            };
            let want = brute_leaf(&leaves, p);
            let got = index.leaf_at(p).map(|n| n.code.clone());
            assert_eq!(got, want, "point {p:?}");
            on_border += usize::from(k % 4 >= 2);
            outside += usize::from(want.is_none());
        }
        // The sample really exercised borders and the outside.
        assert!(
            on_border >= 10_000 && outside > 1_000,
            "{on_border} {outside}"
        );
    }

    #[test]
    fn demo_street_lookups_agree_with_a_brute_force_scan() {
        use crate::demo_street::{DemoParams, generate};
        let street = generate(&DemoParams {
            micro_grids: 150,
            grids: 40,
            communities: 4,
            buildings_per_micro_grid: 0,
            ..DemoParams::qingshanhu()
        });
        let mut areas = Vec::new();
        for f in street.areas["features"].as_array().unwrap() {
            let props = &f["properties"];
            let text = |k: &str| props[k].as_str().map(str::to_owned);
            let level = Level::parse(&text("level").unwrap()).unwrap();
            let shape =
                (!f["geometry"].is_null()).then(|| Shape::from_geojson(&f["geometry"]).unwrap());
            areas.push((
                Node {
                    code: text("code").unwrap(),
                    name: text("name").unwrap(),
                    level,
                    parent: text("parent_code"),
                },
                shape,
            ));
        }
        let leaves: Vec<(String, Shape)> = areas
            .iter()
            .filter(|(n, _)| n.level == Level::MicroGrid)
            .map(|(n, s)| (n.code.clone(), s.clone().unwrap()))
            .collect();
        let index = LocateIndex::build(areas);
        assert_eq!(index.leaves(), leaves.len());

        let mut rng = SplitMix64(7);
        let b = leaves
            .iter()
            .map(|(_, s)| s.bbox())
            .reduce(|a, b| BBox {
                min: [a.min[0].min(b.min[0]), a.min[1].min(b.min[1])],
                max: [a.max[0].max(b.max[0]), a.max[1].max(b.max[1])],
            })
            .unwrap();
        let random = (0..5_000).map(|_| {
            [
                b.min[0] + rng.unit() * (b.max[0] - b.min[0]),
                b.min[1] + rng.unit() * (b.max[1] - b.min[1]),
            ]
        });
        let vertices = leaves
            .iter()
            .flat_map(|(_, s)| s.polygons[0].exterior.clone());
        for p in random.collect::<Vec<_>>().into_iter().chain(vertices) {
            let got = index.leaf_at(p).map(|n| n.code.clone());
            assert_eq!(got, brute_leaf(&leaves, p), "point {p:?}");
            if let Some(code) = got {
                let chain = index.chain(&code);
                assert_eq!(
                    chain.last().unwrap().level,
                    Level::Street,
                    "chain of {code}"
                );
            }
        }
    }
}
