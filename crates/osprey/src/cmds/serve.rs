//! `osprey serve` and `osprey check-config`.
//!
//! Flags are the Osprey names; the Python server's names, absl booleans and `--flagfile` are
//! rewritten to them first (`osprey_config::flags`). Configuration layers: defaults < `--config`
//! TOML file < environment (`OSPREY_*`, DeepStack's `MODE`, `API-KEY`, `PORT`,
//! `MODELSTORE-DETECTION`) < flags.
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use osprey_api::{ListenMode, Listener};
use osprey_config::{ServeConfig, Settings};
use osprey_detect::Provider;

fn parse_bool(v: &str) -> Result<bool, String> {
    osprey_config::flags::parse_bool("flag", v).map_err(|e| e.to_string())
}

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// TOML configuration file (see docs/configuration.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// ONNX model for /v1/vision/detection (Python: --engine_path).
    #[arg(long, short = 'm')]
    pub model: Option<PathBuf>,
    /// Folder of ONNX models, each served at /v1/vision/custom/<file stem>.
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Inference size for dynamic-shape models (Python: --image_size).
    #[arg(long)]
    pub imgsz: Option<u32>,
    /// TensorRT fp16 (Python: --half_precision).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub half: Option<bool>,
    /// Inference engine: auto (default: OpenVINO fp32 on x86-64 when provisioned, else ONNX
    /// Runtime), ort (ONNX Runtime) or openvino.
    #[arg(long)]
    pub engine: Option<osprey_detect::Engine>,
    /// Precision: fp32 (default, exact), bf16, int8 or auto (the fastest the CPU and the model
    /// file allow).
    #[arg(long)]
    pub precision: Option<osprey_detect::Precision>,
    /// Execution provider: cpu, cuda, tensorrt, openvino.
    #[arg(long)]
    pub provider: Option<Provider>,
    /// Use the CPU when the provider is unavailable.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub fallback_to_cpu: Option<bool>,
    /// TensorRT engine cache folder.
    #[arg(long)]
    pub trt_cache: Option<PathBuf>,
    /// Intra-op threads per model (0: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Let idle ONNX Runtime threads spin (default: on with one model, off with several).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub spinning: Option<bool>,
    /// Inferences in flight when several requests or frames wait: auto (the engine's choice
    /// for this CPU) or a count; 1 runs one at a time. A lone request still uses every thread.
    #[arg(long)]
    pub streams: Option<osprey_detect::Streams>,
    /// OpenVINO: pin inference threads to cores (default: OpenVINO's choice).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub pinning: Option<bool>,
    /// Path of libonnxruntime.so.
    #[arg(long)]
    pub ort_library: Option<PathBuf>,
    /// Path of OpenVINO's libopenvino_c.so or its folder (default: runtime/openvino/lib).
    #[arg(long)]
    pub openvino_library: Option<PathBuf>,
    /// Labels file overriding the model's class names.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Address to listen on (repeatable); overrides --host/--port.
    #[arg(long)]
    pub listen: Vec<SocketAddr>,
    /// IP address to bind (Python: --server_ip). Default 0.0.0.0.
    #[arg(long)]
    pub host: Option<IpAddr>,
    /// Port (Python: --server_port). Default 32168.
    #[arg(long)]
    pub port: Option<u16>,
    /// Require this API key from clients.
    #[arg(long)]
    pub api_key: Option<String>,
    /// Default min_confidence (DeepStack: 0.4).
    #[arg(long)]
    pub min_confidence: Option<f32>,
    /// Default cap on predictions per response.
    #[arg(long)]
    pub max_detections: Option<usize>,
    /// Largest request body in bytes (Python: --max_content_length). Default 16 MiB.
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// Largest image part in bytes (Python: --max_image_data_bytes). Default 16 MiB.
    #[arg(long)]
    pub max_image_bytes: Option<usize>,
    /// Largest decoded image in pixels. Default 40 000 000.
    #[arg(long)]
    pub max_pixels: Option<u64>,
    /// Log every response (Python: --log_response).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub log_responses: Option<bool>,
    /// Emit InfluxDB metrics (Python: --generate_metrics).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub generate_metrics: Option<bool>,
    /// SQLite line-protocol cache for --generate-metrics. Default data/line-protocol-cache/cache.sqlite.
    #[arg(long)]
    pub metrics_cache: Option<PathBuf>,
    /// Longest wait before InfluxDB points are committed to the cache, ms. Default 250.
    #[arg(long)]
    pub metrics_commit_ms: Option<u64>,
    /// Run the uploader in the server with `osprey upload-metrics` flags from this flagfile.
    #[arg(long)]
    pub metrics_upload_flagfile: Option<PathBuf>,
    /// absl verbosity: -2 error, -1 warning, 0 info, 1 debug.
    #[arg(long, allow_hyphen_values = true)]
    pub verbosity: Option<i32>,
    /// DeepStack MODE: High, Medium or Low (imgsz 640/416/320 for dynamic models).
    #[arg(long)]
    pub mode: Option<String>,
    /// Requests waiting per model before 503. Default 64.
    #[arg(long)]
    pub queue_capacity: Option<usize>,
    /// Largest inference batch for dynamic-batch models. Default 8.
    #[arg(long)]
    pub max_batch: Option<usize>,
    /// How long a request waits for batch company, in ms. Default 2.
    #[arg(long)]
    pub batch_wait_ms: Option<u64>,
    /// Largest batch of camera frames (an HTTP request waits at most one such batch). Default 4.
    #[arg(long)]
    pub camera_max_batch: Option<usize>,
    /// Whole-request deadline in ms. Default 10000.
    #[arg(long)]
    pub request_timeout_ms: Option<u64>,
    /// Deadline for request headers in ms (slow clients). Default 10000.
    #[arg(long)]
    pub header_timeout_ms: Option<u64>,
    /// Deadline for the request body in ms. Default 30000.
    #[arg(long)]
    pub body_timeout_ms: Option<u64>,
    /// Simultaneous connections. Default 1024.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Image to warm the model up with before reporting ready.
    #[arg(long)]
    pub warmup_image: Option<PathBuf>,
    /// A camera to analyse, `ID=URL` (repeatable; replaces the config file's cameras; more
    /// settings per camera in the TOML file or over POST /api/cameras).
    #[arg(long = "camera", value_parser = parse_camera)]
    pub cameras: Vec<osprey_pipeline::CameraSpec>,
    /// Redis URL for per-frame metadata (`redis://host:port`), stream `osprey:frames`;
    /// analytics events and alerts go to the stream `osprey:analytics`.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// POST analytics events and alerts as JSON to this `http://` URL (repeatable; more
    /// settings in `[[webhooks]]` tables of the config file).
    #[arg(long = "webhook", value_name = "URL")]
    pub webhooks: Vec<String>,
    /// MQTT broker `HOST[:PORT]` for Frigate-style events.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// MQTT topic prefix. Default osprey.
    #[arg(long)]
    pub mqtt_prefix: Option<String>,
    /// SQLite file of track events. Default data/events.sqlite.
    #[arg(long)]
    pub events_db: Option<PathBuf>,
    /// Folder of recorded video (index and segments); cameras with `record = "continuous"`
    /// record there. Default data/recordings when a camera records.
    #[arg(long)]
    pub recordings: Option<PathBuf>,
    /// Users, keys and sessions: on (default) or off (every client is an admin; warned about
    /// when listening beyond loopback).
    #[arg(long, value_parser = parse_on_off)]
    pub auth: Option<bool>,
    /// The users / keys / sessions / audit database. Default: auth.sqlite beside the events
    /// database.
    #[arg(long)]
    pub auth_db: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (reloaded when the file changes).
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate Osprey makes once and keeps (its fingerprint is logged).
    #[arg(long)]
    pub tls_self_signed: bool,
    /// Also listen for plain HTTP on this port, redirecting to HTTPS.
    #[arg(long)]
    pub tls_redirect_port: Option<u16>,
    /// A proxy whose X-Forwarded-For is believed (address or CIDR; repeatable).
    #[arg(long)]
    pub trusted_proxy: Vec<String>,
}

