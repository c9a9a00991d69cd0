//! From raw model output to detections: candidate extraction per layout, then the same
//! non-maximum suppression Ultralytics runs (`ultralytics.utils.nms.non_max_suppression` with
//! torchvision's `nms`), reproduced step for step in `f32`.

use serde::{Deserialize, Serialize};

use crate::layout::OutputLayout;

/// Ultralytics offsets boxes by `class * 7680` so one NMS pass never suppresses across classes.
const MAX_WH: f32 = 7680.0;
/// Ultralytics keeps at most this many candidates before NMS.
const MAX_NMS: usize = 30_000;
/// YOLOX head strides.
const YOLOX_STRIDES: [u32; 3] = [8, 16, 32];

/// Detection thresholds and limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectParams {
    /// Keep candidates whose score is strictly above this.
    pub conf: f32,
    /// Suppress a box whose IoU with a better box of its class is strictly above this.
    pub iou: f32,
    /// Keep at most this many detections per image.
    pub max_det: usize,
    /// Suppress across classes too.
    pub agnostic: bool,
    /// Keep one candidate per (anchor, class) above `conf` instead of only the best class
    /// (Ultralytics validation does this).
    pub multi_label: bool,
    /// Keep only these class ids (`None`: all).
    pub classes: Option<Vec<u32>>,
}

impl Default for DetectParams {
    /// Ultralytics predict defaults: conf 0.25, IoU 0.7, 300 detections, class-aware.
    fn default() -> Self {
        Self {
            conf: 0.25,
            iou: 0.7,
            max_det: 300,
            agnostic: false,
            multi_label: false,
            classes: None,
        }
    }
}

/// One detected object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Class index into the model's names.
    pub class_id: u32,
    /// Score in 0..1.
    pub confidence: f32,
    /// Left edge, pixels.
    pub x1: f32,
    /// Top edge, pixels.
    pub y1: f32,
    /// Right edge, pixels.
    pub x2: f32,
    /// Bottom edge, pixels.
    pub y2: f32,
}

impl Detection {
    /// The box as `[x1, y1, x2, y2]`.
    pub fn bbox(&self) -> [f32; 4] {
        [self.x1, self.y1, self.x2, self.y2]
    }
}

/// A candidate box in model-input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub bbox: [f32; 4],
    pub score: f32,
    pub class: u32,
}

fn xywh_to_xyxy(cx: f32, cy: f32, w: f32, h: f32) -> [f32; 4] {
    let (hw, hh) = (w / 2.0, h / 2.0);
    [cx - hw, cy - hh, cx + hw, cy + hh]
}

fn class_allowed(params: &DetectParams, class: u32) -> bool {
    params.classes.as_ref().is_none_or(|c| c.contains(&class))
}

