//! What goes into the bundle: the stripped binaries, libdevice, the data archives, PSLA's
//! model code, earlier caches, the loader packages, and the list of files for MANIFEST.txt.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::manifest::{FileEntry, mib};
use super::pack::{self, copy, create_parent, file_len};
use super::{BUILD, Item, MARKER};

/// The `nvidia-nvvm` wheel libdevice comes from. Pinned, so that every bundle carries the same
/// file; 13.0 is the CUDA version the binaries bind (`CUDARC_CUDA_VERSION=13000`) and the GPU
/// machines' driver (580) serves. libdevice is LLVM bitcode, the same in every platform's wheel.
const NVVM: (&str, &str) = ("nvidia-nvvm==13.0.88", "nvidia_nvvm-13.0.88-");

/// Where libdevice is inside the wheel (`nvidia/cu13/nvvm/libdevice/libdevice.10.bc`), matched
/// by its end so that a wheel for another CUDA major version is found too.
const LIBDEVICE_SUFFIX: &str = "/nvvm/libdevice/libdevice.10.bc";

/// The PSLA model's dependency that the GPU machines' image lacks (PSLA's `Models.py`).
const EFFICIENTNET: (&str, &str) = ("efficientnet_pytorch==0.7.1", "efficientnet_pytorch-0.7.1");

/// One data archive: its name and its members, `(file, name in the tar)`.
pub(super) type DataGroup = (&'static str, Vec<(PathBuf, String)>);

/// The data archives, each member checked to exist.
pub(super) fn data_groups(data: &Path, left: &[Item]) -> Result<Vec<DataGroup>> {
    let member = |rel: &str| -> Result<(PathBuf, String)> {
        let p = data.join(rel);
        if !p.is_file() {
            bail!(
                "{}: missing (the shared data folder: --data; or --leave-out its group)",
                p.display()
            );
        }
        Ok((p, rel.to_string()))
    };
    let mut groups = Vec::new();
    if !left.contains(&Item::Fsdd) {
        let dir = data.join("fsdd/recordings");
        let mut wavs: Vec<String> = std::fs::read_dir(&dir)
            .with_context(|| {
                format!(
                    "{}: FSDD's clips (--data, or --leave-out fsdd)",
                    dir.display()
                )
            })?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".wav"))
            .collect();
        wavs.sort();
        if wavs.is_empty() {
            bail!("{}: no .wav files", dir.display());
        }
        if wavs.len() != 3000 {
            eprintln!(
                "warning: {}: {} clips, FSDD has 3000 (the epoch's clip counts will differ)",
                dir.display(),
                wavs.len()
            );
        }
        let members = wavs
            .iter()
            .map(|n| member(&format!("fsdd/recordings/{n}")))
            .collect::<Result<Vec<_>>>()?;
        groups.push(("fsdd", members));
    }
    if !left.contains(&Item::Weights) {
        groups.push((
            "weights",
            vec![member("weights/efficientnet-lite0-57934424.pth")?],
        ));
    }
    if !left.contains(&Item::Audioset) {
        groups.push((
            "audioset",
            vec![
                member("audioset/R9_ZSCveAHg_7s.wav")?,
                member("audioset/class_labels_indices.csv")?,
            ],
        ));
    }
    Ok(groups)
}

/// The binaries, stripped, in one `.tar.xz` at `dst`; returns notes on their sizes.
pub(super) fn binaries(cache: &Path, bins: &[(&str, PathBuf)], dst: &Path) -> Result<Vec<String>> {
    let paths: Vec<PathBuf> = bins.iter().map(|(_, p)| p.clone()).collect();
    let names: Vec<&str> = bins.iter().map(|(n, _)| *n).collect();
    let key = pack::listing_key(&paths, "strip; tar; xz preset 9, dictionary over all (v1)")?;
    let file = format!("binaries-{}.tar.xz", names.join("-"));
    let (made, notes) = pack::cached(cache, &file, &key, |part| {
        let tmp = cache.join("stripped");
        std::fs::create_dir_all(&tmp).with_context(|| tmp.display().to_string())?;
        let mut members = Vec::new();
        let mut notes = Vec::new();
        let mut sum = 0;
        for (name, src) in bins {
            let s = tmp.join(name);
            pack::strip(src, &s)?;
            let (before, after) = (file_len(src)?, file_len(&s)?);
            println!("  {name}: {} MiB, stripped {} MiB", mib(before), mib(after));
            notes.push(format!(
                "bin/binaries.tar.xz: {name}, {after} bytes stripped ({} MiB before)",
                mib(before)
            ));
            sum += after;
            members.push((s, name.to_string()));
        }
        println!(
            "  xz -9 with a {} MiB dictionary on one thread (minutes; kept in {})",
            sum.div_ceil(1 << 20).max(64),
            cache.display()
        );
        pack::tar_xz(part, &members, Some(sum))?;
        for (s, _) in &members {
            let _ = std::fs::remove_file(s);
        }
        Ok(notes)
    })?;
    copy(&made, dst)?;
    Ok(notes)
}

