//! The publishers: Redis Streams (one entry per processed frame, NVIDIA's DeepStream "minimal
//! schema", in `stream`; analytics events and alerts in `events_stream`) and MQTT in Frigate's convention (events, per-label counts, retained availability).
//!
//! Each sink is a named thread fed by a bounded queue. A camera never waits for a sink: when a
//! queue is full the message is dropped and counted (`osprey_publish_messages_total{outcome=
//! "dropped"}`); a sink that loses its server keeps its current batch and retries, so an outage
//! shorter than the queue loses nothing.
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use prometheus::IntCounterVec;
use serde::{Deserialize, Serialize};

/// `[redis]`: where frame metadata goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSpec {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Stream key; `{camera}` is replaced by the camera id (one stream per camera).
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Approximate cap on entries per stream (`XADD ... MAXLEN ~ n`).
    #[serde(default = "default_maxlen")]
    pub maxlen: u64,
    /// Stream key of analytics events and alerts (field `event`); `{camera}` as above.
    #[serde(default = "default_events_stream")]
    pub events_stream: String,
}

fn default_stream() -> String {
    "osprey:frames".into()
}

fn default_events_stream() -> String {
    "osprey:analytics".into()
}

fn default_maxlen() -> u64 {
    10_000
}

/// `[mqtt]`: where events go, in Frigate's topic layout.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSpec {
    /// Broker host.
    pub host: String,
    /// Broker port.
    #[serde(default = "default_mqtt_port")]
    pub port: u16,
    /// Topic prefix (Frigate uses `frigate`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Client id.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// User name.
    #[serde(default)]
    pub user: Option<String>,
    /// Password (never logged or shown).
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
}

impl std::fmt::Debug for MqttSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSpec")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("prefix", &self.prefix)
            .field("client_id", &self.client_id)
            .field("user", &self.user)
            .finish()
    }
}

fn default_mqtt_port() -> u16 {
    1883
}

fn default_prefix() -> String {
    "osprey".into()
}

fn default_client_id() -> String {
    "osprey".into()
}

/// `osprey_publish_messages_total{sink, outcome}`: messages to Redis, MQTT and the event store
/// that were sent, dropped (queue full) or failed. Registered in `registry`.
pub fn register_metrics(
    registry: &prometheus::Registry,
) -> Result<IntCounterVec, prometheus::Error> {
    let c = IntCounterVec::new(
        prometheus::Opts::new(
            "osprey_publish_messages_total",
            "Messages to the bus and event store by sink (redis, mqtt, events) and outcome (sent, dropped, failed)",
        ),
        &["sink", "outcome"],
    )?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

/// One processed frame for Redis.
#[derive(Debug, Clone)]
pub struct FrameMessage {
    /// Camera id.
    pub camera: String,
    /// The minimal-schema JSON.
    pub json: String,
}

/// One MQTT publication.
#[derive(Debug, Clone)]
pub struct MqttMessage {
    /// Topic under the prefix (no leading slash), e.g. `events` or `front/person`.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Retained on the broker.
    pub retain: bool,
}

/// The sinks, shared by every camera.
/// A Redis stream entry: a frame (`metadata` field of the frames stream) or an analytics event
/// (`event` field of the events stream).
#[derive(Debug)]
struct Entry {
    camera: String,
    event: bool,
    json: String,
}

pub struct Bus {
    redis: Option<SyncSender<Entry>>,
    mqtt: Option<(rumqttc::Client, String)>,
    counters: IntCounterVec,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("redis", &self.redis.is_some())
            .field("mqtt", &self.mqtt.as_ref().map(|m| &m.1))
            .finish()
    }
}

const QUEUE: usize = 4096;

impl Bus {
    /// Starts the configured sinks.
    pub fn start(
        redis: Option<&RedisSpec>,
        mqtt: Option<&MqttSpec>,
        counters: IntCounterVec,
    ) -> std::io::Result<Bus> {
        let redis = match redis {
            Some(spec) => {
                let (tx, rx) = mpsc::sync_channel(QUEUE);
                let spec = spec.clone();
                let c = counters.clone();
                std::thread::Builder::new()
                    .name("osprey-redis".into())
                    .spawn(move || redis_loop(&spec, &rx, &c))?;
                Some(tx)
            }
            None => None,
        };
        let mqtt = match mqtt {
            Some(spec) => Some((
                start_mqtt(spec)?,
                spec.prefix.trim_end_matches('/').to_string(),
            )),
            None => None,
        };
        Ok(Bus {
            redis,
            mqtt,
            counters,
        })
    }

    fn count(&self, sink: &str, outcome: &str, n: u64) {
        self.counters.with_label_values(&[sink, outcome]).inc_by(n);
    }

    /// Queues a frame for Redis (dropped and counted when the queue is full).
    pub fn frame(&self, msg: FrameMessage) {
        self.redis(Entry {
            camera: msg.camera,
            event: false,
            json: msg.json,
        });
    }

