//! `X-Forwarded-For` handling: any header text and peer; the client address is the peer or one
//! of the comma-separated hops, and an untrusted peer's header is ignored.
#![no_main]
use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use osprey_auth::{client_addr, parse_net};

const PEERS: [&str; 8] = [
    "10.0.0.2",         // trusted
    "192.168.7.1",      // trusted
    "::1",              // trusted
    "fd00::5",          // trusted
    "::ffff:10.1.2.3",  // trusted once mapped to IPv4
    "203.0.113.9",      // untrusted
    "2001:db8::1",      // untrusted
    "::ffff:192.0.2.1", // untrusted
];

fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}

fuzz_target!(|data: &[u8]| {
    let trusted: Vec<_> = ["10.0.0.0/8", "192.168.0.0/16", "::1", "fd00::/8"]
        .iter()
        .map(|s| parse_net(s).expect("trusted net"))
        .collect();
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let peer: IpAddr = PEERS[sel as usize % PEERS.len()].parse().expect("peer");
    let header = String::from_utf8_lossy(rest);
    let is_trusted = |a: IpAddr| trusted.iter().any(|n| n.contains(&a));

    assert_eq!(client_addr(&trusted, peer, None), canonical(peer));
    let got = client_addr(&trusted, peer, Some(&header));
    if !is_trusted(canonical(peer)) {
        assert_eq!(
            got,
            canonical(peer),
            "untrusted peer's header believed: {header:?}"
        );
    }
    let from_hop = header
        .split(',')
        .filter_map(|h| h.trim().parse::<IpAddr>().ok())
        .any(|a| canonical(a) == got);
    assert!(
        got == canonical(peer) || from_hop,
        "{got} is neither the peer nor a hop of {header:?}"
    );
});
