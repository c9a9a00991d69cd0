//! 8-bit RGB resizing that reproduces OpenCV's `cv2.resize` results.
//!
//! Ultralytics reads images with OpenCV and resizes with `cv2.INTER_LINEAR` (predict) or
//! `cv2.INTER_AREA` (validation downscaling). To give the same detections we must produce the same
//! bytes, so this module follows OpenCV's 8-bit arithmetic rather than a textbook bilinear filter:
//!
//! * Source coordinates use half-pixel centres, `fx = (dx + 0.5) * scale - 0.5`, computed in
//!   double and truncated to `f32`, and are clamped to the edge pixels.
//! * Weights are fixed point with 11 fractional bits, rounded half to even.
//! * The horizontal pass sums `src * weight` exactly in integers; the vertical pass combines two
//!   such rows the way OpenCV's SIMD kernel does: `((h0 >> 4) * b0 >> 16) + ((h1 >> 4) * b1 >> 16)`,
//!   then `(x + 2) >> 2`, for every byte of the row (checked bit-exact against OpenCV 5.0's
//!   `cv2.resize`, including row tails).
//! * An exact 2× reduction in both directions is a 2×2 average (OpenCV switches to it too).

use crate::RgbImage;

const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// Resizes `src` to `dst_w` × `dst_h` like `cv2.resize(..., interpolation=cv2.INTER_LINEAR)`
/// on an 8-bit image.
pub fn resize(src: &RgbImage, dst_w: u32, dst_h: u32) -> RgbImage {
    if dst_w == 0 || dst_h == 0 || (dst_w == src.width() && dst_h == src.height()) {
        return src.clone();
    }
    let inv_scale_x = f64::from(dst_w) / f64::from(src.width());
    let inv_scale_y = f64::from(dst_h) / f64::from(src.height());
    let scale_x = 1.0 / inv_scale_x;
    let scale_y = 1.0 / inv_scale_y;
    if (scale_x - 2.0).abs() < f64::EPSILON && (scale_y - 2.0).abs() < f64::EPSILON {
        return halve(src, dst_w, dst_h);
    }
    linear(src, dst_w, dst_h, scale_x, scale_y)
}

/// Round half to even, as `cvRound` (`lrint`) does in the default floating-point mode.
fn round_coef(v: f32) -> i32 {
    (v * COEF_SCALE).round_ties_even() as i32
}

struct Tap {
    /// Index of the first source pixel.
    first: usize,
    /// Index of the second source pixel (equal to `first` at the edges).
    second: usize,
    w0: i32,
    w1: i32,
}

fn horizontal_taps(src_w: u32, dst_w: u32, scale_x: f64) -> Vec<Tap> {
    let last = src_w as i64 - 1;
    (0..dst_w)
        .map(|dx| {
            let mut fx = ((f64::from(dx) + 0.5) * scale_x - 0.5) as f32;
            let mut sx = fx.floor() as i64;
            fx -= sx as f32;
            if sx < 0 {
                fx = 0.0;
                sx = 0;
            }
            if sx >= last {
                fx = 0.0;
                sx = last;
            }
            let first = sx as usize;
            Tap {
                first,
                second: (sx + 1).min(last) as usize,
                w0: round_coef(1.0 - fx),
                w1: round_coef(fx),
            }
        })
        .collect()
}

fn vertical_taps(src_h: u32, dst_h: u32, scale_y: f64) -> Vec<Tap> {
    let last = src_h as i64 - 1;
    (0..dst_h)
        .map(|dy| {
            let mut fy = ((f64::from(dy) + 0.5) * scale_y - 0.5) as f32;
            let sy = fy.floor() as i64;
            fy -= sy as f32;
            // OpenCV clamps the rows it reads but keeps the weights.
            Tap {
                first: sy.clamp(0, last) as usize,
                second: (sy + 1).clamp(0, last) as usize,
                w0: round_coef(1.0 - fy),
                w1: round_coef(fy),
            }
        })
        .collect()
}

fn horizontal_row(src_row: &[u8], taps: &[Tap], out: &mut [i32]) {
    for (dx, tap) in taps.iter().enumerate() {
        let a = tap.first * 3;
        let b = tap.second * 3;
        let o = dx * 3;
        for c in 0..3 {
            out[o + c] = i32::from(src_row[a + c]) * tap.w0 + i32::from(src_row[b + c]) * tap.w1;
        }
    }
}

