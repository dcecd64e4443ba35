//! What the command-line front ends share (`tympan` and `cargo xtask`): how a training run is
//! shown. This is the CLI layer; the library crates below it print nothing.

use indicatif::{ProgressBar, ProgressStyle};
use tympan_train::Event;

/// A progress bar per epoch and one line per other event, on stderr: what `cargo xtask train`
/// and `tympan train` show.
pub fn training_progress() -> impl FnMut(Event) {
    let mut bar: Option<ProgressBar> = None;
    move |e: Event| match e {
        Event::EpochStart { epoch, batches } => {
            let pb = ProgressBar::new(batches as u64);
            pb.set_style(
                ProgressStyle::with_template(&format!(
                    "epoch {epoch:>3} [{{bar:30}}] {{pos}}/{{len}} {{msg}} eta {{eta}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar = Some(pb);
        }
        Event::Batch { loss, lr, .. } => {
            if let Some(pb) = &bar {
                pb.set_message(format!("loss {loss:.4} lr {lr:.2e}"));
                pb.inc(1);
            }
        }
        other => {
            if matches!(other, Event::EpochEnd(_))
                && let Some(pb) = bar.take()
            {
                pb.finish_and_clear();
            }
            if let Some(line) = other.line() {
                match &bar {
                    Some(pb) => pb.suspend(|| eprintln!("{line}")),
                    None => eprintln!("{line}"),
                }
            }
        }
    }
}
