//! ByteTrack (Zhang et al., 2022): every detection box takes part in association. High-score
//! detections are matched first to all live tracks (Kalman-predicted) by IoU, optionally weighted
//! by the score; low-score detections then rescue the tracks still unmatched, which keeps
//! identities through occlusions where the detector's confidence dips. Unmatched high detections
//! start tentative tracks that must be matched again on the next frame to be confirmed; tracks
//! without detections are kept, coasting on their prediction, for `track_buffer` frames.

use crate::assign::solve_limited;
use crate::kalman::State;
use crate::BBox;

/// Which box a track reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputBox {
    /// The Kalman filter's corrected state (smooth; what Ultralytics reports).
    #[default]
    Kalman,
    /// The detection matched in this frame (what Roboflow's trackers report).
    Detection,
}

/// Tracker settings. Score thresholds are in the detector's own units; `score_scale` maps them to
/// [0, 1] for score fusion (100 for detectors whose scores run to ~100).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// Detections at or above this score take part in the first association.
    pub high_thresh: f32,
    /// Detections above this (and below `high_thresh`) take part in the second association.
    pub low_thresh: f32,
    /// An unmatched high detection at or above this score starts a track.
    pub new_track_thresh: f32,
    /// Largest cost (1 − IoU, or 1 − IoU·score when fusing) accepted in the first association.
    pub match_thresh: f32,
    /// Largest cost (1 − IoU) accepted in the second, low-score association.
    pub low_match_thresh: f32,
    /// Largest cost accepted when confirming a tentative track.
    pub confirm_match_thresh: f32,
    /// Frames a lost track is kept for re-identification.
    pub track_buffer: u32,
    /// Weight the IoU by the detection score in the first association.
    pub fuse_score: bool,
    /// Divides scores before fusing (clamped to [0, 1]).
    pub score_scale: f32,
    /// Which box to report.
    pub output: OutputBox,
}

impl Default for TrackerConfig {
    /// ByteTrack's published defaults for detectors scoring in [0, 1], except the first
    /// association's `match_thresh`: 0.9 instead of 0.8 (better MOTA, IDF1 and fewer ID switches on
    /// both PETS09 benchmarks of docs/tracking.md).
    fn default() -> Self {
        TrackerConfig {
            high_thresh: 0.25,
            low_thresh: 0.1,
            new_track_thresh: 0.25,
            match_thresh: 0.9,
            low_match_thresh: 0.5,
            confirm_match_thresh: 0.7,
            track_buffer: 30,
            fuse_score: true,
            score_scale: 1.0,
            output: OutputBox::Kalman,
        }
    }
}

/// One detection handed to the tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Box in pixels.
    pub bbox: BBox,
    /// Detector score.
    pub score: f32,
    /// Class index; tracks only match detections of their class.
    pub class: u32,
}

/// A confirmed track as reported for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Track {
    /// Stable id (1, 2, … per tracker, in order of confirmation).
    pub id: u64,
    /// Box for this frame.
    pub bbox: BBox,
    /// Score of the last matched detection.
    pub score: f32,
    /// Class index.
    pub class: u32,
    /// Frame (tracker's count, 1-based) the track started.
    pub start_frame: u64,
    /// Whether a detection was matched in this frame.
    pub matched: bool,
}

/// Lifecycle of confirmed tracks, for publishers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrackEvent {
    /// A track was confirmed in this frame.
    New(Track),
    /// A track was given up (lost for longer than the buffer); the box is its last one.
    End(Track),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Tracked,
    Lost,
}

#[derive(Debug, Clone)]
struct Tr {
    kf: State,
    id: Option<u64>,
    phase: Phase,
    det: BBox,
    score: f32,
    class: u32,
    start_frame: u64,
    last_frame: u64,
}

impl Tr {
    /// The track as reported when it ends: its last matched box.
    fn ended(&self) -> Option<Track> {
        Some(Track {
            id: self.id?,
            bbox: self.det,
            score: self.score,
            class: self.class,
            start_frame: self.start_frame,
            matched: false,
        })
    }

