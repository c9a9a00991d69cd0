//! Cost of the analytics step: nanoseconds per frame for 50 tracked objects against 10 tripwires
//! (5-point polylines) and 10 ROIs (hexagons) on a 1920x1080 frame, next to the same frames with
//! no rules (object bookkeeping and FOV occupancy only), alternating in one run. Objects walk
//! in straight lines with jitter, cross wires and ROIs, and are replaced as they leave (new
//! track ids, so objects start and end all the time). Prints one JSON line. Not a test: numbers
//! are reported, never asserted. `OSPREY_BENCH_FRAMES` (default 3000), `OSPREY_BENCH_ROUNDS` (5).
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use osprey_analytics::{Analytics, AnalyticsConfig};
use osprey_schema::{FrameResult, TrackedObject};
use serde_json::json;

/// xorshift64*, so runs repeat.
struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
    }
}

const W: f32 = 1920.0;
const H: f32 = 1080.0;

fn rules() -> AnalyticsConfig {
    let mut tripwires = Vec::new();
    let mut rois = Vec::new();
    for i in 0..10 {
        let x = 150.0 + i as f32 * 170.0;
        let wire: Vec<_> = (0..5)
            .map(|k| json!({"x": x + if k % 2 == 0 { 0.0 } else { 30.0 }, "y": 100.0 + k as f32 * 200.0}))
            .collect();
        tripwires.push(json!({
            "id": format!("t{i}"), "wire": wire,
            "direction": {"p1": {"x": x - 20.0, "y": 500.0}, "p2": {"x": x + 40.0, "y": 500.0}},
        }));
        let (cx, cy) = (
            180.0 + i as f32 * 170.0,
            if i % 2 == 0 { 300.0 } else { 750.0 },
        );
        let hex: Vec<_> = (0..6)
            .map(|k| {
                let a = k as f32 * std::f32::consts::PI / 3.0;
                json!({"x": cx + 80.0 * a.cos(), "y": cy + 80.0 * a.sin()})
            })
            .collect();
        rois.push(json!({"id": format!("r{i}"), "coordinates": hex, "loitering_seconds": 5}));
    }
    serde_json::from_value(json!({"tripwires": tripwires, "rois": rois})).unwrap()
}

/// `n` frames of 50 walkers at 10 fps.
fn frames(n: usize) -> Vec<FrameResult> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut next_id = 1u64;
    let walker = |rng: &mut Rng, id: &mut u64| {
        *id += 1;
        let (x, y) = (rng.f() * W, rng.f() * H);
        let (vx, vy) = ((rng.f() - 0.5) * 30.0, (rng.f() - 0.5) * 10.0);
        (*id, x, y, vx, vy)
    };
    let mut walkers: Vec<_> = (0..50).map(|_| walker(&mut rng, &mut next_id)).collect();
    (0..n)
        .map(|i| {
            let mut objects = Vec::with_capacity(50);
            let mut ended = Vec::new();
            for w in walkers.iter_mut() {
                w.1 += w.3 + (rng.f() - 0.5) * 2.0;
                w.2 += w.4 + (rng.f() - 0.5) * 2.0;
                let obj = |w: &(u64, f32, f32, f32, f32)| TrackedObject {
                    track_id: w.0,
                    class_id: 0,
                    label: "person".into(),
                    bbox: [w.1 - 20.0, w.2 - 80.0, w.1 + 20.0, w.2],
                    confidence: 0.8,
                    matched: true,
                };
                if !(0.0..W).contains(&w.1) || !(80.0..H).contains(&w.2) {
                    ended.push(obj(w));
                    *w = walker(&mut rng, &mut next_id);
                }
                objects.push(obj(w));
            }
            FrameResult {
                camera: "bench".into(),
                seq: i as u64 + 1,
                frame: i as u64,
                pts: i as f64 / 10.0,
                wall: 1.7e9 + i as f64 / 10.0,
                width: W as u32,
                height: H as u32,
                objects,
                ended,
            }
        })
        .collect()
}

/// Median-of-rounds nanoseconds per frame, and the events produced.
fn time(cfg: &AnalyticsConfig, frames: &[FrameResult]) -> (f64, usize) {
    let mut engine = Analytics::new(cfg.validate(W as u32, H as u32).unwrap());
    let t = Instant::now();
    let mut events = 0;
    for f in frames {
        events += engine.process(f).events.len();
    }
    (t.elapsed().as_nanos() as f64 / frames.len() as f64, events)
}

fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("OSPREY_BENCH_FRAMES", 3000);
    let rounds = env("OSPREY_BENCH_ROUNDS", 5);
    let frames = frames(n);
    let with = rules();
    let without: AnalyticsConfig = serde_json::from_value(json!({})).unwrap();
    let (mut a, mut b, mut events) = (Vec::new(), Vec::new(), 0);
    for _ in 0..rounds {
        let (ns, ev) = time(&with, &frames);
        a.push(ns);
        events = ev;
        b.push(time(&without, &frames).0);
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (with_ns, without_ns) = (a[a.len() / 2], b[b.len() / 2]);
    println!(
        "{}",
        json!({
            "frames": n, "rounds": rounds, "objects": 50, "tripwires": 10, "rois": 10,
            "ns_per_frame_with_rules": with_ns.round(),
            "ns_per_frame_no_rules": without_ns.round(),
            "ns_per_frame_for_rules": (with_ns - without_ns).round(),
            "events": events,
        })
    );
}
