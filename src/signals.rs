//! SIGTERM and SIGINT start a graceful shutdown by cancelling the token; a second signal while
//! shutting down exits at once, for an operator who does not want to wait out the grace period.
//! SIGHUP asks for a configuration reload (`systemctl reload dirsync`).

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Listens for SIGTERM and SIGINT for the life of the process.
pub fn cancel_on_signal(token: CancellationToken) -> std::io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let mut received = 0;
        loop {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            received += 1;
            if received == 1 {
                tracing::info!(
                    signal = name,
                    "shutting down: no new connections, finishing requests in flight"
                );
                token.cancel();
            } else {
                tracing::warn!(signal = name, "second signal: exiting immediately");
                std::process::exit(130);
            }
        }
    });
    Ok(())
}

/// Each SIGHUP as one `recv()`; signals that arrive during a reload collapse into one more.
pub fn hangups() -> std::io::Result<tokio::signal::unix::Signal> {
    signal(SignalKind::hangup())
}
