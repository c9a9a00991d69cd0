//! Small pure geometry functions in image coordinates (x right, y down), in `f64`.
//!
//! Sides are signed: [`side`] is positive when a point lies on the right-hand side of a directed
//! segment as seen on screen, negative on its left-hand side, zero on the line.

use serde::{Deserialize, Serialize};

/// A point in image coordinates (pixels, or 0–1 when a rule says `normalized`). Whole numbers
/// serialise as JSON integers, so rules read back exactly as Metropolis clients wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Horizontal coordinate, to the right.
    #[serde(serialize_with = "number")]
    pub x: f64,
    /// Vertical coordinate, downwards.
    #[serde(serialize_with = "number")]
    pub y: f64,
}

/// `366.0` as `366`, `0.5` as `0.5`.
fn number<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

impl Point {
    /// A point from its coordinates.
    pub const fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }

    /// Euclidean distance to `other`.
    pub fn distance(self, other: Point) -> f64 {
        (self.x - other.x).hypot(self.y - other.y)
    }

    /// Whether both coordinates are finite.
    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite()
    }
}

/// `(p2x-p1x)*(qy-p1y) - (p2y-p1y)*(qx-p1x)`: positive when `q` is on the right-hand side of the
/// directed segment `p1→p2` on screen (y down), negative on its left, zero on the line.
pub fn side(p1: Point, p2: Point, q: Point) -> f64 {
    (p2.x - p1.x) * (q.y - p1.y) - (p2.y - p1.y) * (q.x - p1.x)
}

/// Whether `q`, known to be on the line through `a` and `b`, lies within their bounding box.
fn within(a: Point, b: Point, q: Point) -> bool {
    q.x >= a.x.min(b.x) && q.x <= a.x.max(b.x) && q.y >= a.y.min(b.y) && q.y <= a.y.max(b.y)
}

/// Whether the closed segments `a–b` and `c–d` share at least one point (touching and collinear
/// overlap included).
pub fn segments_intersect(a: Point, b: Point, c: Point, d: Point) -> bool {
    let d1 = side(c, d, a);
    let d2 = side(c, d, b);
    let d3 = side(a, b, c);
    let d4 = side(a, b, d);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    (d1 == 0.0 && within(c, d, a))
        || (d2 == 0.0 && within(c, d, b))
        || (d3 == 0.0 && within(a, b, c))
        || (d4 == 0.0 && within(a, b, d))
}

/// Distance from `q` to the closed segment `a–b`.
pub fn distance_to_segment(q: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    if len2 == 0.0 {
        return q.distance(a);
    }
    let t = (((q.x - a.x) * dx + (q.y - a.y) * dy) / len2).clamp(0.0, 1.0);
    q.distance(Point::new(a.x + t * dx, a.y + t * dy))
}

/// The crossing of the movement `a→b` over the segment `p1–p2`: `Some((t, +1))` when the move goes
/// from the left-hand (negative) side of `p1→p2` to its right-hand (positive) side, `Some((t, -1))`
/// the other way, with `t` in `[0, 1]` the position of the crossing along the move. `None` unless the
/// two ends are on strictly opposite sides and the move meets the closed segment.
pub fn segment_crossing(a: Point, b: Point, p1: Point, p2: Point) -> Option<(f64, i32)> {
    let sa = side(p1, p2, a);
    let sb = side(p1, p2, b);
    let dir = if sa < 0.0 && sb > 0.0 {
        1
    } else if sa > 0.0 && sb < 0.0 {
        -1
    } else {
        return None;
    };
    let s1 = side(a, b, p1);
    let s2 = side(a, b, p2);
    if (s1 > 0.0 && s2 > 0.0) || (s1 < 0.0 && s2 < 0.0) {
        return None;
    }
    Some((sa / (sa - sb), dir))
}

