//! Webhooks: analytics events and alerts POSTed as JSON to HTTP endpoints (`[[webhooks]]`).
//!
//! Each webhook has its own thread (`osprey-webhook-N`) and bounded queue. A camera never
//! waits: when the queue is full the event is dropped and counted. A delivery that fails with a
//! transport error, a timeout, 408, 429 or a 5xx is retried with exponential backoff (0.5 s,
//! 1 s, 2 s … capped at 30 s) up to `max_attempts` times; any other status is final. Counted in
//! `osprey_publish_messages_total{sink="webhook", outcome="sent|dropped|failed|retried"}`.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

use prometheus::IntCounterVec;
use serde::{Deserialize, Serialize};

/// The kinds of event a webhook can take.
pub const EVENT_KINDS: &[&str] = &["alert", "crossing", "roi"];

fn all_events() -> Vec<String> {
    EVENT_KINDS.iter().map(|s| s.to_string()).collect()
}
fn default_timeout_ms() -> u64 {
    5_000
}
fn default_attempts() -> u32 {
    6
}
fn default_queue() -> usize {
    1_000
}

/// One `[[webhooks]]` table.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// `http://host[:port]/path` or `https://…`.
    pub url: String,
    /// A CA file (PEM) trusted for `https://` besides the system's CAs (a home-lab CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Which events (`alert`, `crossing`, `roi`); default all.
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    /// Only these cameras (default all).
    #[serde(default)]
    pub cameras: Vec<String>,
    /// Extra request headers (`Authorization`…; never logged or shown).
    #[serde(default, skip_serializing)]
    pub headers: BTreeMap<String, String>,
    /// Per-attempt timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts per event, the first included (≥ 1).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Events waiting to be delivered before new ones are dropped (≥ 1).
    #[serde(default = "default_queue")]
    pub queue: usize,
}

impl std::fmt::Debug for WebhookSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSpec")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("events", &self.events)
            .field("cameras", &self.cameras)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout_ms", &self.timeout_ms)
            .field("max_attempts", &self.max_attempts)
            .field("queue", &self.queue)
            .finish()
    }
}

impl WebhookSpec {
    /// A webhook to `url` with the default settings.
    pub fn new(url: &str) -> WebhookSpec {
        WebhookSpec {
            url: url.to_string(),
            ca_file: None,
            events: all_events(),
            cameras: Vec::new(),
            headers: BTreeMap::new(),
            timeout_ms: default_timeout_ms(),
            max_attempts: default_attempts(),
            queue: default_queue(),
        }
    }

    /// Every problem with the settings, as one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let rest = self
            .url
            .strip_prefix("https://")
            .or_else(|| self.url.strip_prefix("http://"));
        if rest.is_none_or(str::is_empty) {
            out.push(format!(
                "url {:?} must start with http:// or https://",
                self.url
            ));
        }
        if let Some(p) = self.ca_file.as_ref().filter(|p| !p.is_file()) {
            out.push(format!("ca_file {} does not exist", p.display()));
        }
        for e in &self.events {
            if !EVENT_KINDS.contains(&e.as_str()) {
                out.push(format!(
                    "events: unknown event {e:?}; use {}",
                    EVENT_KINDS.join(", ")
                ));
            }
        }
        if self.max_attempts == 0 {
            out.push("max_attempts must be at least 1".into());
        }
        if self.queue == 0 {
            out.push("queue must be at least 1".into());
        }
        if self.timeout_ms == 0 {
            out.push("timeout_ms must be positive".into());
        }
        out
    }

    fn wants(&self, camera: &str, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
            && (self.cameras.is_empty() || self.cameras.iter().any(|c| c == camera))
    }
}

/// The delay before retry number `attempt` (1 = the first retry).
pub fn backoff(attempt: u32) -> Duration {
    let ms = 500u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(16));
    Duration::from_millis(ms.min(30_000))
}

struct Hook {
    spec: WebhookSpec,
    tx: SyncSender<String>,
}

/// The configured webhooks.
pub struct Webhooks {
    hooks: Vec<Hook>,
    counters: IntCounterVec,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.hooks.iter().map(|h| &h.spec.url))
            .finish()
    }
}