/// Which GPU backends' code the binaries hold, from the source paths Rust keeps in panic
/// locations (`.../cubecl-cuda-0.11.3/src/...`): a binary built without `--features cuda`
/// would waste a GPU call. Only warns, since the paths could be remapped in some builds.
pub(super) fn backends_in(bins: &[(&str, PathBuf)]) -> Result<String> {
    if !pack::has("grep") {
        return Ok("not checked (no grep)".into());
    }
    let mut found = Vec::new();
    for (name, path) in bins {
        let mut here = Vec::new();
        for (backend, needle) in [
            ("cuda", "cubecl-cuda-"),
            ("wgpu", "cubecl-wgpu-"),
            ("vulkan (SPIR-V)", "cubecl-spirv-"),
        ] {
            let hit = Command::new("grep")
                .args(["-q", "-a", "-F", needle])
                .arg(path)
                .status()
                .with_context(|| format!("grep {}", path.display()))?
                .success();
            if hit {
                here.push(backend);
            }
        }
        let absent: Vec<&str> = ["cuda", "wgpu"]
            .into_iter()
            .filter(|b| !here.contains(b))
            .collect();
        if !absent.is_empty() {
            eprintln!(
                "warning: {} shows no sign of {} (no cubecl source paths in it): was it built with `{BUILD}`?",
                path.display(),
                absent.join(" or ")
            );
        }
        found.push(format!(
            "{name}: {}",
            if here.is_empty() {
                "none".to_string()
            } else {
                here.join(", ")
            }
        ));
    }
    Ok(found.join("; "))
}

/// libdevice from the pinned `nvidia-nvvm` wheel (downloaded once into the cache) at `dst`.
pub(super) fn libdevice(cache: &Path, dst: &Path) -> Result<String> {
    let wheel = pack::pip_download(&cache.join("pip"), NVVM.0, NVVM.1)?;
    let name = wheel.display().to_string();
    let f = std::fs::File::open(&wheel).with_context(|| name.clone())?;
    let mut z = zip::ZipArchive::new(f).with_context(|| format!("{name}: not a wheel (zip)"))?;
    let member = z
        .file_names()
        .find(|n| n.ends_with(LIBDEVICE_SUFFIX))
        .map(str::to_string)
        .with_context(|| format!("{name}: no member ending in {LIBDEVICE_SUFFIX}"))?;
    let mut entry = z
        .by_name(&member)
        .with_context(|| format!("{name}: {member}"))?;
    create_parent(dst)?;
    let mut w = std::fs::File::create(dst).with_context(|| dst.display().to_string())?;
    std::io::copy(&mut entry, &mut w).with_context(|| format!("{name}: extracting {member}"))?;
    let whl = wheel
        .file_name()
        .map_or(name.clone(), |n| n.to_string_lossy().into_owned());
    println!("  {member} from {whl}");
    Ok(format!(
        "cuda/nvvm/libdevice/libdevice.10.bc: {member} of {whl}"
    ))
}

