//! What the command-line front ends share (`tympan` and `cargo xtask`): how a training run is
//! shown. This is the CLI layer; the library crates below it print nothing.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tympan_train::launch::{Fetch, LaunchOptions, prepare, summary_table};
use tympan_train::{Event, RunOptions, TrainError};

/// Train the run `opts` describes (datasets fetched through `fetch`), with its progress on
/// stderr and the end-of-run table on stdout: `tympan train` and `cargo xtask train`.
pub fn train(opts: &LaunchOptions<'_>, fetch: &mut Fetch<'_>) -> Result<(), TrainError> {
    let launch = prepare(opts, fetch)?;
    eprintln!(
        "recipe {} ({}) on {} -> {}",
        launch.recipe.name,
        launch.path.display(),
        opts.backend.name(),
        launch.out.display()
    );
    let mut on_event = training_progress();
    let summary = tympan_train::run(
        &launch.recipe,
        RunOptions {
            device: launch.device,
            data_parallel: launch.data_parallel,
            out_dir: launch.out.clone(),
            resume: opts.resume,
            stop_after: None,
            on_event: &mut on_event,
        },
    )?;
    println!("{}", summary_table(&summary, &launch.out));
    Ok(())
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A progress bar per epoch, one per evaluation pass (validation, test: clips per second and
/// an ETA), and one line per other event, on stderr: what `cargo xtask train` and `tympan
/// train` show. Bars are hidden when stderr is not a terminal (indicatif), so a log file gets
/// the lines only.
pub fn training_progress() -> impl FnMut(Event) {
    let bars = MultiProgress::new();
    let mut epoch_bar: Option<ProgressBar> = None;
    let mut pass_bar: Option<(&'static str, ProgressBar)> = None;
    move |e: Event| match e {
        Event::EpochStart { epoch, batches } => {
            let pb = bars.add(ProgressBar::new(batches as u64));
            pb.set_style(style(&format!(
                "epoch {epoch:>3} [{{bar:30}}] {{pos}}/{{len}} {{msg}} eta {{eta}}"
            )));
            epoch_bar = Some(pb);
        }
        Event::Batch { loss, lr, .. } => {
            if let Some(pb) = &epoch_bar {
                pb.set_message(format!("loss {loss:.4} lr {lr:.2e}"));
                pb.inc(1);
            }
        }
        Event::Scoring { pass, done, total } => {
            if pass_bar.as_ref().is_none_or(|(p, _)| *p != pass) {
                if let Some((_, old)) = pass_bar.take() {
                    old.finish_and_clear();
                }
                let pb = bars.add(ProgressBar::new(total as u64));
                pb.set_style(style(&format!(
                    "scoring {pass:<10} [{{bar:30}}] {{pos}}/{{len}} clips {{per_sec}} eta {{eta}}"
                )));
                pass_bar = Some((pass, pb));
            }
            if let Some((_, pb)) = &pass_bar {
                pb.set_position(done as u64);
                if done >= total {
                    pb.finish_and_clear();
                    pass_bar = None;
                }
            }
        }
        other => {
            if matches!(other, Event::EpochEnd(_))
                && let Some(pb) = epoch_bar.take()
            {
                pb.finish_and_clear();
            }
            if let Some(line) = other.line() {
                let _ = bars.println(&line);
                if bars.is_hidden() {
                    eprintln!("{line}");
                }
            }
        }
    }
}
