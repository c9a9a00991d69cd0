//! Configuration, layered: built-in defaults < TOML file (`--config`) < environment
//! (`OSPREY_*` and DeepStack's names) < command-line flags, including the Python server's absl
//! flags and flagfiles ([`flags`]). The layers are flat [`Settings`]; [`Settings::resolve`]
//! fills defaults, collects every problem at once (for `osprey check-config`), and composes
//! the [`ServeConfig`] from the sections each crate owns (`osprey_api::ApiConfig`,
//! `osprey_infer::InferConfig`, `osprey_pipeline::CameraSpec`, `osprey_sinks::{RedisSpec,
//! MqttSpec}`, [`StoreConfig`], [`MetricsConfig`]). TOML takes each key flat or in its
//! section ([`SECTIONS`]).
#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod flags;
mod sections;
mod security;
mod serve;
mod settings;

pub use security::{loose_permissions, parse_on_off, SecuritySettings};
pub use settings::{
    MetricsConfig, RecordingConfig, ServeConfig, Settings, StoreConfig, DEFAULT_PORT, SECTIONS,
};
