//! Ultralytics' `LetterBox`: scale to fit, pad with grey 114 to the model's input shape.
//!
//! The geometry reproduces Ultralytics' Python arithmetic, including Python's round-half-to-even
//! `round()` and the `round(d ± 0.1)` split of odd padding, so the model sees the same pixels.

use crate::resize::resize;
use crate::RgbImage;

/// Grey value of the padding, as Ultralytics uses.
pub const PAD_VALUE: u8 = 114;

/// How to letterbox an image into a model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Letterbox {
    /// Target height (the model's input height, or the maximum for dynamic models).
    pub height: u32,
    /// Target width.
    pub width: u32,
    /// Ultralytics `auto`: pad only to the next multiple of `stride` (minimal rectangle), as
    /// predict does for models with dynamic height and width.
    pub auto: bool,
    /// Stride used by `auto`.
    pub stride: u32,
    /// Allow enlarging images smaller than the target.
    pub scaleup: bool,
}

/// Where the original image lies inside the letterboxed input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LetterboxGeometry {
    /// Original width.
    pub src_width: u32,
    /// Original height.
    pub src_height: u32,
    /// Size of the resized image before padding.
    pub unpadded: (u32, u32),
    /// Padding on the left.
    pub left: u32,
    /// Padding on the top.
    pub top: u32,
    /// Width of the model input.
    pub out_width: u32,
    /// Height of the model input.
    pub out_height: u32,
}

/// Python's `round()` for floats: half to even.
pub fn py_round(v: f64) -> f64 {
    v.round_ties_even()
}

impl Letterbox {
    /// A square static-model letterbox (`auto=False`), as predict uses for static ONNX models.
    pub fn square(size: u32) -> Self {
        Self {
            height: size,
            width: size,
            auto: false,
            stride: 32,
            scaleup: true,
        }
    }

    /// Computes the geometry for an image of `w` × `h`.
    pub fn geometry(&self, w: u32, h: u32) -> LetterboxGeometry {
        let (w0, h0) = (f64::from(w), f64::from(h));
        let mut r = (f64::from(self.height) / h0).min(f64::from(self.width) / w0);
        if !self.scaleup {
            r = r.min(1.0);
        }
        let unpad_w = (py_round(w0 * r) as u32).max(1);
        let unpad_h = (py_round(h0 * r) as u32).max(1);
        let mut dw = f64::from(self.width.saturating_sub(unpad_w));
        let mut dh = f64::from(self.height.saturating_sub(unpad_h));
        if self.auto && self.stride > 0 {
            dw %= f64::from(self.stride);
            dh %= f64::from(self.stride);
        }
        dw /= 2.0;
        dh /= 2.0;
        let top = py_round(dh - 0.1).max(0.0) as u32;
        let bottom = py_round(dh + 0.1).max(0.0) as u32;
        let left = py_round(dw - 0.1).max(0.0) as u32;
        let right = py_round(dw + 0.1).max(0.0) as u32;
        LetterboxGeometry {
            src_width: w,
            src_height: h,
            unpadded: (unpad_w, unpad_h),
            left,
            top,
            out_width: unpad_w + left + right,
            out_height: unpad_h + top + bottom,
        }
    }

    /// Letterboxes `img` and writes it as planar RGB `f32` in 0..1 into `out`, which must hold
    /// `3 * out_height * out_width` values (see [`LetterboxGeometry`]). Returns the geometry.
    pub fn apply_into(&self, img: &RgbImage, out: &mut [f32]) -> LetterboxGeometry {
        let geo = self.geometry(img.width(), img.height());
        let resized;
        let src = if geo.unpadded == (img.width(), img.height()) {
            img
        } else {
            resized = resize(img, geo.unpadded.0, geo.unpadded.1);
            &resized
        };
        write_planar(src, &geo, out);
        geo
    }
}

/// Ultralytics validation preprocessing: `load_image` resizes the long side to `imgsz`
/// (sides rounded up, `INTER_LINEAR`), then `LetterBox` pads to a square without scaling.
/// Returns the resized image and its geometry.
pub fn val_letterbox(img: &RgbImage, imgsz: u32) -> (RgbImage, LetterboxGeometry) {
    let (w0, h0) = (f64::from(img.width()), f64::from(img.height()));
    let r = f64::from(imgsz) / w0.max(h0);
    let resized = if r == 1.0 {
        img.clone()
    } else {
        let w = ((w0 * r).ceil() as u32).min(imgsz).max(1);
        let h = ((h0 * r).ceil() as u32).min(imgsz).max(1);
        resize(img, w, h)
    };
    let lb = Letterbox {
        height: imgsz,
        width: imgsz,
        auto: false,
        stride: 32,
        scaleup: false,
    };
    let mut geo = lb.geometry(resized.width(), resized.height());
    geo.src_width = img.width();
    geo.src_height = img.height();
    (resized, geo)
}

/// The value an 8-bit sample becomes in the tensor: exactly `v as f32 / 255.0`, as NumPy's
/// `im /= 255` on a `float32` array computes it.
fn unit_lut() -> &'static [f32; 256] {
    static LUT: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    LUT.get_or_init(|| std::array::from_fn(|i| i as f32 / 255.0))
}

