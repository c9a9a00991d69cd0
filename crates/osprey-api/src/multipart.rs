//! A strict, bounded `multipart/form-data` parser over a fully buffered body.
//!
//! Only what detection needs: the first part named `image` (any filename, with or without a part
//! `Content-Type`) and small text fields (`api_key`, `min_confidence`, `max_detections`), before
//! or after the image. Parts
//! are delimited by `CRLF--boundary` (a bare `LF--boundary` is accepted too, as some clients
//! send); the body must end with the closing delimiter `--boundary--`. Header blocks are limited
//! in size and count so a flood of part headers costs nothing.

use memchr::memmem;

/// Most bytes of headers one part may have.
const MAX_PART_HEADER_BYTES: usize = 8 * 1024;
/// Most parts read before giving up.
const MAX_PARTS: usize = 64;
/// Most bytes of a text field kept.
const MAX_FIELD_BYTES: usize = 4 * 1024;

/// Why a body could not be read as a form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The boundary never appears.
    #[error("the body does not contain the multipart boundary")]
    NoBoundary,
    /// A part's header block is not terminated by a blank line (or is too large).
    #[error("part {0} has malformed or oversized headers")]
    BadPartHeaders(usize),
    /// The closing `--boundary--` is missing.
    #[error("the body ends without the closing boundary")]
    Unterminated,
    /// More parts than we read.
    #[error("the form has more than {MAX_PARTS} parts")]
    TooManyParts,
}

/// The parts of a form that matter to detection.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Form<'a> {
    /// The first part named `image`.
    pub image: Option<&'a [u8]>,
    /// Text fields by name (first occurrence wins), lossily decoded as UTF-8.
    pub fields: Vec<(String, String)>,
}

impl Form<'_> {
    /// A text field's value.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Extracts the boundary parameter from a `Content-Type` value; `None` if absent or empty.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 200).then(|| v.to_string())
    })
}

/// The bare mime type of a `Content-Type` value, lower-cased.
pub fn mime_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A parameter of a `Content-Disposition` header (`name`, `filename`), quoted or not.
fn disposition_param<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let mut rest = header;
    while let Some(i) = rest.find(';') {
        rest = rest[i + 1..].trim_start();
        let (k, after) = rest.split_once('=')?;
        if k.trim().eq_ignore_ascii_case(key) {
            let after = after.trim_start();
            return Some(if let Some(q) = after.strip_prefix('"') {
                &q[..q.find('"').unwrap_or(q.len())]
            } else {
                after.split(';').next().unwrap_or("").trim()
            });
        }
    }
    None
}

/// Parses `body` with `boundary`: every part up to the closing delimiter, so fields count
/// wherever they stand in the form (DeepStack reads the whole form; curl users put the image
/// first). The first part named `image` is the image (later ones are ignored, as in the Python
/// server); for other fields the first occurrence wins.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Form<'a>, MultipartError> {
    let dash = format!("--{boundary}");
    let finder = memmem::Finder::new(dash.as_bytes());
    let mut form = Form::default();
    // The first delimiter may sit at the very start or after a preamble.
    let first = finder.find(body).ok_or(MultipartError::NoBoundary)?;
    let mut pos = first + dash.len();
    let mut index = 0usize;
    loop {
        index += 1;
        if index > MAX_PARTS {
            return Err(MultipartError::TooManyParts);
        }
        // After a delimiter: `--` ends the form, otherwise the line ends and a part follows.
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(form);
        }
        let line_end = memchr::memchr(b'\n', &rest[..rest.len().min(256)])
            .ok_or(MultipartError::Unterminated)?;
        if !rest[..line_end]
            .iter()
            .all(|b| *b == b' ' || *b == b'\t' || *b == b'\r')
        {
            return Err(MultipartError::BadPartHeaders(index - 1));
        }
        let part_start = pos + line_end + 1;
        let part = &body[part_start..];
        // Header block ends at the first blank line.
        let window = &part[..part.len().min(MAX_PART_HEADER_BYTES)];
        let (headers_len, sep) = match (
            memmem::find(window, b"\r\n\r\n"),
            memmem::find(window, b"\n\n"),
        ) {
            (Some(a), Some(b)) if b < a => (b, 2),
            (Some(a), _) => (a, 4),
            (None, Some(b)) => (b, 2),
            (None, None) if part.starts_with(b"\r\n") => (0, 2),
            (None, None) => return Err(MultipartError::BadPartHeaders(index - 1)),
        };
        let headers = String::from_utf8_lossy(&part[..headers_len]);
        let content_start = part_start + headers_len + sep;
        // Content ends right before the next delimiter, which must be preceded by a line break.
        let next = finder
            .find(&body[content_start..])
            .map(|i| content_start + i)
            .ok_or(MultipartError::Unterminated)?;
        let mut content_end = next;
        if content_end > content_start && body[content_end - 1] == b'\n' {
            content_end -= 1;
            if content_end > content_start && body[content_end - 1] == b'\r' {
                content_end -= 1;
            }
        }
        let content = &body[content_start..content_end.max(content_start)];
        let disposition = headers.lines().find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
                .map(|(_, v)| v.trim().to_string())
        });
        if let Some(d) = disposition {
            if let Some(name) = disposition_param(&d, "name") {
                if name == "image" {
                    if form.image.is_none() {
                        form.image = Some(content);
                    }
                } else if form.fields.iter().all(|(n, _)| n != name) {
                    let text = &content[..content.len().min(MAX_FIELD_BYTES)];
                    form.fields.push((
                        name.to_string(),
                        String::from_utf8_lossy(text).trim().to_string(),
                    ));
                }
            }
        }
        pos = next + dash.len();
    }
}