fn parse_on_off(v: &str) -> Result<bool, String> {
    osprey_config::parse_on_off(v).ok_or_else(|| format!("{v:?} is not on or off"))
}

fn parse_camera(v: &str) -> Result<osprey_pipeline::CameraSpec, String> {
    let (id, url) = v
        .split_once('=')
        .ok_or_else(|| format!("{v:?} is not ID=URL"))?;
    Ok(osprey_pipeline::CameraSpec {
        id: id.trim().to_string(),
        url: url.trim().to_string(),
        ..Default::default()
    })
}

fn mqtt_spec(hostport: &str, prefix: Option<&str>) -> osprey_sinks::MqttSpec {
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap_or(1883)),
        _ => (hostport.to_string(), 1883),
    };
    osprey_sinks::MqttSpec {
        host,
        port,
        prefix: prefix.unwrap_or("osprey").to_string(),
        client_id: "osprey".into(),
        user: None,
        password: None,
    }
}

impl Args {
    fn settings(&self) -> Settings {
        Settings {
            model: self.model.clone(),
            models_dir: self.models_dir.clone(),
            imgsz: self.imgsz,
            half: self.half,
            engine: self.engine,
            precision: self.precision,
            provider: self.provider,
            fallback_to_cpu: self.fallback_to_cpu,
            trt_cache: self.trt_cache.clone(),
            threads: self.threads,
            spinning: self.spinning,
            streams: self.streams,
            pinning: self.pinning,
            ort_library: self.ort_library.clone(),
            openvino_library: self.openvino_library.clone(),
            labels: self.labels.clone(),
            listen: (!self.listen.is_empty()).then(|| self.listen.clone()),
            host: self.host,
            port: self.port,
            api_key: self.api_key.clone(),
            min_confidence: self.min_confidence,
            max_detections: self.max_detections,
            max_body_bytes: self.max_body_bytes,
            max_image_bytes: self.max_image_bytes,
            max_pixels: self.max_pixels,
            log_responses: self.log_responses,
            generate_metrics: self.generate_metrics,
            metrics_cache: self.metrics_cache.clone(),
            metrics_commit_ms: self.metrics_commit_ms,
            metrics_upload_flagfile: self.metrics_upload_flagfile.clone(),
            verbosity: self.verbosity,
            mode: self.mode.clone(),
            queue_capacity: self.queue_capacity,
            max_batch: self.max_batch,
            batch_wait_ms: self.batch_wait_ms,
            camera_max_batch: self.camera_max_batch,
            request_timeout_ms: self.request_timeout_ms,
            header_timeout_ms: self.header_timeout_ms,
            body_timeout_ms: self.body_timeout_ms,
            max_connections: self.max_connections,
            warmup_image: self.warmup_image.clone(),
            cameras: (!self.cameras.is_empty()).then(|| self.cameras.clone()),
            redis: self.redis_url.as_ref().map(|url| osprey_sinks::RedisSpec {
                url: url.clone(),
                stream: "osprey:frames".into(),
                maxlen: 10_000,
                events_stream: "osprey:analytics".into(),
            }),
            mqtt: self
                .mqtt
                .as_deref()
                .map(|m| mqtt_spec(m, self.mqtt_prefix.as_deref())),
            events_db: self.events_db.clone(),
            analytics: None,
            recordings_dir: self.recordings.clone(),
            min_free_bytes: None,
            security: self.security_settings(),
            access: None,
            webhooks: (!self.webhooks.is_empty()).then(|| {
                self.webhooks
                    .iter()
                    .map(|url| osprey_sinks::webhook::WebhookSpec::new(url))
                    .collect()
            }),
        }
    }