/// Extracts candidates from one image's output slice. `input_hw` is the tensor's height and
/// width (needed by the YOLOX grid decode).
pub(crate) fn candidates(
    layout: &OutputLayout,
    data: &[f32],
    dims: (usize, usize),
    input_hw: (usize, usize),
    params: &DetectParams,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    match *layout {
        OutputLayout::ChannelsFirst { num_classes } => {
            let (rows, n) = dims;
            if rows < 4 + num_classes || data.len() < rows * n {
                return out;
            }
            let row = |r: usize| &data[r * n..(r + 1) * n];
            let (cx, cy, w, h) = (row(0), row(1), row(2), row(3));
            if params.multi_label {
                // torch.where walks (anchor, class) in row-major order.
                for j in 0..n {
                    for c in 0..num_classes {
                        let s = data[(4 + c) * n + j];
                        if s > params.conf && class_allowed(params, c as u32) {
                            out.push(Candidate {
                                bbox: xywh_to_xyxy(cx[j], cy[j], w[j], h[j]),
                                score: s,
                                class: c as u32,
                            });
                        }
                    }
                }
            } else {
                // Row-wise arg-max keeps memory access sequential; ties keep the lowest class.
                let mut best = row(4).to_vec();
                let mut best_c = vec![0u32; n];
                for c in 1..num_classes {
                    for (j, &s) in row(4 + c).iter().enumerate() {
                        if s > best[j] {
                            best[j] = s;
                            best_c[j] = c as u32;
                        }
                    }
                }
                for j in 0..n {
                    if best[j] > params.conf && class_allowed(params, best_c[j]) {
                        out.push(Candidate {
                            bbox: xywh_to_xyxy(cx[j], cy[j], w[j], h[j]),
                            score: best[j],
                            class: best_c[j],
                        });
                    }
                }
            }
        }
        OutputLayout::Yolox {
            num_classes,
            grid_decode,
        } => {
            let (n, cols) = dims;
            if cols < 5 + num_classes || data.len() < n * cols {
                return out;
            }
            let grid = grid_decode.then(|| yolox_grid(input_hw, n)).flatten();
            for j in 0..n {
                let r = &data[j * cols..(j + 1) * cols];
                let (mut cx, mut cy, mut w, mut h) = (r[0], r[1], r[2], r[3]);
                if let Some(g) = &grid {
                    let (gx, gy, s) = g[j];
                    cx = (cx + gx) * s;
                    cy = (cy + gy) * s;
                    w = w.exp() * s;
                    h = h.exp() * s;
                }
                let obj = r[4];
                let bbox = xywh_to_xyxy(cx, cy, w, h);
                if params.multi_label {
                    for c in 0..num_classes {
                        let s = obj * r[5 + c];
                        if s > params.conf && class_allowed(params, c as u32) {
                            out.push(Candidate {
                                bbox,
                                score: s,
                                class: c as u32,
                            });
                        }
                    }
                } else {
                    let (mut bc, mut bs) = (0usize, r[5]);
                    for c in 1..num_classes {
                        if r[5 + c] > bs {
                            bs = r[5 + c];
                            bc = c;
                        }
                    }
                    let s = obj * bs;
                    if s > params.conf && class_allowed(params, bc as u32) {
                        out.push(Candidate {
                            bbox,
                            score: s,
                            class: bc as u32,
                        });
                    }
                }
            }
        }
        OutputLayout::EndToEnd => {
            let (n, cols) = dims;
            if cols < 6 || data.len() < n * cols {
                return out;
            }
            for j in 0..n {
                let r = &data[j * cols..(j + 1) * cols];
                let class = r[5].max(0.0) as u32;
                if r[4] > params.conf && class_allowed(params, class) {
                    out.push(Candidate {
                        bbox: [r[0], r[1], r[2], r[3]],
                        score: r[4],
                        class,
                    });
                }
            }
        }
    }
    out
}

/// Grid cell and stride of every YOLOX anchor, or `None` if `n` does not match the input size.
fn yolox_grid(input_hw: (usize, usize), n: usize) -> Option<Vec<(f32, f32, f32)>> {
    let mut g = Vec::with_capacity(n);
    for s in YOLOX_STRIDES {
        let s = s as usize;
        let (gh, gw) = (input_hw.0 / s, input_hw.1 / s);
        for y in 0..gh {
            for x in 0..gw {
                g.push((x as f32, y as f32, s as f32));
            }
        }
    }
    (g.len() == n).then_some(g)
}

