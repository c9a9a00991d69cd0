//! `Cookie` header parsing: any text and cookie name; a value is a non-empty slice of the header
//! without ';'.
#![no_main]
use libfuzzer_sys::fuzz_target;

fn check(header: &str, name: &str) {
    let Some(v) = osprey_auth::cookie_value(header, name) else {
        return;
    };
    assert!(!v.is_empty(), "empty value of {name:?} in {header:?}");
    assert!(!v.contains(';'), "value with ';' of {name:?} in {header:?}");
    let (start, end) = (
        header.as_ptr() as usize,
        header.as_ptr() as usize + header.len(),
    );
    let p = v.as_ptr() as usize;
    assert!(
        p >= start && p + v.len() <= end,
        "value outside the header {header:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    // First byte picks the length of the cookie name, the rest is the header.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = (n as usize % 16).min(rest.len());
    let name = String::from_utf8_lossy(&rest[..n]);
    let header = String::from_utf8_lossy(&rest[n..]);
    check(&header, &name);
    check(&header, "osprey_session");
    let whole = String::from_utf8_lossy(data);
    check(&whole, "osprey_session");
});
