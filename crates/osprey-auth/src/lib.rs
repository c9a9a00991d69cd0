//! Who may do what: the security core of Osprey, free of HTTP.
//!
//! * [`Role`]s (`viewer` < `operator` < `admin`, and `detect` beside them) and the [`Policy`]
//!   each route declares; [`Role::allows`] is the one decision.
//! * [`AuthStore`]: users (Argon2id password hashes), API keys and server-side sessions (both
//!   stored only as SHA-256 hashes of 256-bit random tokens), in SQLite with a schema version.
//! * [`AccessList`]: `[[access]]` rules (CIDRs per role, what anonymous clients may do from
//!   there) and `trusted_proxies` for `X-Forwarded-For`.
//! * [`FailureLimiter`] (lock-out after failed logins or bad keys, per source address) and
//!   [`KeyRates`] (an optional request rate per key), pure and clock-driven.
//! * [`AuditLog`]: every write and every refusal, in SQLite on the `osprey-audit` thread.

mod access;
mod audit;
mod error;
mod limiter;
mod parse;
mod principal;
mod role;
mod secret;
mod store;

pub use access::{client_addr, parse_net, AccessList, AccessRule, Verdict};
pub use audit::{AuditEntry, AuditLog, AuditQuery};
pub use error::AuthError;
pub use limiter::{FailureLimiter, KeyRates, LimiterConfig};
pub use parse::{bearer_token, cookie_value, parse_login, Login};
pub use role::{Policy, Role};
pub use secret::{constant_time_eq, hash_password, random_token, sha256_hex, verify_password};
pub use store::{
    AuthStore, KeyInfo, NewKey, Principal, PrincipalKind, SessionInfo, UserInfo, SCHEMA_VERSION,
};
