//! Signing in and out, who am I, and the admin routes for users, API keys and the audit log
//! (`docs/security.md`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use osprey_auth::{parse_login, AuditQuery, AuthStore, Principal, PrincipalKind, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::guard::{AuditDetail, ClientAddr, SESSION_COOKIE};
use crate::state::AppState;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/users", get(users).post(add_user))
        .route("/api/users/{name}", put(update_user).delete(remove_user))
        .route("/api/keys", get(keys).post(create_key))
        .route("/api/keys/{id}", delete(revoke_key))
        .route("/api/audit", get(audit))
}

fn store(state: &AppState) -> Result<&AuthStore, ApiError> {
    state.security.store.as_ref().ok_or_else(|| {
        ApiError::NotFound("authentication is off (--auth off): there are no users or keys".into())
    })
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.security.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("osprey_session=; Path=/; Max-Age=0"))
}

fn with_audit(mut resp: Response, who: Option<Principal>, detail: String) -> Response {
    if let Some(p) = who {
        resp.extensions_mut().insert(p);
    }
    resp.extensions_mut().insert(AuditDetail(detail));
    resp
}

async fn login(
    State(state): State<Arc<AppState>>,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let sec = &state.security;
    let db = store(&state)?.clone();
    if let Err(d) = sec.locked(client) {
        return Err(ApiError::retry_after(
            d,
            "too many failed logins from this address",
        ));
    }
    let login = parse_login(&body)?;
    let name = login.username.clone();
    // Argon2id takes tens of milliseconds of CPU: off the async workers.
    let verified =
        tokio::task::spawn_blocking(move || db.verify_login(&login.username, &login.password))
            .await
            .map_err(|e| ApiError::Internal(format!("login check failed: {e}")))??;
    let Some(user) = verified else {
        let locked = sec.failure(client);
        let resp = ApiError::Unauthorized("wrong user name or password".into()).into_response();
        let detail = match locked {
            Some(d) => format!(
                "failed login as {name:?}; address locked out for {} s",
                d.as_secs()
            ),
            None => format!("failed login as {name:?}"),
        };
        return Ok(with_audit(resp, None, detail));
    };
    sec.success(client);
    let session = store(&state)?.create_session(&user, sec.session_ttl_s, &client.to_string())?;
    let who = Principal {
        name: user.name.clone(),
        role: user.role,
        kind: PrincipalKind::Anonymous,
    };
    let mut resp = Json(json!({
        "success": true,
        "name": user.name,
        "role": user.role,
        "csrf": session.csrf,
        "expires": osprey_base::rfc3339(session.expires as f64),
    }))
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&state, &session.token, sec.session_ttl_s),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(with_audit(resp, Some(who), "signed in".into()))
}

async fn logout(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
) -> Result<Response, ApiError> {
    if let Some(Extension(Principal {
        kind: PrincipalKind::Session { id, .. },
        ..
    })) = &principal
    {
        store(&state)?.end_session(id)?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie(&state, "", 0));
    Ok(with_audit(resp, None, "signed out".into()))
}

async fn me(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
) -> Result<Json<Value>, ApiError> {
    let Some(Extension(p)) = principal else {
        return Err(ApiError::Unauthorized("not signed in".into()));
    };
    let csrf = match &p.kind {
        PrincipalKind::Session { csrf, .. } => Some(csrf.clone()),
        _ => None,
    };
    let kind = match &p.kind {
        PrincipalKind::Session { .. } => "session",
        PrincipalKind::Key { .. } | PrincipalKind::Legacy => "key",
        PrincipalKind::Anonymous => "anonymous",
    };
    use osprey_auth::Policy as P;
    Ok(Json(json!({
        "success": true,
        "name": p.name,
        "role": p.role,
        "kind": kind,
        "auth": state.security.auth,
        "csrf": csrf,
        "can": {
            "view": p.role.allows(P::View),
            "operate": p.role.allows(P::Operate),
            "admin": p.role.allows(P::Admin),
            "detect": p.role.allows(P::Detect),
        },
    })))
}