impl Webhooks {
    /// Starts one delivery thread per webhook.
    pub fn start(specs: &[WebhookSpec], counters: IntCounterVec) -> std::io::Result<Webhooks> {
        let mut hooks = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel(spec.queue.max(1));
            let (s, c) = (spec.clone(), counters.clone());
            std::thread::Builder::new()
                .name(format!("osprey-webhook-{i}"))
                .spawn(move || deliver(&s, &rx, &c))?;
            hooks.push(Hook {
                spec: spec.clone(),
                tx,
            });
        }
        Ok(Webhooks { hooks, counters })
    }

    /// No webhooks configured.
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Queues `json`, an `event` (`alert`, `crossing`, `roi`) of `camera`, for every webhook that
    /// wants it; never blocks.
    pub fn send(&self, camera: &str, event: &str, json: &str) {
        for h in self.hooks.iter().filter(|h| h.spec.wants(camera, event)) {
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                h.tx.try_send(json.to_string())
            {
                self.counters
                    .with_label_values(&["webhook", "dropped"])
                    .inc();
            }
        }
    }
}

/// Outgoing TLS trusting the system's CAs plus `ca_file` (rustls with ring; the system bundle
/// is read once per webhook thread).
pub fn tls_config(ca_file: Option<&std::path::Path>) -> ureq::tls::TlsConfig {
    let roots = match osprey_base::ca_certificates(ca_file) {
        Ok(ders) => ureq::tls::RootCerts::Specific(std::sync::Arc::new(
            ders.iter()
                .map(|d| ureq::tls::Certificate::from_der(d).to_owned())
                .collect(),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "outgoing HTTPS falls back to the built-in Mozilla roots");
            ureq::tls::RootCerts::WebPki
        }
    };
    ureq::tls::TlsConfig::builder().root_certs(roots).build()
}

/// One webhook's delivery loop: until every sender is gone and the queue is empty.
fn deliver(spec: &WebhookSpec, rx: &Receiver<String>, counters: &IntCounterVec) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(spec.timeout_ms)))
        .http_status_as_error(false)
        .tls_config(tls_config(spec.ca_file.as_deref()))
        .build()
        .into();
    let count = |outcome: &str| counters.with_label_values(&["webhook", outcome]).inc();
    for body in rx.iter() {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match post(&agent, spec, &body) {
                Ok(()) => {
                    count("sent");
                    break;
                }
                Err((retry, why)) if retry && attempt < spec.max_attempts => {
                    count("retried");
                    tracing::debug!(url = %spec.url, attempt, error = %why, "webhook failed; retrying");
                    std::thread::sleep(backoff(attempt));
                }
                Err((_, why)) => {
                    count("failed");
                    tracing::warn!(url = %spec.url, attempts = attempt, error = %why, "webhook not delivered");
                    break;
                }
            }
        }
    }
}

/// One attempt; on failure whether retrying may help, and why.
fn post(agent: &ureq::Agent, spec: &WebhookSpec, body: &str) -> Result<(), (bool, String)> {
    let mut req = agent
        .post(&spec.url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "osprey");
    for (k, v) in &spec.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    match req.send(body.as_bytes()) {
        Ok(r) => {
            let code = r.status().as_u16();
            match code {
                200..=299 => Ok(()),
                408 | 429 | 500..=599 => Err((true, format!("HTTP {code}"))),
                _ => Err((false, format!("HTTP {code}"))),
            }
        }
        Err(e) => Err((true, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let ms: Vec<u128> = (1..=9).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(
            ms,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff(1000), Duration::from_secs(30));
    }

    #[test]
    fn settings_are_checked() {
        let spec: WebhookSpec = toml_like(r#"{"url": "http://127.0.0.1:9/hook"}"#);
        assert!(spec.problems().is_empty());
        assert_eq!(spec.events, ["alert", "crossing", "roi"]);
        assert!(spec.wants("any", "alert"));
        let bad: WebhookSpec = toml_like(
            r#"{"url": "https://x", "events": ["alert", "bogus"], "max_attempts": 0, "queue": 0}"#,
        );
        let p = bad.problems();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            !p.iter().any(|x| x.contains("url")),
            "https is accepted: {p:?}"
        );
        let bad: WebhookSpec = toml_like(r#"{"url": "ftp://x", "ca_file": "/nonexistent.pem"}"#);
        assert_eq!(bad.problems().len(), 2, "{:?}", bad.problems());
        let only: WebhookSpec =
            toml_like(r#"{"url": "http://h/", "events": ["alert"], "cameras": ["door"]}"#);
        assert!(only.wants("door", "alert"));
        assert!(!only.wants("door", "crossing"));
        assert!(!only.wants("yard", "alert"));
        assert!(!format!(
            "{:?}",
            WebhookSpec {
                headers: [("Authorization".to_string(), "secret".to_string())].into(),
                ..only
            }
        )
        .contains("secret"));
    }

    fn toml_like(json: &str) -> WebhookSpec {
        serde_json::from_str(json).expect("spec")
    }
}
