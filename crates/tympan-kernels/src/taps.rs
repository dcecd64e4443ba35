//! Where a sliding window's taps fall along one axis of the input: shared by the convolution
//! and pooling kernels.

/// One axis of a sliding window: an input of `size` positions, `out` windows `stride` apart,
/// taps `dilation` apart, and `pad` positions of padding before the input (the padding after
/// only shows in `out`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Axis {
    pub size: usize,
    pub out: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad: usize,
}

impl Axis {
    /// Input position of window `o`'s tap `i`, if inside the input.
    #[inline]
    pub fn at(&self, o: usize, i: usize) -> Option<usize> {
        let r = (o * self.stride + i * self.dilation) as isize - self.pad as isize;
        (r >= 0 && (r as usize) < self.size).then_some(r as usize)
    }

    /// For tap `j`: the offset `off` with input position `o * stride + off`, and the range
    /// `lo..hi` of windows whose tap lies inside the input, with `lo <= hi <= out` (empty where
    /// every window's tap falls in the padding).
    pub fn range(&self, j: usize) -> (isize, usize, usize) {
        let s = self.stride as isize;
        let off = (j * self.dilation) as isize - self.pad as isize;
        let first = if off >= 0 { 0 } else { (-off + s - 1) / s };
        let lo = first.min(self.out as isize);
        let last = self.size as isize - 1 - off;
        let hi = if last < 0 {
            0
        } else {
            (last / s + 1).min(self.out as isize)
        };
        (off, lo as usize, (hi.max(lo)) as usize)
    }
}
