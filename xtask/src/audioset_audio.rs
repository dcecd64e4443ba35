//! `cargo xtask download-audioset`: AudioSet audio from YouTube, the way PSLA's users prepare it
//! themselves (PSLA README, "you need to download audios from YouTube"), then a PSLA datafile.
//!
//! Each segment of a Google segment list is fetched with `yt-dlp` (which runs `ffmpeg`): only the
//! segment's `[start, end]` section, as 16 kHz mono FLAC, into `<dest>/audio/Y<YTID>.flac`. Or,
//! with `--mirror URL`, from a mirror that serves the segments (`{ytid}`, `{start}` and `{end}` in
//! the pattern are replaced; downloads resume like `cargo xtask download`), converted to 16 kHz
//! mono FLAC by `ffmpeg`. A clip
//! is written under a temporary name and renamed when complete, so an interrupted run leaves no
//! partial clip and a rerun continues with the clips still missing. Clips that cannot be fetched
//! (AudioSet loses about 5 % to takedowns) are listed in `<dest>/failed.tsv` (one row per list
//! and clip, with yt-dlp's or the mirror's reason) and skipped: the datafile
//! (`<dest>/datafiles/<list>_data.json`, PSLA's names: `balanced_train_data.json`,
//! `unbalanced_train_data.json`, `eval_data.json`) holds the clips on disk.
//!
//! Once both training lists have datafiles, PSLA's full training list
//! (`datafiles/full_train_data.json`: balanced + unbalanced, duplicates removed) is written too;
//! `cargo xtask audioset-datafiles` rebuilds every datafile from the clips on disk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use tympan_data::Datafile;
use tympan_data::audioset::{Segment, build_datafile, datafile_name, read_segments};

/// Options of one download run.
pub struct Options {
    /// Google segment list (`balanced_train_segments.csv`, ...).
    pub segments: PathBuf,
    /// Destination folder.
    pub dest: PathBuf,
    /// Only the first N segments.
    pub limit: Option<usize>,
    /// Parallel downloads.
    pub jobs: usize,
    /// Where clips come from.
    pub source: Source,
}

/// Where clips come from.
pub enum Source {
    /// `yt-dlp` (the executable), cutting the segment from the YouTube video.
    YtDlp(PathBuf),
    /// A URL pattern of a mirror serving the segments, and the `ffmpeg` executable that converts
    /// them.
    Mirror {
        /// e.g. `https://host/audioset/{ytid}_{start}.wav`.
        pattern: String,
        /// ffmpeg executable.
        ffmpeg: PathBuf,
    },
}

fn last_line(stderr: &[u8], default: &str) -> String {
    let err = String::from_utf8_lossy(stderr);
    err.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(default)
        .replace('\t', " ")
}

fn fetch_mirror(seg: &Segment, audio: &Path, pattern: &str, ffmpeg: &Path) -> Result<(), String> {
    let url = pattern
        .replace("{ytid}", &seg.ytid)
        .replace("{start}", &format!("{}", seg.start))
        .replace("{end}", &format!("{}", seg.end));
    let raw = audio.join(format!(".tmp-{}.download", seg.ytid));
    crate::download::fetch(&url, &raw, None, None, &ProgressBar::hidden())
        .map_err(|e| format!("{url}: {e:#}"))?;
    let tmp = audio.join(format!(".tmp-{}.flac", seg.ytid));
    let out = Command::new(ffmpeg)
        .args(["-nostdin", "-y", "-loglevel", "error", "-i"])
        .arg(&raw)
        .args(["-ar", "16000", "-ac", "1"])
        .arg(&tmp)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ffmpeg.display()));
    let _ = std::fs::remove_file(&raw);
    let out = out?;
    if !out.status.success() || !tmp.is_file() {
        let _ = std::fs::remove_file(&tmp);
        return Err(last_line(&out.stderr, "ffmpeg produced no FLAC"));
    }
    std::fs::rename(&tmp, audio.join(format!("Y{}.flac", seg.ytid))).map_err(|e| e.to_string())
}

/// What a run did.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Clips fetched now.
    pub fetched: usize,
    /// Clips already on disk.
    pub skipped: usize,
    /// Clips that failed.
    pub failed: usize,
    /// Entries of the written datafile.
    pub datafile_entries: usize,
    /// The datafile.
    pub datafile: PathBuf,
    /// PSLA's full training list, when both training lists have datafiles now.
    pub full: Option<FullList>,
}

/// `datafiles/full_train_data.json`: the balanced and unbalanced lists together.
#[derive(Debug, PartialEq, Eq)]
pub struct FullList {
    /// Its path.
    pub path: PathBuf,
    /// Entries.
    pub entries: usize,
    /// Duplicates dropped (clips in both lists).
    pub duplicates: usize,
}

