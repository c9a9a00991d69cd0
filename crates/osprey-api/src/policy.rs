//! Every route's declared access policy: one table, looked up by the guard for each request
//! (method + route template). A route missing here is refused with 500 "no access policy", and
//! the route × role test fails for it.

use axum::http::Method;
use osprey_auth::Policy;

use Policy::*;

/// `(method, route template, policy)`. `HEAD` uses the `GET` entry.
pub const POLICIES: &[(&str, &str, Policy)] = &[
    // Liveness, readiness, the UI's files (they hold no data), signing in.
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/ui", Public),
    ("GET", "/ui/", Public),
    ("GET", "/ui/{*file}", Public),
    ("POST", "/api/auth/login", Public),
    // Liveness pings of DeepStack clients (Blue Iris, CodeProject.AI): no data in them.
    ("GET", "/v1/server/status/ping", Public),
    ("GET", "/v1/status/ping", Public),
    // DeepStack / CodeProject.AI: open until a `detect` key exists.
    ("POST", "/v1/vision/detection", Detect),
    ("POST", "/v1/vision/custom/{model}", Detect),
    ("GET", "/v1/vision/custom/list", Detect),
    ("POST", "/v1/vision/custom/list", Detect),
    ("GET", "/metrics", Metrics),
    // Who am I, sign out.
    ("GET", "/api/auth/me", Session),
    ("POST", "/api/auth/logout", Session),
    // Reading.
    ("GET", "/", View),
    ("GET", "/api/cameras", View),
    ("GET", "/api/cameras/{id}", View),
    ("GET", "/api/cameras/{id}/snapshot.jpg", View),
    ("GET", "/api/cameras/{id}/stream.mjpeg", View),
    ("GET", "/api/cameras/{id}/live", View),
    ("GET", "/api/events", View),
    ("GET", "/api/events/{id}/clip.mp4", View),
    ("GET", "/api/events/{id}/snapshot.jpg", View),
    ("GET", "/api/recordings", View),
    ("GET", "/api/storage", View),
    ("GET", "/api/recordings/{camera}/timeline", View),
    ("GET", "/api/recordings/{camera}/view.mp4", View),
    ("GET", "/emdx/api/v2/config/tripwire", View),
    ("GET", "/emdx/api/v2/config/roi", View),
    ("GET", "/emdx/api/v2/config/rule/alerts/{kind}", View),
    ("GET", "/emdx/api/v2/events/tripwire", View),
    ("GET", "/emdx/api/v2/events/roi", View),
    ("GET", "/emdx/api/v2/alerts", View),
    ("GET", "/emdx/api/v2/alerts/{kind}", View),
    ("GET", "/emdx/api/v2/metrics/tripwire", View),
    ("GET", "/emdx/api/v2/metrics/tripwire/histogram", View),
    ("GET", "/emdx/api/v2/metrics/occupancy/fov", View),
    ("GET", "/emdx/api/v2/metrics/occupancy/fov/histogram", View),
    ("GET", "/emdx/api/v2/metrics/occupancy/roi", View),
    ("GET", "/emdx/api/v2/metrics/occupancy/roi/histogram", View),
    // Changing cameras, rules and what recordings are kept.
    ("POST", "/api/cameras", Operate),
    ("DELETE", "/api/cameras/{id}", Operate),
    ("POST", "/api/recordings/{camera}/protect", Operate),
    ("DELETE", "/api/recordings/{camera}/protect", Operate),
    ("POST", "/api/recordings/{camera}/export", Operate),
    ("POST", "/emdx/api/v2/config/tripwire", Operate),
    ("DELETE", "/emdx/api/v2/config/tripwire", Operate),
    ("POST", "/emdx/api/v2/config/roi", Operate),
    ("DELETE", "/emdx/api/v2/config/roi", Operate),
    ("POST", "/emdx/api/v2/config/rule/alerts/{kind}", Operate),
    ("DELETE", "/emdx/api/v2/config/rule/alerts/{kind}", Operate),
    // Users, keys, the audit log.
    ("GET", "/api/users", Admin),
    ("POST", "/api/users", Admin),
    ("PUT", "/api/users/{name}", Admin),
    ("DELETE", "/api/users/{name}", Admin),
    ("GET", "/api/keys", Admin),
    ("POST", "/api/keys", Admin),
    ("DELETE", "/api/keys/{id}", Admin),
    ("GET", "/api/audit", Admin),
];

/// The policy of `method` on `route`.
pub fn lookup(method: &Method, route: &str) -> Option<Policy> {
    let m = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    POLICIES
        .iter()
        .find(|(pm, pr, _)| *pm == m && *pr == route)
        .map(|(_, _, p)| *p)
}

/// Whether `route` has a policy for some method.
pub fn declared(route: &str) -> bool {
    POLICIES.iter().any(|(_, r, _)| *r == route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_route_is_declared_twice() {
        for (i, a) in POLICIES.iter().enumerate() {
            for b in &POLICIES[i + 1..] {
                assert!(!(a.0 == b.0 && a.1 == b.1), "{} {} twice", a.0, a.1);
            }
        }
        assert_eq!(lookup(&Method::HEAD, "/api/cameras"), Some(View));
        assert_eq!(lookup(&Method::PATCH, "/api/cameras"), None);
    }
}