async fn users(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let list = store(&state)?.users()?;
    Ok(Json(json!({ "users": list.iter().map(|u| json!({
        "name": u.name,
        "role": u.role,
        "created": osprey_base::rfc3339(u.created as f64),
        "last_login": u.last_login.map(|t| osprey_base::rfc3339(t as f64)),
    })).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    role: Role,
}

fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))
}

async fn add_user(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let u: NewUser = json_body(&body)?;
    let db = store(&state)?.clone();
    let info = tokio::task::spawn_blocking(move || db.add_user(&u.name, &u.password, u.role))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let detail = format!("added user {} ({})", info.name, info.role);
    let resp = (
        StatusCode::CREATED,
        Json(json!({ "name": info.name, "role": info.role })),
    )
        .into_response();
    Ok(with_audit(resp, None, detail))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChange {
    password: Option<String>,
    role: Option<Role>,
}

async fn update_user(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c: UserChange = json_body(&body)?;
    if c.password.is_none() && c.role.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: send password and/or role".into(),
        ));
    }
    let detail = format!(
        "changed user {name}:{}{}",
        if c.password.is_some() {
            " password"
        } else {
            ""
        },
        c.role.map(|r| format!(" role {r}")).unwrap_or_default()
    );
    let db = store(&state)?.clone();
    let n = name.clone();
    tokio::task::spawn_blocking(move || db.update_user(&n, c.password.as_deref(), c.role))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(with_audit(
        Json(json!({ "success": true, "name": name })).into_response(),
        None,
        detail,
    ))
}

async fn remove_user(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    store(&state)?.remove_user(&name)?;
    Ok(with_audit(
        StatusCode::NO_CONTENT.into_response(),
        None,
        format!("removed user {name}"),
    ))
}

async fn keys(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let list = store(&state)?.keys()?;
    let ts = |t: Option<i64>| t.map(|t| osprey_base::rfc3339(t as f64));
    Ok(Json(json!({ "keys": list.iter().map(|k| json!({
        "id": k.id,
        "name": k.name,
        "role": k.role,
        "prefix": k.prefix,
        "created": osprey_base::rfc3339(k.created as f64),
        "expires": ts(k.expires),
        "last_used": ts(k.last_used),
        "rate_per_min": k.rate_per_min,
    })).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyReq {
    name: String,
    role: Role,
    expires_days: Option<f64>,
    rate_per_min: Option<u32>,
}

async fn create_key(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let r: NewKeyReq = json_body(&body)?;
    let expires = match r.expires_days {
        Some(d) if !(d > 0.0 && d < 36_500.0) => {
            return Err(ApiError::BadRequest(format!(
                "expires_days {d} must be between 0 and 36500"
            )))
        }
        Some(d) => Some((d * 86_400.0) as i64),
        None => None,
    };
    let k = store(&state)?.create_key(&r.name, r.role, expires, r.rate_per_min)?;
    let detail = format!(
        "created key {} {} ({})",
        k.info.prefix, k.info.name, k.info.role
    );
    let resp = (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "id": k.info.id,
            "name": k.info.name,
            "role": k.info.role,
            "prefix": k.info.prefix,
            "key": k.key,
            "expires": k.info.expires.map(|t| osprey_base::rfc3339(t as f64)),
        })),
    )
        .into_response();
    Ok(with_audit(resp, None, detail))
}

async fn revoke_key(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    store(&state)?.revoke_key(&id)?;
    Ok(with_audit(
        StatusCode::NO_CONTENT.into_response(),
        None,
        format!("revoked key {id}"),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    limit: Option<usize>,
    since: Option<String>,
}

async fn audit(
    State(state): State<Arc<AppState>>,
    Query(q): Query<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    let log = state
        .security
        .audit
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("no audit log: authentication is off".into()))?;
    let since_ms = match q.since.as_deref() {
        None => None,
        Some(s) => Some(crate::recordings::parse_time("since", s)?),
    };
    let entries = log.query(AuditQuery {
        limit: q.limit.unwrap_or(100),
        since_ms,
    })?;
    Ok(Json(json!({ "entries": entries.iter().map(|e| json!({
        "time": osprey_base::rfc3339(e.time_ms as f64 / 1000.0),
        "principal": e.principal,
        "role": e.role,
        "source": e.source,
        "method": e.method,
        "route": e.route,
        "status": e.status,
        "detail": e.detail,
    })).collect::<Vec<_>>() })))
}
