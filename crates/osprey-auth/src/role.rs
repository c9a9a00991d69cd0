//! Roles and route policies: the one place that decides whether a role may use a route.

use serde::{Deserialize, Serialize};

/// What a principal is allowed to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything: UI, live, recordings, analytics, events.
    Viewer,
    /// Viewer + cameras, rules, alert rules, protect/export.
    Operator,
    /// Operator + users, keys, deleting recordings, settings, the audit log.
    Admin,
    /// Only the DeepStack / CodeProject.AI detection and status routes (Frigate, Blue Iris).
    Detect,
}

/// The access a route declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Anyone: liveness, readiness, the UI's static files, the login route.
    Public,
    /// DeepStack detection and its status routes: open while no `detect` key exists (drop-in
    /// compatibility), else any principal.
    Detect,
    /// Prometheus `/metrics`: any principal, or an `[[access]]` rule that lets the address in.
    Metrics,
    /// Any signed-in principal, whatever its role (who am I, log out).
    Session,
    /// Reading: viewer and up.
    View,
    /// Changing cameras and rules: operator and up.
    Operate,
    /// Users, keys, deleting recordings, the audit log.
    Admin,
}

impl Role {
    /// Every role, for listings and tests.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Admin, Role::Detect];

    /// The role's name as written in config, the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Detect => "detect",
        }
    }

    /// Whether this role may use a route with `policy`.
    pub fn allows(self, policy: Policy) -> bool {
        match policy {
            Policy::Public | Policy::Detect | Policy::Metrics | Policy::Session => true,
            Policy::View => matches!(self, Role::Viewer | Role::Operator | Role::Admin),
            Policy::Operate => matches!(self, Role::Operator | Role::Admin),
            Policy::Admin => self == Role::Admin,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = crate::AuthError;
    fn from_str(s: &str) -> Result<Role, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                crate::AuthError::Invalid(format!(
                    "unknown role {s:?}: one of viewer, operator, admin, detect"
                ))
            })
    }
}

impl Policy {
    /// The policy's name, for logs and the policy table.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Public => "public",
            Policy::Detect => "detect",
            Policy::Metrics => "metrics",
            Policy::Session => "session",
            Policy::View => "view",
            Policy::Operate => "operate",
            Policy::Admin => "admin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_ladder() {
        use Policy::*;
        let table = [
            (Role::Viewer, [true, true, true, true, true, false, false]),
            (Role::Operator, [true, true, true, true, true, true, false]),
            (Role::Admin, [true, true, true, true, true, true, true]),
            (Role::Detect, [true, true, true, true, false, false, false]),
        ];
        for (role, want) in table {
            for (p, w) in [Public, Detect, Metrics, Session, View, Operate, Admin]
                .into_iter()
                .zip(want)
            {
                assert_eq!(role.allows(p), w, "{role} {p:?}");
            }
        }
    }

    #[test]
    fn roles_parse_by_name() {
        assert_eq!("Operator".parse::<Role>().ok(), Some(Role::Operator));
        assert!("root".parse::<Role>().is_err());
    }
}
