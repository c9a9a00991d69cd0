//! Decodes each image given and writes `<out_dir>/<n>.rgb` (raw RGB) plus a `<n>.txt` with
//! `width height`, to compare with `cv2.imread` (see tools/cv_decode_compare.py).
#![allow(clippy::print_stdout, clippy::unwrap_used)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = std::path::Path::new(&args[0]);
    for (i, p) in args[1..].iter().enumerate() {
        let bytes = std::fs::read(p).unwrap();
        let img = osprey_image::decode(&bytes, &osprey_image::DecodeLimits::default()).unwrap();
        std::fs::write(out.join(format!("{i}.rgb")), img.as_raw()).unwrap();
        std::fs::write(
            out.join(format!("{i}.txt")),
            format!("{} {} {p}", img.width(), img.height()),
        )
        .unwrap();
    }
}
