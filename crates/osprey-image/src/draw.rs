//! Annotated views: boxes and track ids drawn on a frame, crops around a box, encoded as JPEG.
use osprey_base::{ErrorKind, Kinded};

use crate::RgbImage;

/// Why a frame could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode the frame as JPEG: {0}")]
pub struct EncodeError(String);

impl Kinded for EncodeError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

/// 3x5 digits, one row per 3 bits (MSB = left).
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// A distinct, bright colour per track id.
fn colour(id: u64) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 8] = [
        [255, 56, 56],
        [255, 157, 151],
        [255, 112, 31],
        [255, 178, 29],
        [72, 249, 10],
        [26, 147, 52],
        [0, 194, 255],
        [255, 55, 199],
    ];
    PALETTE[(id % PALETTE.len() as u64) as usize]
}

fn fill(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let (x0, x1) = (x0.clamp(0, w), x1.clamp(0, w));
    let (y0, y1) = (y0.clamp(0, h), y1.clamp(0, h));
    let stride = img.width() as usize * 3;
    let px = img.as_raw_mut();
    for y in y0..y1 {
        for x in x0..x1 {
            let i = y as usize * stride + x as usize * 3;
            px[i..i + 3].copy_from_slice(&c);
        }
    }
}

/// Draws each object's box (2 px) and its track id on a filled tag above the box; objects are
/// `(track id, [x1, y1, x2, y2])` in the image's pixels.
pub fn annotate(img: &mut RgbImage, objects: &[(u64, [f32; 4])]) {
    for &(track_id, bbox) in objects {
        let c = colour(track_id);
        let [x1, y1, x2, y2] = bbox.map(|v| v.round() as i64);
        let t = 2;
        fill(img, x1, y1, x2, y1 + t, c);
        fill(img, x1, y2 - t, x2, y2, c);
        fill(img, x1, y1, x1 + t, y2, c);
        fill(img, x2 - t, y1, x2, y2, c);
        let digits: Vec<usize> = track_id
            .to_string()
            .bytes()
            .map(|b| usize::from(b - b'0'))
            .collect();
        let scale = 2;
        let tag_h = 5 * scale + 4;
        let tag_w = digits.len() as i64 * 4 * scale + 2;
        let ty = if y1 >= tag_h { y1 - tag_h } else { y1 };
        fill(img, x1, ty, x1 + tag_w, ty + tag_h, c);
        for (k, d) in digits.iter().enumerate() {
            for (row, bits) in DIGITS[*d].iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) != 0 {
                        let x = x1 + 2 + k as i64 * 4 * scale + col * scale;
                        let y = ty + 2 + row as i64 * scale;
                        fill(img, x, y, x + scale, y + scale, [0, 0, 0]);
                    }
                }
            }
        }
    }
}

/// The region `(x, y, width, height)` of a `width x height` image to crop around `bbox`
/// (`[x1, y1, x2, y2]`): the box with `margin` of its larger side added on every side, at least
/// `min_side` pixels each way, shifted to stay inside the image (and never larger than it).
pub fn crop_region(
    bbox: [f32; 4],
    width: u32,
    height: u32,
    margin: f32,
    min_side: u32,
) -> (u32, u32, u32, u32) {
    let axis = |lo: f32, hi: f32, pad: f32, max: u32| -> (u32, u32) {
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        let want = ((hi - lo) + 2.0 * pad).max(min_side as f32);
        let side = (want.ceil() as u32).clamp(1, max.max(1));
        let centre = (lo + hi) / 2.0;
        let start = (centre - side as f32 / 2.0).round();
        let start = start.clamp(0.0, (max - side) as f32) as u32;
        (start, side)
    };
    let [x1, y1, x2, y2] = bbox.map(|v| if v.is_finite() { v } else { 0.0 });
    let pad = margin.max(0.0) * (x2 - x1).abs().max((y2 - y1).abs());
    let (x, w) = axis(x1, x2, pad, width);
    let (y, h) = axis(y1, y2, pad, height);
    (x, y, w, h)
}

/// Encodes RGB as JPEG.
pub fn jpeg(img: &RgbImage, quality: i32) -> Result<Vec<u8>, EncodeError> {
    let image = turbojpeg::Image {
        pixels: img.as_raw(),
        width: img.width() as usize,
        pitch: img.width() as usize * 3,
        height: img.height() as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::compress(image, quality, turbojpeg::Subsamp::Sub2x2)
        .map(|b| b.to_vec())
        .map_err(|e| EncodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_and_ids_are_drawn_inside_the_frame() {
        let mut img = RgbImage::filled(64, 48, [0, 0, 0]);
        annotate(
            &mut img,
            &[
                (12, [10.0, 20.0, 30.0, 40.0]),
                // Off the edges: clipped, no panic.
                (7, [-5.0, -5.0, 100.0, 100.0]),
            ],
        );
        let at = |x: usize, y: usize| {
            let i = (y * 64 + x) * 3;
            [img.as_raw()[i], img.as_raw()[i + 1], img.as_raw()[i + 2]]
        };
        assert_eq!(at(20, 20), colour(12), "top edge");
        assert_eq!(at(20, 30), [0, 0, 0], "inside stays");
        let jpg = jpeg(&img, 80).expect("jpeg");
        assert_eq!(&jpg[..2], &[0xff, 0xd8]);
        let back = crate::decode(&jpg, &crate::DecodeLimits::default()).expect("decode");
        assert_eq!((back.width(), back.height()), (64, 48));
    }

    #[test]
    fn crop_regions_stay_inside_the_frame() {
        // Margin: a quarter of the larger side (20), 5 px, on each side.
        assert_eq!(
            crop_region([100.0, 100.0, 110.0, 120.0], 640, 480, 0.25, 0),
            (95, 95, 20, 30)
        );
        // The minimum size, centred on the box.
        assert_eq!(
            crop_region([100.0, 100.0, 110.0, 120.0], 640, 480, 0.25, 96),
            (57, 62, 96, 96)
        );
        // Near an edge: shifted inside; larger than the frame: the frame.
        assert_eq!(
            crop_region([0.0, 470.0, 10.0, 480.0], 640, 480, 0.0, 96),
            (0, 384, 96, 96)
        );
        assert_eq!(
            crop_region([-50.0, -50.0, 900.0, 900.0], 640, 480, 0.2, 96),
            (0, 0, 640, 480)
        );
        assert_eq!(
            crop_region([f32::NAN, 0.0, 1.0, 1.0], 64, 48, 0.2, 96),
            (0, 0, 64, 48)
        );
        let mut img = RgbImage::filled(64, 48, [0, 0, 0]);
        img.as_raw_mut()[(10 * 64 + 20) * 3] = 255;
        let c = img.crop(20, 10, 8, 4).expect("inside");
        assert_eq!((c.width(), c.height(), c.as_raw()[0]), (8, 4, 255));
        assert!(img.crop(60, 0, 8, 4).is_none());
        assert!(img.crop(0, 0, 0, 4).is_none());
        assert!(img.crop(u32::MAX, 0, 8, 4).is_none());
    }
}
