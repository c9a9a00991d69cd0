//! Compares `osprey_image::resize` with dumps of `cv2.resize` (see tools/cv_resize_dump.py).
#![allow(clippy::print_stdout, clippy::unwrap_used)]
use osprey_image::resize::resize;
use osprey_image::RgbImage;
use std::io::Read;

fn main() {
    let path = std::env::args().nth(1).unwrap();
    let mut f = std::fs::File::open(path).unwrap();
    let mut all = Vec::new();
    f.read_to_end(&mut all).unwrap();
    let mut pos = 0;
    let mut bad = 0;
    while pos < all.len() {
        let hdr: Vec<i32> = all[pos..pos + 20]
            .chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        pos += 20;
        let (sw, sh, dw, dh, interp) = (
            hdr[0] as u32,
            hdr[1] as u32,
            hdr[2] as u32,
            hdr[3] as u32,
            hdr[4],
        );
        let n = (sw * sh * 3) as usize;
        let src = RgbImage::from_raw(sw, sh, all[pos..pos + n].to_vec()).unwrap();
        pos += n;
        let m = (dw * dh * 3) as usize;
        let want = &all[pos..pos + m];
        pos += m;
        if interp != 1 {
            continue; // only cv2.INTER_LINEAR is implemented
        }
        let got = resize(&src, dw, dh);
        let diffs: Vec<(usize, u8, u8)> = got
            .as_raw()
            .iter()
            .zip(want)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| (i, *a, *b))
            .collect();
        let maxd = diffs
            .iter()
            .map(|(_, a, b)| (*a as i32 - *b as i32).abs())
            .max()
            .unwrap_or(0);
        if !diffs.is_empty() {
            bad += 1;
        }
        println!(
            "{sw}x{sh} -> {dw}x{dh}: {} of {} bytes differ (max {maxd}) first {:?}",
            diffs.len(),
            m,
            diffs.iter().take(4).collect::<Vec<_>>()
        );
    }
    println!("{bad} cases differ");
}