impl osprey_base::Kinded for MultipartError {
    fn kind(&self) -> osprey_base::ErrorKind {
        osprey_base::ErrorKind::InvalidArgument
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frigate_body(b: &str, image: &[u8]) -> Vec<u8> {
        let mut body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\n\r\n--{b}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"image\"\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(image);
        body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        body
    }

    #[test]
    fn frigate_shaped_request() {
        let body = frigate_body(
            "abc123",
            b"\xff\xd8JPEG\r\n--abc12 not the boundary\xff\xd9",
        );
        let form = parse(&body, "abc123").expect("parses");
        assert_eq!(
            form.image,
            Some(&b"\xff\xd8JPEG\r\n--abc12 not the boundary\xff\xd9"[..])
        );
        assert_eq!(form.field("api_key"), Some(""));
    }

    #[test]
    fn python_readme_example_with_leading_blank_line_and_lf() {
        let body = b"\n--B\nContent-Disposition: form-data; name=\"image\"; filename=\"image\"\n\nDATA\n--B--\n";
        assert_eq!(parse(body, "B").expect("ok").image, Some(&b"DATA"[..]));
    }

    #[test]
    fn first_image_part_wins_and_fields_are_read() {
        let body = b"--B\r\nContent-Disposition: form-data; name=\"min_confidence\"\r\n\r\n0.6\r\n--B\r\nContent-Disposition: form-data; name=image; filename=a.jpg\r\nContent-Type: image/jpeg\r\n\r\nONE\r\n--B\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nTWO\r\n--B--";
        let form = parse(body, "B").expect("ok");
        assert_eq!(form.image, Some(&b"ONE"[..]));
        assert_eq!(form.field("min_confidence"), Some("0.6"));
    }

    #[test]
    fn fields_after_the_image_are_read() {
        let body = b"--B\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\nONE\r\n--B\r\nContent-Disposition: form-data; name=\"min_confidence\"\r\n\r\n0.8\r\n--B\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nTWO\r\n--B\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\nsecret\r\n--B\r\nContent-Disposition: form-data; name=\"min_confidence\"\r\n\r\n0.1\r\n--B--\r\n";
        let form = parse(body, "B").expect("ok");
        assert_eq!(form.image, Some(&b"ONE"[..]));
        assert_eq!(form.field("min_confidence"), Some("0.8"));
        assert_eq!(form.field("api_key"), Some("secret"));
        // A part after the image that never ends still makes the form unterminated.
        let open = b"--B\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nONE\r\n--B\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\nsecret";
        assert_eq!(parse(open, "B"), Err(MultipartError::Unterminated));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(b"no delimiters here", "B"),
            Err(MultipartError::NoBoundary)
        );
        assert_eq!(
            parse(
                b"--B\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nDATA-without-end",
                "B"
            ),
            Err(MultipartError::Unterminated)
        );
        assert_eq!(
            parse(
                b"--B\r\nContent-Disposition: form-data; name=\"image\"",
                "B"
            ),
            Err(MultipartError::BadPartHeaders(0))
        );
        let form = parse(
            b"--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--B--",
            "B",
        )
        .expect("ok");
        assert_eq!(form.image, None);
        let mut many = Vec::new();
        for _ in 0..100 {
            many.extend_from_slice(
                b"--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n",
            );
        }
        many.extend_from_slice(b"--B--");
        assert_eq!(parse(&many, "B"), Err(MultipartError::TooManyParts));
    }

    #[test]
    fn boundary_and_mime() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"abc\"").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("multipart/form-data; charset=x; BOUNDARY=z9").as_deref(),
            Some("z9")
        );
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
        assert_eq!(
            mime_type(" Multipart/Form-Data ; boundary=x"),
            "multipart/form-data"
        );
    }
}
