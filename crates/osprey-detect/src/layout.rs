//! Model output layouts, described as data and chosen from the output's shape and metadata.
//!
//! | family | shape | rows |
//! |---|---|---|
//! | Ultralytics YOLOv5u/v8/11 | `[B, 4+C, N]` | cx, cy, w, h (input pixels), C sigmoid class scores |
//! | YOLOX | `[B, N, 5+C]` | cx, cy, w, h, objectness, C class scores; raw grid offsets unless decoded in the graph |
//! | NMS-free end-to-end (YOLOv10, YOLO26) | `[B, N, 6]` | x1, y1, x2, y2, score, class |

use crate::DetectError;

/// How to read one image's slice of the output tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputLayout {
    /// `[4 + C, N]`: attributes first, anchors last (Ultralytics).
    ChannelsFirst {
        /// Number of classes.
        num_classes: usize,
    },
    /// `[N, 5 + C]`: anchors first with an objectness column (YOLOX).
    Yolox {
        /// Number of classes.
        num_classes: usize,
        /// Whether boxes are raw grid offsets that need `(xy + grid) * stride`, `exp(wh) * stride`.
        grid_decode: bool,
    },
    /// `[N, 6]`: final boxes, no NMS needed.
    EndToEnd,
}

/// What the metadata says about the model family, to resolve ambiguous shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayoutHints {
    /// Number of class names known from metadata or a labels file.
    pub num_classes: Option<usize>,
    /// Ultralytics metadata marks the graph as end-to-end (NMS-free).
    pub end2end: bool,
    /// The model was exported by Ultralytics.
    pub ultralytics: bool,
    /// Force YOLOX grid decoding on (`Some(true)`) or off; `None` decides from the data.
    pub yolox_decode: Option<bool>,
}

impl OutputLayout {
    /// Chooses a layout for an output of `shape` (`[B, d1, d2]`; `-1` for dynamic dimensions).
    pub fn detect(shape: &[i64], hints: &LayoutHints) -> Result<Self, DetectError> {
        let refuse = |why: &str| {
            DetectError::UnsupportedLayout(format!(
                "output shape {shape:?} {why}; expected [batch, 4+classes, anchors] (YOLOv8/YOLO11), \
                 [batch, anchors, 5+classes] (YOLOX) or [batch, detections, 6] (end-to-end)"
            ))
        };
        if shape.len() != 3 {
            return Err(refuse("does not have rank 3"));
        }
        let (d1, d2) = (shape[1], shape[2]);
        if hints.end2end && d2 == 6 {
            return Ok(OutputLayout::EndToEnd);
        }
        if let Some(nc) = hints.num_classes {
            let nc = nc as i64;
            if d1 == 4 + nc && (d2 == -1 || d2 > d1 || hints.ultralytics) {
                return Ok(OutputLayout::ChannelsFirst {
                    num_classes: nc as usize,
                });
            }
            if d2 == 5 + nc && !hints.ultralytics {
                return Ok(OutputLayout::Yolox {
                    num_classes: nc as usize,
                    grid_decode: hints.yolox_decode.unwrap_or(true),
                });
            }
            if d2 == 6 && d1 != 4 + nc {
                return Ok(OutputLayout::EndToEnd);
            }
            return Err(refuse(&format!(
                "does not fit the {nc} class names known for this model"
            )));
        }
        // No names: infer the class count from the shape.
        if d1 > 4 && (d2 == -1 || d2 > d1) {
            return Ok(OutputLayout::ChannelsFirst {
                num_classes: (d1 - 4) as usize,
            });
        }
        if d2 == 6 {
            return Ok(OutputLayout::EndToEnd);
        }
        if d2 > 5 && d1 > d2 {
            return Ok(OutputLayout::Yolox {
                num_classes: (d2 - 5) as usize,
                grid_decode: hints.yolox_decode.unwrap_or(true),
            });
        }
        Err(refuse("matches no known layout"))
    }

    /// Number of classes the layout carries (`None` for end-to-end outputs).
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            OutputLayout::ChannelsFirst { num_classes }
            | OutputLayout::Yolox { num_classes, .. } => Some(*num_classes),
            OutputLayout::EndToEnd => None,
        }
    }

    /// A short name for logs and the status page.
    pub fn name(&self) -> &'static str {
        match self {
            OutputLayout::ChannelsFirst { .. } => "yolov8",
            OutputLayout::Yolox { .. } => "yolox",
            OutputLayout::EndToEnd => "end2end",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(nc: Option<usize>) -> LayoutHints {
        LayoutHints {
            num_classes: nc,
            ..LayoutHints::default()
        }
    }

    #[test]
    fn recognises_ultralytics_static_and_dynamic() {
        assert_eq!(
            OutputLayout::detect(&[1, 84, 2100], &hints(Some(80))).expect("ok"),
            OutputLayout::ChannelsFirst { num_classes: 80 }
        );
        assert_eq!(
            OutputLayout::detect(&[-1, 84, -1], &hints(None)).expect("ok"),
            OutputLayout::ChannelsFirst { num_classes: 80 }
        );
    }

    #[test]
    fn recognises_yolox_and_end2end() {
        assert_eq!(
            OutputLayout::detect(&[1, 8400, 85], &hints(Some(80))).expect("ok"),
            OutputLayout::Yolox {
                num_classes: 80,
                grid_decode: true
            }
        );
        assert_eq!(
            OutputLayout::detect(&[1, 300, 6], &hints(Some(80))).expect("ok"),
            OutputLayout::EndToEnd
        );
        let e2e = LayoutHints {
            end2end: true,
            ..hints(Some(2))
        };
        // Two classes make [B, 6, N] ambiguous; the metadata flag decides.
        assert_eq!(
            OutputLayout::detect(&[1, 300, 6], &e2e).expect("ok"),
            OutputLayout::EndToEnd
        );
        assert_eq!(
            OutputLayout::detect(&[1, 6, 2100], &hints(Some(2))).expect("ok"),
            OutputLayout::ChannelsFirst { num_classes: 2 }
        );
    }

    #[test]
    fn refuses_unknown_shapes_naming_them() {
        let err = OutputLayout::detect(&[1, 10], &hints(None)).expect_err("rank 2");
        assert!(err.to_string().contains("[1, 10]"), "{err}");
        let err = OutputLayout::detect(&[1, 90, 2100], &hints(Some(80))).expect_err("mismatch");
        assert!(err.to_string().contains("80 class names"), "{err}");
    }
}
