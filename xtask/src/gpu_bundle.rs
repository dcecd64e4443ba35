//! `cargo xtask gpu-bundle`: what `scripts/gpu-check.sh --bundle` needs on a GPU machine that has
//! no Rust and no network, in one git-ignored folder for the device tool to carry.
//!
//! Layout of the bundle (default `target/gpu-bundle/`):
//!
//! - `bin/binaries.tar.xz`: `xtask` and `tympan` built with `--features cuda,vulkan`, stripped,
//!   in one xz stream whose dictionary spans both, so that the second costs only what it does not
//!   share with the first;
//! - `cuda/nvvm/libdevice/libdevice.10.bc`: the CUDA math library cubecl's LLVM path links
//!   (`CUDA_PATH=<unpacked>/cuda`), from PyPI's `nvidia-nvvm` wheel;
//! - `data/fsdd.tar.xz`, `data/weights.tar.xz`, `data/audioset.tar.xz`: FSDD's 3,000 clips (one
//!   fsdd-psla epoch reads them all), the ImageNet Lite0 weights, the AudioSet excerpt and class
//!   list; one archive each, so that `--leave-out` can drop one and the size table shows what
//!   each costs;
//! - with `--psla-src`: `psla/src/models/*.py` and `python/efficientnet_pytorch/` (0.7.1), for
//!   PyTorch's step;
//! - with `--caches`: `caches.tar.xz`, kernel and autotune caches of an earlier GPU run;
//! - `debs/*.deb`: the Vulkan loader and glvnd packages (`.gl`, see the device README), when
//!   there;
//! - `MANIFEST.txt`: every file's size and SHA-256, the commit, the build, the date.
//!
//! The device tool carries 64 MiB per call, the working tree included, so the budget per call
//! is what the tree leaves. A bundle over it is also written as `parts/part-K/`, pieces of one
//! tar that consecutive calls carry (`gpu_bundle::parts`).

mod contents;
mod manifest;
mod pack;
mod parts;
mod workspace;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

use manifest::{FileEntry, ManifestInfo, mib};

/// The command that builds the binaries the bundle carries.
const BUILD: &str = "CARGO_TARGET_DIR=target/gpu CUDARC_CUDA_VERSION=13000 cargo build -p xtask -p tympan --features cuda,vulkan";

/// The file marking a folder as a bundle, so that the folder is emptied only when it is one.
const MARKER: &str = ".tympan-gpu-bundle";

/// What `--leave-out` can drop, least needed first in the error that suggests it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Item {
    /// The ImageNet Lite0 weights: fsdd-psla then trains from scratch (same speed, other metrics).
    Weights,
    /// The AudioSet excerpt and class list (`tympan tag` on a PSLA B2 fixture).
    Audioset,
    /// The CLI: no `tympan tag` steps.
    Tympan,
    /// FSDD: no fsdd-psla epoch and no tagging of its clips.
    Fsdd,
}

impl Item {
    fn name(self) -> &'static str {
        match self {
            Item::Weights => "weights",
            Item::Audioset => "audioset",
            Item::Tympan => "tympan",
            Item::Fsdd => "fsdd",
        }
    }
}