/// Class-aware (or agnostic) greedy NMS, as torchvision's CPU kernel on Ultralytics' offset
/// boxes; keeps at most `max_det`, best first.
pub(crate) fn nms(mut cands: Vec<Candidate>, params: &DetectParams, skip: bool) -> Vec<Candidate> {
    // Descending by score; a stable sort keeps the extraction order among ties.
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    cands.truncate(MAX_NMS);
    if skip {
        cands.truncate(params.max_det);
        return cands;
    }
    let offset = |c: &Candidate| {
        if params.agnostic {
            0.0
        } else {
            c.class as f32 * MAX_WH
        }
    };
    let boxes: Vec<[f32; 4]> = cands
        .iter()
        .map(|c| {
            let o = offset(c);
            [c.bbox[0] + o, c.bbox[1] + o, c.bbox[2] + o, c.bbox[3] + o]
        })
        .collect();
    let areas: Vec<f32> = boxes
        .iter()
        .map(|b| (b[2] - b[0]) * (b[3] - b[1]))
        .collect();
    let mut suppressed = vec![false; cands.len()];
    let mut keep = Vec::new();
    for i in 0..cands.len() {
        if suppressed[i] {
            continue;
        }
        keep.push(cands[i]);
        if keep.len() >= params.max_det {
            break;
        }
        let bi = boxes[i];
        for j in i + 1..cands.len() {
            if suppressed[j] {
                continue;
            }
            let bj = boxes[j];
            let w = (bi[2].min(bj[2]) - bi[0].max(bj[0])).max(0.0);
            let h = (bi[3].min(bj[3]) - bi[1].max(bj[1])).max(0.0);
            let inter = w * h;
            let iou = inter / (areas[i] + areas[j] - inter);
            if iou > params.iou {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// IoU of two `[x1, y1, x2, y2]` boxes (0 when either is empty).
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(b: [f32; 4], score: f32, class: u32) -> Candidate {
        Candidate {
            bbox: b,
            score,
            class,
        }
    }

    #[test]
    fn nms_suppresses_same_class_overlaps_only() {
        let p = DetectParams::default();
        let c = vec![
            cand([0.0, 0.0, 10.0, 10.0], 0.9, 0),
            cand([1.0, 0.0, 11.0, 10.0], 0.8, 0), // IoU 0.818 with the first: suppressed
            cand([1.0, 0.0, 11.0, 10.0], 0.7, 1), // other class: kept
            cand([20.0, 20.0, 30.0, 30.0], 0.6, 0), // no overlap: kept
        ];
        let kept = nms(c.clone(), &p, false);
        assert_eq!(
            kept.iter().map(|k| k.score).collect::<Vec<_>>(),
            [0.9, 0.7, 0.6]
        );
        let agnostic = DetectParams {
            agnostic: true,
            ..p
        };
        let kept = nms(c, &agnostic, false);
        assert_eq!(kept.iter().map(|k| k.score).collect::<Vec<_>>(), [0.9, 0.6]);
    }

    #[test]
    fn nms_respects_max_det_and_threshold_is_strict() {
        let p = DetectParams {
            max_det: 2,
            iou: 0.5,
            ..DetectParams::default()
        };
        // IoU exactly 0.5 (10x10 boxes overlapping by a third of width): not suppressed.
        let c = vec![
            cand([0.0, 0.0, 10.0, 10.0], 0.9, 0),
            cand([10.0 / 3.0, 0.0, 10.0 + 10.0 / 3.0, 10.0], 0.8, 0),
            cand([50.0, 50.0, 60.0, 60.0], 0.7, 0),
        ];
        assert!((iou(c[0].bbox, c[1].bbox) - 0.5).abs() < 1e-6);
        assert_eq!(nms(c, &p, false).len(), 2);
    }

    #[test]
    fn channels_first_takes_best_class_above_threshold() {
        // 2 anchors, 2 classes: rows cx, cy, w, h, s0, s1.
        let data = [
            10.0, 50.0, // cx
            10.0, 50.0, // cy
            4.0, 8.0, // w
            4.0, 8.0, // h
            0.3, 0.1, // class 0
            0.6, 0.2, // class 1
        ];
        let layout = OutputLayout::ChannelsFirst { num_classes: 2 };
        let p = DetectParams::default();
        let c = candidates(&layout, &data, (6, 2), (64, 64), &p);
        assert_eq!(c, vec![cand([8.0, 8.0, 12.0, 12.0], 0.6, 1)]);
        let multi = DetectParams {
            multi_label: true,
            ..p
        };
        let c = candidates(&layout, &data, (6, 2), (64, 64), &multi);
        assert_eq!(c.len(), 2);
        let only0 = DetectParams {
            classes: Some(vec![0]),
            ..DetectParams::default()
        };
        assert!(candidates(&layout, &data, (6, 2), (64, 64), &only0).is_empty());
    }

    #[test]
    fn yolox_grid_decode_and_objectness() {
        // Input 32x32 gives grids 4x4 (s8), 2x2 (s16), 1x1 (s32) = 21 anchors.
        let (n, cols) = (21, 7);
        let mut data = vec![0.0f32; n * cols];
        // Anchor 5 = stride 8, cell (1, 1): offset 0.5 -> centre 12, exp(0) * 8 = 8 wide.
        let r = &mut data[5 * cols..6 * cols];
        r.copy_from_slice(&[0.5, 0.5, 0.0, 0.0, 0.8, 0.1, 0.9]);
        let layout = OutputLayout::Yolox {
            num_classes: 2,
            grid_decode: true,
        };
        let c = candidates(
            &layout,
            &data,
            (n, cols),
            (32, 32),
            &DetectParams::default(),
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].class, 1);
        assert!((c[0].score - 0.72).abs() < 1e-6);
        assert_eq!(c[0].bbox, [8.0, 8.0, 16.0, 16.0]);
    }

    #[test]
    fn end_to_end_rows_pass_through() {
        let data = [1.0, 2.0, 3.0, 4.0, 0.9, 7.0, 0.0, 0.0, 1.0, 1.0, 0.1, 2.0];
        let c = candidates(
            &OutputLayout::EndToEnd,
            &data,
            (2, 6),
            (32, 32),
            &DetectParams::default(),
        );
        assert_eq!(c, vec![cand([1.0, 2.0, 3.0, 4.0], 0.9, 7)]);
    }
}
