//! Reading a model file's metadata without an inference engine: the `metadata_props` of an
//! ONNX file (Ultralytics writes `names`, `imgsz`, `stride`, `task`, … there) and the `rt_info`
//! of an OpenVINO IR (`.xml`), plus whether the file is INT8-quantized.
//!
//! OpenVINO's C API does not expose either, so the OpenVINO backend reads them here; the
//! protobuf walk only visits the top-level fields of `ModelProto` (the graph is skipped whole).

use std::collections::HashMap;
use std::path::Path;

/// What the file says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileMetadata {
    /// Key/value metadata (ONNX `metadata_props`, or the IR's `rt_info` leaves by name).
    pub entries: HashMap<String, String>,
    /// Whether the graph holds quantize operations (ONNX `QuantizeLinear`, IR `FakeQuantize`).
    pub quantized: bool,
}

/// Whether the path names an OpenVINO IR (`.xml`, weights in the `.bin` beside it).
pub fn is_ir(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
}

/// Reads the metadata of an ONNX file or an OpenVINO IR.
pub fn read(path: &Path) -> std::io::Result<FileMetadata> {
    let bytes = std::fs::read(path)?;
    if is_ir(path) {
        let text = String::from_utf8_lossy(&bytes);
        Ok(FileMetadata {
            entries: ir_rt_info(&text),
            quantized: text.contains("\"FakeQuantize\""),
        })
    } else {
        Ok(FileMetadata {
            entries: onnx_metadata(&bytes),
            quantized: contains(&bytes, b"QuantizeLinear"),
        })
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Reads a protobuf varint at `*pos`.
fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Calls `f(field, payload)` for each length-delimited field of a message; skips the others.
fn fields<'a>(buf: &'a [u8], mut f: impl FnMut(u64, &'a [u8])) -> Option<()> {
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        match key & 7 {
            0 => {
                varint(buf, &mut pos)?;
            }
            1 => pos += 8,
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len)?;
                f(key >> 3, buf.get(pos..end)?);
                pos = end;
            }
            5 => pos += 4,
            _ => return None,
        }
    }
    Some(())
}

/// `ModelProto.metadata_props` (field 14: `StringStringEntryProto { key = 1; value = 2 }`).
pub(crate) fn onnx_metadata(buf: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let _ = fields(buf, |field, entry| {
        if field != 14 {
            return;
        }
        let (mut k, mut v) = (None, None);
        let _ = fields(entry, |f, s| match f {
            1 => k = Some(String::from_utf8_lossy(s).into_owned()),
            2 => v = Some(String::from_utf8_lossy(s).into_owned()),
            _ => {}
        });
        if let (Some(k), Some(v)) = (k, v) {
            out.insert(k, v);
        }
    });
    out
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}

/// The leaves `<key value="…"/>` of the IR's `<rt_info>` (the model's, after the layers), by
/// element name; the first of a name wins, so top-level keys beat nested ones of the same name.
pub(crate) fn ir_rt_info(xml: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Some(start) = xml.rfind("<rt_info>") else {
        return out;
    };
    let body = &xml[start + "<rt_info>".len()..];
    let body = &body[..body.rfind("</rt_info>").unwrap_or(body.len())];
    let mut rest = body;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('/') || !tag.ends_with('/') {
            continue;
        }
        let name = tag.split_whitespace().next().unwrap_or("");
        let Some(v) = tag.find("value=\"") else {
            continue;
        };
        let value = &tag[v + 7..];
        let Some(q) = value.find('"') else { continue };
        out.entry(name.to_string())
            .or_insert_with(|| unescape(&value[..q]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: &str, v: &str) -> Vec<u8> {
        let mut e = vec![0x0a, k.len() as u8];
        e.extend_from_slice(k.as_bytes());
        e.extend_from_slice(&[0x12, v.len() as u8]);
        e.extend_from_slice(v.as_bytes());
        let mut out = vec![(14 << 3) | 2, e.len() as u8];
        out.extend(e);
        out
    }

    #[test]
    fn onnx_metadata_props_are_read_and_other_fields_skipped() {
        let mut buf = vec![0x08, 0x09]; // ir_version = 9
        buf.extend_from_slice(&[0x3a, 0x03, 1, 2, 3]); // graph (field 7), skipped
        buf.extend(entry("stride", "32"));
        buf.extend(entry("imgsz", "[320, 320]"));
        let md = onnx_metadata(&buf);
        assert_eq!(md.get("stride").map(String::as_str), Some("32"));
        assert_eq!(md.get("imgsz").map(String::as_str), Some("[320, 320]"));
        assert_eq!(md.len(), 2);
    }

    #[test]
    fn ir_rt_info_leaves_are_read() {
        let xml = r#"<net><layers><layer type="FakeQuantize"/></layers>
<rt_info>
    <names value="{0: &apos;person&apos;, 1: &apos;bicycle&apos;}" />
    <quantization>
        <calibration value="pedestrians.mp4 x 100" />
    </quantization>
    <stride value="32" />
</rt_info>
</net>"#;
        let md = ir_rt_info(xml);
        assert_eq!(
            md.get("names").map(String::as_str),
            Some("{0: 'person', 1: 'bicycle'}")
        );
        assert_eq!(md.get("stride").map(String::as_str), Some("32"));
        assert_eq!(
            md.get("calibration").map(String::as_str),
            Some("pedestrians.mp4 x 100")
        );
    }
}
