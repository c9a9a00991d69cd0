//! Mutation test for the image decoder: corrupted JPEG/PNG variants give an image within limits
//! or a typed error, never a panic. (A coverage-guided target lives in `fuzz/`.)

use osprey_image::{decode, DecodeLimits};

use osprey_testkit::fixtures::Rng;

fn seeds() -> Vec<Vec<u8>> {
    let px: Vec<u8> = (0..48 * 32 * 3).map(|i| (i * 7 % 251) as u8).collect();
    let img = turbojpeg::Image {
        pixels: px.as_slice(),
        width: 48,
        pitch: 48 * 3,
        height: 32,
        format: turbojpeg::PixelFormat::RGB,
    };
    let jpeg = turbojpeg::compress(img, 80, turbojpeg::Subsamp::Sub2x2)
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let mut png = Vec::new();
    let buf = image::RgbImage::from_raw(48, 32, px).unwrap_or_default();
    let _ = buf.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png);
    vec![jpeg, png]
}

#[test]
fn corrupted_images_never_panic() {
    let limits = DecodeLimits {
        max_pixels: 4_000_000,
        max_bytes: 1 << 20,
    };
    let seeds = seeds();
    assert!(
        seeds.iter().all(|s| decode(s, &limits).is_ok()),
        "seeds decode"
    );
    let mut rng = Rng(0xDEAD_BEEF);
    for i in 0..4_000 {
        let mut v = seeds[i % seeds.len()].clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(v.len());
            match rng.below(3) {
                0 => v[at] = rng.next_u64() as u8,
                1 => v.truncate(at.max(1)),
                _ => v.insert(at, rng.next_u64() as u8),
            }
        }
        if let Ok(img) = decode(&v, &limits) {
            assert!(u64::from(img.width()) * u64::from(img.height()) <= limits.max_pixels);
            assert_eq!(
                img.as_raw().len(),
                img.width() as usize * img.height() as usize * 3
            );
        }
    }
}
