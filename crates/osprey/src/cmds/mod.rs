//! One module per subcommand, each with `Args` and `run(args)`.
pub mod accounts;
pub mod detect;
pub mod eval;
pub mod loadgen;
pub mod serve;
pub mod track;
pub mod upload;
