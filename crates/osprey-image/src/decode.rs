//! Bounded image decoding.
//!
//! Everything a client can send is checked before it costs memory: the format is sniffed from the
//! magic bytes, the dimensions are read from the header and compared with [`DecodeLimits`] before
//! the pixel buffer is allocated, and every failure is a typed [`DecodeError`].

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader};
use osprey_base::{ErrorKind, Kinded};

use crate::RgbImage;

/// Limits applied to every decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest `width * height` accepted (checked from the header, before allocating).
    pub max_pixels: u64,
    /// Largest encoded size accepted, in bytes.
    pub max_bytes: usize,
}

impl Default for DecodeLimits {
    /// 40 megapixels (a 8K frame is 33 MP) and 16 MiB of encoded data.
    fn default() -> Self {
        Self {
            max_pixels: 40_000_000,
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The container formats Osprey decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG / JFIF / EXIF.
    Jpeg,
    /// PNG (8- and 16-bit, grey, palette, alpha).
    Png,
    /// WebP (lossy and lossless).
    WebP,
    /// Windows bitmap.
    Bmp,
}

impl ImageFormat {
    /// Lower-case name, for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
            ImageFormat::WebP => "webp",
            ImageFormat::Bmp => "bmp",
        }
    }

    fn to_image(self) -> image::ImageFormat {
        match self {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
            ImageFormat::WebP => image::ImageFormat::WebP,
            ImageFormat::Bmp => image::ImageFormat::Bmp,
        }
    }

    /// Recognises a format from its magic bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageFormat::WebP)
        } else if bytes.starts_with(b"BM") {
            Some(ImageFormat::Bmp)
        } else {
            None
        }
    }
}

/// What a header says, before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    /// Container format.
    pub format: ImageFormat,
    /// Width as stored (before EXIF rotation).
    pub width: u32,
    /// Height as stored (before EXIF rotation).
    pub height: u32,
}

/// Why an image could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Zero bytes were given.
    #[error("the image is empty (0 bytes)")]
    Empty,
    /// The bytes are not one of the supported formats.
    #[error("the data is not a JPEG, PNG, WebP or BMP image (first bytes: {0})")]
    UnknownFormat(String),
    /// The encoded data is larger than allowed.
    #[error("the image is {size} bytes, over the limit of {limit} bytes")]
    TooManyBytes {
        /// Encoded size.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The header announces more pixels than allowed (decompression-bomb guard).
    #[error("the image is {width}x{height} ({} pixels), over the limit of {limit} pixels", *width as u64 * *height as u64)]
    TooManyPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// Configured limit.
        limit: u64,
    },
    /// A zero-sized image.
    #[error("the image has a zero dimension ({width}x{height})")]
    ZeroSize {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
    /// The data is truncated or corrupt.
    #[error("the {format} image is corrupt or truncated: {detail}")]
    Corrupt {
        /// Container format.
        format: &'static str,
        /// Decoder message.
        detail: String,
    },
    /// A valid image using a feature the decoder lacks.
    #[error("the {format} image uses an unsupported feature: {detail}")]
    Unsupported {
        /// Container format.
        format: &'static str,
        /// Decoder message.
        detail: String,
    },
}

impl Kinded for DecodeError {
    fn kind(&self) -> ErrorKind {
        match self {
            DecodeError::TooManyBytes { .. } | DecodeError::TooManyPixels { .. } => {
                ErrorKind::ResourceExhausted
            }
            _ => ErrorKind::InvalidArgument,
        }
    }
}

fn classify(format: ImageFormat, err: image::ImageError, limits: &DecodeLimits) -> DecodeError {
    let detail = err.to_string();
    match err {
        image::ImageError::Unsupported(_) => DecodeError::Unsupported {
            format: format.as_str(),
            detail,
        },
        image::ImageError::Limits(_) => DecodeError::TooManyPixels {
            width: 0,
            height: 0,
            limit: limits.max_pixels,
        },
        _ => DecodeError::Corrupt {
            format: format.as_str(),
            detail,
        },
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

type Reader<'a> = ImageReader<Cursor<&'a [u8]>>;

fn reader<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Result<(ImageFormat, Reader<'a>), DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooManyBytes {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let format =
        ImageFormat::sniff(bytes).ok_or_else(|| DecodeError::UnknownFormat(hex_prefix(bytes)))?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.to_image());
    let mut image_limits = image::Limits::default();
    // The decoder's own allocation cap: room for the largest allowed image at 16-bit RGBA, plus
    // slack for decoder state. The precise pixel check happens on the header below.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(image_limits);
    Ok((format, reader))
}

/// Reads only the header: format and stored dimensions.
pub fn probe(bytes: &[u8], limits: &DecodeLimits) -> Result<ImageHeader, DecodeError> {
    let (format, reader) = reader(bytes, limits)?;
    let decoder = reader
        .into_decoder()
        .map_err(|e| classify(format, e, limits))?;
    let (width, height) = decoder.dimensions();
    Ok(ImageHeader {
        format,
        width,
        height,
    })
}

/// Decodes an image into 8-bit RGB, applying its EXIF orientation as OpenCV's `imread` does.
///
/// JPEGs are decoded by libjpeg-turbo (TurboJPEG) with the accurate integer IDCT and fancy
/// upsampling, the same decoder and settings OpenCV uses, so the pixels match `cv2.imread`
/// exactly. JPEGs it cannot convert to RGB (CMYK, for example) go through the pure-Rust decoder.
/// Grey images are replicated to three channels, alpha is dropped (as `cv2.IMREAD_COLOR`), and
/// 16-bit samples are reduced to 8 bits.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    if ImageFormat::sniff(bytes) == Some(ImageFormat::Jpeg) && bytes.len() <= limits.max_bytes {
        if let Some(result) = decode_jpeg_turbo(bytes, limits) {
            return result;
        }
    }
    decode_generic(bytes, limits)
}

