//! COCO-style mAP the way Ultralytics 8.4 `val` computes it (`DetectionValidator`,
//! `match_predictions`, `ap_per_class`, `compute_ap`), for checking a model end to end.
//!
//! Per image, predictions (conf > 0.001, multi-label NMS at IoU 0.7, at most 300) and ground
//! truth are compared in letterboxed-input pixels. Predictions are taken in descending
//! confidence; at each of the ten IoU thresholds 0.50:0.05:0.95 a prediction claims the
//! still-unclaimed ground-truth box of its class with the highest IoU, and is a true positive if
//! that IoU reaches the threshold. Per class, precision/recall over predictions sorted by
//! confidence give AP: the precision envelope, dropped to zero right after the last recall,
//! sampled at 101 recall points and integrated with the trapezoidal rule. mAP averages over the
//! classes present in the ground truth.

use std::path::{Path, PathBuf};

/// IoU thresholds 0.50, 0.55, …, 0.95.
pub const IOU_THRESHOLDS: [f32; 10] = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];

/// A ground-truth box in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundTruth {
    /// Class index.
    pub class_id: u32,
    /// `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
}

/// One image's predictions scored against its ground truth.
#[derive(Debug, Clone, Default)]
pub struct ImageStats {
    /// Per prediction: confidence, class, and whether it is a true positive at each threshold.
    pub preds: Vec<(f32, u32, [bool; 10])>,
    /// Ground-truth classes.
    pub target_classes: Vec<u32>,
}

/// IoU as Ultralytics' `box_iou` computes it (with `eps = 1e-7` in the denominator).
fn box_iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-7)
}

/// Scores one image (`match_predictions`). `preds` are `(bbox, confidence, class)` in descending
/// confidence, as NMS returns them.
pub fn match_image(preds: &[([f32; 4], f32, u32)], gts: &[GroundTruth]) -> ImageStats {
    let mut out = ImageStats {
        preds: preds.iter().map(|p| (p.1, p.2, [false; 10])).collect(),
        target_classes: gts.iter().map(|g| g.class_id).collect(),
    };
    if preds.is_empty() || gts.is_empty() {
        return out;
    }
    // claimed[g][t]: ground truth g already matched at threshold t.
    let mut claimed = vec![[false; 10]; gts.len()];
    for (j, p) in preds.iter().enumerate() {
        let ious: Vec<f32> = gts
            .iter()
            .map(|g| {
                if g.class_id == p.2 {
                    box_iou(g.bbox, p.0)
                } else {
                    0.0
                }
            })
            .collect();
        if !ious.iter().any(|&v| v >= IOU_THRESHOLDS[0]) {
            continue;
        }
        for (t, &thr) in IOU_THRESHOLDS.iter().enumerate() {
            // np.argmax over the unclaimed IoUs: the first maximum wins.
            let mut best = (0usize, f32::NEG_INFINITY);
            for (g, &v) in ious.iter().enumerate() {
                let v = if claimed[g][t] { 0.0 } else { v };
                if v > best.1 {
                    best = (g, v);
                }
            }
            if best.1 >= thr {
                out.preds[j].2[t] = true;
                claimed[best.0][t] = true;
            }
        }
    }
    out
}

/// Dataset-level result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MapResult {
    /// mAP at IoU 0.5.
    pub map50: f64,
    /// mAP averaged over IoU 0.5:0.95.
    pub map50_95: f64,
    /// Per class present in the ground truth: `(class, gt count, AP50, AP50-95)`.
    pub per_class: Vec<(u32, usize, f64, f64)>,
    /// Images scored.
    pub images: usize,
    /// Ground-truth boxes.
    pub targets: usize,
}

