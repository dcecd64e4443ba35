//! How a training run is shown: bars on a terminal, lines in a log.

use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tympan_train::launch::{Fetch, LaunchOptions, prepare, summary_table};
use tympan_train::{Event, RunOptions, TrainError};

use super::bars;

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

/// A progress bar per epoch and per long pass (decoding, normalisation statistics, each
/// evaluation pass: clips per second and an ETA), and one line per other event, on stderr: what
/// `cargo xtask train` and `tympan train` show. When stderr is not a terminal (a log file), the
/// bars are hidden and lines take their place: one per tenth of an epoch (loss, rate, ETA) and
/// one per finished pass (clips, seconds, rate).
pub fn training_progress() -> impl FnMut(Event) {
    let bars = bars();
    let hidden = bars.is_hidden();
    let say = move |bars: &MultiProgress, line: &str| {
        if hidden {
            eprintln!("{line}");
        } else {
            let _ = bars.println(line);
        }
    };
    let mut epoch_bar: Option<(ProgressBar, Instant, usize)> = None;
    let mut pass_bar: Option<(&'static str, ProgressBar, Instant)> = None;
    move |e: Event| match e {
        Event::EpochStart { epoch, batches } => {
            let pb = bars.add(ProgressBar::new(batches as u64));
            pb.set_style(style(&format!(
                "epoch {epoch:>3} [{{bar:30}}] {{pos}}/{{len}} {{msg}} eta {{eta}}"
            )));
            epoch_bar = Some((pb, Instant::now(), batches));
        }
        Event::Batch {
            epoch,
            batch,
            loss,
            lr,
        } => {
            if let Some((pb, start, batches)) = &epoch_bar {
                pb.set_message(format!("loss {loss:.4} lr {lr:.2e}"));
                pb.inc(1);
                let done = batch + 1;
                if hidden && tenth_done(done, *batches) {
                    let s = start.elapsed().as_secs_f64();
                    let rate = done as f64 / s.max(1e-9);
                    let eta = (*batches - done) as f64 / rate.max(1e-9);
                    say(
                        bars,
                        &format!(
                            "epoch {epoch:>3}: batch {done}/{batches} loss {loss:.4} lr {lr:.2e} ({rate:.2} batches/s, eta {})",
                            clock(eta)
                        ),
                    );
                }
            }
        }
        Event::Progress { task, done, total } => {
            if pass_bar.as_ref().is_none_or(|(p, _, _)| *p != task) {
                if let Some((_, old, _)) = pass_bar.take() {
                    old.finish_and_clear();
                }
                let pb = bars.add(ProgressBar::new(total as u64));
                pb.set_style(style(&format!(
                    "{task:<26} [{{bar:30}}] {{pos}}/{{len}} clips {{per_sec}} eta {{eta}}"
                )));
                pass_bar = Some((task, pb, Instant::now()));
            }
            if let Some((_, pb, start)) = &pass_bar {
                pb.set_position(done as u64);
                if done >= total {
                    pb.finish_and_clear();
                    if hidden {
                        let s = start.elapsed().as_secs_f64();
                        say(
                            bars,
                            &format!(
                                "{task}: {total} clips in {s:.1} s ({:.1} clips/s)",
                                total as f64 / s.max(1e-9)
                            ),
                        );
                    }
                    pass_bar = None;
                }
            }
        }
        other => {
            if matches!(other, Event::EpochEnd(_))
                && let Some((pb, _, _)) = epoch_bar.take()
            {
                pb.finish_and_clear();
            }
            if let Some(line) = other.line() {
                say(bars, &line);
            }
        }
    }
}

/// Whether `done` of `total` batches crosses a tenth of the epoch (always the last batch).
fn tenth_done(done: usize, total: usize) -> bool {
    done == total || (done * 10 / total.max(1)) > ((done - 1) * 10 / total.max(1))
}

/// Seconds as `1h02m03s`, `2m03s` or `3s`.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_gets_a_line_per_tenth_of_an_epoch() {
        let lines: Vec<usize> = (1..=25).filter(|&d| tenth_done(d, 25)).collect();
        assert_eq!(lines, [3, 5, 8, 10, 13, 15, 18, 20, 23, 25]);
        // Fewer batches than tenths: every batch.
        assert_eq!((1..=4).filter(|&d| tenth_done(d, 4)).count(), 4);
    }

    #[test]
    fn clocks_read_as_hours_minutes_seconds() {
        assert_eq!(clock(3.4), "3s");
        assert_eq!(clock(123.0), "2m03s");
        assert_eq!(clock(3723.0), "1h02m03s");
    }
}
