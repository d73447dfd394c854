//! The `dirsync` binary: parse the command line and hand over to `dirsync::cli`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    dirsync::cli::run(dirsync::cli::Cli::parse()).await
}
