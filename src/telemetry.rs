//! Logging: readable lines on a terminal, JSON objects under systemd's journal or when asked.

use tracing_subscriber::EnvFilter;

use crate::configuration::{LogFormat, LogSettings};

/// Installs the global subscriber. `level` overrides the configured filter (the CLI's one-shot
/// commands log only warnings).
pub fn init(settings: &LogSettings, level: Option<&str>) {
    let filter = EnvFilter::builder()
        .parse(level.unwrap_or(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        // systemd sets JOURNAL_STREAM when stderr is connected to the journal.
        LogFormat::Auto => std::env::var_os("JOURNAL_STREAM").is_some(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}
