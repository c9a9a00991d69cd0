//! The address allowlist ("firewall"): `[[access]]` rules of CIDRs per role, what anonymous
//! clients may do from those addresses, and which proxies' `X-Forwarded-For` to believe.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::{Policy, Role};

/// One `[[access]]` rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    /// The client networks this rule is about (`192.168.1.0/24`, `10.0.0.7`, `::1`).
    #[serde(deserialize_with = "nets")]
    pub cidrs: Vec<IpNet>,
    /// Roles that may sign in from here (default: every role).
    #[serde(default = "all_roles")]
    pub roles: Vec<Role>,
    /// What clients without credentials may do from here: `detect`, `metrics`, `view`.
    #[serde(default)]
    pub anonymous: Vec<Policy>,
    /// Served over plain HTTP on the redirect listener instead of being sent to HTTPS (a LAN
    /// client that cannot do TLS, such as an older Home Assistant integration).
    #[serde(default)]
    pub plain_http: bool,
}

fn all_roles() -> Vec<Role> {
    Role::ALL.to_vec()
}

fn nets<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    let raw: Vec<String> = Vec::deserialize(d)?;
    raw.iter()
        .map(|s| parse_net(s).map_err(serde::de::Error::custom))
        .collect()
}

/// Parses `a.b.c.d/n`, `::/0`, or a bare address (a /32 or /128).
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not an address or CIDR network (e.g. 192.168.1.0/24)"))
}

/// The rules and the trusted proxies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccessList {
    /// `[[access]]`; empty: every address may do what its credentials allow.
    pub rules: Vec<AccessRule>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

/// What the rules say about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Some rule matches (or there are no rules).
    pub known: bool,
    /// Roles that may sign in from here.
    pub roles: Vec<Role>,
    /// What anonymous clients may do from here.
    pub anonymous: Vec<Policy>,
    /// Plain HTTP allowed from here.
    pub plain_http: bool,
}

impl AccessList {
    /// Checks the rules for problems a human must fix.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            if r.cidrs.is_empty() {
                problems.push(format!("access rule {}: cidrs is empty", i + 1));
            }
            for p in &r.anonymous {
                if !matches!(p, Policy::Detect | Policy::Metrics | Policy::View) {
                    problems.push(format!(
                        "access rule {}: anonymous may list detect, metrics or view, not {}",
                        i + 1,
                        p.as_str()
                    ));
                }
            }
        }
        problems
    }

    /// The union of the rules matching `addr`.
    pub fn verdict(&self, addr: IpAddr) -> Verdict {
        let addr = canonical(addr);
        if self.rules.is_empty() {
            return Verdict {
                known: true,
                roles: Role::ALL.to_vec(),
                anonymous: Vec::new(),
                plain_http: false,
            };
        }
        let mut v = Verdict {
            known: false,
            roles: Vec::new(),
            anonymous: Vec::new(),
            plain_http: false,
        };
        for r in self
            .rules
            .iter()
            .filter(|r| r.cidrs.iter().any(|n| n.contains(&addr)))
        {
            v.known = true;
            v.plain_http |= r.plain_http;
            for role in &r.roles {
                if !v.roles.contains(role) {
                    v.roles.push(*role);
                }
            }
            for p in &r.anonymous {
                if !v.anonymous.contains(p) {
                    v.anonymous.push(*p);
                }
            }
        }
        v
    }

    /// The client's address: the peer, or — when the peer is a trusted proxy — the rightmost
    /// `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        client_addr(&self.trusted_proxies, peer, forwarded_for)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, from dual-stack sockets) as IPv4.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}

/// See [`AccessList::client`]. Entries that do not parse end the walk (the last good hop wins),
/// so a client cannot forge its address by appending garbage.
pub fn client_addr(trusted: &[IpNet], peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
    let peer = canonical(peer);
    let trusted_addr = |a: &IpAddr| trusted.iter().any(|n| n.contains(a));
    if !trusted_addr(&peer) {
        return peer;
    }
    let Some(xff) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in xff.rsplit(',') {
        let Ok(a) = hop.trim().parse::<IpAddr>().map(canonical) else {
            break;
        };
        client = a;
        if !trusted_addr(&a) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = vec![parse_net("10.0.0.0/8").expect("net")];
        let list = AccessList {
            rules: vec![],
            trusted_proxies: trusted,
        };
        // Untrusted peer: its header is ignored.
        assert_eq!(
            list.client(ip("192.0.2.9"), Some("1.2.3.4")),
            ip("192.0.2.9")
        );
        // Trusted peer: the rightmost untrusted hop.
        assert_eq!(
            list.client(ip("10.0.0.2"), Some("6.6.6.6, 1.2.3.4, 10.0.0.7")),
            ip("1.2.3.4")
        );
        assert_eq!(list.client(ip("10.0.0.2"), None), ip("10.0.0.2"));
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            list.client(ip("10.0.0.2"), Some("1.2.3.4, junk")),
            ip("10.0.0.2")
        );
        assert_eq!(
            list.client(ip("::ffff:10.0.0.2"), Some("1.2.3.4")),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn rules_union_per_address() {
        let rules: Vec<AccessRule> = serde_json::from_str(
            r#"[{"cidrs":["192.168.1.0/24"],"roles":["admin","viewer"]},
                {"cidrs":["192.168.1.10"],"roles":["detect"],"anonymous":["detect","metrics"],"plain_http":true}]"#,
        )
        .expect("rules");
        let list = AccessList {
            rules,
            trusted_proxies: vec![],
        };
        assert!(list.validate().is_empty());
        let v = list.verdict(ip("192.168.1.10"));
        assert!(v.known && v.plain_http);
        assert_eq!(v.roles, vec![Role::Admin, Role::Viewer, Role::Detect]);
        assert_eq!(v.anonymous, vec![Policy::Detect, Policy::Metrics]);
        let v = list.verdict(ip("192.168.1.11"));
        assert!(v.known && !v.plain_http && v.anonymous.is_empty());
        assert!(!list.verdict(ip("10.1.1.1")).known);
        assert!(list.verdict(ip("::ffff:192.168.1.10")).plain_http);
        assert!(serde_json::from_str::<AccessRule>(r#"{"cidrs":["300.1.1.1/8"]}"#).is_err());
        let bad: AccessRule =
            serde_json::from_str(r#"{"cidrs":[],"anonymous":["admin"]}"#).expect("parse");
        assert_eq!(
            AccessList {
                rules: vec![bad],
                trusted_proxies: vec![]
            }
            .validate()
            .len(),
            2
        );
    }
}