/// The net crossing of the movement `a→b` over the polyline `wire`: `+1` (left to right of the
/// polyline's direction), `-1` (right to left) or `0`.
///
/// Hits at the same place on several segments (a move through a vertex) merge into one; hits in
/// opposite directions at one place (touching a fold of the wire) cancel; a move that crosses a
/// zig-zag wire several times counts by the sign of the sum.
pub fn polyline_crossing(wire: &[Point], a: Point, b: Point) -> i32 {
    let mut hits: Vec<(f64, i32)> = wire
        .windows(2)
        .filter_map(|s| segment_crossing(a, b, s[0], s[1]))
        .collect();
    if hits.is_empty() {
        return 0;
    }
    hits.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut total = 0;
    let mut i = 0;
    while i < hits.len() {
        let t0 = hits[i].0;
        let mut group = 0;
        while i < hits.len() && hits[i].0 - t0 <= 1e-9 {
            group += hits[i].1;
            i += 1;
        }
        total += group.signum();
    }
    total.signum()
}

/// The sign (`-1`, `0`, `+1`) of [`side`] relative to the segment of `wire` nearest to `q`.
pub fn polyline_side(wire: &[Point], q: Point) -> i32 {
    let mut best = (f64::INFINITY, 0.0);
    for s in wire.windows(2) {
        let d = distance_to_segment(q, s[0], s[1]);
        if d < best.0 {
            best = (d, side(s[0], s[1], q));
        }
    }
    sign(best.1)
}

/// `-1`, `0` or `+1`.
pub(crate) fn sign(v: f64) -> i32 {
    if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }
}

/// Whether `q` lies strictly inside `polygon` (even-odd rule; points on an edge are outside).
pub fn point_in_polygon(polygon: &[Point], q: Point) -> bool {
    let n = polygon.len();
    if n < 3 {
        return false;
    }
    let mut inside = false;
    for i in 0..n {
        let a = polygon[i];
        let b = polygon[(i + 1) % n];
        if side(a, b, q) == 0.0 && within(a, b, q) {
            return false;
        }
        if (a.y > q.y) != (b.y > q.y) {
            let x = a.x + (b.x - a.x) * (q.y - a.y) / (b.y - a.y);
            if q.x < x {
                inside = !inside;
            }
        }
    }
    inside
}

/// Twice the signed area of a polygon (shoelace formula).
pub fn polygon_area2(polygon: &[Point]) -> f64 {
    let n = polygon.len();
    (0..n)
        .map(|i| {
            let (a, b) = (polygon[i], polygon[(i + 1) % n]);
            a.x * b.y - b.x * a.y
        })
        .sum()
}

/// The first pair of edges `(i, j)` (edge `i` runs from point `i` to point `i + 1`) that meet where
/// they should not: non-adjacent edges that touch or cross, or adjacent edges that fold back over
/// each other. `closed` adds the edge from the last point back to the first. `None` for a simple
/// polyline or polygon. Zero-length edges are not reported here.
pub fn first_self_intersection(points: &[Point], closed: bool) -> Option<(usize, usize)> {
    let n = points.len();
    let edges = if closed { n } else { n.saturating_sub(1) };
    let edge = |i: usize| (points[i], points[(i + 1) % n]);
    for i in 0..edges {
        for j in i + 1..edges {
            let (a, b) = edge(i);
            let (c, d) = edge(j);
            let adjacent = j == i + 1 || (closed && i == 0 && j == edges - 1);
            if adjacent {
                // They share one vertex; they overlap only if collinear and folding back.
                let (shared, p, q) = if j == i + 1 { (b, a, d) } else { (a, b, c) };
                let folded = side(p, shared, q) == 0.0
                    && (p.x - shared.x) * (q.x - shared.x) + (p.y - shared.y) * (q.y - shared.y)
                        > 0.0;
                if folded {
                    return Some((i, j));
                }
            } else if segments_intersect(a, b, c, d) {
                return Some((i, j));
            }
        }
    }
    None
}

