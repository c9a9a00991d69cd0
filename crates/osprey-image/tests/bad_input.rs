//! Every class of bad or unusual input gives a typed error or a correct image, never a panic.
#![allow(clippy::unwrap_used)]

use osprey_base::{ErrorKind, Kinded};
use osprey_image::{decode, probe, DecodeError, DecodeLimits, RgbImage};

fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

/// A JPEG of `w`×`h` whose left half is red and right half blue.
fn two_tone_jpeg(w: usize, h: usize) -> Vec<u8> {
    let mut px = Vec::with_capacity(w * h * 3);
    for _ in 0..h {
        for x in 0..w {
            px.extend_from_slice(if x < w / 2 {
                &[220, 20, 20]
            } else {
                &[20, 20, 220]
            });
        }
    }
    let img = turbojpeg::Image {
        pixels: px.as_slice(),
        width: w,
        pitch: w * 3,
        height: h,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::compress(img, 95, turbojpeg::Subsamp::None)
        .unwrap()
        .to_vec()
}

fn encode_png<P: image::PixelWithColorType>(
    img: &image::ImageBuffer<P, Vec<P::Subpixel>>,
) -> Vec<u8>
where
    [P::Subpixel]: image::EncodableLayout,
{
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn pixel(img: &RgbImage, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * img.width() + x) * 3) as usize;
    img.as_raw()[i..i + 3].try_into().unwrap()
}