fn check_pixels(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), DecodeError> {
    if width == 0 || height == 0 {
        return Err(DecodeError::ZeroSize { width, height });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(DecodeError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    Ok(())
}

/// libjpeg-turbo's path. `None` means "not for this decoder" (fall back), `Some(Err)` is final.
fn decode_jpeg_turbo(bytes: &[u8], limits: &DecodeLimits) -> Option<Result<RgbImage, DecodeError>> {
    let corrupt = |detail: String| DecodeError::Corrupt {
        format: "jpeg",
        detail,
    };
    let mut decompressor = turbojpeg::Decompressor::new().ok()?;
    let header = match decompressor.read_header(bytes) {
        Ok(h) => h,
        Err(e) => return Some(Err(corrupt(e.to_string()))),
    };
    let (Ok(width), Ok(height)) = (u32::try_from(header.width), u32::try_from(header.height))
    else {
        return Some(Err(corrupt("dimensions out of range".into())));
    };
    if width == 0 || height == 0 {
        return Some(Err(corrupt(
            "the header has no image dimensions (truncated?)".into(),
        )));
    }
    if let Err(e) = check_pixels(width, height, limits) {
        return Some(Err(e));
    }
    let cmyk = matches!(
        header.colorspace,
        turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK
    );
    let (format, channels) = if cmyk {
        (turbojpeg::PixelFormat::CMYK, 4)
    } else {
        (turbojpeg::PixelFormat::RGB, 3)
    };
    let mut pixels = vec![0u8; header.width * header.height * channels];
    let image = turbojpeg::Image {
        pixels: pixels.as_mut_slice(),
        width: header.width,
        pitch: header.width * channels,
        height: header.height,
        format,
    };
    if let Err(turbojpeg::Error::TurboJpegError(msg)) = decompressor.decompress(bytes, image) {
        // libjpeg warnings leave a full image behind. OpenCV accepts those images, except that a
        // truncated file is an error for us: its lower part would be invented grey.
        if msg.starts_with("Premature end") {
            return Some(Err(corrupt(format!("truncated ({msg})"))));
        }
        if !msg.starts_with("Corrupt JPEG data") {
            // A fatal error (e.g. an unsupported colour conversion): let the generic decoder try.
            return None;
        }
    }
    if cmyk {
        pixels = cmyk_to_rgb(&pixels);
    }
    let img = RgbImage::from_raw(width, height, pixels)?;
    Some(Ok(apply_orientation(img, jpeg_orientation(bytes))))
}

/// OpenCV's CMYK conversion for JPEGs (`icvCvt_CMYK2BGR_8u_C4C3R`), which assumes Adobe's
/// inverted storage (255 = no ink): `channel = k - ((255 - v) * k >> 8)`.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let k = i32::from(px[3]);
        for &v in &px[..3] {
            rgb.push((k - (((255 - i32::from(v)) * k) >> 8)) as u8);
        }
    }
    rgb
}

/// The EXIF orientation of a JPEG, read from its headers only.
fn jpeg_orientation(bytes: &[u8]) -> image::metadata::Orientation {
    image::codecs::jpeg::JpegDecoder::new(Cursor::new(bytes))
        .and_then(|mut d| d.orientation())
        .unwrap_or(image::metadata::Orientation::NoTransforms)
}

fn apply_orientation(img: RgbImage, orientation: image::metadata::Orientation) -> RgbImage {
    if orientation == image::metadata::Orientation::NoTransforms {
        return img;
    }
    let (w, h) = (img.width(), img.height());
    let Some(buf) = image::RgbImage::from_raw(w, h, img.into_raw()) else {
        // Unreachable: RgbImage guarantees the length.
        return RgbImage::filled(w, h, [0, 0, 0]);
    };
    let mut dynamic = DynamicImage::ImageRgb8(buf);
    dynamic.apply_orientation(orientation);
    let rgb = dynamic.into_rgb8();
    let (w, h) = rgb.dimensions();
    RgbImage::from_raw(w, h, rgb.into_raw()).unwrap_or_else(|| RgbImage::filled(w, h, [0, 0, 0]))
}

fn decode_generic(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    let (format, reader) = reader(bytes, limits)?;
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| classify(format, e, limits))?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, limits)?;
    // A missing or unreadable EXIF block is not an error: OpenCV ignores it too.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| classify(format, e, limits))?;
    img.apply_orientation(orientation);
    let rgb = match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        DynamicImage::ImageRgb16(rgb16) => {
            // OpenCV converts 16-bit to 8-bit by dropping the low byte.
            let (w, h) = rgb16.dimensions();
            let data = rgb16
                .into_raw()
                .into_iter()
                .map(|v| (v >> 8) as u8)
                .collect();
            image::RgbImage::from_raw(w, h, data).ok_or_else(|| DecodeError::Corrupt {
                format: format.as_str(),
                detail: "16-bit buffer has the wrong size".into(),
            })?
        }
        DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_)
        | DynamicImage::ImageRgba16(_) => {
            let rgb16 = img.to_rgb16();
            let (w, h) = rgb16.dimensions();
            let data = rgb16
                .into_raw()
                .into_iter()
                .map(|v| (v >> 8) as u8)
                .collect();
            image::RgbImage::from_raw(w, h, data).ok_or_else(|| DecodeError::Corrupt {
                format: format.as_str(),
                detail: "16-bit buffer has the wrong size".into(),
            })?
        }
        other => other.to_rgb8(),
    };
    let (w, h) = rgb.dimensions();
    RgbImage::from_raw(w, h, rgb.into_raw()).ok_or(DecodeError::ZeroSize {
        width: w,
        height: h,
    })
}