    fn security_settings(&self) -> Option<osprey_config::SecuritySettings> {
        let s = osprey_config::SecuritySettings {
            auth: self.auth,
            auth_db: self.auth_db.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            tls_self_signed: self.tls_self_signed.then_some(true),
            tls_redirect_port: self.tls_redirect_port,
            trusted_proxies: (!self.trusted_proxy.is_empty()).then(|| self.trusted_proxy.clone()),
            ..Default::default()
        };
        (s != osprey_config::SecuritySettings::default()).then_some(s)
    }

    /// A config file that holds secrets and is readable by others.
    pub fn config_warning(&self) -> Option<String> {
        let p = self.config.as_ref()?;
        let text = std::fs::read_to_string(p).ok()?;
        osprey_config::loose_permissions(p, &text)
    }

    /// Layers defaults < file < environment < flags; returns the config and every problem.
    pub fn resolve(&self) -> (ServeConfig, Vec<String>) {
        let mut problems = Vec::new();
        let file = match &self.config {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(text) => Settings::from_toml(&text).unwrap_or_else(|e| {
                    problems.push(format!("{}: {e} (see docs/configuration.md)", p.display()));
                    Settings::default()
                }),
                Err(e) => {
                    problems.push(format!("cannot read {}: {e}", p.display()));
                    Settings::default()
                }
            },
            None => Settings::default(),
        };
        let (env, env_problems) = Settings::from_env(|k| std::env::var(k).ok());
        problems.extend(env_problems);
        let (cfg, more) = file.merge(env).merge(self.settings()).resolve();
        problems.extend(more);
        (cfg, problems)
    }
}