/// Options of `cargo xtask gpu-bundle`.
#[derive(clap::Args)]
pub struct GpuBundleArgs {
    /// Bundle folder, emptied first (default: target/gpu-bundle).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Folder holding `xtask` and `tympan` built with `--features cuda,vulkan` (default:
    /// target/gpu/debug).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Shared data folder: fsdd/recordings, weights/, audioset/ (default: ../shared/data beside
    /// the workspace).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Kernel and autotune caches of an earlier GPU run: a folder, or an archive a run brought
    /// back (caches-*.tar.xz); repeatable. Packed as caches.tar.xz.
    #[arg(long)]
    pub caches: Vec<PathBuf>,
    /// MiB of bundle per device call (default: 64 MiB less the working tree that travels with
    /// every call, less 1 MiB).
    #[arg(long)]
    pub max_mib: Option<f64>,
    /// Fail when the bundle is over the budget instead of also writing it in parts.
    #[arg(long)]
    pub no_split: bool,
    /// Leave out (comma-separated): weights, audioset, tympan, fsdd.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub leave_out: Vec<Item>,
    /// A clone of https://github.com/YuanGongND/psla: its src/models and efficientnet_pytorch
    /// 0.7.1 (from PyPI) go in, so that the GPU machine can run PyTorch's PSLA step.
    #[arg(long, env = "PSLA_SRC")]
    pub psla_src: Option<PathBuf>,
    /// Folder of .deb files (the Vulkan loader and glvnd) unpacked on the GPU machine when it
    /// lacks them (default: .gl in the workspace, when it is there).
    #[arg(long)]
    pub debs: Option<PathBuf>,
}

/// Builds the bundle, prints its size table and how to carry it.
pub fn run(root: &Path, a: GpuBundleArgs) -> Result<()> {
    // Absolute, so that it compares with the workspace root (carry paths, the tree's size).
    let out = std::path::absolute(a.out.unwrap_or_else(|| root.join("target/gpu-bundle")))
        .context("--out")?;
    let bin_dir = a.bin_dir.unwrap_or_else(|| root.join("target/gpu/debug"));
    let data = a.data.unwrap_or_else(|| root.join("../shared/data"));
    let cache = root.join("target/gpu-bundle-cache");
    let left: Vec<Item> = a.leave_out.clone();
    let has = |i: Item| !left.contains(&i);

    // Everything checked before the minutes of compression.
    let mut bins = vec![("xtask", bin_dir.join("xtask"))];
    if has(Item::Tympan) {
        bins.push(("tympan", bin_dir.join("tympan")));
    }
    let missing: Vec<String> = bins
        .iter()
        .filter(|(_, p)| !p.is_file())
        .map(|(_, p)| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} not found: build the GPU binaries first (about 25 minutes on 2 cores), from {}:\n  {BUILD}\n(or point --bin-dir at a folder holding xtask and tympan built with --features cuda,vulkan)",
            missing.join(" and "),
            root.display()
        );
    }
    let groups = contents::data_groups(&data, &left)?;
    pack::require("xz", "install xz-utils (apt-get install xz-utils)")?;
    if let Some(dir) = &a.psla_src {
        crate::python_ref::check_psla(dir)?;
    }
    let debs = a.debs.clone().or_else(|| {
        let gl = root.join(".gl");
        gl.is_dir().then_some(gl)
    });
    let budget = manifest::budget(a.max_mib, workspace::travelling_tree(root, &out)?)
        .map_err(anyhow::Error::msg)?;
    if let Some(w) = &budget.warning {
        eprintln!("warning: {w}");
    }

    workspace::empty_bundle_folder(&out, root)?;
    let mut notes = Vec::new();

    println!("binaries ({}):", bin_dir.display());
    notes.extend(contents::binaries(
        &cache,
        &bins,
        &out.join("bin/binaries.tar.xz"),
    )?);
    let backends = contents::backends_in(&bins)?;

    println!("libdevice:");
    notes.push(contents::libdevice(
        &cache,
        &out.join("cuda/nvvm/libdevice/libdevice.10.bc"),
    )?);

    println!("data ({}):", data.display());
    for (name, members) in &groups {
        let key = pack::listing_key(
            &members.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
            "tar xz -9 -T0",
        )?;
        let file = format!("{name}.tar.xz");
        let (made, _) = pack::cached(&cache, &file, &key, |part| {
            println!("  {file}: {} files, xz -9", members.len());
            pack::tar_xz(part, members, None)?;
            Ok(Vec::new())
        })?;
        pack::copy(&made, &out.join("data").join(&file))?;
        notes.push(format!("data/{file}: {} files", members.len()));
    }

    if let Some(dir) = &a.psla_src {
        println!(
            "PSLA model code ({}) and efficientnet_pytorch:",
            dir.display()
        );
        notes.push(contents::psla(dir, &cache, &out)?);
    }
    if !a.caches.is_empty() {
        println!("caches:");
        if let Some(n) = contents::caches(&a.caches, &cache, &out.join("caches.tar.xz"))? {
            notes.push(n);
        }
    }
    if let Some(dir) = &debs {
        let n = contents::copy_debs(dir, &out.join("debs"))?;
        notes.push(format!("debs/: {n} packages from {}", dir.display()));
    }

    let files = contents::manifest_files(&out)?;
    let (commit, dirty) = workspace::git_state(root);
    let left_names: Vec<String> = left.iter().map(|i| i.name().to_string()).collect();
    let created = manifest::utc_timestamp(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    let text = manifest::format_manifest(
        &ManifestInfo {
            created: &created,
            commit: &commit,
            dirty,
            build: &format!("{BUILD} (dev profile, dependencies at opt-level 3)"),
            backends: &backends,
            left_out: &left_names,
            notes: &notes,
        },
        &files,
    );
    let manifest_path = out.join("MANIFEST.txt");
    std::fs::write(&manifest_path, &text).with_context(|| manifest_path.display().to_string())?;
    let mut all = files;
    all.push(FileEntry {
        path: "MANIFEST.txt".into(),
        bytes: text.len() as u64,
        sha256: String::new(),
    });
    let total: u64 = all.iter().map(|f| f.bytes).sum();

    println!(
        "\nbundle {}:\n{}",
        out.display(),
        manifest::size_table(&all)
    );
    println!(
        "budget per device call: {} MiB ({})",
        mib(budget.bytes),
        budget.how
    );
    let carry = workspace::carry_path(root, &out);
    if total <= budget.bytes {
        println!(
            "\nfits one call. Carry it with the device tool:\n  run(command=\"scripts/gpu-check.sh --bundle {carry}\", carry=[\"{carry}\"], timeout_s=600)"
        );
        return Ok(());
    }
    if a.no_split {
        bail!(
            "the bundle is {} MiB, over the {} MiB one call may carry ({}). Leave out what matters least first: --leave-out weights (fsdd-psla trains from scratch: same speed), then audioset, tympan (no tagging), fsdd (no epoch); or drop --no-split to carry it in parts",
            mib(total),
            mib(budget.bytes),
            budget.how
        );
    }
    split(&out, &carry, &all, total, budget.bytes)
}

