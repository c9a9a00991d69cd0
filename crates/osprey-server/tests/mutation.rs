//! Mutation tests for the request parsers: thousands of corrupted variants of valid inputs must
//! give `Ok` or a typed error, never a panic, and what is returned must lie inside the input.
//! (Coverage-guided fuzz targets for the same parsers live in `fuzz/`.)

use osprey_server::{flags, multipart};

use osprey_testkit::fixtures::Rng;

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next_u64() as u8;
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.truncate(i);
            }
            2 => {
                let i = rng.below(v.len() + 1);
                let tok: &[u8] = [
                    &b"--b"[..],
                    b"\r\n",
                    b"\n",
                    b"--",
                    b"\"",
                    b";",
                    b"name=\"image\"",
                    b"\r\n\r\n",
                ][rng.below(8)];
                v.splice(i..i, tok.iter().copied());
            }
            3 if v.len() > 2 => {
                let a = rng.below(v.len());
                let b = rng.below(v.len());
                let (a, b) = (a.min(b), a.max(b));
                v.drain(a..b);
            }
            4 if !v.is_empty() => {
                let i = rng.below(v.len());
                let chunk: Vec<u8> = v[i..(i + rng.below(32)).min(v.len())].to_vec();
                let j = rng.below(v.len() + 1);
                v.splice(j..j, chunk);
            }
            _ => v.push(rng.next_u64() as u8),
        }
    }
    v
}

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
fn flagfile_parser_never_panics() {
    let seed = b"# comment\n// comment\n--engine_path=a.onnx\n--image_size=320\n--half_precision=true\n--nolog_response\n\n";
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let input = mutate(&mut rng, seed);
        let text = String::from_utf8_lossy(&input);
        if let Ok(args) = flags::parse_flagfile(std::path::Path::new("f.txt"), &text) {
            assert!(args.iter().all(|a| a.starts_with('-')));
            let _ = flags::normalize(&args);
        }
    }
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