/// Whether `polygon` is simple: at least 3 points, no zero-length edge, non-zero area and no edges
/// that touch or cross other than neighbours at their shared vertex.
pub fn polygon_is_simple(polygon: &[Point]) -> bool {
    let n = polygon.len();
    n >= 3
        && (0..n).all(|i| polygon[i] != polygon[(i + 1) % n])
        && polygon_area2(polygon) != 0.0
        && first_self_intersection(polygon, true).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, y: f64) -> Point {
        Point::new(x, y)
    }

    #[test]
    fn side_sign_follows_the_screen_right_hand_rule() {
        // A wire going right: below it (larger y) is its right-hand side on screen.
        assert!(side(p(0.0, 0.0), p(10.0, 0.0), p(5.0, 5.0)) > 0.0);
        assert!(side(p(0.0, 0.0), p(10.0, 0.0), p(5.0, -5.0)) < 0.0);
        assert_eq!(side(p(0.0, 0.0), p(10.0, 0.0), p(20.0, 0.0)), 0.0);
    }

    #[test]
    fn segment_intersection_cases() {
        assert!(segments_intersect(
            p(0.0, 0.0),
            p(2.0, 2.0),
            p(0.0, 2.0),
            p(2.0, 0.0)
        ));
        assert!(segments_intersect(
            p(0.0, 0.0),
            p(2.0, 0.0),
            p(1.0, 0.0),
            p(1.0, 5.0)
        ));
        assert!(segments_intersect(
            p(0.0, 0.0),
            p(2.0, 0.0),
            p(1.0, 0.0),
            p(3.0, 0.0)
        ));
        assert!(!segments_intersect(
            p(0.0, 0.0),
            p(1.0, 0.0),
            p(2.0, 0.0),
            p(3.0, 0.0)
        ));
        assert!(!segments_intersect(
            p(0.0, 0.0),
            p(2.0, 0.0),
            p(1.0, 1.0),
            p(1.0, 5.0)
        ));
    }

    #[test]
    fn crossing_through_a_vertex_counts_once() {
        let wire = [p(0.0, 0.0), p(10.0, 0.0), p(20.0, 0.0)];
        assert_eq!(polyline_crossing(&wire, p(10.0, -5.0), p(10.0, 5.0)), 1);
        assert_eq!(polyline_crossing(&wire, p(10.0, 5.0), p(10.0, -5.0)), -1);
        // A bent wire, crossed through its bend.
        let bent = [p(0.0, 0.0), p(10.0, 10.0), p(20.0, 0.0)];
        assert_eq!(polyline_crossing(&bent, p(10.0, 20.0), p(10.0, 0.0)), -1);
    }

    #[test]
    fn touching_a_fold_of_the_wire_is_no_crossing() {
        // V-shaped wire; a horizontal move grazes its tip from outside.
        let v = [p(0.0, 0.0), p(10.0, 10.0), p(20.0, 0.0)];
        assert_eq!(polyline_crossing(&v, p(0.0, 10.0), p(20.0, 10.0)), 0);
    }

    #[test]
    fn moves_ending_on_the_line_or_missing_the_segment_do_not_cross() {
        let wire = [p(0.0, 0.0), p(10.0, 0.0)];
        assert_eq!(polyline_crossing(&wire, p(5.0, -5.0), p(5.0, 0.0)), 0);
        assert_eq!(polyline_crossing(&wire, p(15.0, -5.0), p(15.0, 5.0)), 0);
        assert_eq!(polyline_crossing(&wire, p(5.0, -5.0), p(5.0, 5.0)), 1);
        // Through the wire's end point: meets the closed segment.
        assert_eq!(polyline_crossing(&wire, p(10.0, -5.0), p(10.0, 5.0)), 1);
    }

    #[test]
    fn zig_zag_wire_counts_the_net_crossing() {
        let zig = [p(0.0, 0.0), p(10.0, 10.0), p(20.0, 0.0), p(30.0, 10.0)];
        // Horizontal move at y = 5 crosses three segments: net one crossing.
        assert_eq!(polyline_crossing(&zig, p(-5.0, 5.0), p(35.0, 5.0)).abs(), 1);
    }

    #[test]
    fn point_in_concave_polygon() {
        // A "U": the notch (5..15 x 0..10) is outside.
        let u = [
            p(0.0, 0.0),
            p(5.0, 0.0),
            p(5.0, 10.0),
            p(15.0, 10.0),
            p(15.0, 0.0),
            p(20.0, 0.0),
            p(20.0, 20.0),
            p(0.0, 20.0),
        ];
        assert!(point_in_polygon(&u, p(2.0, 2.0)));
        assert!(point_in_polygon(&u, p(18.0, 2.0)));
        assert!(point_in_polygon(&u, p(10.0, 15.0)));
        assert!(!point_in_polygon(&u, p(10.0, 5.0)));
        assert!(!point_in_polygon(&u, p(25.0, 5.0)));
        // On an edge and on a vertex: outside (strict).
        assert!(!point_in_polygon(&u, p(10.0, 10.0)));
        assert!(!point_in_polygon(&u, p(0.0, 0.0)));
        // A ray through a vertex must not double-toggle.
        assert!(point_in_polygon(&u, p(10.0, 10.0 + 1e-9)));
        assert!(polygon_is_simple(&u));
    }

    #[test]
    fn point_in_self_touching_polygon() {
        // Two squares touching at (10, 10), drawn as one ring: even-odd still works, but the ring
        // is not simple (rules refuse it).
        let bow = [
            p(0.0, 0.0),
            p(10.0, 0.0),
            p(10.0, 10.0),
            p(20.0, 10.0),
            p(20.0, 20.0),
            p(10.0, 20.0),
            p(10.0, 10.0),
            p(0.0, 10.0),
        ];
        assert!(point_in_polygon(&bow, p(5.0, 5.0)));
        assert!(point_in_polygon(&bow, p(15.0, 15.0)));
        assert!(!point_in_polygon(&bow, p(15.0, 5.0)));
        assert!(!point_in_polygon(&bow, p(5.0, 15.0)));
        assert!(!polygon_is_simple(&bow));
    }

    #[test]
    fn simple_polygon_checks() {
        let square = [p(0.0, 0.0), p(1.0, 0.0), p(1.0, 1.0), p(0.0, 1.0)];
        assert!(polygon_is_simple(&square));
        let bowtie = [p(0.0, 0.0), p(1.0, 1.0), p(1.0, 0.0), p(0.0, 1.0)];
        assert!(!polygon_is_simple(&bowtie));
        assert_eq!(first_self_intersection(&bowtie, true), Some((0, 2)));
        let flat = [p(0.0, 0.0), p(1.0, 0.0), p(2.0, 0.0)];
        assert!(!polygon_is_simple(&flat));
        let folded = [p(0.0, 0.0), p(2.0, 0.0), p(1.0, 0.0), p(1.0, 1.0)];
        assert!(!polygon_is_simple(&folded));
        assert!(!polygon_is_simple(&square[..2]));
    }

    #[test]
    fn polyline_side_uses_the_nearest_segment() {
        let l = [p(0.0, 0.0), p(10.0, 0.0), p(10.0, 10.0)];
        assert_eq!(polyline_side(&l, p(5.0, 1.0)), 1);
        assert_eq!(polyline_side(&l, p(5.0, -1.0)), -1);
        // Near the vertical segment (going down): its right-hand side on screen is x < 10.
        assert_eq!(polyline_side(&l, p(9.0, 8.0)), 1);
        assert_eq!(polyline_side(&l, p(11.0, 8.0)), -1);
    }

    #[test]
    fn distance_to_segment_clamps_to_the_ends() {
        assert_eq!(
            distance_to_segment(p(5.0, 3.0), p(0.0, 0.0), p(10.0, 0.0)),
            3.0
        );
        assert_eq!(
            distance_to_segment(p(13.0, 4.0), p(0.0, 0.0), p(10.0, 0.0)),
            5.0
        );
        assert_eq!(
            distance_to_segment(p(3.0, 4.0), p(0.0, 0.0), p(0.0, 0.0)),
            5.0
        );
    }
}