fn linear(src: &RgbImage, dst_w: u32, dst_h: u32, scale_x: f64, scale_y: f64) -> RgbImage {
    let xt = horizontal_taps(src.width(), dst_w, scale_x);
    let yt = vertical_taps(src.height(), dst_h, scale_y);
    let row_len = dst_w as usize * 3;
    let mut out = vec![0u8; row_len * dst_h as usize];
    // Two cached horizontally-resized rows, keyed by source row index.
    let mut cache: [(usize, Vec<i32>); 2] = [
        (usize::MAX, vec![0; row_len]),
        (usize::MAX, vec![0; row_len]),
    ];

    for (dy, tap) in yt.iter().enumerate() {
        if cache[0].0 != tap.first {
            if cache[1].0 == tap.first {
                cache.swap(0, 1);
            } else {
                horizontal_row(src.row(tap.first as u32), &xt, &mut cache[0].1);
                cache[0].0 = tap.first;
            }
        }
        if cache[1].0 != tap.second {
            horizontal_row(src.row(tap.second as u32), &xt, &mut cache[1].1);
            cache[1].0 = tap.second;
        }
        let (h0, h1) = (&cache[0].1, &cache[1].1);
        let (b0, b1) = (tap.w0, tap.w1);
        let dst = &mut out[dy * row_len..(dy + 1) * row_len];
        for ((d, &a), &b) in dst.iter_mut().zip(h0.iter()).zip(h1.iter()) {
            // Horizontal sums are at most 255 * 2048, so `>> 4` fits the kernel's 16-bit lanes.
            let s0 = ((a >> 4) * b0) >> 16;
            let s1 = ((b >> 4) * b1) >> 16;
            *d = ((s0 + s1 + 2) >> 2).clamp(0, 255) as u8;
        }
    }
    RgbImage {
        width: dst_w,
        height: dst_h,
        data: out,
    }
}

/// Exact 2× reduction: each output pixel is `(a + b + c + d + 2) >> 2` of its 2×2 block.
fn halve(src: &RgbImage, dst_w: u32, dst_h: u32) -> RgbImage {
    let row_len = dst_w as usize * 3;
    let mut out = vec![0u8; row_len * dst_h as usize];
    for dy in 0..dst_h as usize {
        let (r0, r1) = (src.row(2 * dy as u32), src.row(2 * dy as u32 + 1));
        let dst = &mut out[dy * row_len..(dy + 1) * row_len];
        for dx in 0..dst_w as usize {
            for c in 0..3 {
                let (a, b) = ((2 * dx) * 3 + c, (2 * dx + 1) * 3 + c);
                let sum = u32::from(r0[a]) + u32::from(r0[b]) + u32::from(r1[a]) + u32::from(r1[b]);
                dst[dx * 3 + c] = ((sum + 2) >> 2) as u8;
            }
        }
    }
    RgbImage {
        width: dst_w,
        height: dst_h,
        data: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[
                    (x * 7 % 256) as u8,
                    (y * 5 % 256) as u8,
                    ((x + y) % 256) as u8,
                ]);
            }
        }
        RgbImage::from_raw(w, h, data).expect("valid")
    }

    #[test]
    fn same_size_is_a_copy() {
        let img = gradient(17, 9);
        assert_eq!(resize(&img, 17, 9), img);
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = RgbImage::filled(37, 23, [200, 114, 3]);
        for (w, h) in [(320, 213), (11, 7), (74, 46), (5, 100)] {
            let out = resize(&img, w, h);
            assert!(
                out.as_raw().chunks(3).all(|p| p == [200, 114, 3]),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn exact_halving_is_a_2x2_average() {
        let img =
            RgbImage::from_raw(2, 2, vec![0, 0, 0, 1, 1, 1, 2, 2, 2, 4, 4, 4]).expect("valid");
        let out = resize(&img, 1, 1);
        // (0 + 1 + 2 + 4 + 2) >> 2 = 2
        assert_eq!(out.as_raw(), &[2, 2, 2]);
    }

    #[test]
    fn upscale_interpolates_between_neighbours() {
        let img = RgbImage::from_raw(2, 1, vec![0, 0, 0, 255, 255, 255]).expect("valid");
        let out = resize(&img, 4, 1);
        // Half-pixel centres: dst x=0 -> src -0.25 (clamped to 0), x=1 -> 0.25, x=2 -> 0.75, x=3 -> 1.25 (edge).
        let r: Vec<u8> = out.as_raw().chunks(3).map(|p| p[0]).collect();
        assert_eq!(r[0], 0);
        assert_eq!(r[3], 255);
        assert!((63..=65).contains(&r[1]), "{r:?}");
        assert!((190..=192).contains(&r[2]), "{r:?}");
    }
}
