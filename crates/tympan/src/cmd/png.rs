//! A minimal PNG writer (8-bit RGB, stored deflate blocks) for `tympan tag --timeline`, so the
//! CLI needs no image crate for one heat map.

use std::io::Write;
use std::path::Path;

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
}

/// Encode `rgb` (`width * height * 3` bytes, row-major) as a PNG file.
pub fn write_rgb(path: &Path, width: usize, height: usize, rgb: &[u8]) -> std::io::Result<()> {
    let mut raw = Vec::with_capacity(height * (width * 3 + 1));
    for row in rgb.chunks(width * 3) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    // zlib stream with stored (uncompressed) blocks.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let n = b.len() as u16;
        z.extend(n.to_le_bytes());
        z.extend((!n).to_le_bytes());
        z.extend_from_slice(b);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + x as u32) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend(((b << 16) | a).to_be_bytes());
    let mut out = Vec::new();
    out.extend([0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
    let mut ihdr = Vec::new();
    ihdr.extend((width as u32).to_be_bytes());
    ihdr.extend((height as u32).to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit, RGB
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    std::fs::File::create(path)?.write_all(&out)
}

/// A heat map of `rows x cols` values in `[0, 1]`, each cell `cell` pixels, white (0) to dark
/// blue (1).
pub fn heatmap(path: &Path, values: &[Vec<f32>], cell: [usize; 2]) -> std::io::Result<()> {
    let rows = values.len();
    let cols = values.first().map_or(0, Vec::len);
    let (w, h) = (cols * cell[0], rows * cell[1]);
    let mut rgb = vec![255u8; w * h * 3];
    for (r, row) in values.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            let v = v.clamp(0.0, 1.0);
            let px = [
                (255.0 * (1.0 - 0.9 * v)) as u8,
                (255.0 * (1.0 - 0.7 * v)) as u8,
                (255.0 * (1.0 - 0.3 * v)) as u8,
            ];
            for y in r * cell[1]..(r + 1) * cell[1] {
                for x in c * cell[0]..(c + 1) * cell[0] {
                    rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&px);
                }
            }
        }
    }
    write_rgb(path, w.max(1), h.max(1), &rgb)
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc_of_iend() {
        // The CRC of an empty IEND chunk is a constant of the format.
        assert_eq!(super::crc32(b"IEND"), 0xAE42_6082);
    }
}
