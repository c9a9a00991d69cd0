//! What a model is: input shape, batch axis, class names and output layout, read from the ONNX
//! graph and the metadata Ultralytics writes (`names`, `imgsz`, `stride`, `task`, `batch`,
//! `dynamic`, `end2end`, `author`).

use std::collections::HashMap;

use osprey_image::Letterbox;
use serde::Serialize;

use crate::layout::{LayoutHints, OutputLayout};
use crate::names;

/// The model's batch dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchAxis {
    /// Any batch size.
    Dynamic,
    /// Exactly this many images per run.
    Fixed(usize),
}

/// Where the class names came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NamesSource {
    /// The ONNX metadata `names`.
    Metadata,
    /// A `--labels` file.
    LabelsFile,
    /// The COCO fallback.
    Coco,
    /// Generated `class0`, `class1`, … (class count from the output shape, no names known).
    Generated,
}

/// Everything Osprey knows about a loaded model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// A short name (the file stem), used in URLs and logs.
    pub name: String,
    /// Input tensor name.
    pub input_name: String,
    /// Output tensor name.
    pub output_name: String,
    /// Inference size (height, width): the fixed input size, or `imgsz` for dynamic inputs.
    pub imgsz: (u32, u32),
    /// Whether height and width are dynamic (Ultralytics then pads to a stride multiple only).
    pub dynamic_hw: bool,
    /// Network stride (`auto` letterbox multiple).
    pub stride: u32,
    /// Batch axis.
    pub batch: BatchAxis,
    /// Class names by index.
    pub names: Vec<String>,
    /// Where the names came from.
    pub names_source: NamesSource,
    /// Output layout.
    #[serde(skip)]
    pub layout: OutputLayout,
    /// Layout name.
    pub layout_name: &'static str,
    /// Task from metadata (`detect` expected).
    pub task: Option<String>,
    /// Whether Ultralytics exported it.
    pub ultralytics: bool,
    /// Raw metadata, for `osprey detect --info` style introspection.
    #[serde(skip)]
    pub metadata: HashMap<String, String>,
}

impl ModelInfo {
    /// The letterbox Ultralytics predict uses for this model: a square `imgsz` for static inputs,
    /// the minimal stride-aligned rectangle for dynamic ones.
    pub fn letterbox(&self) -> Letterbox {
        Letterbox {
            height: self.imgsz.0,
            width: self.imgsz.1,
            auto: self.dynamic_hw,
            stride: self.stride,
            scaleup: true,
        }
    }

    /// The label of a class id (`"class<N>"` when out of range).
    pub fn label(&self, class_id: u32) -> std::borrow::Cow<'_, str> {
        match self.names.get(class_id as usize) {
            Some(n) => std::borrow::Cow::Borrowed(n.as_str()),
            None => std::borrow::Cow::Owned(format!("class{class_id}")),
        }
    }
}

/// Parses `imgsz` metadata: `[320, 320]`, `[384, 640]` or `640`.
pub(crate) fn parse_imgsz(text: &str) -> Option<(u32, u32)> {
    let nums: Vec<u32> = text
        .trim_matches(|c: char| c == '[' || c == ']' || c == '(' || c == ')' || c.is_whitespace())
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().ok())
        .collect::<Option<_>>()?;
    match nums.as_slice() {
        [s] if *s > 0 => Some((*s, *s)),
        [h, w] if *h > 0 && *w > 0 => Some((*h, *w)),
        _ => None,
    }
}

pub(crate) fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|s| matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// Inputs to [`resolve`]: what the graph and the user say.
pub(crate) struct Resolve<'a> {
    pub name: String,
    pub input_name: String,
    pub output_name: String,
    pub input_shape: Vec<i64>,
    pub output_shape: Vec<i64>,
    pub metadata: HashMap<String, String>,
    pub labels: Option<Vec<String>>,
    pub imgsz_override: Option<u32>,
    pub yolox_decode: Option<bool>,
    pub warn: &'a mut dyn FnMut(String),
}

