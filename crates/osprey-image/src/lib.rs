//! Image input for Osprey: bounded decoding and Ultralytics-exact letterbox preprocessing.
//!
//! The pipeline is `decode` (JPEG/PNG/WebP/BMP bytes → [`RgbImage`], EXIF orientation applied,
//! pixel limit checked from the header before any allocation) → [`letterbox`] (the exact
//! geometry Ultralytics' `LetterBox` computes) → [`resize`] (bit-compatible with OpenCV's 8-bit
//! `INTER_LINEAR` and `INTER_AREA`) → an NCHW `f32` tensor scaled to 0..1.
#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod decode;
pub mod draw;
pub mod letterbox;
pub mod resize;

pub use decode::{decode, probe, DecodeError, DecodeLimits, ImageFormat, ImageHeader};
pub use letterbox::{Letterbox, LetterboxGeometry};

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `R G B`.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl RgbImage {
    /// Wraps interleaved RGB bytes; `None` when the length is not `width * height * 3` or a
    /// side is zero.
    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Option<Self> {
        let expected = (width as usize)
            .checked_mul(height as usize)?
            .checked_mul(3)?;
        (width > 0 && height > 0 && data.len() == expected).then_some(Self {
            width,
            height,
            data,
        })
    }

    /// An image filled with one colour.
    pub fn filled(width: u32, height: u32, rgb: [u8; 3]) -> Self {
        let n = width as usize * height as usize;
        let mut data = Vec::with_capacity(n * 3);
        for _ in 0..n {
            data.extend_from_slice(&rgb);
        }
        Self {
            width,
            height,
            data,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Interleaved RGB bytes.
    pub fn as_raw(&self) -> &[u8] {
        &self.data
    }

    /// Mutable interleaved RGB bytes.
    pub fn as_raw_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Consumes the image, returning its bytes.
    pub fn into_raw(self) -> Vec<u8> {
        self.data
    }

    /// The `width x height` region whose top-left pixel is `(x, y)`; `None` when it is empty
    /// or not inside the image.
    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> Option<RgbImage> {
        let inside = |o: u32, n: u32, max: u32| o.checked_add(n).is_some_and(|e| e <= max);
        if !inside(x, width, self.width) || !inside(y, height, self.height) {
            return None;
        }
        let (from, len) = (x as usize * 3, width as usize * 3);
        let mut data = Vec::with_capacity(len * height as usize);
        for row in y..y + height {
            data.extend_from_slice(&self.row(row)[from..from + len]);
        }
        RgbImage::from_raw(width, height, data)
    }

    /// One row of interleaved pixels.
    pub fn row(&self, y: u32) -> &[u8] {
        let stride = self.width as usize * 3;
        let start = y as usize * stride;
        &self.data[start..start + stride]
    }
}
