//! Annotated views: boxes and track ids drawn on a frame, encoded as JPEG.
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
}