/// Writes `src` (already resized to `geo.unpadded`) with its padding into a planar tensor.
pub fn write_planar(src: &RgbImage, geo: &LetterboxGeometry, out: &mut [f32]) {
    let lut = unit_lut();
    let (ow, oh) = (geo.out_width as usize, geo.out_height as usize);
    let plane = ow * oh;
    assert!(
        out.len() >= 3 * plane,
        "tensor slice too small for the letterbox"
    );
    let pad = lut[PAD_VALUE as usize];
    out[..3 * plane].fill(pad);
    let (left, top) = (geo.left as usize, geo.top as usize);
    let w = (src.width() as usize).min(ow.saturating_sub(left));
    let h = (src.height() as usize).min(oh.saturating_sub(top));
    let (r_plane, rest) = out.split_at_mut(plane);
    let (g_plane, b_plane) = rest.split_at_mut(plane);
    for y in 0..h {
        let row = &src.row(y as u32)[..w * 3];
        let base = (top + y) * ow + left;
        let (r, g, b) = (
            &mut r_plane[base..base + w],
            &mut g_plane[base..base + w],
            &mut b_plane[base..base + w],
        );
        for (x, px) in row.chunks_exact(3).enumerate() {
            r[x] = lut[px[0] as usize];
            g[x] = lut[px[1] as usize];
            b[x] = lut[px[2] as usize];
        }
    }
}

impl LetterboxGeometry {
    /// Maps a box from model-input pixels back to original-image pixels and clips it.
    ///
    /// This is the exact inverse of the letterbox: remove the left/top padding, then divide by
    /// the per-axis scale actually applied (`unpadded / original`, which differs slightly between
    /// axes because the resized size is rounded). Ultralytics 8.4 predictions agree with it to
    /// float precision (checked against the shared reference outputs).
    pub fn unletterbox(&self, b: [f32; 4]) -> [f32; 4] {
        let gx = (f64::from(self.unpadded.0) / f64::from(self.src_width)) as f32;
        let gy = (f64::from(self.unpadded.1) / f64::from(self.src_height)) as f32;
        let (px, py) = (self.left as f32, self.top as f32);
        let (wf, hf) = (self.src_width as f32, self.src_height as f32);
        [
            ((b[0] - px) / gx).clamp(0.0, wf),
            ((b[1] - py) / gy).clamp(0.0, hf),
            ((b[2] - px) / gx).clamp(0.0, wf),
            ((b[3] - py) / gy).clamp(0.0, hf),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_geometry_matches_ultralytics() {
        // bus.jpg is 810x1080; at 640 Ultralytics resizes to 480x640 and pads 80 each side.
        let g = Letterbox::square(640).geometry(810, 1080);
        assert_eq!(g.unpadded, (480, 640));
        assert_eq!(
            (g.left, g.top, g.out_width, g.out_height),
            (80, 0, 640, 640)
        );
    }

    #[test]
    fn odd_padding_splits_like_python() {
        // 640x427 at 320: r = 0.5, unpadded 320x214 (213.5 rounds to even 214), dh = 106 / 2 = 53.
        let g = Letterbox::square(320).geometry(640, 427);
        assert_eq!(g.unpadded, (320, 214));
        assert_eq!((g.top, g.out_height), (53, 320));
        // 500x333 at 320: r = 0.64, unpadded 320x213, dh = 53.5 -> top round(53.4)=53, bottom round(53.6)=54.
        let g = Letterbox::square(320).geometry(500, 333);
        assert_eq!(g.unpadded, (320, 213));
        assert_eq!((g.top, g.out_height), (53, 320));
    }

    #[test]
    fn auto_pads_to_stride_multiple() {
        let lb = Letterbox {
            height: 320,
            width: 320,
            auto: true,
            stride: 32,
            scaleup: true,
        };
        let g = lb.geometry(1920, 1080);
        assert_eq!(g.unpadded, (320, 180));
        assert_eq!((g.out_width, g.out_height), (320, 192));
        assert_eq!(g.top, 6);
    }

    #[test]
    fn unletterbox_inverts_geometry() {
        let g = Letterbox::square(640).geometry(810, 1080);
        let b = g.unletterbox([80.0, 0.0, 560.0, 640.0]);
        for (a, e) in b.iter().zip([0.0, 0.0, 810.0, 1080.0]) {
            assert!((a - e).abs() < 1e-3, "{b:?}");
        }
    }

    #[test]
    fn planar_tensor_has_padding_and_pixels() {
        let img = RgbImage::filled(4, 2, [255, 0, 10]);
        let lb = Letterbox::square(4);
        let mut t = vec![0f32; 3 * 16];
        let g = lb.apply_into(&img, &mut t);
        assert_eq!((g.top, g.out_height), (1, 4));
        let pad = 114.0 / 255.0;
        assert_eq!(t[0], pad);
        assert_eq!(t[4], 1.0);
        assert_eq!(t[16 + 4], 0.0);
        assert_eq!(t[32 + 4], 10.0 / 255.0);
        assert_eq!(t[12], pad);
    }
}
