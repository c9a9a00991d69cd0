//! The guard: one middleware in front of every route. It finds the client's address (past
//! trusted proxies), applies the `[[access]]` rules, reads credentials (API key from
//! `X-API-Key`, `Authorization: Bearer` or `?api_key=`; session cookie), enforces lock-outs,
//! key rates, the route's [`Policy`](osprey_auth::Policy), CSRF tokens on cookie writes and the
//! WebSocket `Origin`, and audits every write and every refusal.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use osprey_auth::{bearer_token, cookie_value, Policy, Principal, PrincipalKind};

use crate::error::ApiError;
use crate::security::{Peer, Security};
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "osprey_session";

/// Set on a detection request that brought no credential in its headers while the detection
/// routes need one: the handler checks the form's `api_key` field.
#[derive(Debug, Clone, Copy)]
pub struct DetectPending {
    /// The client's address, for failure counting.
    pub client: IpAddr,
}

/// The client's address as the guard saw it (after trusted proxies).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

enum Credential {
    None,
    Key(String),
    Cookie(String),
}

fn credential(headers: &HeaderMap, uri: &axum::http::Uri) -> Credential {
    let h = |n: header::HeaderName| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(k) = h(header::AUTHORIZATION).and_then(bearer_token) {
        return Credential::Key(k.to_string());
    }
    if let Some(k) = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        return Credential::Key(k.to_string());
    }
    if uri.query().is_some_and(|q| q.contains("api_key")) {
        if let Ok(Query(q)) = Query::<HashMap<String, String>>::try_from_uri(uri) {
            if let Some(k) = q.get("api_key").map(|k| k.trim()).filter(|k| !k.is_empty()) {
                return Credential::Key(k.to_string());
            }
        }
    }
    if let Some(c) = h(header::COOKIE).and_then(|c| cookie_value(c, SESSION_COOKIE)) {
        return Credential::Cookie(c.to_string());
    }
    Credential::None
}

/// What the guard decided.
enum Outcome {
    Pass(Option<Principal>),
    Pending,
    Refuse(ApiError, Option<Principal>),
}

/// Decides a request. Pure apart from the store lookups and the limiter.
fn decide(
    sec: &Security,
    (policy, route): (Policy, &str),
    method: &Method,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    client: IpAddr,
) -> Outcome {
    let verdict = sec.access.verdict(client);
    if !verdict.known {
        return Outcome::Refuse(
            ApiError::Forbidden(format!("{client} is not allowed by any [[access]] rule")),
            None,
        );
    }
    // `--auth off` without `--api-key`: an open server, as earlier releases were; what clients
    // send is not looked at (a stray key is no failure).
    let cred = match sec.anonymous() {
        Some(_) => Credential::None,
        None => credential(headers, uri),
    };
    if !matches!(cred, Credential::None) {
        if let Err(d) = sec.locked(client) {
            return Outcome::Refuse(
                ApiError::retry_after(d, "too many failed sign-ins from this address"),
                None,
            );
        }
    }
    let principal = match cred {
        Credential::None => None,
        Credential::Key(k) => match sec.key_principal(&k) {
            Some(p) => Some(p),
            None => {
                sec.failure(client);
                return Outcome::Refuse(
                    ApiError::Unauthorized("the API key is not valid (revoked or expired?)".into()),
                    None,
                );
            }
        },
        // Session tokens are 256 random bits: an unknown one is a stale cookie, not an attack
        // worth a lock-out (which would lock its browser's user out with it).
        Credential::Cookie(c) => match sec.session_principal(&c) {
            Some(p) => Some(p),
            None if policy == Policy::Public => None,
            None => {
                return Outcome::Refuse(
                    ApiError::Unauthorized("the session has ended; sign in again".into()),
                    None,
                )
            }
        },
    };
    if let Some(p) = &principal {
        if !verdict.roles.contains(&p.role) {
            return Outcome::Refuse(
                ApiError::Forbidden(format!("role {} may not sign in from {client}", p.role)),
                principal.clone(),
            );
        }
        if let Err(d) = sec.take_rate(p) {
            return Outcome::Refuse(
                ApiError::retry_after(d, "this key's request rate is exceeded"),
                principal.clone(),
            );
        }
        if let Err(e) = csrf_and_origin(p, method, headers) {
            return Outcome::Refuse(e, principal.clone());
        }
    }
    authorize(sec, (policy, method, route), principal, &verdict.anonymous)
}

