//! Who is asking, and what the store lists: users, keys, sessions (never a secret in clear,
//! except the one [`NewKey`] answer).

use serde::Serialize;

use crate::Role;

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A browser session (cookie); writes need its CSRF token.
    Session {
        /// The session's CSRF token.
        #[serde(skip)]
        csrf: String,
        /// The session's digest (its id in the store).
        #[serde(skip)]
        id: String,
    },
    /// An API key.
    Key {
        /// The key's id.
        id: String,
        /// Requests a minute allowed, when limited.
        #[serde(skip)]
        rate_per_min: Option<u32>,
    },
    /// The `--api-key` of earlier releases: admin, and detect.
    Legacy,
    /// No credentials, let in by configuration (`--auth off`, an `[[access]]` rule).
    Anonymous,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// User or key name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// How it signed in.
    #[serde(flatten)]
    pub kind: PrincipalKind,
}

/// A user as listed (no hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Created, unix seconds.
    pub created: i64,
    /// Last successful login, unix seconds.
    pub last_login: Option<i64>,
}

/// An API key as listed (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// The key's id (also the visible prefix `osk_<id>`).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Role.
    pub role: Role,
    /// `osk_<id>`: the start of the key, to recognise it.
    pub prefix: String,
    /// Created, unix seconds.
    pub created: i64,
    /// Expiry, unix seconds.
    pub expires: Option<i64>,
    /// Last use, unix seconds (updated at most once a minute).
    pub last_used: Option<i64>,
    /// Requests a minute allowed.
    pub rate_per_min: Option<u32>,
}

/// A key just created: the only time its secret exists outside the client.
#[derive(Debug, Clone, Serialize)]
pub struct NewKey {
    /// The listing.
    #[serde(flatten)]
    pub info: KeyInfo,
    /// The key itself, `osk_<id>_<64 hex>`.
    pub key: String,
}

/// A session just created.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The cookie's value.
    pub token: String,
    /// The CSRF token writes must send.
    pub csrf: String,
    /// Expiry, unix seconds.
    pub expires: i64,
    /// Who.
    pub user: UserInfo,
}