#[test]
fn zero_bytes() {
    let err = decode(&[], &limits()).unwrap_err();
    assert!(matches!(err, DecodeError::Empty), "{err}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn text_file() {
    let err = decode(
        b"Content-Disposition: form-data; name=\"image\"\r\n\r\nhello",
        &limits(),
    )
    .unwrap_err();
    assert!(matches!(err, DecodeError::UnknownFormat(_)), "{err}");
    assert!(
        err.to_string().contains("43 6f 6e 74"),
        "names the first bytes: {err}"
    );
}

#[test]
fn truncated_jpeg() {
    let full = two_tone_jpeg(64, 48);
    for cut in [full.len() / 2, full.len() - 2, 20, 3] {
        let err = decode(&full[..cut], &limits()).unwrap_err();
        assert!(
            matches!(err, DecodeError::Corrupt { .. }),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn one_by_one_image() {
    let img = decode(&two_tone_jpeg(1, 1), &limits()).unwrap();
    assert_eq!((img.width(), img.height()), (1, 1));
    let png = encode_png(&image::RgbImage::from_pixel(1, 1, image::Rgb([1, 2, 3])));
    let img = decode(&png, &limits()).unwrap();
    assert_eq!(img.as_raw(), &[1, 2, 3]);
}

#[test]
fn png_header_claiming_20000_by_20000_is_refused_before_allocating() {
    let png = osprey_testkit::fixtures::png_claiming(20_000, 20_000);
    let header = probe(&png, &limits()).unwrap();
    assert_eq!((header.width, header.height), (20_000, 20_000));
    let err = decode(&png, &limits()).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::TooManyPixels {
                width: 20_000,
                height: 20_000,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::ResourceExhausted);
}

#[test]
fn jpeg_header_claiming_too_many_pixels_is_refused() {
    let small = DecodeLimits {
        max_pixels: 100,
        ..limits()
    };
    let err = decode(&two_tone_jpeg(64, 48), &small).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::TooManyPixels {
                width: 64,
                height: 48,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn too_many_bytes() {
    let tiny = DecodeLimits {
        max_bytes: 10,
        ..limits()
    };
    let err = decode(&two_tone_jpeg(8, 8), &tiny).unwrap_err();
    assert!(
        matches!(err, DecodeError::TooManyBytes { limit: 10, .. }),
        "{err}"
    );
}

#[test]
fn cmyk_jpeg_decodes_to_rgb() {
    // TurboJPEG writes CMYK pixels as a YCCK JPEG, as print workflows do. Values use Adobe's
    // inverted convention (255 = no ink), which OpenCV assumes: this is full magenta and yellow,
    // no cyan, no black — red. cv2.imread gives (255, 1, 1) for this file.
    let (w, h) = (32usize, 16usize);
    let mut px = Vec::with_capacity(w * h * 4);
    for _ in 0..w * h {
        px.extend_from_slice(&[255, 0, 0, 255]);
    }
    let img = turbojpeg::Image {
        pixels: px.as_slice(),
        width: w,
        pitch: w * 4,
        height: h,
        format: turbojpeg::PixelFormat::CMYK,
    };
    let jpeg = turbojpeg::compress(img, 95, turbojpeg::Subsamp::None)
        .unwrap()
        .to_vec();
    let out = decode(&jpeg, &limits()).unwrap();
    assert_eq!((out.width(), out.height()), (32, 16));
    assert_eq!(
        pixel(&out, 5, 5),
        [255, 1, 1],
        "CMYK red decodes as OpenCV decodes it"
    );
}

#[test]
fn sixteen_bit_png() {
    let img = image::ImageBuffer::<image::Rgb<u16>, _>::from_pixel(
        5,
        3,
        image::Rgb([65535u16, 32768, 257]),
    );
    let out = decode(&encode_png(&img), &limits()).unwrap();
    assert_eq!((out.width(), out.height()), (5, 3));
    // OpenCV's IMREAD_COLOR keeps the high byte.
    assert_eq!(pixel(&out, 4, 2), [255, 128, 1]);
}

#[test]
fn grayscale_images_become_three_equal_channels() {
    let gray = image::GrayImage::from_pixel(7, 5, image::Luma([77]));
    let out = decode(&encode_png(&gray), &limits()).unwrap();
    assert_eq!(pixel(&out, 3, 3), [77, 77, 77]);
    let px = vec![150u8; 16 * 8];
    let img = turbojpeg::Image {
        pixels: px.as_slice(),
        width: 16,
        pitch: 16,
        height: 8,
        format: turbojpeg::PixelFormat::GRAY,
    };
    let jpeg = turbojpeg::compress(img, 95, turbojpeg::Subsamp::Gray)
        .unwrap()
        .to_vec();
    let out = decode(&jpeg, &limits()).unwrap();
    let p = pixel(&out, 2, 2);
    assert!(
        p[0] == p[1] && p[1] == p[2] && (148..=152).contains(&p[0]),
        "{p:?}"
    );
}

#[test]
fn exif_orientation_6_is_applied_like_opencv() {
    // Stored 40x20, left half red. Orientation 6 means "rotate 90° clockwise to display":
    // the displayed image is 20x40 with red on top (cv2.imread gives the same).
    let jpeg = osprey_testkit::fixtures::with_exif_orientation(&two_tone_jpeg(40, 20), 6);
    let out = decode(&jpeg, &limits()).unwrap();
    assert_eq!((out.width(), out.height()), (20, 40));
    let top = pixel(&out, 10, 5);
    let bottom = pixel(&out, 10, 35);
    assert!(top[0] > 180 && top[2] < 80, "top is red: {top:?}");
    assert!(
        bottom[2] > 180 && bottom[0] < 80,
        "bottom is blue: {bottom:?}"
    );
}

#[test]
fn garbage_after_a_valid_header_is_a_typed_error() {
    let mut jpeg = two_tone_jpeg(64, 48);
    let n = jpeg.len();
    for b in &mut jpeg[n / 2..n - 2] {
        *b = 0xFF;
    }
    // libjpeg either reports corrupt data or recovers an image; both are fine, a panic is not.
    match decode(&jpeg, &limits()) {
        Ok(img) => assert_eq!((img.width(), img.height()), (64, 48)),
        Err(e) => assert!(matches!(e, DecodeError::Corrupt { .. }), "{e}"),
    }
}
