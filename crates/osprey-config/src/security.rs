//! `[security]` (authentication, the audit log, lock-outs, proxies, TLS) and `[[access]]`
//! (the address allowlist), resolved into osprey-api's [`SecurityConfig`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use osprey_api::{SecurityConfig, TlsConfig};
use osprey_auth::{parse_net, AccessList, AccessRule, LimiterConfig};
use serde::{Deserialize, Serialize};

/// The `[security]` table; every field optional so layers merge field by field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Users, keys and sessions required (default true; `--auth off`).
    pub auth: Option<bool>,
    /// The users / keys / sessions / audit database (default: `auth.sqlite` beside the events
    /// database).
    pub auth_db: Option<PathBuf>,
    /// Browser session length in hours (default 24).
    pub session_hours: Option<f64>,
    /// Audit log retention in days (default 90).
    pub audit_retention_days: Option<u32>,
    /// Failed logins / bad keys from one address before it is locked out (default 5 in 5 min).
    pub max_login_failures: Option<u32>,
    /// Lock-out length in seconds (default 300).
    pub lockout_s: Option<u64>,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDRs).
    pub trusted_proxies: Option<Vec<String>>,
    /// PEM certificate chain: serve HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Make and keep a self-signed certificate (beside the auth database unless paths given).
    pub tls_self_signed: Option<bool>,
    /// Plain-HTTP port that redirects to HTTPS.
    pub tls_redirect_port: Option<u16>,
    /// How often the certificate files are checked for changes, in seconds (default 10).
    pub tls_reload_s: Option<u64>,
}

macro_rules! layer {
    ($base:ident, $top:ident, $($f:ident),*) => {
        SecuritySettings { $($f: $top.$f.or($base.$f)),* }
    };
}

impl SecuritySettings {
    /// `top` over `base`, field by field.
    pub fn layer(base: Option<Self>, top: Option<Self>) -> Option<Self> {
        match (base, top) {
            (None, t) => t,
            (b, None) => b,
            (Some(b), Some(t)) => Some(layer!(
                b,
                t,
                auth,
                auth_db,
                session_hours,
                audit_retention_days,
                max_login_failures,
                lockout_s,
                trusted_proxies,
                tls_cert,
                tls_key,
                tls_self_signed,
                tls_redirect_port,
                tls_reload_s
            )),
        }
    }

    /// The effective settings; problems are appended.
    pub fn resolve(
        self,
        access: Vec<AccessRule>,
        events_db: &Path,
        problems: &mut Vec<String>,
    ) -> SecurityConfig {
        let d = SecurityConfig::default();
        let auth_db = self
            .auth_db
            .clone()
            .unwrap_or_else(|| events_db.with_file_name("auth.sqlite"));
        let mut trusted_proxies = Vec::new();
        for p in self.trusted_proxies.clone().unwrap_or_default() {
            match parse_net(&p) {
                Ok(n) => trusted_proxies.push(n),
                Err(e) => problems.push(format!("security.trusted_proxies: {e}")),
            }
        }
        let access = AccessList {
            rules: access,
            trusted_proxies,
        };
        problems.extend(access.validate());
        let session_hours = self.session_hours.unwrap_or(24.0);
        if !(session_hours > 0.0 && session_hours <= 24.0 * 365.0) {
            problems.push(format!(
                "security.session_hours {session_hours} must be in (0, 8760]"
            ));
        }
        let max_failures = self.max_login_failures.unwrap_or(d.limiter.max_failures);
        if max_failures == 0 {
            problems.push("security.max_login_failures must be at least 1".into());
        }
        let tls = tls(&self, &auth_db, problems);
        SecurityConfig {
            auth: self.auth.unwrap_or(true),
            auth_db,
            session_ttl_s: (session_hours * 3600.0) as i64,
            audit_retention_days: self.audit_retention_days.unwrap_or(d.audit_retention_days),
            limiter: LimiterConfig {
                max_failures,
                window: d.limiter.window,
                lockout: self
                    .lockout_s
                    .map(Duration::from_secs)
                    .unwrap_or(d.limiter.lockout),
            },
            access,
            tls,
        }
    }
}

fn tls(s: &SecuritySettings, auth_db: &Path, problems: &mut Vec<String>) -> Option<TlsConfig> {
    let self_signed = s.tls_self_signed.unwrap_or(false);
    let dir = auth_db
        .parent()
        .map(|d| d.join("tls"))
        .unwrap_or_else(|| PathBuf::from("tls"));
    let (cert, key) = match (&s.tls_cert, &s.tls_key, self_signed) {
        (Some(c), Some(k), _) => (c.clone(), k.clone()),
        (None, None, true) => (dir.join("self-signed.crt"), dir.join("self-signed.key")),
        (None, None, false) => {
            if s.tls_redirect_port.is_some() {
                problems.push(
                    "security.tls_redirect_port needs TLS (tls_cert + tls_key, or tls_self_signed)"
                        .into(),
                );
            }
            return None;
        }
        _ => {
            problems.push("TLS needs both tls_cert and tls_key (or tls_self_signed alone)".into());
            return None;
        }
    };
    if !self_signed {
        for p in [&cert, &key] {
            if !p.exists() {
                problems.push(format!("{} does not exist", p.display()));
            }
        }
    }
    Some(TlsConfig {
        cert,
        key,
        self_signed,
        redirect_port: s.tls_redirect_port,
        reload_every: Duration::from_secs(s.tls_reload_s.unwrap_or(10).max(1)),
    })
}

/// `on`/`off`, or any boolean [`crate::flags::parse_bool`] takes.
pub fn parse_on_off(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" => Some(true),
        "off" => Some(false),
        other => crate::flags::parse_bool("auth", other).ok(),
    }
}

/// Config files that hold secrets (API keys, passwords, tokens) and can be read by other users.
pub fn loose_permissions(path: &Path, text: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    let secretive = ["api_key", "password", "token", "secret"]
        .iter()
        .any(|k| text.contains(k));
    (secretive && mode & 0o077 != 0).then(|| {
        format!(
            "{} holds secrets but is readable by other users (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_merge_field_by_field_and_resolve() {
        let file = SecuritySettings {
            auth_db: Some("/x/auth.sqlite".into()),
            tls_self_signed: Some(true),
            ..Default::default()
        };
        let flags = SecuritySettings {
            auth: Some(false),
            ..Default::default()
        };
        let s = SecuritySettings::layer(Some(file), Some(flags)).expect("some");
        assert_eq!(s.auth, Some(false));
        let mut problems = Vec::new();
        let cfg = s.resolve(vec![], Path::new("data/events.sqlite"), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(!cfg.auth);
        let tls = cfg.tls.expect("tls");
        assert_eq!(tls.cert, PathBuf::from("/x/tls/self-signed.crt"));
        let mut problems = Vec::new();
        let bad = SecuritySettings {
            tls_cert: Some("c.pem".into()),
            trusted_proxies: Some(vec!["10.0.0.0/33".into()]),
            session_hours: Some(0.0),
            ..Default::default()
        };
        let cfg = bad.resolve(vec![], Path::new("data/events.sqlite"), &mut problems);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(cfg.auth_db, PathBuf::from("data/auth.sqlite"));
    }
}
