//! The `dirsync` binary: parse the command line and hand over to `dirsync::cli`.

use std::process::ExitCode;

use clap::Parser;

// See Cargo.toml for why the daemon does not use the system allocator.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    dirsync::cli::run(dirsync::cli::Cli::parse()).await
}
