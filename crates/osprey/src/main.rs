//! `osprey`: an edge-AI vision server. One binary, one subcommand per job.
use clap::{Parser, Subcommand};

mod cmds;
mod common;
mod deepstack;

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    common::init_tracing(cli.log.as_deref());
    let result = match cli.command {
        Command::Detect(args) => cmds::detect::run(args),
        Command::Eval(args) => cmds::eval::run(args),
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
