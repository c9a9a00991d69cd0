//! The `[security]` settings and what the guard shares at run time: the auth database, the audit
//! log, the address rules, the lock-out and key-rate state.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use osprey_auth::{
    constant_time_eq, AccessList, AuditEntry, AuditLog, AuthError, AuthStore, FailureLimiter,
    KeyRates, LimiterConfig, Principal, PrincipalKind, Role,
};
use osprey_base::lock;
use serde::Serialize;

/// A secret that never appears in `Debug` or serialized output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// TLS: where the certificate comes from and the plain-HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// The pair was (or will be) made by Osprey (`--tls-self-signed`).
    pub self_signed: bool,
    /// A plain-HTTP port that redirects to HTTPS (or serves `plain_http` access rules).
    pub redirect_port: Option<u16>,
    /// How often the files are checked for a new certificate.
    pub reload_every: Duration,
}

/// `[security]`: authentication, the audit log, address rules, TLS.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityConfig {
    /// Users, keys and sessions required (`--auth on`, the default).
    pub auth: bool,
    /// The users / keys / sessions / audit database.
    pub auth_db: PathBuf,
    /// How long a browser session lasts.
    pub session_ttl_s: i64,
    /// Audit entries kept this many days.
    pub audit_retention_days: u32,
    /// Lock-out after failed logins or bad keys.
    pub limiter: LimiterConfig,
    /// `[[access]]` rules and `trusted_proxies`.
    pub access: AccessList,
    /// HTTPS.
    pub tls: Option<TlsConfig>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            auth: true,
            auth_db: PathBuf::from("data/auth.sqlite"),
            session_ttl_s: 24 * 3600,
            audit_retention_days: 90,
            limiter: LimiterConfig::default(),
            access: AccessList::default(),
            tls: None,
        }
    }
}

/// Security state shared by the guard and the account routes.
#[derive(Debug)]
pub struct Security {
    /// Authentication on.
    pub auth: bool,
    /// The database (`None` with `--auth off`).
    pub store: Option<AuthStore>,
    /// The audit log (kept with `--auth off` too when a database could be opened).
    pub audit: Option<AuditLog>,
    /// Address rules.
    pub access: AccessList,
    /// `--api-key`: a `detect` + `admin` key, as in earlier releases.
    pub legacy_key: Option<Secret>,
    /// Session length.
    pub session_ttl_s: i64,
    /// Cookies get `Secure` (served over TLS).
    pub secure_cookies: bool,
    limiter: Mutex<FailureLimiter>,
    rates: Mutex<KeyRates>,
    epoch: Instant,
}

/// What `Security::open` reports for the log.
#[derive(Debug)]
pub struct Opened {
    /// The state.
    pub security: Security,
    /// The first admin's generated password, when this start created it.
    pub first_admin_password: Option<String>,
}

impl Security {
    /// Opens the database (creating the first admin with a random password when it has no
    /// user) and starts the audit log.
    pub fn open(cfg: &SecurityConfig, legacy_key: Option<Secret>) -> Result<Opened, AuthError> {
        let mut first_admin_password = None;
        let (store, audit) = if cfg.auth {
            let store = AuthStore::open(&cfg.auth_db)?;
            if store.user_count()? == 0 {
                let pw = osprey_auth::random_token(12)?;
                store.add_user("admin", &pw, Role::Admin)?;
                first_admin_password = Some(pw);
            }
            let audit = AuditLog::start(&store, cfg.audit_retention_days)?;
            (Some(store), Some(audit))
        } else {
            (None, None)
        };
        Ok(Opened {
            security: Security {
                auth: cfg.auth,
                store,
                audit,
                access: cfg.access.clone(),
                legacy_key,
                session_ttl_s: cfg.session_ttl_s,
                secure_cookies: cfg.tls.is_some(),
                limiter: Mutex::new(FailureLimiter::new(cfg.limiter)),
                rates: Mutex::new(KeyRates::default()),
                epoch: Instant::now(),
            },
            first_admin_password,
        })
    }

