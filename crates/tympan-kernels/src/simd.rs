//! The kernels' elementwise loops, compiled three times: for the crate's baseline target (SSE2 on
//! x86-64), with AVX2 and with AVX-512F enabled, chosen at run time from what the CPU has. perf
//! showed the batch-norm and swish passes running 4 floats wide under the baseline target; the
//! AVX2 copy runs 8 wide, the AVX-512 one 16 (swish was 15 % of `tympan tag` with EfficientNet-B2
//! on the AVX2 copy, 2026-12-06, AMD EPYC). Only the vector width changes: the operations and
//! their order are the same (Rust never contracts a multiply and an add into an FMA), so every
//! copy gives the same bits.

/// `pub(super) fn $name`, running `$body` compiled for the widest vectors the CPU has (AVX-512F,
/// AVX2, or the crate's baseline target), chosen at run time.
macro_rules! widest {
    ($(#[$doc:meta])* fn $name:ident<F: $bound:path>($($arg:ident: $ty:ty),* $(,)?) = $body:ident) => {
        $(#[$doc])*
        pub(super) fn $name<F: $bound>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn with_avx512<F: $bound>($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn with_avx2<F: $bound>($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if avx512() {
                    // SAFETY: the CPU has AVX-512F (checked at run time just above).
                    return unsafe { with_avx512($($arg),*) };
                }
                if avx2() {
                    // SAFETY: the CPU has AVX2 (checked at run time just above).
                    return unsafe { with_avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

widest! {
    /// `out[i] = f(src[i])`, or `out[i] = f(out[i])` in place when `src` is `None`.
    fn map<F: Fn(f32) -> f32>(out: &mut [f32], src: Option<&[f32]>, f: &F) = map_body
}

widest! {
    /// `out[i] = f(a[i], b[i])`.
    fn map2<F: Fn(f32, f32) -> f32>(out: &mut [f32], a: &[f32], b: &[f32], f: &F) = map2_body
}

widest! {
    /// `(a[i], b[i], c[i]) = f(a[i], b[i], c[i], d[i])`, in place.
    fn update3<F: Fn(f32, f32, f32, f32) -> (f32, f32, f32)>(
        a: &mut [f32],
        b: &mut [f32],
        c: &mut [f32],
        d: &[f32],
        f: &F,
    ) = update3_body
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

/// Whether this CPU has AVX-512F (asked once).
#[cfg(target_arch = "x86_64")]
pub(super) fn avx512() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| std::is_x86_feature_detected!("avx512f"))
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
        // Swish with the kernels' `exp`, the widest copy this CPU has against the baseline.
        let swish = |v: f32| v * crate::swish_flex::sigmoid(v);
        map(&mut a, Some(&src), &swish);
        map_body(&mut b, Some(&src), &swish);
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        // Adam's shape of update.
        let h = |p: f32, m: f32, v: f32, g: f32| {
            let (m, v) = (0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g);
            (p - 1e-3 * m / (v.sqrt() + 1e-8), m, v)
        };
        let (mut p1, mut m1, mut v1) = (src.clone(), vec![0.1; src.len()], vec![0.2; src.len()]);
        let (mut p2, mut m2, mut v2) = (p1.clone(), m1.clone(), v1.clone());
        update3(&mut p1, &mut m1, &mut v1, &a, &h);
        update3_body(&mut p2, &mut m2, &mut v2, &a, &h);
        assert_eq!((p1, m1, v1), (p2, m2, v2));
    }
}
