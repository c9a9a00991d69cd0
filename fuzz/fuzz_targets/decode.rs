//! Image decoding with limits: any bytes give an image within the limits or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = osprey_image::DecodeLimits { max_pixels: 4_000_000, max_bytes: 1 << 20 };
    if let Ok(img) = osprey_image::decode(data, &limits) {
        assert!(u64::from(img.width()) * u64::from(img.height()) <= limits.max_pixels);
        assert_eq!(img.as_raw().len(), img.width() as usize * img.height() as usize * 3);
    }
});
