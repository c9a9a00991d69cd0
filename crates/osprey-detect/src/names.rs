//! Class names: the ONNX metadata Ultralytics writes, a labels file, or COCO's 80 classes.

use std::path::Path;

use crate::DetectError;

/// The 80 COCO class names in Ultralytics' order.
pub const COCO: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// Parses the `names` metadata Ultralytics writes: a Python dict literal such as
/// `{0: 'person', 1: "it's"}`. Returns names ordered by index; `None` if the text is not such a
/// dict or its indices are not exactly `0..n`.
pub fn parse_python_dict(text: &str) -> Option<Vec<String>> {
    let mut chars = text.trim().chars().peekable();
    if chars.next()? != '{' {
        return None;
    }
    let mut pairs: Vec<(usize, String)> = Vec::new();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if *chars.peek()? == '}' {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.peek().copied().filter(char::is_ascii_digit) {
            key.push(c);
            chars.next();
        }
        let index: usize = key.parse().ok()?;
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next()? != ':' {
            return None;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let quote = chars.next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => {
                    let esc = chars.next()?;
                    value.push(match esc {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                c if c == quote => break,
                c => value.push(c),
            }
        }
        pairs.push((index, value));
        if pairs.len() > 100_000 {
            return None;
        }
    }
    pairs.sort_by_key(|(i, _)| *i);
    if pairs.iter().enumerate().any(|(pos, (i, _))| pos != *i) {
        return None;
    }
    Some(pairs.into_iter().map(|(_, v)| v).collect())
}

/// Reads a labels file: one name per line (blank lines and `#` comments skipped), or a JSON
/// array of strings, or a Python/JSON dict of index to name.
pub fn read_labels_file(path: &Path) -> Result<Vec<String>, DetectError> {
    let err = |detail: String| DetectError::Labels {
        path: path.display().to_string(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let trimmed = text.trim_start();
    let names = if trimmed.starts_with('[') {
        serde_json::from_str::<Vec<String>>(trimmed).map_err(|e| err(e.to_string()))?
    } else if trimmed.starts_with('{') {
        parse_python_dict(trimmed)
            .or_else(|| {
                // JSON objects have string keys: {"0": "person"}.
                let map: std::collections::BTreeMap<String, String> =
                    serde_json::from_str(trimmed).ok()?;
                parse_python_dict(&format!(
                    "{{{}}}",
                    map.iter()
                        .map(|(k, v)| format!(
                            "{k}: {}",
                            serde_json::to_string(v).unwrap_or_default()
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
            .ok_or_else(|| err("not a dict of consecutive indices 0..n to names".into()))?
    } else {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    if names.is_empty() {
        return Err(err("no names found".into()));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ultralytics_names() {
        let names = parse_python_dict("{0: 'person', 1: 'bicycle', 2: \"it's\", 3: 'a\\'b'}")
            .expect("dict");
        assert_eq!(names, ["person", "bicycle", "it's", "a'b"]);
    }

    #[test]
    fn rejects_gaps_and_garbage() {
        assert!(parse_python_dict("{0: 'a', 2: 'b'}").is_none());
        assert!(parse_python_dict("[1, 2]").is_none());
        assert!(parse_python_dict("{0: 'a'").is_none());
        assert!(parse_python_dict("{x: 'a'}").is_none());
        assert_eq!(parse_python_dict("{}"), Some(vec![]));
    }

    #[test]
    fn reads_label_files_in_three_shapes() {
        let dir = std::env::temp_dir().join(format!("osprey-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let lines = dir.join("l.txt");
        std::fs::write(&lines, "# comment\ncat\n\ndog\n").expect("write");
        assert_eq!(read_labels_file(&lines).expect("ok"), ["cat", "dog"]);
        let json = dir.join("l.json");
        std::fs::write(&json, "[\"a\", \"b\"]").expect("write");
        assert_eq!(read_labels_file(&json).expect("ok"), ["a", "b"]);
        let dict = dir.join("d.json");
        std::fs::write(&dict, "{\"1\": \"b\", \"0\": \"a\"}").expect("write");
        assert_eq!(read_labels_file(&dict).expect("ok"), ["a", "b"]);
        std::fs::write(&dict, "").expect("write");
        assert!(read_labels_file(&dict).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
