//! `Authorization` header parsing: any text (UTF-8 or lossily decoded bytes); a token is a
//! non-empty slice of the header without spaces, and it round-trips through `Bearer <token>`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fn check(header: &str) {
    let Some(token) = osprey_auth::bearer_token(header) else {
        return;
    };
    assert!(!token.is_empty(), "empty token from {header:?}");
    assert!(!token.contains(' '), "token with a space from {header:?}");
    let (start, end) = (
        header.as_ptr() as usize,
        header.as_ptr() as usize + header.len(),
    );
    let p = token.as_ptr() as usize;
    assert!(
        p >= start && p + token.len() <= end,
        "token outside the header {header:?}"
    );
    assert!(
        header
            .trim_start()
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer ")),
        "token from a non-Bearer header {header:?}"
    );
    assert_eq!(
        osprey_auth::bearer_token(&format!("Bearer {token}")),
        Some(token)
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    check(&String::from_utf8_lossy(data));
});
