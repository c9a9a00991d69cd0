//! Mutation tests for the request parsers: thousands of corrupted variants of valid inputs must
//! give `Ok` or a typed error, never a panic, and what is returned must lie inside the input.
//! (Coverage-guided fuzz targets for the same parsers live in `fuzz/`.)

use osprey_api::multipart;
use osprey_testkit::fixtures::{mutate, Rng};

#[test]
fn multipart_never_panics_and_returns_slices_of_the_body() {
    let seeds: Vec<Vec<u8>> = vec![
        b"--b\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"image\"\r\n\r\n\xff\xd8JPEG\xff\xd9\r\n--b--\r\n".to_vec(),
        b"\n--b\nContent-Disposition: form-data; name=\"image\"\n\nDATA\n--b--\n".to_vec(),
        b"--b\r\nContent-Disposition: form-data; name=\"min_confidence\"\r\n\r\n0.5\r\n--b--".to_vec(),
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut oks = 0;
    for i in 0..30_000 {
        let input = mutate(&mut rng, &seeds[i % seeds.len()]);
        if let Ok(form) = multipart::parse(&input, "b") {
            oks += 1;
            if let Some(img) = form.image {
                let (start, end) = (
                    input.as_ptr() as usize,
                    input.as_ptr() as usize + input.len(),
                );
                let p = img.as_ptr() as usize;
                assert!(
                    p >= start && p + img.len() <= end,
                    "image slice outside the body"
                );
            }
        }
    }
    assert!(oks > 1000, "mutations should still parse often ({oks})");
}

#[test]
fn content_type_helpers_never_panic() {
    let mut rng = Rng(7);
    let seed = b"multipart/form-data; boundary=\"abc\"; charset=utf-8";
    for _ in 0..20_000 {
        let input = mutate(&mut rng, seed);
        let text = String::from_utf8_lossy(&input);
        let _ = multipart::mime_type(&text);
        if let Some(b) = multipart::boundary(&text) {
            assert!(!b.is_empty() && b.len() <= 200);
        }
    }
}