impl std::fmt::Display for FullList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "full training list {} with {} clips ({} duplicates removed)",
            self.path.display(),
            self.entries,
            self.duplicates
        )
    }
}

/// Where the datafiles of a download folder live.
pub fn datafiles_dir(dest: &Path) -> PathBuf {
    dest.join("datafiles")
}

/// Writes the PSLA datafile of the segment list `list` (`<dest>/datafiles/<list>_data.json`)
/// from the clips in `<dest>/audio`; returns its path and its number of entries.
fn write_list_datafile(dest: &Path, list: &Path, segments: &[Segment]) -> Result<(PathBuf, usize)> {
    let built = build_datafile(segments, &dest.join("audio"))?;
    let dir = datafiles_dir(dest);
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let datafile = dir.join(datafile_name(list));
    built.datafile.save(&datafile)?;
    Ok((datafile, built.datafile.data.len()))
}

/// Writes `datafiles/full_train_data.json` from `balanced_train_data.json` and
/// `unbalanced_train_data.json` when both exist (PSLA: the full set is both training lists).
pub fn write_full_list(dest: &Path) -> Result<Option<FullList>> {
    let dir = datafiles_dir(dest);
    let (b, u) = (
        dir.join("balanced_train_data.json"),
        dir.join("unbalanced_train_data.json"),
    );
    if !(b.is_file() && u.is_file()) {
        return Ok(None);
    }
    let (b, u) = (Datafile::load(&b)?, Datafile::load(&u)?);
    let (full, duplicates) = Datafile::merge(&[&b, &u]);
    let path = dir.join("full_train_data.json");
    full.save(&path)?;
    Ok(Some(FullList {
        path,
        entries: full.data.len(),
        duplicates,
    }))
}

/// Rewrites `failed.tsv` (`list`, `ytid`, `reason`) with this list's failures, keeping the rows
/// of the other lists.
fn write_failures(path: &Path, list: &str, failures: &[(String, String)]) -> Result<()> {
    let mut rows: Vec<String> = match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .skip(1)
            .filter(|l| l.split('\t').next() != Some(list) && l.split('\t').count() == 3)
            .map(String::from)
            .collect(),
        Err(_) => Vec::new(),
    };
    rows.extend(failures.iter().map(|(y, r)| format!("{list}\t{y}\t{r}")));
    let tmp = path.with_extension("tsv.tmp");
    let mut f = std::fs::File::create(&tmp).with_context(|| tmp.display().to_string())?;
    writeln!(f, "list\tytid\treason")?;
    for r in &rows {
        writeln!(f, "{r}")?;
    }
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| path.display().to_string())?;
    Ok(())
}

/// What `cargo xtask audioset-datafiles` wrote for one segment list.
#[derive(Debug, PartialEq, Eq)]
pub struct ListReport {
    /// The segment list's file name.
    pub list: String,
    /// Segments listed.
    pub listed: usize,
    /// Clips on disk (the datafile's entries).
    pub present: usize,
    /// The datafile written.
    pub datafile: PathBuf,
}

/// `cargo xtask audioset-datafiles --dir D`: the datafile of every Google segment list in `D`
/// (balanced, unbalanced, eval) from the clips in `D/audio`, then the full training list.
pub fn rebuild_datafiles(dest: &Path) -> Result<(Vec<ListReport>, Option<FullList>)> {
    let audio = dest.join("audio");
    if !audio.is_dir() {
        bail!(
            "{} does not exist: fetch the clips first with `cargo xtask download-audioset --segments {}/<list>.csv --dest {}`",
            audio.display(),
            dest.display(),
            dest.display()
        );
    }
    let mut reports = Vec::new();
    for list in [
        "balanced_train_segments.csv",
        "unbalanced_train_segments.csv",
        "eval_segments.csv",
    ] {
        let path = dest.join(list);
        if !path.is_file() {
            continue;
        }
        let segments = read_segments(&path)?;
        let (datafile, present) = write_list_datafile(dest, &path, &segments)?;
        reports.push(ListReport {
            list: list.to_string(),
            listed: segments.len(),
            present,
            datafile,
        });
    }
    if reports.is_empty() {
        bail!(
            "no segment list in {}: `cargo xtask download audioset-meta --dest {}` fetches them",
            dest.display(),
            dest.display()
        );
    }
    Ok((reports, write_full_list(dest)?))
}