pub(crate) fn resolve(r: Resolve<'_>) -> Result<ModelInfo, crate::DetectError> {
    let md = &r.metadata;
    let refuse = |why: String| crate::DetectError::UnsupportedLayout(why);
    if r.input_shape.len() != 4 || (r.input_shape[1] != 3 && r.input_shape[1] != -1) {
        return Err(refuse(format!(
            "input '{}' has shape {:?}; expected [batch, 3, height, width]",
            r.input_name, r.input_shape
        )));
    }
    let batch = match r.input_shape[0] {
        n if n > 0 => BatchAxis::Fixed(n as usize),
        _ => BatchAxis::Dynamic,
    };
    let (h, w) = (r.input_shape[2], r.input_shape[3]);
    let dynamic_hw = h <= 0 || w <= 0;
    let stride = md
        .get("stride")
        .and_then(|s| s.trim().parse().ok())
        .filter(|s: &u32| *s > 0)
        .unwrap_or(32);
    let meta_imgsz = md.get("imgsz").and_then(|s| parse_imgsz(s));
    let imgsz = if dynamic_hw {
        let base = r
            .imgsz_override
            .map(|s| (s, s))
            .or(meta_imgsz)
            .unwrap_or((640, 640));
        // Ultralytics rounds imgsz up to a stride multiple.
        let up = |v: u32| v.div_ceil(stride) * stride;
        (up(base.0), up(base.1))
    } else {
        let fixed = (h as u32, w as u32);
        if let Some(s) = r.imgsz_override.filter(|s| (*s, *s) != fixed) {
            (r.warn)(format!(
                "imgsz {s} ignored: model {} has a fixed {}x{} input",
                r.name, fixed.1, fixed.0
            ));
        }
        fixed
    };
    let ultralytics = md.get("author").is_some_and(|a| a.contains("Ultralytics"))
        || md.get("docs").is_some_and(|d| d.contains("ultralytics"));
    let meta_names = md
        .get("names")
        .and_then(|n| names::parse_python_dict(n))
        .filter(|n| !n.is_empty());
    let (names, names_source) = match (r.labels, meta_names) {
        (Some(l), _) => (l, NamesSource::LabelsFile),
        (None, Some(n)) => (n, NamesSource::Metadata),
        (None, None) => (Vec::new(), NamesSource::Generated),
    };
    let hints = LayoutHints {
        num_classes: (!names.is_empty()).then_some(names.len()),
        end2end: truthy(md.get("end2end")) || truthy(md.get("nms")),
        ultralytics,
        yolox_decode: r.yolox_decode,
    };
    let layout = OutputLayout::detect(&r.output_shape, &hints)?;
    let (names, names_source) = if names.is_empty() {
        match layout.num_classes() {
            Some(80) | None => (
                names::COCO.iter().map(|s| s.to_string()).collect(),
                NamesSource::Coco,
            ),
            Some(n) => (
                (0..n).map(|i| format!("class{i}")).collect(),
                NamesSource::Generated,
            ),
        }
    } else {
        (names, names_source)
    };
    if let Some(nc) = layout.num_classes() {
        if nc != names.len() {
            (r.warn)(format!(
                "model {} outputs {nc} classes but {} names are known; unknown classes are labelled classN",
                r.name,
                names.len()
            ));
        }
    }
    let task = md.get("task").cloned();
    if let Some(t) = task.as_deref().filter(|t| *t != "detect") {
        (r.warn)(format!(
            "model {} has task '{t}'; Osprey runs detection only",
            r.name
        ));
    }
    Ok(ModelInfo {
        name: r.name,
        input_name: r.input_name,
        output_name: r.output_name,
        imgsz,
        dynamic_hw,
        stride,
        batch,
        names,
        names_source,
        layout_name: layout.name(),
        layout,
        task,
        ultralytics,
        metadata: r.metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(input: Vec<i64>, output: Vec<i64>, md: &[(&str, &str)]) -> Resolve<'static> {
        let warn: &'static mut dyn FnMut(String) = Box::leak(Box::new(|_: String| {}));
        Resolve {
            name: "m".into(),
            input_name: "images".into(),
            output_name: "output0".into(),
            input_shape: input,
            output_shape: output,
            metadata: md
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            labels: None,
            imgsz_override: None,
            yolox_decode: None,
            warn,
        }
    }

    #[test]
    fn imgsz_forms() {
        assert_eq!(parse_imgsz("[320, 320]"), Some((320, 320)));
        assert_eq!(parse_imgsz("[384, 640]"), Some((384, 640)));
        assert_eq!(parse_imgsz("640"), Some((640, 640)));
        assert_eq!(parse_imgsz("[0, 1]"), None);
        assert_eq!(parse_imgsz("abc"), None);
    }

    #[test]
    fn static_ultralytics_model() {
        let info = resolve(base(
            vec![1, 3, 320, 320],
            vec![1, 84, 2100],
            &[
                ("names", "{0: 'person', 1: 'bicycle'}"),
                ("author", "Ultralytics"),
                ("imgsz", "[320, 320]"),
            ],
        ));
        // Two names but 84 rows: the Ultralytics flag makes it ChannelsFirst anyway? No: 84 != 4 + 2.
        assert!(info.is_err());
        let mut names = String::from("{");
        for i in 0..80 {
            names.push_str(&format!("{i}: 'c{i}', "));
        }
        names.push('}');
        let info = resolve(base(
            vec![1, 3, 320, 320],
            vec![1, 84, 2100],
            &[("names", &names), ("author", "Ultralytics")],
        ))
        .expect("ok");
        assert_eq!(info.imgsz, (320, 320));
        assert_eq!(info.batch, BatchAxis::Fixed(1));
        assert!(!info.dynamic_hw);
        assert_eq!(info.names_source, NamesSource::Metadata);
        assert_eq!(info.label(3), "c3");
        assert_eq!(info.label(99), "class99");
    }

    #[test]
    fn dynamic_model_rounds_imgsz_to_stride_and_falls_back_to_coco() {
        let mut r = base(
            vec![-1, 3, -1, -1],
            vec![-1, 84, -1],
            &[("imgsz", "[320, 320]")],
        );
        r.imgsz_override = Some(300);
        let info = resolve(r).expect("ok");
        assert_eq!(info.imgsz, (320, 320));
        assert!(info.dynamic_hw);
        assert_eq!(info.batch, BatchAxis::Dynamic);
        assert_eq!(info.names_source, NamesSource::Coco);
        assert_eq!(info.label(0), "person");
        assert!(info.letterbox().auto);
    }

    #[test]
    fn refuses_non_image_inputs() {
        let err = resolve(base(vec![1, 10], vec![1, 84, 2100], &[])).expect_err("bad input");
        assert!(err.to_string().contains("[1, 10]"));
    }
}