fn authorize(
    sec: &Security,
    (policy, method, route): (Policy, &Method, &str),
    principal: Option<Principal>,
    anonymous: &[Policy],
) -> Outcome {
    let Some(p) = principal.or_else(|| sec.anonymous()) else {
        return match policy {
            Policy::Public => Outcome::Pass(None),
            Policy::Detect if sec.detect_open() || anonymous.contains(&Policy::Detect) => {
                Outcome::Pass(None)
            }
            // A detection request's form may still bring its api_key field.
            Policy::Detect if *method == Method::POST && route != "/v1/vision/custom/list" => {
                Outcome::Pending
            }
            Policy::Metrics | Policy::View if anonymous.contains(&policy) => Outcome::Pass(None),
            _ => Outcome::Refuse(
                ApiError::Unauthorized(
                    "sign in or send an API key (X-API-Key or Authorization: Bearer)".into(),
                ),
                None,
            ),
        };
    };
    if p.role.allows(policy) {
        Outcome::Pass(Some(p))
    } else {
        let what = match policy {
            Policy::View => "read this",
            Policy::Operate => "change cameras, rules or recordings",
            _ => "do this",
        };
        Outcome::Refuse(
            ApiError::Forbidden(format!("role {} may not {what}", p.role)),
            Some(p),
        )
    }
}

/// Cookie-authenticated writes carry the session's CSRF token; WebSocket upgrades come from
/// this origin (a cross-site page cannot open the live view with the user's cookie).
fn csrf_and_origin(p: &Principal, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let PrincipalKind::Session { csrf, .. } = &p.kind else {
        return Ok(());
    };
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        if !sent.is_some_and(|s| osprey_auth::constant_time_eq(s.as_bytes(), csrf.as_bytes())) {
            return Err(ApiError::Forbidden(
                "missing or wrong CSRF token (send X-CSRF-Token from /api/auth/me)".into(),
            ));
        }
    }
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
            if host != Some(origin_host) {
                return Err(ApiError::Forbidden(format!(
                    "WebSocket from origin {origin} refused: not this server"
                )));
            }
        }
    }
    Ok(())
}

/// The middleware.
pub(crate) async fn guard(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let sec = &state.security;
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let Some(route) = route else {
        // No route: the JSON 404/405 fallbacks answer.
        return next.run(req).await;
    };
    let peer = req
        .extensions()
        .get::<Peer>()
        .map(|p| p.addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let xff = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let client = sec.access.client(peer, xff);
    req.extensions_mut().insert(ClientAddr(client));
    let Some(policy) = crate::policy::lookup(&method, &route) else {
        // Fail closed: a method the table does not declare never reaches a handler. For a
        // declared route that is the 405 the router would give; a route missing from the table
        // altogether is a bug (the route × role test names it).
        if crate::policy::declared(&route) {
            let path = req.uri().path();
            return ApiError::MethodNotAllowed(format!("{method} is not allowed on {path}"))
                .into_response();
        }
        tracing::error!(%method, %route, "route has no access policy: refused");
        return ApiError::Internal(format!("{method} {route} has no access policy"))
            .into_response();
    };
    let write = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let (principal, pending) = match decide(
        sec,
        (policy, &route),
        &method,
        req.headers(),
        req.uri(),
        client,
    ) {
        Outcome::Pass(p) => (p, false),
        Outcome::Pending => (None, true),
        Outcome::Refuse(e, p) => {
            if route == "/"
                && matches!(e, ApiError::Unauthorized(_))
                && crate::ui::wants_html(req.headers())
            {
                return Redirect::to("/ui/").into_response();
            }
            let resp = e.into_response();
            // A signed-out browser asking who it is is not an incident.
            let probe = route == "/api/auth/me" && p.is_none();
            if !probe {
                sec.audit(
                    p.as_ref(),
                    client,
                    method.as_str(),
                    &route,
                    resp.status().as_u16(),
                    refusal(&resp),
                );
            }
            return resp;
        }
    };
    if pending {
        req.extensions_mut().insert(DetectPending { client });
    }
    if let Some(p) = &principal {
        req.extensions_mut().insert(p.clone());
    }
    let resp = next.run(req).await;
    let status = resp.status();
    let refused = matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    );
    if (write && policy != Policy::Detect && policy != Policy::Public)
        || refused
        || route == "/api/auth/login"
    {
        let who = resp.extensions().get::<Principal>().cloned().or(principal);
        let detail = resp
            .extensions()
            .get::<AuditDetail>()
            .map(|d| d.0.clone())
            .unwrap_or_else(|| {
                if refused {
                    refusal(&resp)
                } else {
                    String::new()
                }
            });
        sec.audit(
            who.as_ref(),
            client,
            method.as_str(),
            &route,
            status.as_u16(),
            detail,
        );
    }
    resp
}

/// What a handler wants in the audit entry of its response (never a secret).
#[derive(Debug, Clone)]
pub struct AuditDetail(pub String);

fn refusal(resp: &Response) -> String {
    resp.extensions()
        .get::<crate::error::ErrorMessage>()
        .map(|m| m.0.clone())
        .unwrap_or_default()
}
