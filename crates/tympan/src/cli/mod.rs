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
