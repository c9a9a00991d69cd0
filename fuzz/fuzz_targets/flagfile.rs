//! absl flagfile parsing and flag normalisation: any text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(args) = osprey_config::flags::parse_flagfile(std::path::Path::new("fuzz.txt"), &text) {
        assert!(args.iter().all(|a| a.starts_with('-')));
        // Flagfile references are not followed here (no file system access while fuzzing).
        let args: Vec<String> = args.into_iter().filter(|a| !a.contains("flagfile")).collect();
        if let Ok(out) = osprey_config::flags::normalize(&args) {
            assert_eq!(out.len(), args.len());
        }
    }
    let _ = osprey_config::Settings::from_toml(&text);
});
