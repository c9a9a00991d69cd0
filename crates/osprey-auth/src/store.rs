//! Users, API keys and sessions in SQLite. Passwords are kept as Argon2id PHC strings; keys and
//! session tokens (256 random bits each) only as SHA-256 digests, so a copy of the database
//! opens nothing. One connection behind a mutex: every query is a primary-key lookup.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use osprey_base::{lock, Clock, RealClock};
use rusqlite::{params, Connection, OptionalExtension};

pub use crate::principal::{KeyInfo, NewKey, Principal, PrincipalKind, SessionInfo, UserInfo};
use crate::secret::{hash_password, random_token, sha256_hex, verify_password};
use crate::{AuthError, Role};

/// The schema this build writes; older databases are migrated forward at open.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS users(
  name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL,
  created INTEGER NOT NULL, last_login INTEGER);
CREATE TABLE IF NOT EXISTS keys(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
  created INTEGER NOT NULL, expires INTEGER, last_used INTEGER, rate_per_min INTEGER);
CREATE TABLE IF NOT EXISTS sessions(
  hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
  created INTEGER NOT NULL, expires INTEGER NOT NULL, source TEXT);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user);
CREATE TABLE IF NOT EXISTS audit(
  id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, principal TEXT, role TEXT, source TEXT,
  method TEXT, route TEXT, status INTEGER, detail TEXT);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ms);
";

/// The users, keys and sessions database.
#[derive(Debug, Clone)]
pub struct AuthStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    conn: Mutex<Connection>,
    path: PathBuf,
    clock: Arc<dyn Clock>,
}

fn valid_name(what: &str, name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "{what} {name:?} must be 1-64 characters of letters, digits, '.', '_', '-', '@'"
        )))
    }
}

/// The password rule: 8 to 1024 characters.
fn valid_password(p: &str) -> Result<(), AuthError> {
    if p.chars().count() < 8 || p.len() > 1024 {
        return Err(AuthError::Invalid(
            "a password needs 8 to 1024 characters".into(),
        ));
    }
    Ok(())
}