    /// Queues an analytics event or alert (JSON) for the Redis events stream.
    pub fn event(&self, camera: &str, json: String) {
        self.redis(Entry {
            camera: camera.to_string(),
            event: true,
            json,
        });
    }

    /// Whether Redis is configured.
    pub fn has_redis(&self) -> bool {
        self.redis.is_some()
    }

    fn redis(&self, entry: Entry) {
        if let Some(tx) = &self.redis {
            match tx.try_send(entry) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.count("redis", "dropped", 1)
                }
            }
        }
    }

    /// Queues an MQTT publication (QoS 1).
    pub fn mqtt(&self, msg: MqttMessage) {
        if let Some((client, prefix)) = &self.mqtt {
            let topic = format!("{prefix}/{}", msg.topic);
            match client.try_publish(topic, rumqttc::QoS::AtLeastOnce, msg.retain, msg.payload) {
                Ok(()) => self.count("mqtt", "sent", 1),
                Err(_) => self.count("mqtt", "dropped", 1),
            }
        }
    }

    /// Whether MQTT is configured.
    pub fn has_mqtt(&self) -> bool {
        self.mqtt.is_some()
    }

    /// Marks the server offline on the broker and disconnects.
    pub fn shutdown(&self) {
        if let Some((client, prefix)) = &self.mqtt {
            let _ = client.try_publish(
                format!("{prefix}/available"),
                rumqttc::QoS::AtLeastOnce,
                true,
                "offline",
            );
            // Give the event loop a moment to send it before the disconnect request.
            std::thread::sleep(Duration::from_millis(100));
            let _ = client.disconnect();
        }
    }
}

fn redis_loop(spec: &RedisSpec, rx: &Receiver<Entry>, counters: &IntCounterVec) {
    let sent = counters.with_label_values(&["redis", "sent"]);
    let failed = counters.with_label_values(&["redis", "failed"]);
    let client = match redis::Client::open(spec.url.as_str()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid Redis URL; frame metadata will be dropped");
            for _ in rx.iter() {
                failed.inc();
            }
            return;
        }
    };
    let mut conn: Option<redis::Connection> = None;
    let mut last_warn: Option<Instant> = None;
    let mut batch: Vec<Entry> = Vec::new();
    loop {
        if batch.is_empty() {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(m) => batch.push(m),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            match client.get_connection_with_timeout(Duration::from_secs(2)) {
                Ok(c) => {
                    tracing::info!("connected to Redis");
                    conn = Some(c);
                }
                Err(e) => {
                    if last_warn.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                        tracing::warn!(error = %e, queued = batch.len(), "Redis unreachable; keeping frames and retrying (newest are dropped when the queue is full)");
                        last_warn = Some(Instant::now());
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let mut pipe = redis::pipe();
        for m in &batch {
            let (stream, field) = if m.event {
                (&spec.events_stream, "event")
            } else {
                (&spec.stream, "metadata")
            };
            pipe.cmd("XADD")
                .arg(stream.replace("{camera}", &m.camera))
                .arg("MAXLEN")
                .arg("~")
                .arg(spec.maxlen)
                .arg("*")
                .arg(field)
                .arg(&m.json)
                .ignore();
        }
        match pipe.query::<()>(c) {
            Ok(()) => {
                sent.inc_by(batch.len() as u64);
                batch.clear();
            }
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                tracing::warn!(error = %e, "Redis connection lost; retrying");
                conn = None;
            }
            Err(e) => {
                // The server refused the batch (wrong type at the key, ...): retrying cannot help.
                tracing::error!(error = %e, entries = batch.len(), "Redis refused the frames");
                failed.inc_by(batch.len() as u64);
                batch.clear();
            }
        }
    }
}

fn start_mqtt(spec: &MqttSpec) -> std::io::Result<rumqttc::Client> {
    let prefix = spec.prefix.trim_end_matches('/').to_string();
    let mut opts = rumqttc::MqttOptions::new(&spec.client_id, &spec.host, spec.port);
    opts.set_keep_alive(Duration::from_secs(15));
    opts.set_last_will(rumqttc::LastWill::new(
        format!("{prefix}/available"),
        "offline",
        rumqttc::QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &spec.user {
        opts.set_credentials(user, spec.password.clone().unwrap_or_default());
    }
    let (client, mut connection) = rumqttc::Client::new(opts, QUEUE);
    let online = client.clone();
    std::thread::Builder::new()
        .name("osprey-mqtt".into())
        .spawn(move || {
            let mut last_warn: Option<Instant> = None;
            for event in connection.iter() {
                match event {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                        tracing::info!("connected to the MQTT broker");
                        let _ = online.try_publish(
                            format!("{prefix}/available"),
                            rumqttc::QoS::AtLeastOnce,
                            true,
                            "online",
                        );
                    }
                    Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(e) => {
                        if last_warn.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                            tracing::warn!(error = %e, "MQTT broker unreachable; retrying");
                            last_warn = Some(Instant::now());
                        }
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        })?;
    Ok(client)
}
