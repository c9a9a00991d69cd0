//! Mutation tests for the flagfile parser: thousands of corrupted variants of a valid flagfile
//! must give `Ok` or a typed error, never a panic. (The coverage-guided fuzz target for the same
//! parser lives in `fuzz/`.)

use osprey_config::flags;
use osprey_testkit::fixtures::{mutate, Rng};

#[test]
fn flagfile_parser_never_panics() {
    let seed = b"# comment\n// comment\n--engine_path=a.onnx\n--image_size=320\n--half_precision=true\n--nolog_response\n\n";
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let input = mutate(&mut rng, seed);
        let text = String::from_utf8_lossy(&input);
        if let Ok(args) = flags::parse_flagfile(std::path::Path::new("f.txt"), &text) {
            assert!(args.iter().all(|a| a.starts_with('-')));
            let _ = flags::normalize(&args);
        }
    }
}