/// 101-point interpolated AP (`compute_ap`), trapezoidal like `np.trapezoid`. The sentinels
/// `(recall[-1], 0)` and `(1, 0)` make precision fall to zero right after the last recall.
pub fn compute_ap(recall: &[f64], precision: &[f64]) -> f64 {
    let mut mrec = Vec::with_capacity(recall.len() + 3);
    mrec.push(0.0);
    mrec.extend_from_slice(recall);
    mrec.push(recall.last().copied().unwrap_or(1.0));
    mrec.push(1.0);
    let mut mpre = Vec::with_capacity(precision.len() + 3);
    mpre.push(1.0);
    mpre.extend_from_slice(precision);
    mpre.extend_from_slice(&[0.0, 0.0]);
    for i in (0..mpre.len() - 1).rev() {
        mpre[i] = mpre[i].max(mpre[i + 1]);
    }
    let xs: Vec<f64> = (0..101).map(|i| i as f64 / 100.0).collect();
    let ys: Vec<f64> = xs.iter().map(|&x| interp(x, &mrec, &mpre)).collect();
    xs.windows(2)
        .zip(ys.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
        .sum()
}

/// `np.interp`: piecewise linear, `xp` non-decreasing, clamped at the ends. For repeated `xp`
/// values NumPy's binary search lands on the last of them — also at `x == xp[0]`, which matters
/// for AP: recall stays 0 until the first true positive.
fn interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    if x < xp[0] {
        return fp[0];
    }
    let last = xp.len() - 1;
    if x >= xp[last] {
        return fp[last];
    }
    // Index j with xp[j] <= x < xp[j + 1].
    let j = xp.partition_point(|&v| v <= x) - 1;
    let (x0, x1) = (xp[j], xp[j + 1]);
    if x1 == x0 {
        return fp[j];
    }
    fp[j] + (x - x0) * (fp[j + 1] - fp[j]) / (x1 - x0)
}

/// `ap_per_class` over all images.
pub fn mean_average_precision(stats: &[ImageStats]) -> MapResult {
    let mut preds: Vec<(f32, u32, [bool; 10])> =
        stats.iter().flat_map(|s| s.preds.iter().copied()).collect();
    preds.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut classes: Vec<u32> = stats
        .iter()
        .flat_map(|s| s.target_classes.iter().copied())
        .collect();
    let targets = classes.len();
    classes.sort_unstable();
    let mut counts: Vec<(u32, usize)> = Vec::new();
    for c in classes {
        match counts.last_mut() {
            Some((lc, n)) if *lc == c => *n += 1,
            _ => counts.push((c, 1)),
        }
    }
    let eps = 1e-16;
    let mut per_class = Vec::with_capacity(counts.len());
    for &(c, n_l) in &counts {
        let mine: Vec<&[bool; 10]> = preds.iter().filter(|p| p.1 == c).map(|p| &p.2).collect();
        let mut aps = [0.0f64; 10];
        if !mine.is_empty() {
            for (t, ap) in aps.iter_mut().enumerate() {
                let (mut tpc, mut fpc) = (0.0f64, 0.0f64);
                let mut recall = Vec::with_capacity(mine.len());
                let mut precision = Vec::with_capacity(mine.len());
                for p in &mine {
                    if p[t] {
                        tpc += 1.0;
                    } else {
                        fpc += 1.0;
                    }
                    recall.push(tpc / (n_l as f64 + eps));
                    precision.push(tpc / (tpc + fpc));
                }
                *ap = compute_ap(&recall, &precision);
            }
        }
        per_class.push((c, n_l, aps[0], aps.iter().sum::<f64>() / 10.0));
    }
    let n = per_class.len().max(1) as f64;
    MapResult {
        map50: per_class.iter().map(|p| p.2).sum::<f64>() / n,
        map50_95: per_class.iter().map(|p| p.3).sum::<f64>() / n,
        per_class,
        images: stats.len(),
        targets,
    }
}

/// An image of a YOLO-format dataset and its label file.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Image path.
    pub image: PathBuf,
    /// Label path (`images/` replaced by `labels/`, extension by `.txt`); may not exist.
    pub label: PathBuf,
}

const IMAGE_EXTS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp"];

/// Lists the images under `dir` (its `images/` subfolder if it has one), sorted by path.
pub fn list_dataset(dir: &Path) -> std::io::Result<Vec<Sample>> {
    let root = if dir.join("images").is_dir() {
        dir.join("images")
    } else {
        dir.to_path_buf()
    };
    let mut stack = vec![root];
    let mut out = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTS.contains(&e.to_ascii_lowercase().as_str()))
            {
                out.push(Sample {
                    label: label_path(&path),
                    image: path,
                });
            }
        }
    }
    out.sort_by(|a, b| a.image.cmp(&b.image));
    Ok(out)
}

/// Ultralytics' `img2label_paths`: the last `/images/` becomes `/labels/`, extension `.txt`.
pub fn label_path(image: &Path) -> PathBuf {
    let s = image.to_string_lossy();
    let sep = std::path::MAIN_SEPARATOR;
    let needle = format!("{sep}images{sep}");
    let replaced = match s.rfind(&needle) {
        Some(i) => format!("{}{sep}labels{sep}{}", &s[..i], &s[i + needle.len()..]),
        None => s.to_string(),
    };
    PathBuf::from(replaced).with_extension("txt")
}

