//! Where analysed frames, object events and analytics results go: Redis Streams (DeepStream's minimal schema, one
//! entry per processed frame; analytics events and alerts), MQTT (Frigate's `events`, per-label counts,
//! availability; analytics topics) and webhooks.
//! Each publisher is a named thread behind a bounded queue; a full queue drops the message and
//! counts it, so a camera never waits for a sink. The wire formats are built here, beside their
//! sink, from the typed messages of `osprey-schema`.
#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod analytics;
mod bus;
pub mod deepstream;
pub mod frigate;
pub mod webhook;

pub use bus::{register_metrics, Bus, FrameMessage, MqttMessage, MqttSpec, RedisSpec};