fn fetch_one(seg: &Segment, audio: &Path, yt_dlp: &Path) -> Result<(), String> {
    let tmp = audio.join(format!(".tmp-{}", seg.ytid));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let out = Command::new(yt_dlp)
        .args([
            "--quiet",
            "--no-progress",
            "--no-playlist",
            "-f",
            "bestaudio/best",
            "--download-sections",
            &format!("*{}-{}", seg.start, seg.end),
            "--force-keyframes-at-cuts",
            "-x",
            "--audio-format",
            "flac",
            "--postprocessor-args",
            "ExtractAudio:-ar 16000 -ac 1",
            "-o",
        ])
        .arg(tmp.join(format!("{}.%(ext)s", seg.ytid)))
        .arg(format!("https://www.youtube.com/watch?v={}", seg.ytid))
        .output()
        .map_err(|e| format!("cannot run {}: {e}", yt_dlp.display()))?;
    let produced = tmp.join(format!("{}.flac", seg.ytid));
    let result = if out.status.success() && produced.is_file() {
        std::fs::rename(&produced, audio.join(format!("Y{}.flac", seg.ytid)))
            .map_err(|e| e.to_string())
    } else {
        Err(last_line(&out.stderr, "yt-dlp produced no FLAC"))
    };
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Download the segments' audio and write the datafile.
pub fn run(o: &Options) -> Result<Outcome> {
    // The segment list first: it is the step before this one (`download audioset-meta`).
    if !o.segments.is_file() {
        bail!(
            "{} not found: the segment lists come from `cargo xtask download audioset-meta` \
             (into target/downloads/audioset)",
            o.segments.display()
        );
    }
    let (tool, flag, hint) = match &o.source {
        Source::YtDlp(p) => (
            p,
            "--version",
            "install yt-dlp (`pip install yt-dlp`) and ffmpeg, or pass --yt-dlp PATH",
        ),
        Source::Mirror { ffmpeg, .. } => {
            (ffmpeg, "-version", "install ffmpeg, or pass --ffmpeg PATH")
        }
    };
    match Command::new(tool).arg(flag).output() {
        Ok(out) if out.status.success() => {}
        _ => bail!("{} not found or not working: {hint}", tool.display()),
    }
    let mut segments = read_segments(&o.segments)?;
    if let Some(n) = o.limit {
        segments.truncate(n);
    }
    let audio = o.dest.join("audio");
    std::fs::create_dir_all(&audio).with_context(|| audio.display().to_string())?;
    let done = |s: &Segment| audio.join(format!("Y{}.flac", s.ytid)).is_file();
    let todo: Vec<&Segment> = segments.iter().filter(|s| !done(s)).collect();
    let skipped = segments.len() - todo.len();
    let pb = ProgressBar::new(todo.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("{pos}/{len} clips [{bar:30}] {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let failed_path = o.dest.join("failed.tsv");
    let list = o
        .segments
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("segments")
        .to_string();
    let failures: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.jobs.max(1))
        .build()
        .context("thread pool")?;
    pool.install(|| {
        todo.par_iter().for_each(|s| {
            let r = match &o.source {
                Source::YtDlp(y) => fetch_one(s, &audio, y),
                Source::Mirror { pattern, ffmpeg } => fetch_mirror(s, &audio, pattern, ffmpeg),
            };
            if let (Err(reason), Ok(mut f)) = (r, failures.lock()) {
                f.push((s.ytid.clone(), reason));
                pb.set_message(format!("{} failed", f.len()));
            }
            pb.inc(1);
        })
    });
    pb.finish_and_clear();
    let mut failures = failures.into_inner().unwrap_or_default();
    failures.sort();
    write_failures(&failed_path, &list, &failures)?;
    let (datafile, datafile_entries) = write_list_datafile(&o.dest, &o.segments, &segments)?;
    Ok(Outcome {
        fetched: todo.len() - failures.len(),
        skipped,
        failed: failures.len(),
        datafile_entries,
        datafile,
        full: write_full_list(&o.dest)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_no_temporaries(audio: &Path) {
        let left: Vec<_> = std::fs::read_dir(audio)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// A stand-in for yt-dlp: writes `<ytid>.flac` where `-o` points, fails for `BADBADBAD00`,
    /// and logs every call.
    #[cfg(unix)]
    fn fake_yt_dlp(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("yt-dlp");
        let log = dir.join("calls.log");
        std::fs::write(
            &p,
            format!(
                r#"#!/bin/sh
[ "$1" = "--version" ] && {{ echo 2025.01.01; exit 0; }}
echo "$@" >> {log}
out=""; prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; url="$a"; done
id="${{url##*=}}"
[ "$id" = "BADBADBAD00" ] && {{ echo "ERROR: [youtube] $id: Video unavailable" >&2; exit 1; }}
f=$(echo "$out" | sed 's/%(ext)s/flac/')
printf 'fLaC' > "$f"
"#,
                log = log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[cfg(unix)]
    #[test]
    fn fetches_sections_reports_failures_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("balanced_train_segments.csv");
        std::fs::write(
            &csv,
            "# Segments csv created Sun Mar  5 10:54:31 2017\n\
             # num_ytids=3, num_segs=3, num_unique_labels=2, num_positive_labels=4\n\
             # YTID, start_seconds, end_seconds, positive_labels\n\
             --PJHxphWEs, 30.000, 40.000, \"/m/09x0r,/t/dd00088\"\n\
             BADBADBAD00, 0.000, 10.000, \"/m/09x0r\"\n\
             --ZhevVpy1s, 50.000, 60.000, \"/m/012xff\"\n",
        )
        .unwrap();
        let o = Options {
            segments: csv,
            dest: dir.path().join("as"),
            limit: None,
            jobs: 2,
            source: Source::YtDlp(fake_yt_dlp(dir.path())),
        };
        let r = run(&o).unwrap();
        assert_eq!(
            (r.fetched, r.skipped, r.failed, r.datafile_entries),
            (2, 0, 1, 2)
        );
        let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
        assert!(calls.contains("*30-40") && calls.contains("ExtractAudio:-ar 16000 -ac 1"));
        let failed = std::fs::read_to_string(dir.path().join("as/failed.tsv")).unwrap();
        assert!(failed.contains(
            "balanced_train_segments.csv\tBADBADBAD00\tERROR: [youtube] BADBADBAD00: Video unavailable"
        ));
        assert!(r.datafile.ends_with("datafiles/balanced_train_data.json"));
        assert_eq!(r.full, None, "no unbalanced list yet");
        let df = tympan_data::Datafile::load(&r.datafile).unwrap();
        assert_eq!(df.data[0].labels, "/m/09x0r,/t/dd00088");
        assert!(df.data[0].wav.ends_with("Y--PJHxphWEs.flac"));
        assert_no_temporaries(&dir.path().join("as/audio"));
        // A rerun fetches only what is missing (the failed clip is tried again).
        let r2 = run(&o).unwrap();
        assert_eq!((r2.fetched, r2.skipped, r2.failed), (0, 2, 1));
        let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
        assert_eq!(calls.lines().count(), 4);
        // Missing yt-dlp: a clear error.
        let bad = Options {
            source: Source::YtDlp(dir.path().join("nope")),
            ..o
        };
        let e = run(&bad).unwrap_err().to_string();
        assert!(e.contains("pip install yt-dlp"), "{e}");
    }

    /// The mirror source: segments served over HTTP (a real server on 127.0.0.1), converted by a
    /// stand-in for ffmpeg that checks the 16 kHz mono arguments and copies its input.
    #[cfg(unix)]
    #[test]
    fn mirror_source_downloads_and_converts() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ffmpeg = dir.path().join("ffmpeg");
        std::fs::write(
            &ffmpeg,
            r#"#!/bin/sh
[ "$1" = "-version" ] && exit 0
case "$*" in *"-ar 16000 -ac 1"*) ;; *) echo "bad args: $*" >&2; exit 1;; esac
in=""; prev=""
for a in "$@"; do [ "$prev" = "-i" ] && in="$a"; prev="$a"; out="$a"; done
cp "$in" "$out"
"#,
        )
        .unwrap();
        std::fs::set_permissions(&ffmpeg, std::fs::Permissions::from_mode(0o755)).unwrap();
        let csv = dir.path().join("eval_segments.csv");
        std::fs::write(
            &csv,
            "# YTID, start_seconds, end_seconds, positive_labels\n\
             --4gqARaEJE, 0.000, 10.000, \"/m/068hy,/m/07q6cd_\"\n\
             --BfvyPmVMo, 20.000, 30.000, \"/m/03l9g\"\n",
        )
        .unwrap();
        let base = crate::download::tests::serve(b"RIFF-fake-clip".to_vec(), None, 2);
        let o = Options {
            segments: csv,
            dest: dir.path().join("as"),
            limit: None,
            jobs: 1,
            source: Source::Mirror {
                pattern: format!("{base}/{{ytid}}_{{start}}.wav"),
                ffmpeg,
            },
        };
        let r = run(&o).unwrap();
        assert_eq!((r.fetched, r.failed, r.datafile_entries), (2, 0, 2));
        let clip = dir.path().join("as/audio/Y--4gqARaEJE.flac");
        assert_eq!(std::fs::read(&clip).unwrap(), b"RIFF-fake-clip");
        assert_no_temporaries(&dir.path().join("as/audio"));
    }
}