impl AuthStore {
    /// Opens (creating) the database at `path`, migrating it to [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<AuthStore, AuthError> {
        Self::open_with_clock(path, Arc::new(RealClock::default()))
    }

    /// [`AuthStore::open`] with an injected clock (tests).
    pub fn open_with_clock(path: &Path, clock: Arc<dyn Clock>) -> Result<AuthStore, AuthError> {
        let db = |source| AuthError::Db {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| AuthError::Invalid(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(db)?;
        restrict_permissions(path);
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        if version > SCHEMA_VERSION {
            return Err(AuthError::NewerSchema {
                path: path.display().to_string(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            conn.execute_batch(SCHEMA_V1).map_err(db)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(db)?;
        }
        Ok(AuthStore {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                path: path.to_path_buf(),
                clock,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn now(&self) -> i64 {
        self.inner.clock.unix() as i64
    }

    fn db(&self, source: rusqlite::Error) -> AuthError {
        AuthError::Db {
            path: self.inner.path.display().to_string(),
            source,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, AuthError> {
        let conn = lock(&self.inner.conn);
        f(&conn).map_err(|e| self.db(e))
    }

    /// Adds a user.
    pub fn add_user(&self, name: &str, password: &str, role: Role) -> Result<UserInfo, AuthError> {
        valid_name("user name", name)?;
        valid_password(password)?;
        let hash = hash_password(password)?;
        let now = self.now();
        let n = self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO users(name, role, hash, created) VALUES (?1, ?2, ?3, ?4)",
                params![name, role.as_str(), hash, now],
            )
        })?;
        if n == 0 {
            return Err(AuthError::Exists(format!("user {name:?} exists already")));
        }
        Ok(UserInfo {
            name: name.into(),
            role,
            created: now,
            last_login: None,
        })
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserInfo>, AuthError> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT name, role, created, last_login FROM users ORDER BY name")?;
            let rows = st.query_map([], |r| {
                Ok(UserInfo {
                    name: r.get(0)?,
                    role: parse_role(&r.get::<_, String>(1)?),
                    created: r.get(2)?,
                    last_login: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// How many users there are.
    pub fn user_count(&self) -> Result<u64, AuthError> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0)))
            .map(|n| n.max(0) as u64)
    }

    /// Refuses a change that would leave no admin (nobody could manage users any more).
    fn keep_an_admin(&self, name: &str) -> Result<(), AuthError> {
        let (is_admin, admins) = self.with(|c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM users WHERE name = ?1 AND role = 'admin'),
                        (SELECT COUNT(*) FROM users WHERE role = 'admin')",
                [name],
                |r| Ok((r.get::<_, bool>(0)?, r.get::<_, i64>(1)?)),
            )
        })?;
        if is_admin && admins <= 1 {
            return Err(AuthError::Invalid(format!(
                "{name:?} is the last admin: make another admin first"
            )));
        }
        Ok(())
    }

    /// Removes a user and ends their sessions (never the last admin).
    pub fn remove_user(&self, name: &str) -> Result<(), AuthError> {
        self.keep_an_admin(name)?;
        let n = self.with(|c| {
            c.execute("DELETE FROM sessions WHERE user = ?1", [name])?;
            c.execute("DELETE FROM users WHERE name = ?1", [name])
        })?;
        if n == 0 {
            return Err(AuthError::NotFound(format!("no user {name:?}")));
        }
        Ok(())
    }

    /// Changes a user's password (ending their other sessions) and/or role.
    pub fn update_user(
        &self,
        name: &str,
        password: Option<&str>,
        role: Option<Role>,
    ) -> Result<(), AuthError> {
        if role.is_some_and(|r| r != Role::Admin) {
            self.keep_an_admin(name)?;
        }
        let hash = match password {
            Some(p) => {
                valid_password(p)?;
                Some(hash_password(p)?)
            }
            None => None,
        };
        let n = self.with(|c| {
            let mut n = c.query_row("SELECT COUNT(*) FROM users WHERE name = ?1", [name], |r| {
                r.get::<_, i64>(0)
            })?;
            if let Some(h) = &hash {
                n = c.execute(
                    "UPDATE users SET hash = ?2 WHERE name = ?1",
                    params![name, h],
                )? as i64;
                c.execute("DELETE FROM sessions WHERE user = ?1", [name])?;
            }
            if let Some(r) = role {
                n = c.execute(
                    "UPDATE users SET role = ?2 WHERE name = ?1",
                    params![name, r.as_str()],
                )? as i64;
            }
            Ok(n)
        })?;
        if n == 0 {
            return Err(AuthError::NotFound(format!("no user {name:?}")));
        }
        Ok(())
    }

    /// Checks a user name and password (Argon2id: ~40 ms; call it off the async runtime).
    /// Unknown users cost the same time as known ones.
    pub fn verify_login(&self, name: &str, password: &str) -> Result<Option<UserInfo>, AuthError> {
        let row = self.with(|c| {
            c.query_row(
                "SELECT role, hash, created, last_login FROM users WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                },
            )
            .optional()
        })?;
        let Some((role, hash, created, last_login)) = row else {
            // Same work as a real check, so timing does not tell which names exist.
            let _ = verify_password(password, DUMMY_HASH);
            return Ok(None);
        };
        if !verify_password(password, &hash) {
            return Ok(None);
        }
        Ok(Some(UserInfo {
            name: name.into(),
            role: parse_role(&role),
            created,
            last_login,
        }))
    }

    /// Starts a session for `user`, valid for `ttl_s`.
    pub fn create_session(
        &self,
        user: &UserInfo,
        ttl_s: i64,
        source: &str,
    ) -> Result<SessionInfo, AuthError> {
        let token = random_token(32)?;
        let csrf = random_token(32)?;
        let now = self.now();
        let expires = now + ttl_s;
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE expires <= ?1", [now])?;
            c.execute(
                "INSERT INTO sessions(hash, user, csrf, created, expires, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![sha256_hex(&token), user.name, csrf, now, expires, source],
            )?;
            c.execute("UPDATE users SET last_login = ?2 WHERE name = ?1", params![user.name, now])
        })?;
        Ok(SessionInfo {
            token,
            csrf,
            expires,
            user: user.clone(),
        })
    }

    /// The principal of a session cookie, if the session exists, has not expired and its user
    /// still exists (with the user's current role).
    pub fn session(&self, token: &str) -> Result<Option<Principal>, AuthError> {
        let id = sha256_hex(token);
        let now = self.now();
        self.with(|c| {
            c.query_row(
                "SELECT s.user, u.role, s.csrf FROM sessions s JOIN users u ON u.name = s.user
                 WHERE s.hash = ?1 AND s.expires > ?2",
                params![id, now],
                |r| {
                    Ok(Principal {
                        name: r.get(0)?,
                        role: parse_role(&r.get::<_, String>(1)?),
                        kind: PrincipalKind::Session {
                            csrf: r.get(2)?,
                            id: id.clone(),
                        },
                    })
                },
            )
            .optional()
        })
    }

    /// Ends a session (by its digest, [`PrincipalKind::Session::id`]).
    pub fn end_session(&self, id: &str) -> Result<(), AuthError> {
        self.with(|c| c.execute("DELETE FROM sessions WHERE hash = ?1", [id]))
            .map(|_| ())
    }

    /// Creates an API key; the secret is returned once and stored only as its digest.
    pub fn create_key(
        &self,
        name: &str,
        role: Role,
        expires_in_s: Option<i64>,
        rate_per_min: Option<u32>,
    ) -> Result<NewKey, AuthError> {
        valid_name("key name", name)?;
        if let Some(s) = expires_in_s.filter(|s| *s <= 0) {
            return Err(AuthError::Invalid(format!(
                "expiry {s} s is not in the future"
            )));
        }
        let id = random_token(6)?;
        let key = format!("osk_{id}_{}", random_token(32)?);
        let now = self.now();
        let expires = expires_in_s.map(|s| now + s);
        self.with(|c| {
            c.execute(
                "INSERT INTO keys(id, name, role, hash, created, expires, rate_per_min) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, name, role.as_str(), sha256_hex(&key), now, expires, rate_per_min],
            )
        })?;
        Ok(NewKey {
            info: KeyInfo {
                prefix: format!("osk_{id}"),
                id,
                name: name.into(),
                role,
                created: now,
                expires,
                last_used: None,
                rate_per_min,
            },
            key,
        })
    }

    /// Every key, newest first.
    pub fn keys(&self) -> Result<Vec<KeyInfo>, AuthError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, name, role, created, expires, last_used, rate_per_min FROM keys ORDER BY created DESC, id",
            )?;
            let rows = st.query_map([], |r| {
                let id: String = r.get(0)?;
                Ok(KeyInfo {
                    prefix: format!("osk_{id}"),
                    id,
                    name: r.get(1)?,
                    role: parse_role(&r.get::<_, String>(2)?),
                    created: r.get(3)?,
                    expires: r.get(4)?,
                    last_used: r.get(5)?,
                    rate_per_min: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Revokes a key by id (or by its `osk_<id>` prefix).
    pub fn revoke_key(&self, id: &str) -> Result<(), AuthError> {
        let id = id.strip_prefix("osk_").unwrap_or(id);
        let n = self.with(|c| c.execute("DELETE FROM keys WHERE id = ?1", [id]))?;
        if n == 0 {
            return Err(AuthError::NotFound(format!("no key {id:?}")));
        }
        Ok(())
    }

    /// Whether an unexpired key with the `detect` role exists (the detection routes then need a
    /// credential).
    pub fn has_detect_key(&self) -> Result<bool, AuthError> {
        let now = self.now();
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM keys WHERE role = 'detect' AND (expires IS NULL OR expires > ?1))",
                [now],
                |r| r.get(0),
            )
        })
    }

    /// The principal of an API key, if it exists and has not expired.
    pub fn key(&self, key: &str) -> Result<Option<Principal>, AuthError> {
        if !key.starts_with("osk_") {
            return Ok(None);
        }
        let now = self.now();
        self.with(|c| {
            let row = c
                .query_row(
                    "SELECT id, name, role, rate_per_min, last_used FROM keys WHERE hash = ?1 AND (expires IS NULL OR expires > ?2)",
                    params![sha256_hex(key), now],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<u32>>(3)?,
                            r.get::<_, Option<i64>>(4)?,
                        ))
                    },
                )
                .optional()?;
            let Some((id, name, role, rate_per_min, last_used)) = row else {
                return Ok(None);
            };
            if last_used.is_none_or(|t| now - t >= 60) {
                c.execute("UPDATE keys SET last_used = ?2 WHERE id = ?1", params![id, now])?;
            }
            Ok(Some(Principal {
                name,
                role: parse_role(&role),
                kind: PrincipalKind::Key { id, rate_per_min },
            }))
        })
    }

    /// A connection for the audit log's writer and reader (same file).
    pub(crate) fn open_connection(&self) -> Result<Connection, AuthError> {
        let c = Connection::open(&self.inner.path).map_err(|e| self.db(e))?;
        c.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| self.db(e))?;
        Ok(c)
    }
}

