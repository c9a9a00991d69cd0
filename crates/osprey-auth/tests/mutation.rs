//! Mutation tests for the parsers of what clients send to authenticate: thousands of corrupted
//! variants of valid `Authorization` and `Cookie` headers, login bodies (JSON and form) and
//! `X-Forwarded-For` headers must never panic, and what comes back must keep each parser's
//! promise. (Coverage-guided fuzz targets for the same parsers live in `fuzz/`: `auth_*`.)

use std::net::IpAddr;

use osprey_auth::{bearer_token, client_addr, cookie_value, parse_login, parse_net, Login};
use osprey_testkit::fixtures::{mutate, Rng};

/// Mutations per seed.
const PER_SEED: usize = 20_000;

/// `mutate`'s edits, then (half the time) one of the tokens these parsers split on.
fn mutate_auth(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = mutate(rng, seed);
    if rng.below(2) == 0 {
        let tok: &[u8] = [
            &b" "[..],
            b"\t",
            "\u{a0}".as_bytes(),
            b"=",
            b";",
            b"&",
            b"%",
            b"%2",
            b"%e9",
            b"+",
            b",",
            b"\"",
            b"{",
            b"}",
            b":",
            b"\\u0000",
            b"Bearer ",
            b"::ffff:",
            b"10.0.0.",
            b"osprey_session=",
            b"username=",
            b"password=",
        ][rng.below(22)];
        let i = rng.below(v.len() + 1);
        v.splice(i..i, tok.iter().copied());
    }
    v
}

/// Whether `part` is a slice of `whole`'s memory.
fn inside(part: &str, whole: &str) -> bool {
    let (start, end) = (
        whole.as_ptr() as usize,
        whole.as_ptr() as usize + whole.len(),
    );
    let p = part.as_ptr() as usize;
    p >= start && p + part.len() <= end
}

/// Every text of a mutated input: itself when it is UTF-8, and its lossy decoding.
fn texts(input: &[u8]) -> Vec<String> {
    let mut out = vec![String::from_utf8_lossy(input).into_owned()];
    if let Ok(s) = std::str::from_utf8(input) {
        if s != out[0] {
            out.push(s.to_owned());
        }
    }
    out
}

#[test]
fn bearer_tokens_are_non_empty_space_free_slices_of_the_header() {
    let seeds: [&[u8]; 6] = [
        b"Bearer abc",
        b"bearer   osp_0123456789abcdef0123456789abcdef  ",
        b"  BEARER tok.en-_~+/=",
        b"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        b"Basic dXNlcjpwYXNz",
        b"Bearer a b",
    ];
    let mut rng = Rng(0x243F_6A88_85A3_08D3);
    let mut tokens = 0;
    for seed in seeds {
        for _ in 0..PER_SEED {
            for header in texts(&mutate_auth(&mut rng, seed)) {
                let Some(token) = bearer_token(&header) else {
                    continue;
                };
                tokens += 1;
                assert!(!token.is_empty(), "empty token from {header:?}");
                assert!(
                    !token.chars().any(|c| c.is_whitespace() || c.is_control()),
                    "token with a space or control character from {header:?}"
                );
                assert!(inside(token, &header), "token outside {header:?}");
                assert!(
                    header
                        .trim_start()
                        .get(..7)
                        .is_some_and(|s| s.eq_ignore_ascii_case("bearer ")),
                    "token from a header of another scheme: {header:?}"
                );
                assert_eq!(bearer_token(&format!("Bearer {token}")), Some(token));
            }
        }
    }
    assert!(
        tokens > 10_000,
        "mutations should still carry a token often ({tokens})"
    );
}

#[test]
fn cookie_values_are_non_empty_slices_of_the_header_without_semicolons() {
    let seeds: [&[u8]; 5] = [
        b"theme=dark; osprey_session=abc123; osprey_session=second",
        b"osprey_session=\"q\"",
        b"a=1;osprey_session= v ;b",
        b"osprey_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        b";;=;osprey_session=",
    ];
    let names = ["osprey_session", "theme", "a", "", " osprey_session"];
    let mut rng = Rng(0x1319_8A2E_0370_7344);
    let mut values = 0;
    for seed in seeds {
        for _ in 0..PER_SEED {
            let name = names[rng.below(names.len())];
            for header in texts(&mutate_auth(&mut rng, seed)) {
                let Some(v) = cookie_value(&header, name) else {
                    continue;
                };
                values += 1;
                assert!(!v.is_empty(), "empty value of {name:?} in {header:?}");
                assert!(!v.contains(';'), "value with ';' of {name:?} in {header:?}");
                assert!(inside(v, &header), "value outside {header:?}");
            }
        }
    }
    assert!(
        values > 5_000,
        "mutations should still carry a cookie often ({values})"
    );
}

const LOGIN_SEEDS: [&[u8]; 8] = [
    br#"{"username":"admin","password":"p w"}"#,
    br#" {"user":"op","password":"s3cr\u00e9t\"x"}"#,
    b"{\n  \"password\": \"hunter2\",\n  \"name\": \"viewer\"\n}\n",
    br#"{"username":"a","password":""}"#,
    b"username=ad%40min&password=p+w%26",
    b"name=viewer&password=x",
    b"&password=%C3%A9t%C3%A9&&user=b&",
    b"username=a&password=b&role=admin",
];