    /// No authentication, no audit (tests that build an `AppState` by hand; `--auth off`),
    /// with the legacy key when given.
    pub fn disabled(legacy_key: Option<Secret>) -> Security {
        Security {
            auth: false,
            store: None,
            audit: None,
            access: AccessList::default(),
            legacy_key,
            session_ttl_s: 0,
            secure_cookies: false,
            limiter: Mutex::new(FailureLimiter::new(LimiterConfig::default())),
            rates: Mutex::new(KeyRates::default()),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// `Err(retry_after)` while `addr` is locked out.
    pub fn locked(&self, addr: IpAddr) -> Result<(), Duration> {
        lock(&self.limiter).check(addr, self.now())
    }

    /// Counts a failed login or bad key from `addr`.
    pub fn failure(&self, addr: IpAddr) -> Option<Duration> {
        let lockout = lock(&self.limiter).failure(addr, self.now());
        if let Some(d) = lockout {
            tracing::warn!(source = %addr, lockout_s = d.as_secs(), "too many failed sign-ins: address locked out");
        }
        lockout
    }

    /// A successful login from `addr`.
    pub fn success(&self, addr: IpAddr) {
        lock(&self.limiter).success(addr, self.now());
    }

    /// Takes a request from a rate-limited key's bucket.
    pub fn take_rate(&self, p: &Principal) -> Result<(), Duration> {
        match &p.kind {
            PrincipalKind::Key {
                id,
                rate_per_min: Some(r),
            } => lock(&self.rates).take(id, *r, self.now()),
            _ => Ok(()),
        }
    }

    /// The principal of an API key (the legacy `--api-key`, or one from the database).
    pub fn key_principal(&self, key: &str) -> Option<Principal> {
        if let Some(legacy) = &self.legacy_key {
            if constant_time_eq(key.as_bytes(), legacy.0.as_bytes()) {
                return Some(Principal {
                    name: "api-key".into(),
                    role: Role::Admin,
                    kind: PrincipalKind::Legacy,
                });
            }
        }
        let store = self.store.as_ref()?;
        match store.key(key) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "API key lookup failed");
                None
            }
        }
    }

    /// The principal of a session cookie.
    pub fn session_principal(&self, token: &str) -> Option<Principal> {
        match self.store.as_ref()?.session(token) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                None
            }
        }
    }

    /// Whether the detection routes answer without credentials: no `detect` key exists and no
    /// `--api-key` is set.
    pub fn detect_open(&self) -> bool {
        if self.legacy_key.is_some() {
            return false;
        }
        match &self.store {
            Some(s) => !s.has_detect_key().unwrap_or(true),
            None => true,
        }
    }

    /// Who anonymous requests are: with `--auth off` and no `--api-key`, an admin (the
    /// behaviour of earlier releases); otherwise nobody.
    pub fn anonymous(&self) -> Option<Principal> {
        (!self.auth && self.legacy_key.is_none()).then(|| Principal {
            name: "anonymous".into(),
            role: Role::Admin,
            kind: PrincipalKind::Anonymous,
        })
    }

    /// Audits a request (log line + database).
    pub fn audit(
        &self,
        who: Option<&Principal>,
        source: IpAddr,
        method: &str,
        route: &str,
        status: u16,
        detail: String,
    ) {
        let entry = AuditEntry {
            time_ms: (osprey_base::unix_now() * 1000.0) as i64,
            principal: who.map(|p| p.name.clone()),
            role: who.map(|p| p.role.as_str().to_string()),
            source: source.to_string(),
            method: method.to_string(),
            route: route.to_string(),
            status,
            detail,
        };
        match &self.audit {
            Some(a) => a.record(entry),
            None => entry.log(),
        }
    }
}

/// The connection a request came on (inserted by the accept loop).
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The TCP peer.
    pub addr: SocketAddr,
    /// Over TLS.
    pub tls: bool,
}