/// An Argon2id hash of a random password, checked when the user does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Pqy1HQS4eU3XpYFf0SmHEhyEs8ZsTCrGmzkJ9AWvDHQ";

/// Stored roles are written by this crate; an unknown one (a newer release's) gets the least.
fn parse_role(s: &str) -> Role {
    s.parse().unwrap_or(Role::Viewer)
}

/// The database holds password hashes and token digests: owner-only.
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for p in [path.to_path_buf(), wal_path(path)] {
        if let Ok(m) = std::fs::metadata(&p) {
            if m.permissions().mode() & 0o077 != 0 {
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
}

fn wal_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push("-wal");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_base::SimClock;

    fn store() -> (AuthStore, Arc<SimClock>, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "osprey-auth-{}-{}",
            std::process::id(),
            random_token(4).expect("rand")
        ));
        let clock = Arc::new(SimClock::new(1_000_000.0));
        let path = dir.join("auth.sqlite");
        let s = AuthStore::open_with_clock(&path, clock.clone()).expect("open");
        (s, clock, dir)
    }

    #[test]
    fn users_sessions_and_roles() {
        let (s, clock, dir) = store();
        assert_eq!(s.user_count().expect("count"), 0);
        s.add_user("alice", "password1", Role::Operator)
            .expect("add");
        assert!(matches!(
            s.add_user("alice", "password2", Role::Admin),
            Err(AuthError::Exists(_))
        ));
        assert!(matches!(
            s.add_user("bob", "short", Role::Admin),
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            s.add_user("../x", "password1", Role::Admin),
            Err(AuthError::Invalid(_))
        ));
        assert!(s.verify_login("alice", "wrong-one").expect("v").is_none());
        assert!(s.verify_login("nobody", "password1").expect("v").is_none());
        let u = s
            .verify_login("alice", "password1")
            .expect("v")
            .expect("user");
        let sess = s.create_session(&u, 3600, "127.0.0.1").expect("session");
        let p = s.session(&sess.token).expect("q").expect("principal");
        assert_eq!((p.name.as_str(), p.role), ("alice", Role::Operator));
        assert!(s.session("0000").expect("q").is_none());
        // A role change applies to the live session; a password change ends it.
        s.update_user("alice", None, Some(Role::Viewer))
            .expect("role");
        assert_eq!(
            s.session(&sess.token).expect("q").expect("p").role,
            Role::Viewer
        );
        s.update_user("alice", Some("password2"), None).expect("pw");
        assert!(s.session(&sess.token).expect("q").is_none());
        // Expiry.
        let sess = s.create_session(&u, 60, "x").expect("session");
        clock.advance(std::time::Duration::from_secs(61));
        assert!(s.session(&sess.token).expect("q").is_none());
        // Logout and removal.
        let sess = s.create_session(&u, 60, "x").expect("session");
        let Some(Principal {
            kind: PrincipalKind::Session { id, .. },
            ..
        }) = s.session(&sess.token).expect("q")
        else {
            panic!("no session")
        };
        s.end_session(&id).expect("end");
        assert!(s.session(&sess.token).expect("q").is_none());
        s.remove_user("alice").expect("rm");
        assert!(matches!(
            s.remove_user("alice"),
            Err(AuthError::NotFound(_))
        ));
        // The last admin can be neither removed nor demoted; with a second one, it can.
        s.add_user("root", "password1", Role::Admin).expect("add");
        assert!(matches!(s.remove_user("root"), Err(AuthError::Invalid(_))));
        assert!(s.update_user("root", None, Some(Role::Viewer)).is_err());
        s.add_user("root2", "password1", Role::Admin).expect("add");
        s.update_user("root", None, Some(Role::Viewer))
            .expect("demote");
        assert!(s.remove_user("root2").is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn keys_are_shown_once_stored_hashed_and_expire() {
        let (s, clock, dir) = store();
        assert!(!s.has_detect_key().expect("q"));
        let k = s
            .create_key("frigate", Role::Detect, Some(86_400), None)
            .expect("key");
        assert!(
            k.key.starts_with(&format!("{}_", k.info.prefix)),
            "{}",
            k.key
        );
        assert!(s.has_detect_key().expect("q"));
        let p = s.key(&k.key).expect("q").expect("principal");
        assert_eq!((p.name.as_str(), p.role), ("frigate", Role::Detect));
        assert!(s.key("osk_nope").expect("q").is_none());
        // Only the digest is on disk.
        let raw = std::fs::read(s.path()).unwrap_or_default();
        let wal = std::fs::read(wal_path(s.path())).unwrap_or_default();
        let needle = k.key.as_bytes();
        for bytes in [raw, wal] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "key in clear on disk"
            );
        }
        clock.advance(std::time::Duration::from_secs(86_401));
        assert!(s.key(&k.key).expect("q").is_none());
        assert!(!s.has_detect_key().expect("q"));
        let k2 = s
            .create_key("ci", Role::Admin, None, Some(60))
            .expect("key");
        assert_eq!(s.keys().expect("list").len(), 2);
        s.revoke_key(&k2.info.prefix).expect("revoke");
        assert!(s.key(&k2.key).expect("q").is_none());
        assert!(matches!(s.revoke_key("zzz"), Err(AuthError::NotFound(_))));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let (s, _, dir) = store();
        let path = s.path().to_path_buf();
        drop(s);
        let c = Connection::open(&path).expect("open");
        c.pragma_update(None, "user_version", 99).expect("set");
        drop(c);
        assert!(matches!(
            AuthStore::open(&path),
            Err(AuthError::NewerSchema { found: 99, .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
