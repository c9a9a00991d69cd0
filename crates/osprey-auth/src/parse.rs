//! Parsers of what clients send to authenticate: the `Authorization` header, the `Cookie`
//! header, and the login body (JSON or a urlencoded form). Pure, total (never panic), fuzzed
//! (`fuzz/fuzz_targets/auth_{header,cookie,login,forwarded}.rs`, `benches/fuzz-auth.sh`).

use serde::Deserialize;

use crate::AuthError;

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, surrounding spaces
/// ignored); `None` for other schemes or an empty token.
pub fn bearer_token(header: &str) -> Option<&str> {
    let h = header.trim_start();
    let (scheme, rest) = h.split_at(h.find(' ')?);
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let t = rest.trim();
    let clean = !t.is_empty() && !t.chars().any(|c| c.is_whitespace() || c.is_control());
    clean.then_some(t)
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`); the first one wins; quotes
/// around the value are removed.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        if k.trim() != name {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(v);
        (!v.is_empty()).then_some(v)
    })
}

/// A login request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// User name.
    #[serde(alias = "user", alias = "name")]
    pub username: String,
    /// Password.
    pub password: String,
}

/// Parses a login body: JSON `{"username","password"}` or a urlencoded form with the same
/// fields. At most 4 KiB.
pub fn parse_login(body: &[u8]) -> Result<Login, AuthError> {
    if body.len() > 4096 {
        return Err(AuthError::Invalid("the login body is over 4 KiB".into()));
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let login: Login = if first == Some(&b'{') {
        serde_json::from_slice(body).map_err(|e| AuthError::Invalid(format!("login JSON: {e}")))?
    } else {
        let text = std::str::from_utf8(body)
            .map_err(|_| AuthError::Invalid("the login form is not UTF-8".into()))?;
        let (mut user, mut pass) = (None, None);
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = form_decode(v)?;
            match form_decode(k)?.as_str() {
                "username" | "user" | "name" => user = Some(v),
                "password" => pass = Some(v),
                other => return Err(AuthError::Invalid(format!("unknown login field {other:?}"))),
            }
        }
        Login {
            username: user.ok_or_else(|| AuthError::Invalid("username is missing".into()))?,
            password: pass.ok_or_else(|| AuthError::Invalid("password is missing".into()))?,
        }
    };
    if login.username.is_empty() || login.password.is_empty() {
        return Err(AuthError::Invalid(
            "username and password are required".into(),
        ));
    }
    Ok(login)
}

fn form_decode(s: &str) -> Result<String, AuthError> {
    let bad = || AuthError::Invalid("bad %-escape in the login form".into());
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or_else(bad)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(bad());
                }
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| AuthError::Invalid("the login form is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc  "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Bearer a\tb"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token(""), None);
    }

    #[test]
    fn cookies() {
        let h = "theme=dark; osprey_session=abc123; osprey_session=second";
        assert_eq!(cookie_value(h, "osprey_session"), Some("abc123"));
        assert_eq!(
            cookie_value("osprey_session=\"q\"", "osprey_session"),
            Some("q")
        );
        assert_eq!(cookie_value("xosprey_session=1", "osprey_session"), None);
        assert_eq!(cookie_value("osprey_session=", "osprey_session"), None);
        assert_eq!(cookie_value(";;=;", "osprey_session"), None);
    }

    #[test]
    fn logins() {
        let l = parse_login(br#"{"username":"admin","password":"p w"}"#).expect("json");
        assert_eq!((l.username.as_str(), l.password.as_str()), ("admin", "p w"));
        let l = parse_login(b"username=ad%40min&password=p+w%26").expect("form");
        assert_eq!(
            (l.username.as_str(), l.password.as_str()),
            ("ad@min", "p w&")
        );
        for bad in [
            &b"{}"[..],
            b"username=a",
            b"username=a&password=%zz",
            b"username=a&password=%f",
            b"username=a&password=%+A",
            b"{\"username\":\"a\",\"password\":\"\"}",
            b"username=a&password=b&role=admin",
            b"\xff\xfe",
        ] {
            assert!(
                parse_login(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_login(&vec![b'a'; 5000]).is_err());
    }
}