/// Parses a YOLO label file (`class cx cy w h`, normalised) into pixel boxes.
pub fn read_labels(text: &str, width: u32, height: u32) -> Result<Vec<GroundTruth>, String> {
    let (w, h) = (width as f32, height as f32);
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let v: Vec<f32> = line
                .split_whitespace()
                .map(|t| t.parse::<f32>().map_err(|e| format!("line {}: {e}", n + 1)))
                .collect::<Result<_, _>>()?;
            if v.len() < 5 || v[0] < 0.0 {
                return Err(format!("line {}: expected `class cx cy w h`", n + 1));
            }
            let (cx, cy, bw, bh) = (v[1] * w, v[2] * h, v[3] * w, v[4] * h);
            Ok(GroundTruth {
                class_id: v[0] as u32,
                bbox: [cx - bw / 2.0, cy - bh / 2.0, cx + bw / 2.0, cy + bh / 2.0],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_predictions_give_ap_one() {
        let gts = [
            GroundTruth {
                class_id: 0,
                bbox: [0.0, 0.0, 10.0, 10.0],
            },
            GroundTruth {
                class_id: 1,
                bbox: [20.0, 20.0, 40.0, 40.0],
            },
        ];
        let preds = [
            ([0.0, 0.0, 10.0, 10.0], 0.9, 0),
            ([20.0, 20.0, 40.0, 40.0], 0.8, 1),
        ];
        let r = mean_average_precision(&[match_image(&preds, &gts)]);
        // np.interp at recall 1.0 lands on the appended precision 0, so Ultralytics' perfect AP is 0.995.
        assert!(
            (r.map50 - 0.995).abs() < 1e-9 && (r.map50_95 - 0.995).abs() < 1e-9,
            "{r:?}"
        );
    }

    #[test]
    fn one_gt_matched_once_and_iou_thresholds_apply() {
        // Two predictions on one gt: the second is a false positive at every threshold.
        let gts = [GroundTruth {
            class_id: 0,
            bbox: [0.0, 0.0, 10.0, 10.0],
        }];
        let preds = [
            ([0.0, 0.0, 10.0, 10.0], 0.9, 0),
            ([0.0, 0.0, 10.0, 10.0], 0.8, 0),
        ];
        let s = match_image(&preds, &gts);
        assert!(s.preds[0].2.iter().all(|&t| t));
        assert!(s.preds[1].2.iter().all(|&t| !t));
        // A box with IoU 0.8 counts at 0.5..0.8 only.
        let s = match_image(&[([0.0, 0.0, 10.0, 8.0], 0.9, 0)], &gts);
        assert_eq!(s.preds[0].2.iter().filter(|&&t| t).count(), 7);
    }

    #[test]
    fn classes_without_predictions_count_as_zero() {
        let gts = [
            GroundTruth {
                class_id: 0,
                bbox: [0.0, 0.0, 10.0, 10.0],
            },
            GroundTruth {
                class_id: 3,
                bbox: [0.0, 0.0, 5.0, 5.0],
            },
        ];
        let r = mean_average_precision(&[match_image(&[([0.0, 0.0, 10.0, 10.0], 0.9, 0)], &gts)]);
        assert!((r.map50 - 0.995 / 2.0).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn compute_ap_matches_numpy() {
        // Values from Ultralytics 8.4's compute_ap run with NumPy 2.
        for (r, p, want) in [
            (&[1.0][..], &[1.0][..], 0.995),
            (&[0.5, 1.0], &[1.0, 0.5], 0.8725),
            (&[0.5, 0.5], &[1.0, 0.5], 0.495),
            (
                &[0.0, 0.0, 1.0],
                &[0.0, 0.0, 1.0 / 3.0],
                0.33166666666666667,
            ),
        ] {
            let ap = compute_ap(r, p);
            assert!((ap - want).abs() < 1e-12, "{r:?} {p:?}: {ap} != {want}");
        }
    }

    #[test]
    fn label_paths_and_parsing() {
        let p = Path::new("/d/coco128/images/train2017/0001.jpg");
        assert_eq!(
            label_path(p),
            Path::new("/d/coco128/labels/train2017/0001.txt")
        );
        let g = read_labels("0 0.5 0.5 0.5 0.5\n\n", 100, 200).expect("ok");
        assert_eq!(g[0].bbox, [25.0, 50.0, 75.0, 150.0]);
        assert!(read_labels("x 1 2 3 4", 10, 10).is_err());
    }
}
