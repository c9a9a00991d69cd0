//! CLEAR MOT and identity metrics, computed the way py-motmetrics 1.4 computes them with
//! `compare_to_groundtruth(gt, hyp, 'iou', distth=0.5)`:
//!
//! * per frame, distance = 1 − IoU, and pairs with IoU < 0.5 are forbidden;
//! * a pair matched in the previous frame stays matched while its distance is allowed;
//! * the rest is a maximum-cardinality, minimum-distance assignment;
//! * a match whose object was last matched to another hypothesis is an ID switch;
//! * unmatched objects are misses (FN), unmatched hypotheses false positives (FP);
//! * MOTA = 1 − (FN + FP + IDSW) / GT, MOTP = mean distance of matches;
//! * IDF1 = 2·IDTP / (GT + predictions), IDTP from the best one-to-one pairing of whole
//!   trajectories by the number of frames they overlap (IoU ≥ 0.5).

use std::collections::{BTreeMap, HashMap};

use crate::assign;
use crate::mot::Row;

/// Scores of one sequence.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scores {
    /// Multiple Object Tracking Accuracy.
    pub mota: f64,
    /// Mean 1 − IoU of matches (motmetrics' MOTP; lower is better).
    pub motp: f64,
    /// Identity F1.
    pub idf1: f64,
    /// Identity precision.
    pub idp: f64,
    /// Identity recall.
    pub idr: f64,
    /// Matches / ground-truth boxes.
    pub recall: f64,
    /// Matches / predicted boxes.
    pub precision: f64,
    /// Identity switches.
    pub id_switches: usize,
    /// False positives.
    pub false_positives: usize,
    /// Misses.
    pub misses: usize,
    /// Matches (including switches).
    pub matches: usize,
    /// Ground-truth boxes.
    pub gt_boxes: usize,
    /// Predicted boxes.
    pub predicted_boxes: usize,
    /// Ground-truth trajectories.
    pub gt_tracks: usize,
    /// Frames seen (union of gt and predictions).
    pub frames: usize,
}

fn by_frame(rows: &[Row]) -> BTreeMap<u32, Vec<&Row>> {
    let mut m: BTreeMap<u32, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        m.entry(r.frame).or_default().push(r);
    }
    m
}

