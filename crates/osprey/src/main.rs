//! `osprey`: an edge-AI vision server. One binary, one subcommand per job.
use clap::{Parser, Subcommand};

mod app;
mod cmds;
mod common;
mod output;
mod recording;
mod snapshots;

/// Osprey: DeepStack-compatible object detection on ONNX Runtime.
#[derive(Debug, Parser)]
#[command(name = "osprey", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `osprey=debug`. Also `RUST_LOG`.
    #[arg(long, global = true, env = "OSPREY_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Detect objects in image files and print the results.
    Detect(cmds::detect::Args),
    /// Measure mAP on a dataset in YOLO label format, as Ultralytics `val` does.
    Eval(cmds::eval::Args),
    /// Serve the DeepStack / CodeProject.AI detection API (default port 32168).
    Serve(Box<cmds::serve::Args>),
    /// Print the effective server configuration and every problem in it.
    CheckConfig(Box<cmds::serve::Args>),
    /// Load-test a DeepStack endpoint with Frigate-shaped requests and print latency percentiles.
    Loadgen(cmds::loadgen::Args),
    /// Track objects in MOT-format detections and write MOT-format tracks (optionally scored).
    Track(cmds::track::Args),
    /// Manage users (the web UI's sign-in): add, list, remove, passwd, role.
    Users(cmds::accounts::UsersArgs),
    /// Manage API keys: create (printed once), list, revoke.
    Keys(cmds::accounts::KeysArgs),
    /// Upload the --generate_metrics line-protocol cache to InfluxDB (v1 or v2) targets.
    UploadMetrics(cmds::upload::Args),
}

/// Rewrites the command line for the Python server's users: `osprey --flagfile=...` means
/// `osprey serve --flagfile=...`, and serve's flags go through absl-style normalisation.
fn normalized_args() -> Result<Vec<String>, osprey_config::flags::FlagError> {
    let mut args: Vec<String> = std::env::args().collect();
    let first = args.get(1).map(String::as_str).unwrap_or("");
    let passthrough = ["-h", "--help", "-V", "--version", "help"];
    if first.starts_with('-') && !passthrough.contains(&first) && !first.starts_with("--log") {
        args.insert(1, "serve".to_string());
    }
    if let Some(pos) = args
        .iter()
        .position(|a| a == "serve" || a == "check-config")
    {
        let tail = osprey_config::flags::normalize(&args[pos + 1..])?;
        args.truncate(pos + 1);
        args.extend(tail);
    } else if let Some(pos) = args.iter().position(|a| a == "upload-metrics") {
        let tail = osprey_config::flags::expand_flagfiles(&args[pos + 1..])?;
        args.truncate(pos + 1);
        args.extend(tail);
    }
    Ok(args)
}

fn main() -> std::process::ExitCode {
    let args = match normalized_args() {
        Ok(a) => a,
        Err(e) => {
            common::eprint_error(&anyhow::anyhow!(e));
            return std::process::ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Detect(args) => {
            common::init_tracing(cli.log.as_deref());
            cmds::detect::run(args)
        }
        Command::Eval(args) => {
            common::init_tracing(cli.log.as_deref());
            cmds::eval::run(args)
        }
        Command::Serve(args) => cmds::serve::run(*args, cli.log.as_deref()),
        Command::CheckConfig(args) => cmds::serve::check_config(*args),
        Command::UploadMetrics(args) => {
            common::init_tracing(cli.log.as_deref());
            cmds::upload::run(args)
        }
        Command::Track(args) => {
            common::init_tracing(cli.log.as_deref());
            cmds::track::run(args)
        }
        Command::Users(args) => cmds::accounts::users(args),
        Command::Keys(args) => cmds::accounts::keys(args),
        Command::Loadgen(args) => {
            common::init_tracing(cli.log.as_deref());
            cmds::loadgen::run(args)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            common::eprint_error(&e);
            std::process::ExitCode::from(2)
        }
    }
}