/// PSLA's `src/models/*.py` and efficientnet_pytorch's package (from its PyPI source archive)
/// into `psla/` and `python/` of the bundle.
pub(super) fn psla(dir: &Path, cache: &Path, out: &Path) -> Result<String> {
    let models = dir.join("src/models");
    let dst = out.join("psla/src/models");
    std::fs::create_dir_all(&dst).with_context(|| dst.display().to_string())?;
    let mut n = 0;
    for e in std::fs::read_dir(&models).with_context(|| models.display().to_string())? {
        let p = e.with_context(|| models.display().to_string())?.path();
        if p.extension().is_some_and(|x| x == "py")
            && let Some(file) = p.file_name()
        {
            copy(&p, &dst.join(file))?;
            n += 1;
        }
    }
    let sdist = pack::pip_download(&cache.join("pip"), EFFICIENTNET.0, EFFICIENTNET.1)?;
    let prefix = format!("{}/efficientnet_pytorch/", EFFICIENTNET.1);
    let name = sdist.display().to_string();
    let f = std::fs::File::open(&sdist).with_context(|| name.clone())?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let pkg = out.join("python/efficientnet_pytorch");
    std::fs::create_dir_all(&pkg).with_context(|| pkg.display().to_string())?;
    let mut m = 0;
    for entry in ar.entries().with_context(|| name.clone())? {
        let mut entry = entry.with_context(|| name.clone())?;
        let path = entry
            .path()
            .with_context(|| name.clone())?
            .to_string_lossy()
            .into_owned();
        let Some(file) = path.strip_prefix(&prefix) else {
            continue;
        };
        if file.is_empty() || file.contains('/') || !file.ends_with(".py") {
            continue;
        }
        let to = pkg.join(file);
        let mut w = std::fs::File::create(&to).with_context(|| to.display().to_string())?;
        std::io::copy(&mut entry, &mut w).with_context(|| format!("{name}: {path}"))?;
        m += 1;
    }
    if m == 0 {
        bail!("{name}: no {prefix}*.py in it");
    }
    println!("  psla/src/models: {n} files; python/efficientnet_pytorch: {m} files");
    Ok(format!(
        "psla/: {n} files of {}/src/models; python/efficientnet_pytorch: {} ({m} files)",
        dir.display(),
        EFFICIENTNET.0
    ))
}

/// The caches of earlier runs (folders, or archives `tar` reads) merged into one `.tar.xz`.
pub(super) fn caches(sources: &[PathBuf], cache: &Path, dst: &Path) -> Result<Option<String>> {
    let staging = cache.join("caches-staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| staging.display().to_string())?;
    }
    std::fs::create_dir_all(&staging).with_context(|| staging.display().to_string())?;
    for src in sources {
        if src.is_dir() {
            let n = pack::copy_tree(src, &staging)?;
            println!("  {}: {n} files", src.display());
        } else if src.is_file() {
            pack::require("tar", "install GNU tar")?;
            // GNU tar recognises xz, gzip and plain archives by their content.
            pack::run(
                Command::new("tar")
                    .arg("-xf")
                    .arg(src)
                    .arg("-C")
                    .arg(&staging),
            )
            .with_context(|| format!("unpacking the caches archive {}", src.display()))?;
            println!("  {}: unpacked", src.display());
        } else {
            bail!("--caches {}: no such folder or archive", src.display());
        }
    }
    let files = pack::walk(&staging, &|_| false)?;
    if files.is_empty() {
        eprintln!("warning: --caches gave no files; the bundle has no caches");
        return Ok(None);
    }
    let members: Vec<(PathBuf, String)> =
        files.iter().map(|r| (staging.join(r), r.clone())).collect();
    let bytes: u64 = members.iter().map(|(p, _)| file_len(p).unwrap_or(0)).sum();
    pack::tar_xz(dst, &members, None)?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(Some(format!(
        "caches.tar.xz: {} files, {} MiB unpacked, from {}",
        files.len(),
        mib(bytes),
        sources
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Copies the `.deb` files of `dir` into `dst`; returns how many.
pub(super) fn copy_debs(dir: &Path, dst: &Path) -> Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("--debs {}", dir.display()))? {
        let p = e.with_context(|| dir.display().to_string())?.path();
        if p.extension().is_some_and(|x| x == "deb")
            && let Some(file) = p.file_name()
        {
            copy(&p, &dst.join(file))?;
            n += 1;
        }
    }
    if n == 0 {
        eprintln!("warning: {}: no .deb files", dir.display());
    }
    Ok(n)
}

/// Every file of the bundle for MANIFEST.txt (not the manifest itself, the marker or parts/).
pub(super) fn manifest_files(out: &Path) -> Result<Vec<FileEntry>> {
    let skip = |rel: &str| rel == MARKER || rel == "MANIFEST.txt" || rel == "parts";
    pack::walk(out, &skip)?
        .into_iter()
        .map(|rel| {
            let p = out.join(&rel);
            Ok(FileEntry {
                bytes: file_len(&p)?,
                sha256: crate::download::sha256_file(&p)?,
                path: rel,
            })
        })
        .collect()
}