/// Scores `hyp` against `gt` (both already filtered: pass gt rows with flag 1 only to mirror
/// `loadtxt(..., min_confidence=1)`).
pub fn score(gt: &[Row], hyp: &[Row]) -> Scores {
    let gtf = by_frame(gt);
    let hyf = by_frame(hyp);
    let mut frames: Vec<u32> = gtf.keys().chain(hyf.keys()).copied().collect();
    frames.sort_unstable();
    frames.dedup();
    let empty = Vec::new();
    // object -> hypothesis it was last matched to
    let mut last: HashMap<i64, i64> = HashMap::new();
    // (object, hypothesis) -> frames where they overlap enough
    let mut overlap: HashMap<(i64, i64), usize> = HashMap::new();
    let mut s = Scores {
        frames: frames.len(),
        ..Scores::default()
    };
    let mut dist_sum = 0.0;
    for f in &frames {
        let os = gtf.get(f).unwrap_or(&empty);
        let hs = hyf.get(f).unwrap_or(&empty);
        s.gt_boxes += os.len();
        s.predicted_boxes += hs.len();
        let (no, nh) = (os.len(), hs.len());
        let mut d = vec![f64::NAN; no * nh];
        for (i, o) in os.iter().enumerate() {
            for (j, h) in hs.iter().enumerate() {
                let iou = f64::from(o.bbox.iou(&h.bbox));
                let dist = 1.0 - iou;
                if dist <= 0.5 {
                    d[i * nh + j] = dist;
                    *overlap.entry((o.id, h.id)).or_default() += 1;
                }
            }
        }
        let mut o_done = vec![false; no];
        let mut h_done = vec![false; nh];
        // 1. keep last frame's correspondences that are still allowed
        for i in 0..no {
            let Some(&hprev) = last.get(&os[i].id) else {
                continue;
            };
            if let Some(j) = (0..nh).find(|&j| !h_done[j] && hs[j].id == hprev) {
                if d[i * nh + j].is_finite() {
                    o_done[i] = true;
                    h_done[j] = true;
                    s.matches += 1;
                    dist_sum += d[i * nh + j];
                }
            }
        }
        // 2. assignment over the rest
        let ri: Vec<usize> = (0..no).filter(|&i| !o_done[i]).collect();
        let cj: Vec<usize> = (0..nh).filter(|&j| !h_done[j]).collect();
        let mut sub = vec![f64::NAN; ri.len() * cj.len()];
        for (a, &i) in ri.iter().enumerate() {
            for (b, &j) in cj.iter().enumerate() {
                sub[a * cj.len() + b] = d[i * nh + j];
            }
        }
        for (a, b) in assign::solve_max_cardinality(&sub, ri.len(), cj.len()) {
            let (i, j) = (ri[a], cj[b]);
            o_done[i] = true;
            h_done[j] = true;
            s.matches += 1;
            dist_sum += d[i * nh + j];
            let (o, h) = (os[i].id, hs[j].id);
            if last.get(&o).is_some_and(|&p| p != h) {
                s.id_switches += 1;
            }
            last.insert(o, h);
        }
        s.misses += o_done.iter().filter(|x| !**x).count();
        s.false_positives += h_done.iter().filter(|x| !**x).count();
    }
    // Identity metrics: best trajectory pairing by overlapping frames.
    let mut oids: Vec<i64> = gt.iter().map(|r| r.id).collect();
    oids.sort_unstable();
    oids.dedup();
    let mut hids: Vec<i64> = hyp.iter().map(|r| r.id).collect();
    hids.sort_unstable();
    hids.dedup();
    s.gt_tracks = oids.len();
    let oi: HashMap<i64, usize> = oids.iter().enumerate().map(|(i, &o)| (o, i)).collect();
    let hi: HashMap<i64, usize> = hids.iter().enumerate().map(|(i, &h)| (h, i)).collect();
    let mut cost = vec![0.0; oids.len() * hids.len()];
    for (&(o, h), &n) in &overlap {
        cost[oi[&o] * hids.len() + hi[&h]] = -(n as f64);
    }
    let idtp: f64 = assign::solve(&cost, oids.len(), hids.len())
        .into_iter()
        .map(|(r, c)| -cost[r * hids.len() + c])
        .sum();
    let (g, p) = (s.gt_boxes as f64, s.predicted_boxes as f64);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    s.idf1 = ratio(2.0 * idtp, g + p);
    s.idp = ratio(idtp, p);
    s.idr = ratio(idtp, g);
    s.mota = 1.0 - ratio((s.misses + s.false_positives + s.id_switches) as f64, g);
    s.motp = ratio(dist_sum, s.matches as f64);
    s.recall = ratio(s.matches as f64, g);
    s.precision = ratio(s.matches as f64, p);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BBox;

    fn row(frame: u32, id: i64, x: f32) -> Row {
        Row {
            frame,
            id,
            bbox: BBox::from_ltwh(x, 0.0, 10.0, 10.0),
            score: 1.0,
        }
    }

    #[test]
    fn perfect_tracking_scores_one() {
        let gt: Vec<Row> = (1..=5)
            .flat_map(|f| [row(f, 1, 0.0), row(f, 2, 50.0)])
            .collect();
        let hyp: Vec<Row> = (1..=5)
            .flat_map(|f| [row(f, 7, 0.0), row(f, 8, 50.0)])
            .collect();
        let s = score(&gt, &hyp);
        assert_eq!((s.mota, s.idf1, s.id_switches), (1.0, 1.0, 0));
        assert_eq!(s.matches, 10);
    }

    #[test]
    fn a_switch_a_miss_and_a_false_positive() {
        // Object 1 tracked by 7 in frames 1-2, then by 9 in frames 3-4: one switch.
        let gt: Vec<Row> = (1..=4).map(|f| row(f, 1, 0.0)).collect();
        let mut hyp = vec![
            row(1, 7, 0.0),
            row(2, 7, 1.0),
            row(3, 9, 0.0),
            row(4, 9, 0.0),
        ];
        hyp.push(row(2, 5, 100.0)); // nowhere near: FP
        let s = score(&gt, &hyp);
        assert_eq!(s.id_switches, 1);
        assert_eq!(s.false_positives, 1);
        assert_eq!(s.misses, 0);
        assert!((s.mota - (1.0 - 2.0 / 4.0)).abs() < 1e-12);
        // IDTP = 2 (either 7 or 9 with two frames); IDF1 = 2*2 / (4 + 5)
        assert!((s.idf1 - 4.0 / 9.0).abs() < 1e-12);
    }
}
