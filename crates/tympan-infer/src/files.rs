//! Files to window scores, the windows of consecutive files sharing forward passes
//! ([`Scorer::score_files`]). Each file is read piece by piece and cut into windows as
//! [`Scorer::score_file`] describes; windows wait in one queue until [`PASSES_AT_ONCE`] passes
//! are ready, whatever file they come from, and those passes run at the same time
//! ([`crate::predict`]). A pass is [`Scorer::batch`] windows (a VGGish-input model: that many
//! 960 ms patches, a file's patches queued together), or fewer where windows are large
//! ([`PASS_VALUES`]). Memory is one queue of windows plus the scores of the files not yet
//! reported, and files are reported in their order as soon as they and every file before them
//! are scored.
//!
//! `tympan tag` on a folder of short clips scored each file alone: a 10 s clip is one window for
//! Chen et al.'s network and three for the M-nets, so the M-nets' passes ran on three windows,
//! where eight ran 44 % faster per window.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use tympan_audio::LoadOptions;
use tympan_audio::stream::Stream;
use tympan_models::Tagger;

use crate::predict::{Clip, PASSES_AT_ONCE, predict};
use crate::scorer::rows;
use crate::{InferError, Scorer, Windows};

/// The most input values a pass takes when windows of several files share it: a window of
/// Chen et al.'s network (160,000 samples) or of PSLA's EfficientNet (1056 x 128 fbank values)
/// goes alone, eight of the M-nets' (32,000 samples), sixteen slim 2D windows or VGGish patches.
/// Measured on the flex backend (2-core AMD EPYC, 2026-12-07), clips/s by windows per pass:
/// M34-res 126 / 182 / 175 at 3 / 8 / 16; Chen et al. 11.2 / 10.8 / 10.1 at 1 / 4 / 16 (and 4x
/// the memory at 16); the DenseNet 91 / 90 / 87 at 3 / 8 / 16; `tympan tag` with PSLA's B2 took
/// 2.5 s for 30 clips at 16 windows per pass against 1.7 s one at a time. Large windows do not
/// gain from sharing a pass on this backend, small ones do.
const PASS_VALUES: usize = 1 << 18;

/// One window waiting for a forward pass.
struct Queued {
    file: usize,
    samples: Vec<f32>,
    rate: u32,
}

/// A file's scores so far.
struct Progress {
    path: PathBuf,
    scores: Vec<Vec<f32>>,
    /// Its window count, once the file has been read to its end.
    windows: Option<usize>,
    hop_s: f64,
    window_s: f64,
    error: Option<InferError>,
}

impl Progress {
    fn complete(&self) -> bool {
        self.error.is_some() || self.windows == Some(self.scores.len())
    }
}

/// The queue and the files of one [`Scorer::score_files`] call.
struct Run<'a, F> {
    scorer: &'a Scorer,
    model: &'a Tagger,
    device: &'a Device,
    queue: Vec<Queued>,
    /// Examples in the queue: windows, or a VGGish model's patches.
    examples: usize,
    /// Examples per forward pass: [`Scorer::batch`], fewer for large windows ([`PASS_VALUES`]).
    per_pass: usize,
    files: Vec<Progress>,
    /// The first file not reported yet.
    next: usize,
    done: F,
    /// An error of a pass that belongs to no file (reading the outputs back): it ends the call.
    fatal: Option<InferError>,
    /// The caller asked to stop (its `done` returned `Break`).
    stopped: bool,
}

impl Scorer {
    /// Window scores of `paths`, windows every `hop_s` seconds (default: the window length),
    /// the windows of consecutive files sharing forward passes of [`Self::batch`] windows (see
    /// the `files` module). `done(i, windows)` gets file `i`'s scores, or the error that stopped
    /// it, in file order; the files after a failed one go on. `done` returning `Break` ends the
    /// call there (a consumer that cannot take more, such as a closed pipe). A hop that is not a
    /// positive number of seconds, and errors that belong to no file (reading the outputs back),
    /// end the call with that error.
    pub fn score_files<P: AsRef<Path>>(
        &self,
        model: &Tagger,
        paths: &[P],
        hop_s: Option<f64>,
        device: &Device,
        done: impl FnMut(usize, Result<Windows, InferError>) -> ControlFlow<()>,
    ) -> Result<(), InferError> {
        Self::check_hop(hop_s)?;
        let values = self.contract.length.max(1) * self.contract.input.bins();
        let mut run = Run {
            scorer: self,
            model,
            device,
            queue: Vec::new(),
            examples: 0,
            per_pass: self.batch.min((PASS_VALUES / values).max(1)),
            files: Vec::with_capacity(paths.len()),
            next: 0,
            done,
            fatal: None,
            stopped: false,
        };
        for (i, path) in paths.iter().enumerate() {
            let path = path.as_ref();
            run.files.push(Progress {
                path: path.to_path_buf(),
                scores: Vec::new(),
                windows: None,
                hop_s: 0.0,
                window_s: 0.0,
                error: None,
            });
            if let Err(e) = run.read(i, path, hop_s) {
                run.fail(i, e);
            }
            if let Some(e) = run.fatal.take() {
                return Err(e);
            }
            run.report();
            if run.stopped {
                return Ok(());
            }
        }
        run.flush();
        if let Some(e) = run.fatal.take() {
            return Err(e);
        }
        run.report();
        debug_assert!(
            run.stopped || run.next == paths.len(),
            "every file is reported"
        );
        Ok(())
    }
}