#[test]
fn login_bodies_give_non_empty_credentials_or_an_error() {
    let mut rng = Rng(0xA409_3822_299F_31D0);
    let (mut oks, mut json_oks) = (0, 0);
    for seed in LOGIN_SEEDS {
        for _ in 0..PER_SEED {
            let body = mutate_auth(&mut rng, seed);
            if let Ok(login) = parse_login(&body) {
                oks += 1;
                json_oks += usize::from(body.trim_ascii_start().starts_with(b"{"));
                assert!(
                    !login.username.is_empty() && !login.password.is_empty(),
                    "{:?} from {:?}",
                    login,
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }
    assert!(oks > 2_000, "mutations should still parse often ({oks})");
    assert!(
        json_oks > 400,
        "mutated JSON should still parse ({json_oks})"
    );
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn form_string(s: &str, plus: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b' ' if plus => "+".to_owned(),
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn any_credentials_round_trip_through_json_and_form() {
    let mut rng = Rng(0x0827_EFA9_8EC4_E6C8);
    let mut checked = 0;
    for seed in LOGIN_SEEDS {
        for _ in 0..PER_SEED {
            // A mutated body, split in two at a random byte: the username and the password.
            let raw = mutate_auth(&mut rng, seed);
            let at = rng.below(raw.len() + 1);
            let username = String::from_utf8_lossy(&raw[..at]).into_owned();
            let password = String::from_utf8_lossy(&raw[at..]).into_owned();
            let user_key = ["username", "user", "name"][rng.below(3)];
            let valid = !username.is_empty() && !password.is_empty();
            let want = Login {
                username: username.clone(),
                password: password.clone(),
            };
            let (u, p) = (json_string(&username), json_string(&password));
            let json = if rng.below(2) == 0 {
                format!("{{\"{user_key}\":{u},\"password\":{p}}}")
            } else {
                format!(" \n{{ \"password\" : {p} , \"{user_key}\" : {u} }}")
            };
            let plus = rng.below(2) == 0;
            let (u, p) = (form_string(&username, plus), form_string(&password, plus));
            let form = if rng.below(2) == 0 {
                format!("{user_key}={u}&password={p}")
            } else {
                format!("&password={p}&&{user_key}={u}&")
            };
            for body in [json, form] {
                match parse_login(body.as_bytes()) {
                    Ok(login) => assert_eq!(login, want, "{body:?}"),
                    Err(e) => assert!(!valid || body.len() > 4096, "{body:?}: {e}"),
                }
            }
            checked += usize::from(valid);
        }
    }
    assert!(checked > 100_000, "few valid credentials ({checked})");
}

fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[test]
fn forwarded_client_is_the_peer_or_one_of_the_hops() {
    let trusted: Vec<_> = ["10.0.0.0/8", "192.168.0.0/16", "::1", "fd00::/8"]
        .iter()
        .map(|s| parse_net(s).expect("trusted net"))
        .collect();
    let is_trusted = |a: IpAddr| trusted.iter().any(|n| n.contains(&a));
    let peers: Vec<IpAddr> = [
        "10.0.0.2",
        "192.168.7.1",
        "::1",
        "fd00::5",
        "::ffff:10.1.2.3",
        "203.0.113.9",
        "2001:db8::1",
        "::ffff:192.0.2.1",
    ]
    .iter()
    .map(|s| s.parse().expect("peer"))
    .collect();
    let seeds: [&[u8]; 6] = [
        b"6.6.6.6, 1.2.3.4, 10.0.0.7",
        b"2001:db8::1,::ffff:10.0.0.1",
        b" 203.0.113.5 ",
        b"1.2.3.4, junk, 10.0.0.9",
        b"fd00::1, ::1, 192.168.1.1",
        b"198.51.100.7,10.0.0.1,10.0.0.2,10.0.0.3",
    ];
    let mut rng = Rng(0x4528_21E6_38D0_1377);
    let mut from_hops = 0;
    for seed in seeds {
        for _ in 0..PER_SEED {
            let peer = peers[rng.below(peers.len())];
            let header = String::from_utf8_lossy(&mutate_auth(&mut rng, seed)).into_owned();
            assert_eq!(client_addr(&trusted, peer, None), canonical(peer));
            let got = client_addr(&trusted, peer, Some(&header));
            if !is_trusted(canonical(peer)) {
                assert_eq!(got, canonical(peer), "untrusted peer believed: {header:?}");
            }
            if got == canonical(peer) {
                continue;
            }
            from_hops += 1;
            assert!(
                header
                    .split(',')
                    .filter_map(|h| h.trim().parse::<IpAddr>().ok())
                    .any(|a| canonical(a) == got),
                "{got} is neither the peer {peer} nor a hop of {header:?}"
            );
        }
    }
    assert!(
        from_hops > 10_000,
        "mutations should still name clients often ({from_hops})"
    );
}