    fn kalman_box(&self) -> BBox {
        let m = &self.kf.mean;
        let (h, w) = (m[3], m[2] * m[3]);
        BBox {
            x1: (m[0] - w / 2.0) as f32,
            y1: (m[1] - h / 2.0) as f32,
            x2: (m[0] + w / 2.0) as f32,
            y2: (m[1] + h / 2.0) as f32,
        }
    }
}

fn xyah(b: &BBox) -> [f64; 4] {
    let (w, h) = (f64::from(b.w()), f64::from(b.h()).max(1e-6));
    [
        f64::from(b.x1) + w / 2.0,
        f64::from(b.y1) + h / 2.0,
        w / h,
        h,
    ]
}

/// A ByteTrack tracker for one camera / sequence.
#[derive(Debug, Clone)]
pub struct ByteTrack {
    cfg: TrackerConfig,
    frame: u64,
    next_id: u64,
    tracks: Vec<Tr>,
    events: Vec<TrackEvent>,
}

impl ByteTrack {
    /// A tracker with `cfg`.
    pub fn new(cfg: TrackerConfig) -> ByteTrack {
        ByteTrack {
            cfg,
            frame: 0,
            next_id: 1,
            tracks: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Frames processed.
    pub fn frame(&self) -> u64 {
        self.frame
    }

    /// Events since the last call (confirmations and ends).
    pub fn take_events(&mut self) -> Vec<TrackEvent> {
        std::mem::take(&mut self.events)
    }

    fn report(&self, t: &Tr) -> Option<Track> {
        Some(Track {
            id: t.id?,
            bbox: match self.cfg.output {
                OutputBox::Kalman => t.kalman_box(),
                OutputBox::Detection => t.det,
            },
            score: t.score,
            class: t.class,
            start_frame: t.start_frame,
            matched: t.last_frame == self.frame,
        })
    }

    fn cost(&self, tracks: &[usize], dets: &[Detection], fuse: bool) -> Vec<f64> {
        let mut c = vec![f64::INFINITY; tracks.len() * dets.len()];
        for (a, &ti) in tracks.iter().enumerate() {
            let tb = self.tracks[ti].kalman_box();
            for (b, d) in dets.iter().enumerate() {
                if d.class != self.tracks[ti].class {
                    continue;
                }
                let mut sim = f64::from(tb.iou(&d.bbox));
                if fuse {
                    sim *= f64::from((d.score / self.cfg.score_scale).clamp(0.0, 1.0));
                }
                c[a * dets.len() + b] = 1.0 - sim;
            }
        }
        c
    }

    fn matched(&mut self, ti: usize, d: &Detection) {
        let t = &mut self.tracks[ti];
        t.kf.update(xyah(&d.bbox));
        t.det = d.bbox;
        t.score = d.score;
        t.phase = Phase::Tracked;
        t.last_frame = self.frame;
    }

    fn confirm(&mut self, ti: usize) {
        if self.tracks[ti].id.is_none() {
            self.tracks[ti].id = Some(self.next_id);
            self.next_id += 1;
            if let Some(t) = self.report(&self.tracks[ti]) {
                self.events.push(TrackEvent::New(t));
            }
        }
    }

    /// Processes one frame's detections; returns the confirmed tracks alive in it (matched
    /// this frame).
    pub fn update(&mut self, detections: &[Detection]) -> Vec<Track> {
        self.frame += 1;
        let cfg = self.cfg.clone();
        let high: Vec<Detection> = detections
            .iter()
            .filter(|d| d.score >= cfg.high_thresh)
            .copied()
            .collect();
        let low: Vec<Detection> = detections
            .iter()
            .filter(|d| d.score > cfg.low_thresh && d.score < cfg.high_thresh)
            .copied()
            .collect();
        for t in &mut self.tracks {
            if t.phase != Phase::Tracked {
                t.kf.mean[7] = 0.0; // a lost track's height stops changing
            }
            t.kf.predict();
        }
        // Confirmed (tracked or lost) tracks vs high detections.
        let pool: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| self.tracks[i].id.is_some())
            .collect();
        let tentative: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| self.tracks[i].id.is_none())
            .collect();
        let c = self.cost(&pool, &high, cfg.fuse_score);
        let m1 = solve_limited(&c, pool.len(), high.len(), f64::from(cfg.match_thresh));
        let mut track_done = vec![false; pool.len()];
        let mut high_done = vec![false; high.len()];
        for &(a, b) in &m1 {
            self.matched(pool[a], &high[b]);
            track_done[a] = true;
            high_done[b] = true;
        }
        // Still-tracked leftovers vs low detections.
        let rest: Vec<usize> = (0..pool.len())
            .filter(|&a| !track_done[a] && self.tracks[pool[a]].phase == Phase::Tracked)
            .map(|a| pool[a])
            .collect();
        let c = self.cost(&rest, &low, false);
        let m2 = solve_limited(&c, rest.len(), low.len(), f64::from(cfg.low_match_thresh));
        let mut rest_done = vec![false; rest.len()];
        for &(a, b) in &m2 {
            self.matched(rest[a], &low[b]);
            rest_done[a] = true;
        }
        for (a, &ti) in rest.iter().enumerate() {
            if !rest_done[a] {
                self.tracks[ti].phase = Phase::Lost;
            }
        }
        // Tentative tracks (born last frame) vs the high detections left.
        let left: Vec<usize> = (0..high.len()).filter(|&b| !high_done[b]).collect();
        let left_dets: Vec<Detection> = left.iter().map(|&b| high[b]).collect();
        let c = self.cost(&tentative, &left_dets, cfg.fuse_score);
        let m3 = solve_limited(
            &c,
            tentative.len(),
            left_dets.len(),
            f64::from(cfg.confirm_match_thresh),
        );
        let mut tent_done = vec![false; tentative.len()];
        for &(a, b) in &m3 {
            self.matched(tentative[a], &left_dets[b]);
            self.confirm(tentative[a]);
            tent_done[a] = true;
            high_done[left[b]] = true;
        }
        let mut remove = vec![false; self.tracks.len()];
        for (a, &ti) in tentative.iter().enumerate() {
            if !tent_done[a] {
                remove[ti] = true;
            }
        }
        // Births.
        for (b, d) in high.iter().enumerate() {
            if high_done[b] || d.score < cfg.new_track_thresh {
                continue;
            }
            self.tracks.push(Tr {
                kf: State::new(xyah(&d.bbox)),
                id: None,
                phase: Phase::Tracked,
                det: d.bbox,
                score: d.score,
                class: d.class,
                start_frame: self.frame,
                last_frame: self.frame,
            });
            remove.push(false);
            let ti = self.tracks.len() - 1;
            if self.frame == 1 {
                self.confirm(ti); // nothing to confirm against on the first frame
            }
        }
        // Deaths: lost longer than the buffer.
        for (ti, t) in self.tracks.iter().enumerate() {
            if t.phase == Phase::Lost && self.frame - t.last_frame > u64::from(cfg.track_buffer) {
                remove[ti] = true;
            }
        }
        // Duplicates: a tracked and a lost track on the same object; the younger one goes.
        let tracked: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| {
                !remove[i] && self.tracks[i].phase == Phase::Tracked && self.tracks[i].id.is_some()
            })
            .collect();
        let lost: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| !remove[i] && self.tracks[i].phase == Phase::Lost)
            .collect();
        for &a in &tracked {
            for &b in &lost {
                let (ta, tb) = (&self.tracks[a], &self.tracks[b]);
                if 1.0 - ta.kalman_box().iou(&tb.kalman_box()) < 0.15 {
                    let age_a = ta.last_frame - ta.start_frame;
                    let age_b = tb.last_frame - tb.start_frame;
                    if age_a > age_b {
                        remove[b] = true;
                    } else {
                        remove[a] = true;
                    }
                }
            }
        }
        let mut kept = Vec::with_capacity(self.tracks.len());
        for (ti, t) in std::mem::take(&mut self.tracks).into_iter().enumerate() {
            if remove[ti] {
                self.events.extend(t.ended().map(TrackEvent::End));
            } else {
                kept.push(t);
            }
        }
        self.tracks = kept;
        let mut out: Vec<Track> = self
            .tracks
            .iter()
            .filter(|t| t.phase == Phase::Tracked && t.last_frame == self.frame)
            .filter_map(|t| self.report(t))
            .collect();
        out.sort_by_key(|t| t.id);
        out
    }

    /// Ends every confirmed track (end of stream); returns their `End` events.
    pub fn finish(&mut self) -> Vec<TrackEvent> {
        for t in std::mem::take(&mut self.tracks) {
            self.events.extend(t.ended().map(TrackEvent::End));
        }
        self.take_events()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, score: f32) -> Detection {
        Detection {
            bbox: BBox::from_ltwh(x, 100.0, 40.0, 100.0),
            score,
            class: 0,
        }
    }

    #[test]
    fn one_walker_keeps_one_id_through_a_low_score_dip_and_a_gap() {
        let mut t = ByteTrack::new(TrackerConfig::default());
        let mut ids = Vec::new();
        for f in 0..40 {
            let x = 10.0 + 4.0 * f as f32;
            let dets = match f {
                10..=12 => vec![det(x, 0.15)], // occluded: low score, second stage keeps it
                20..=24 => vec![],             // gone for 5 frames: coasts, then re-found
                _ => vec![det(x, 0.9)],
            };
            for tr in t.update(&dets) {
                ids.push(tr.id);
            }
        }
        assert!(!ids.is_empty());
        assert!(ids.iter().all(|&i| i == 1), "{ids:?}");
        let ev = t.take_events();
        assert!(matches!(ev.first(), Some(TrackEvent::New(tr)) if tr.id == 1));
        let end = t.finish();
        assert!(matches!(end.as_slice(), [TrackEvent::End(tr)] if tr.id == 1));
    }

    #[test]
    fn a_single_false_detection_never_becomes_a_track() {
        let mut t = ByteTrack::new(TrackerConfig::default());
        assert!(t.update(&[det(0.0, 0.9)]).len() == 1); // first frame: confirmed at once
        let out = t.update(&[det(0.0, 0.9), det(500.0, 0.9)]);
        assert_eq!(out.len(), 1, "the newcomer is tentative");
        let out = t.update(&[det(0.0, 0.9)]);
        assert_eq!(out.len(), 1);
        assert!(t
            .take_events()
            .iter()
            .all(|e| !matches!(e, TrackEvent::New(tr) if tr.id != 1)));
    }

    #[test]
    fn two_crossing_walkers_keep_their_ids() {
        let mut t = ByteTrack::new(TrackerConfig::default());
        let mut first = None;
        for f in 0..30 {
            let a = det(10.0 + 10.0 * f as f32, 0.9);
            let mut b = det(300.0 - 10.0 * f as f32, 0.8);
            b.bbox.y1 += 30.0;
            b.bbox.y2 += 30.0;
            let out = t.update(&[a, b]);
            if f == 0 {
                first = Some(out.clone());
            }
            if f == 29 {
                let first = first.clone().unwrap_or_default();
                // the track starting on the left is still the one on the right now
                let left_id = first
                    .iter()
                    .min_by(|p, q| p.bbox.x1.total_cmp(&q.bbox.x1))
                    .map(|x| x.id);
                let right_now = out
                    .iter()
                    .max_by(|p, q| p.bbox.x1.total_cmp(&q.bbox.x1))
                    .map(|x| x.id);
                assert_eq!(left_id, right_now);
            }
        }
    }

    #[test]
    fn classes_do_not_mix() {
        let mut t = ByteTrack::new(TrackerConfig::default());
        t.update(&[det(0.0, 0.9)]);
        let mut car = det(0.0, 0.9);
        car.class = 2;
        // The person track may not take the car: the car is a tentative newcomer.
        assert!(t.update(&[car]).is_empty());
        let out = t.update(&[car]);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].id, out[0].class), (2, 2));
    }
}