impl<F: FnMut(usize, Result<Windows, InferError>) -> ControlFlow<()>> Run<'_, F> {
    /// Queue file `i`'s windows, scoring the queue each time it fills.
    fn read(&mut self, i: usize, path: &Path, hop_s: Option<f64>) -> Result<(), InferError> {
        let contract = &self.scorer.contract;
        let opts = LoadOptions {
            sample_rate: contract.sample_rate,
            ..LoadOptions::default()
        };
        let mut stream = Stream::open(path, &opts).map_err(InferError::audio(path))?;
        let rate = stream.sample_rate();
        let Some((win, hop)) = self.scorer.geometry(rate, hop_s)? else {
            // The whole file is one input, averaged over its patches.
            let samples = stream.read_to_end().map_err(InferError::audio(path))?;
            let secs = samples.len() as f64 / rate as f64;
            let patches = contract.example_ranges(samples.len(), rate).len();
            let f = &mut self.files[i];
            (f.hop_s, f.window_s, f.windows) = (secs, secs, Some(1));
            self.push(i, samples, rate, patches.max(1));
            return Ok(());
        };
        (self.files[i].hop_s, self.files[i].window_s) =
            (hop as f64 / rate as f64, win as f64 / rate as f64);
        let min = contract.min_samples(rate);
        // Windows start every `hop` samples until one reaches the end of the file; `buf` holds
        // samples `base..base + buf.len()`, from the next window's start to what has been read.
        let (mut buf, mut base, mut ended) = (Vec::new(), 0usize, false);
        let mut count = 0;
        let mut next = Some(0usize);
        while let Some(start) = next {
            loop {
                let drop = (start - base).min(buf.len());
                buf.drain(..drop);
                base += drop;
                // Read until the window is complete and one sample past it tells whether
                // another window follows, or the file ends.
                if ended || base + buf.len() > start + win {
                    break;
                }
                ended = !stream.read(&mut buf).map_err(InferError::audio(path))?;
            }
            let known = base + buf.len();
            next = (start + win < known).then_some(start + hop);
            if known.saturating_sub(start) >= min || start == 0 {
                let end = (start + win).min(known);
                count += 1;
                self.push(i, buf[start - base..end - base].to_vec(), rate, 1);
                if self.fatal.is_some() {
                    return Ok(());
                }
            }
        }
        self.files[i].windows = Some(count);
        Ok(())
    }

    /// Queue one input of `examples` examples; score the queue once it holds
    /// [`PASSES_AT_ONCE`] passes.
    fn push(&mut self, file: usize, samples: Vec<f32>, rate: u32, examples: usize) {
        self.queue.push(Queued {
            file,
            samples,
            rate,
        });
        self.examples += examples;
        if self.examples >= self.per_pass * PASSES_AT_ONCE {
            self.flush();
        }
    }

    /// Score the queue and hand each file its rows. If a window fails (its features cannot be
    /// computed), each file's windows are scored apart, so that only the failing file fails; an
    /// error that belongs to no file is kept in `fatal`.
    fn flush(&mut self) {
        if let Err(e) = self.try_flush() {
            self.fatal.get_or_insert(e);
        }
    }

    fn try_flush(&mut self) -> Result<(), InferError> {
        if self.queue.is_empty() {
            return Ok(());
        }
        let queue = std::mem::take(&mut self.queue);
        self.examples = 0;
        match self.score(&queue) {
            Ok(rows) => self.hand_out(&queue, rows),
            Err(InferError::Clip { .. }) if queue.iter().any(|q| q.file != queue[0].file) => {
                for group in queue.chunk_by(|a, b| a.file == b.file) {
                    match self.score(group) {
                        Ok(rows) => self.hand_out(group, rows),
                        Err(InferError::Clip { source, .. }) => {
                            let path = self.files[group[0].file].path.clone();
                            self.fail(group[0].file, InferError::Audio { path, source });
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(InferError::Clip { source, .. }) => {
                let path = self.files[queue[0].file].path.clone();
                self.fail(queue[0].file, InferError::Audio { path, source });
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// One row of scores per queued input, [`Self::per_pass`] examples per forward pass
    /// ([`predict`] runs [`PASSES_AT_ONCE`] of them at the same time).
    fn score(&self, queued: &[Queued]) -> Result<Vec<Vec<f32>>, InferError> {
        let clips: Vec<Clip<'_>> = queued
            .iter()
            .map(|q| Clip {
                samples: &q.samples,
                rate: q.rate,
            })
            .collect();
        let forward = |x| self.model.forward(x);
        let scores = predict(
            &forward,
            &self.scorer.contract,
            &clips,
            self.per_pass,
            self.device,
        )?;
        Ok(rows(scores, queued.len()))
    }

    fn hand_out(&mut self, queued: &[Queued], rows: Vec<Vec<f32>>) {
        for (q, row) in queued.iter().zip(rows) {
            self.files[q.file].scores.push(row);
        }
    }

    fn fail(&mut self, file: usize, e: InferError) {
        let f = &mut self.files[file];
        if f.error.is_none() {
            f.error = Some(e);
        }
    }

    /// Report the files that are complete, in order, and let go of their scores.
    fn report(&mut self) {
        while !self.stopped
            && let Some(f) = self.files.get_mut(self.next)
            && f.complete()
        {
            let result = match f.error.take() {
                Some(e) => Err(e),
                None => Ok(Windows {
                    scores: std::mem::take(&mut f.scores),
                    hop_s: f.hop_s,
                    window_s: f.window_s,
                }),
            };
            // A failed file's windows still queued are scored and dropped with it.
            f.windows = Some(0);
            let flow = (self.done)(self.next, result);
            self.next += 1;
            if flow.is_break() {
                self.stopped = true;
                return;
            }
        }
    }
}
