//! Login body parsing: any bytes give a login with a non-empty username and password, or a
//! typed error; any non-empty username and password, sent as JSON or as a urlencoded form,
//! come back unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use osprey_auth::{parse_login, Login};

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn form_string(s: &str, plus: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b' ' if plus => "+".to_string(),
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    // Any bytes.
    if let Ok(login) = parse_login(data) {
        assert!(!login.username.is_empty() && !login.password.is_empty());
    }

    // The bytes as a username and a password (split at the first byte's offset), sent both ways.
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let at = (sel as usize).min(rest.len());
    let username = String::from_utf8_lossy(&rest[..at]).into_owned();
    let password = String::from_utf8_lossy(&rest[at..]).into_owned();
    let user_key = ["username", "user", "name"][sel as usize % 3];
    let want = Login {
        username: username.clone(),
        password: password.clone(),
    };
    let valid = !username.is_empty() && !password.is_empty();

    let json = if sel & 0x80 == 0 {
        format!(
            "{{\"{user_key}\":{},\"password\":{}}}",
            json_string(&username),
            json_string(&password)
        )
    } else {
        format!(
            " \n{{ \"password\" : {} , \"{user_key}\" : {} }}",
            json_string(&password),
            json_string(&username)
        )
    };
    match parse_login(json.as_bytes()) {
        Ok(login) => assert_eq!(login, want, "JSON {json:?}"),
        Err(e) => assert!(!valid || json.len() > 4096, "JSON {json:?}: {e}"),
    }

    let plus = sel & 0x40 != 0;
    let (u, p) = (form_string(&username, plus), form_string(&password, plus));
    let form = if sel & 0x20 == 0 {
        format!("{user_key}={u}&password={p}")
    } else {
        format!("&password={p}&&{user_key}={u}&")
    };
    match parse_login(form.as_bytes()) {
        Ok(login) => assert_eq!(login, want, "form {form:?}"),
        Err(e) => assert!(!valid || form.len() > 4096, "form {form:?}: {e}"),
    }
});
