//! A bundle too large for one device call, cut into parts that consecutive calls carry.
//!
//! The device tool lets 64 MiB travel per call, the working tree included, and keeps what
//! earlier calls carried while the machine stays warm. So the bundle's files go into one tar
//! stream, cut into pieces that each fit what one call may carry:
//! `parts/part-K/piece-KK.tar`, with `parts/part-K/PARTS.txt` (the same in every part) listing
//! every piece in order with its SHA-256. `scripts/gpu-check.sh` collects the pieces, checks
//! them against `PARTS.txt`, and unpacks their concatenation.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Cuts one byte stream into consecutive pieces of at most `limit` bytes each, opening the
/// `i`-th piece (from 0) with `open(i)` when its first byte arrives, so that no empty piece is
/// made.
pub struct SplitWriter<W: Write, F: FnMut(usize) -> io::Result<W>> {
    open: F,
    limit: u64,
    current: Option<W>,
    used: u64,
    opened: usize,
}

impl<W: Write, F: FnMut(usize) -> io::Result<W>> SplitWriter<W, F> {
    /// A writer cutting at `limit` bytes (at least 1).
    pub fn new(limit: u64, open: F) -> Self {
        Self {
            open,
            limit: limit.max(1),
            current: None,
            used: 0,
            opened: 0,
        }
    }

    /// Flushes the last piece and returns how many pieces were written.
    pub fn finish(mut self) -> io::Result<usize> {
        if let Some(mut w) = self.current.take() {
            w.flush()?;
        }
        Ok(self.opened)
    }
}

impl<W: Write, F: FnMut(usize) -> io::Result<W>> Write for SplitWriter<W, F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.used >= self.limit
            && let Some(mut full) = self.current.take()
        {
            full.flush()?;
        }
        if self.current.is_none() {
            self.current = Some((self.open)(self.opened)?);
            self.opened += 1;
            self.used = 0;
        }
        let room = (self.limit - self.used).min(buf.len() as u64) as usize;
        let Some(w) = self.current.as_mut() else {
            return Err(io::Error::other("split writer: no piece open"));
        };
        let n = w.write(&buf[..room])?;
        self.used += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// The folder of part `k` (from 1) under `parts`.
pub fn part_dir(parts: &Path, k: usize) -> PathBuf {
    parts.join(format!("part-{k}"))
}

/// The file name of piece `k` (from 1).
pub fn piece_name(k: usize) -> String {
    format!("piece-{k:02}.tar")
}

/// `PARTS.txt`: `sha256  name` per piece, in the order they join (the format `sha256sum -c`
/// reads), after comment lines saying what the file is.
pub fn format_parts_list(pieces: &[(String, String)]) -> String {
    let mut s = format!(
        "# tympan GPU bundle in {} pieces (cargo xtask gpu-bundle): carry parts/part-1 .. part-{} in consecutive device calls;\n\
         # scripts/gpu-check.sh keeps each, checks them against these sums and unpacks their concatenation (a tar).\n",
        pieces.len(),
        pieces.len()
    );
    for (sha, name) in pieces {
        s.push_str(&format!("{sha}  {name}\n"));
    }
    s
}

/// Writes `files` (`(source, name in the tar)`) as one tar cut into pieces of at most
/// `piece_bytes`, each in its own `parts/part-K/` under `parts`, with `PARTS.txt` in each.
/// Returns the part folders.
pub fn write_parts(
    parts: &Path,
    files: &[(PathBuf, String)],
    piece_bytes: u64,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(parts).with_context(|| parts.display().to_string())?;
    let open = |i: usize| -> io::Result<BufWriter<File>> {
        let dir = part_dir(parts, i + 1);
        std::fs::create_dir_all(&dir)?;
        Ok(BufWriter::new(File::create(dir.join(piece_name(i + 1)))?))
    };
    let mut tar = tar::Builder::new(SplitWriter::new(piece_bytes, open));
    // Deterministic headers: the same bundle gives the same pieces, whoever builds it.
    tar.mode(tar::HeaderMode::Deterministic);
    for (src, name) in files {
        tar.append_path_with_name(src, name)
            .with_context(|| format!("adding {} to the parts", src.display()))?;
    }
    let count = tar
        .into_inner()
        .and_then(|w| w.finish())
        .with_context(|| format!("writing the parts under {}", parts.display()))?;
    let mut pieces = Vec::with_capacity(count);
    let mut dirs = Vec::with_capacity(count);
    for k in 1..=count {
        let dir = part_dir(parts, k);
        let name = piece_name(k);
        pieces.push((crate::download::sha256_file(&dir.join(&name))?, name));
        dirs.push(dir);
    }
    let list = format_parts_list(&pieces);
    for dir in &dirs {
        let p = dir.join("PARTS.txt");
        std::fs::write(&p, &list).with_context(|| p.display().to_string())?;
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A sink appending to a shared buffer, so that the test can read the pieces back.
    struct Sink(Rc<RefCell<Vec<Vec<u8>>>>, usize);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut()[self.1].extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn split(data: &[u8], limit: u64, chunk: usize) -> Vec<Vec<u8>> {
        let pieces = Rc::new(RefCell::new(Vec::new()));
        let p = pieces.clone();
        let mut w = SplitWriter::new(limit, move |i| {
            p.borrow_mut().push(Vec::new());
            Ok(Sink(p.clone(), i))
        });
        for c in data.chunks(chunk) {
            w.write_all(c).unwrap();
        }
        let n = w.finish().unwrap();
        let out = pieces.borrow().clone();
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn pieces_are_full_except_the_last_and_join_to_the_input() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for (limit, chunk) in [
            (100, 33),
            (100, 100),
            (100, 1000),
            (999, 7),
            (1000, 1000),
            (1, 5),
        ] {
            let pieces = split(&data, limit, chunk);
            assert_eq!(pieces.len() as u64, (data.len() as u64).div_ceil(limit));
            let (last, full) = pieces.split_last().unwrap();
            assert!(
                full.iter().all(|p| p.len() as u64 == limit),
                "limit {limit}"
            );
            assert!(!last.is_empty() && last.len() as u64 <= limit);
            assert_eq!(pieces.concat(), data, "limit {limit}, chunk {chunk}");
        }
    }

    #[test]
    fn nothing_written_makes_no_piece() {
        assert!(split(&[], 10, 1).is_empty());
    }

    #[test]
    fn parts_hold_a_tar_that_joins_back() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        let mut files = Vec::new();
        for (name, len) in [("a.bin", 5000usize), ("b.bin", 1234)] {
            let p = src.join(name);
            std::fs::write(&p, vec![name.as_bytes()[0]; len]).unwrap();
            files.push((p, format!("bin/{name}")));
        }
        let parts = dir.path().join("parts");
        let dirs = write_parts(&parts, &files, 2048).unwrap();
        assert!(dirs.len() >= 4, "{} parts", dirs.len());
        let list = std::fs::read_to_string(dirs[0].join("PARTS.txt")).unwrap();
        let mut joined = Vec::new();
        for (k, d) in dirs.iter().enumerate() {
            assert_eq!(std::fs::read_to_string(d.join("PARTS.txt")).unwrap(), list);
            let piece = std::fs::read(d.join(piece_name(k + 1))).unwrap();
            assert!(piece.len() <= 2048);
            joined.extend(piece);
        }
        assert_eq!(
            list.lines().filter(|l| !l.starts_with('#')).count(),
            dirs.len()
        );
        let mut ar = tar::Archive::new(joined.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["bin/a.bin", "bin/b.bin"]);
    }
}
