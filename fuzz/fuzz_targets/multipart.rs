//! multipart/form-data parsing: any body and boundary; returned slices lie inside the body.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte picks the boundary length, the rest is the body.
    let Some((&n, body)) = data.split_first() else { return };
    let n = (n as usize % 16).min(body.len());
    let boundary = String::from_utf8_lossy(&body[..n]).into_owned();
    let body = &body[n..];
    if boundary.is_empty() {
        return;
    }
    if let Ok(form) = osprey_api::multipart::parse(body, &boundary) {
        if let Some(img) = form.image {
            let start = body.as_ptr() as usize;
            let p = img.as_ptr() as usize;
            assert!(p >= start && p + img.len() <= start + body.len());
        }
    }
    let header = String::from_utf8_lossy(data);
    let _ = osprey_api::multipart::boundary(&header);
    let _ = osprey_api::multipart::mime_type(&header);
});
