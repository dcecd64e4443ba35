//! What the command-line front ends share (`tympan` and `cargo xtask`): the process's progress
//! bars, the log writer that keeps lines from tearing them, and (feature `train`) how a training
//! run is shown. This is the CLI layer; the library crates below it print nothing.

use std::io::Write;
use std::sync::LazyLock;

use indicatif::MultiProgress;

#[cfg(feature = "train")]
mod progress;
#[cfg(feature = "train")]
pub use progress::{train, training_progress};

/// Send `tracing` events to stderr through [`log_writer`]: at `level` (`error`, `warn`, `info`,
/// `debug`) unless `RUST_LOG` says otherwise, with colour only on a terminal and symphonia's
/// probing messages silenced (it logs them at error level even when tympan turns the failure
/// into a proper error). `tympan` and `cargo xtask` call it once, first.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let quiet = [
            "core",
            "bundle_mp3",
            "bundle_flac",
            "format_ogg",
            "format_riff",
            "codec_vorbis",
            "codec_pcm",
        ]
        .map(|m| format!(",symphonia_{m}=off"))
        .concat();
        tracing_subscriber::EnvFilter::new(format!("{level}{quiet}"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Through the progress bars: a warning does not tear a download or tagging bar.
        .with_writer(log_writer)
        // Colour codes only on a terminal, not in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
}

/// Every progress bar of the process. A bar added here and a log line written through
/// [`log_writer`] do not tear each other: the line is printed with the bars suspended.
pub fn bars() -> &'static MultiProgress {
    static BARS: LazyLock<MultiProgress> = LazyLock::new(MultiProgress::new);
    &BARS
}

/// Where the front ends' `tracing` subscriber writes: stderr, with [`bars`] cleared while a
/// line is written and drawn again after it.
pub fn log_writer() -> LogWriter {
    LogWriter
}

/// See [`log_writer`].
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        bars().suspend(|| std::io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        bars().suspend(|| std::io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