/// Binds every address: plain HTTP, or HTTPS (with the certificate watcher) plus the optional
/// redirecting plain listener.
async fn bind(
    listen: &[SocketAddr],
    tls: Option<&osprey_api::TlsConfig>,
) -> anyhow::Result<Vec<Listener>> {
    let mode = match tls {
        None => ListenMode::Plain,
        Some(t) => {
            let (acceptor, resolver) = osprey_api::tls::acceptor(t).context("setting up TLS")?;
            tracing::info!(
                cert = %t.cert.display(),
                self_signed = t.self_signed,
                sha256 = %resolver.fingerprint(),
                "serving HTTPS (pin this fingerprint in clients that cannot verify the certificate)"
            );
            tokio::spawn(osprey_api::tls::watch(resolver, t.reload_every));
            ListenMode::Tls(acceptor)
        }
    };
    let mut listeners = Vec::new();
    for addr in listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = l.local_addr().unwrap_or(*addr);
        tracing::info!(address = %local, scheme = if tls.is_some() { "https" } else { "http" }, "listening");
        listeners.push(Listener {
            tcp: l,
            mode: mode.clone(),
        });
    }
    if let (Some(port), Some(first)) = (tls.and_then(|t| t.redirect_port), listeners.first()) {
        let https_port = first.tcp.local_addr().map(|a| a.port()).unwrap_or(0);
        let addr = SocketAddr::new(listen[0].ip(), port);
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(redirect_address = %l.local_addr().unwrap_or(addr), https_port, "plain HTTP redirects to HTTPS");
        listeners.push(Listener {
            tcp: l,
            mode: ListenMode::Redirect { https_port },
        });
    }
    Ok(listeners)
}

fn log_filter(cfg: &ServeConfig) -> &'static str {
    match cfg.verbosity {
        Some(v) if v >= 1 => "debug",
        Some(-1) => "warn,osprey::access=warn",
        Some(v) if v <= -2 => "error",
        _ => "info",
    }
}

/// `osprey check-config`: prints the effective configuration (secrets redacted) and every problem.
#[allow(clippy::print_stdout)]
pub fn check_config(args: Args) -> anyhow::Result<ExitCode> {
    let (cfg, problems) = args.resolve();
    println!("{}", serde_json::to_string_pretty(&cfg)?);
    if let Some(w) = args.config_warning() {
        println!("warning: {w}");
    }
    if problems.is_empty() {
        println!("configuration OK");
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            println!("problem: {p}");
        }
        Ok(ExitCode::from(1))
    }
}

pub fn run(args: Args, log: Option<&str>) -> anyhow::Result<ExitCode> {
    let (cfg, problems) = args.resolve();
    crate::common::init_tracing(Some(log.unwrap_or_else(|| log_filter(&cfg))));
    if !problems.is_empty() {
        anyhow::bail!(
            "the configuration has problems (osprey check-config lists them):\n  - {}",
            problems.join("\n  - ")
        );
    }
    if let Some(w) = args.config_warning() {
        tracing::warn!("{w}");
    }
    let listen = cfg.api.listen.clone();
    let tls_cfg = cfg.security.tls.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("osprey-http")
        .build()
        .context("starting the async runtime")?;
    let upload_flagfile = cfg.metrics.metrics_upload_flagfile.clone();
    let server_cache = cfg.metrics.metrics_cache.clone();
    let app = crate::app::start(&cfg)?;
    let uploader = match &upload_flagfile {
        Some(f) => Some(super::upload::InProcess::start(f, &server_cache)?),
        None => None,
    };
    runtime.block_on(async move {
        let listeners = bind(&listen, tls_cfg.as_ref()).await?;
        osprey_api::serve(
            listeners,
            Arc::clone(&app.state),
            osprey_api::shutdown_signal(),
            Duration::from_secs(30),
            app.stopper(),
        )
        .await;
        Ok::<_, anyhow::Error>(())
    })?;
    if let Some(u) = uploader {
        u.stop();
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
