//! The kernels' elementwise loops, compiled twice: for the crate's baseline target (SSE2 on
//! x86-64) and with AVX2 enabled, chosen at run time from what the CPU has. perf showed the
//! batch-norm and swish passes running 4 floats wide under the baseline target; the AVX2 copy
//! runs 8 wide. Only the vector width changes: the operations and their order are the same
//! (Rust never contracts a multiply and an add into an FMA), so both copies give the same bits.

/// `out[i] = f(src[i])`, or `out[i] = f(out[i])` in place when `src` is `None`.
pub(super) fn map<F: Fn(f32) -> f32>(out: &mut [f32], src: Option<&[f32]>, f: &F) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 (checked at run time just above).
        return unsafe { map_avx2(out, src, f) };
    }
    map_body(out, src, f)
}

/// `out[i] = f(a[i], b[i])`.
pub(super) fn map2<F: Fn(f32, f32) -> f32>(out: &mut [f32], a: &[f32], b: &[f32], f: &F) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 (checked at run time just above).
        return unsafe { map2_avx2(out, a, b, f) };
    }
    map2_body(out, a, b, f)
}

/// `(a[i], b[i], c[i]) = f(a[i], b[i], c[i], d[i])`, in place.
pub(super) fn update3<F: Fn(f32, f32, f32, f32) -> (f32, f32, f32)>(
    a: &mut [f32],
    b: &mut [f32],
    c: &mut [f32],
    d: &[f32],
    f: &F,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 (checked at run time just above).
        return unsafe { update3_avx2(a, b, c, d, f) };
    }
    update3_body(a, b, c, d, f)
}

#[inline(always)]
fn update3_body<F: Fn(f32, f32, f32, f32) -> (f32, f32, f32)>(
    a: &mut [f32],
    b: &mut [f32],
    c: &mut [f32],
    d: &[f32],
    f: &F,
) {
    for (((x, y), z), &w) in a.iter_mut().zip(b.iter_mut()).zip(c.iter_mut()).zip(d) {
        (*x, *y, *z) = f(*x, *y, *z, w);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn update3_avx2<F: Fn(f32, f32, f32, f32) -> (f32, f32, f32)>(
    a: &mut [f32],
    b: &mut [f32],
    c: &mut [f32],
    d: &[f32],
    f: &F,
) {
    update3_body(a, b, c, d, f)
}

#[inline(always)]
fn map_body<F: Fn(f32) -> f32>(out: &mut [f32], src: Option<&[f32]>, f: &F) {
    match src {
        Some(src) => {
            for (o, &v) in out.iter_mut().zip(src) {
                *o = f(v);
            }
        }
        None => {
            for o in out.iter_mut() {
                *o = f(*o);
            }
        }
    }
}

#[inline(always)]
fn map2_body<F: Fn(f32, f32) -> f32>(out: &mut [f32], a: &[f32], b: &[f32], f: &F) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn map_avx2<F: Fn(f32) -> f32>(out: &mut [f32], src: Option<&[f32]>, f: &F) {
    map_body(out, src, f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn map2_avx2<F: Fn(f32, f32) -> f32>(out: &mut [f32], a: &[f32], b: &[f32], f: &F) {
    map2_body(out, a, b, f)
}

/// Whether this CPU has AVX2 (asked once).
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| std::is_x86_feature_detected!("avx2"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both copies give the same bits (the AVX2 one is taken on this CPU when it has AVX2).
    #[test]
    fn both_widths_give_the_same_bits() {
        let src: Vec<f32> = (0..1003).map(|i| (i as f32 * 0.37).sin() * 9.0).collect();
        let f = |v: f32| ((v - 0.3) / 1.7) * 0.9 + 0.1;
        let (mut a, mut b) = (vec![0.0; src.len()], vec![0.0; src.len()]);
        map(&mut a, Some(&src), &f);
        map_body(&mut b, Some(&src), &f);
        assert_eq!(a, b);
        let g = |x: f32, y: f32| x * y + x / (1.0 + y.abs());
        map2(&mut a, &src, &b, &g);
        let mut c = vec![0.0; src.len()];
        map2_body(&mut c, &src, &b, &g);
        assert_eq!(a, c);
    }
}
