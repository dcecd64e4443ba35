//! Minimal reader and writer for NumPy `.npy` files (format versions 1-3), the interchange format
//! of `tympan features` and of the golden fixtures.
//!
//! Reading accepts little-endian `f4`, `f8`, `i1`/`i2`/`i4`/`i8`, `u1` and `b1` arrays in C order
//! and converts them to `f32`; writing produces version-1 `<f4` arrays.
//!
//! Written here rather than taken from `npyz` or `ndarray-npy`: tympan needs one element type out
//! and a handful in, no `ndarray` dependency in the frontend crate, and errors that name the file;
//! the whole format is a header and a raw buffer, and `fuzz/fuzz_targets/npy.rs` runs the reader
//! on mutated real fixtures.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// An `.npy` file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not a valid or not a supported `.npy` file.
    #[error("{path}: not a supported .npy file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A dense array read from an `.npy` file, converted to `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Shape (C order).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(r) = rest.strip_prefix('(') {
        return Some(&r[..r.find(')')?]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().trim_matches('\''))
}

/// Parse `.npy` bytes; `path` is only used in error messages.
pub fn parse(bytes: &[u8], path: &Path) -> Result<NpyArray, NpyError> {
    let bad = |reason: String| NpyError::Format {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic".into()));
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported format version {v}"))),
    };
    let header = bytes
        .get(hstart..hstart + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated or non-UTF-8 header".into()))?;
    let descr = header_value(header, "descr").ok_or_else(|| bad("header has no descr".into()))?;
    if header_value(header, "fortran_order") == Some("True") {
        return Err(bad(
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into(),
        ));
    }
    let shape_s = header_value(header, "shape").ok_or_else(|| bad("header has no shape".into()))?;
    let shape = shape_s
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(format!("bad shape ({shape_s})")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            bad(format!(
                "shape {shape:?} has more elements than memory can hold"
            ))
        })?;
    let body = &bytes[hstart + hlen..];
    // The type code after the byte-order character (`<f4`); fuzzing found an empty `descr`
    // slicing out of bounds here.
    let code = descr.get(1..).unwrap_or_default();
    let width = match code {
        "f4" | "i4" | "u4" => 4,
        "f8" | "i8" | "u8" => 8,
        "i2" | "u2" => 2,
        "i1" | "u1" | "b1" => 1,
        _ => return Err(bad(format!("unsupported dtype {descr:?}"))),
    };
    if width > 1 && descr.starts_with('>') {
        return Err(bad(format!("big-endian dtype {descr:?} is not supported")));
    }
    if n.checked_mul(width) != Some(body.len()) {
        return Err(bad(format!(
            "expected {n} x {width} data bytes for shape {shape:?}, found {}",
            body.len()
        )));
    }
    let c = body.chunks_exact(width);
    let data: Vec<f32> = match code {
        "f4" => c
            .map(|b| f32::from_le_bytes(b.try_into().unwrap_or_default()))
            .collect(),
        "f8" => c
            .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()) as f32)
            .collect(),
        "i8" => c
            .map(|b| i64::from_le_bytes(b.try_into().unwrap_or_default()) as f32)
            .collect(),
        "u8" => c
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()) as f32)
            .collect(),
        "i4" => c
            .map(|b| i32::from_le_bytes(b.try_into().unwrap_or_default()) as f32)
            .collect(),
        "u4" => c
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()) as f32)
            .collect(),
        "i2" => c
            .map(|b| i16::from_le_bytes(b.try_into().unwrap_or_default()) as f32)
            .collect(),
        "u2" => c
            .map(|b| u16::from_le_bytes(b.try_into().unwrap_or_default()) as f32)
            .collect(),
        "i1" => body.iter().map(|&b| b as i8 as f32).collect(),
        _ => body.iter().map(|&b| b as f32).collect(),
    };
    Ok(NpyArray { shape, data })
}

/// Read an `.npy` file.
pub fn read(path: &Path) -> Result<NpyArray, NpyError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| NpyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    parse(&bytes, path)
}

/// Serialise a `<f4` array of `shape` into `.npy` bytes (format version 1.0).
pub fn to_bytes(data: &[f32], shape: &[usize]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + data.len() * 4);
    write_to(&mut out, data, shape).expect("writing to a Vec cannot fail");
    out
}

/// The version-1.0 preamble and header of a `<f4` array, padded so data starts at 64 bytes.
fn preamble(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_s = if dims.len() == 1 {
        format!("{},", dims[0])
    } else {
        dims.join(", ")
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({shape_s}), }}");
    // Pad so that the data starts on a 64-byte boundary, header ends with '\n'.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// Streams a `<f4` array in `.npy` format to `w`, converting through a small buffer instead of
/// materialising the whole file in memory.
pub fn write_to<W: Write>(w: &mut W, data: &[f32], shape: &[usize]) -> std::io::Result<()> {
    w.write_all(&preamble(shape))?;
    // Up to 1 MiB per write call: few system calls, bounded memory for large arrays.
    let mut buf = vec![0u8; (data.len() * 4).clamp(4, 1 << 20)];
    for chunk in data.chunks(buf.len() / 4) {
        for (dst, v) in buf.chunks_exact_mut(4).zip(chunk) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        w.write_all(&buf[..chunk.len() * 4])?;
    }
    Ok(())
}

/// Write a `<f4` array to `path` atomically (a temporary file renamed into place), so that an
/// interrupted run never leaves a half-written `.npy` behind.
pub fn write(path: &Path, data: &[f32], shape: &[usize]) -> Result<(), NpyError> {
    let io = |source| NpyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    write_to(&mut f, data, shape).map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data = [1.0f32, -2.5, 3.25, 0.0, 5.0, 6.0];
        let bytes = to_bytes(&data, &[2, 3]);
        assert_eq!((bytes.len() - data.len() * 4) % 64, 0);
        let a = parse(&bytes, Path::new("x.npy")).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, data);
        let b = parse(&to_bytes(&data, &[6]), Path::new("x.npy")).unwrap();
        assert_eq!(b.shape, vec![6]);
        assert!(parse(b"not numpy", Path::new("x.npy")).is_err());
        assert!(parse(&bytes[..bytes.len() - 1], Path::new("x.npy")).is_err());
    }
}