/// Writes the bundle again as parts of at most `budget` bytes and prints the calls that carry
/// them.
fn split(out: &Path, carry: &str, all: &[FileEntry], total: u64, budget: u64) -> Result<()> {
    // Room for PARTS.txt (one line per piece) and the tar headers' rounding.
    let piece = budget.saturating_sub(64 * 1024);
    let members: Vec<(PathBuf, String)> = all
        .iter()
        .map(|f| (out.join(&f.path), f.path.clone()))
        .collect();
    let dirs = parts::write_parts(&out.join("parts"), &members, piece)?;
    let n = dirs.len();
    println!(
        "\n{} MiB is over one call's {} MiB: written also as {n} parts under {}/parts (pieces of one tar).\n\
         Carry them in {n} consecutive calls; the machine keeps what a call carried only while it stays warm\n\
         (about 30 s idle, see the device tool's status), so make the calls back to back:",
        mib(total),
        mib(budget),
        out.display()
    );
    for k in 1..=n {
        let (cmd, timeout) = if k < n {
            (
                format!("scripts/gpu-check.sh --bundle {carry} --receive"),
                120,
            )
        } else {
            (format!("scripts/gpu-check.sh --bundle {carry}"), 600)
        };
        println!(
            "  {k}. run(command=\"{cmd}\", carry=[\"{carry}/parts/part-{k}\"], timeout_s={timeout})"
        );
    }
    println!(
        "Each --receive call says which pieces the machine holds; the last call joins them, or says which are missing."
    );
    Ok(())
}
