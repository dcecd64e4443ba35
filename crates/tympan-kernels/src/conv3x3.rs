//! The sizes of a 3x3, stride-1, undilated, ungrouped convolution, shared by the two kernels
//! that compute only those ([`super::winograd::Winograd`], [`super::direct::Direct3x3`]).

/// A 3x3, stride-1, undilated, ungrouped convolution: input `[n, ci, h, w]`, output `[n, co,
/// ho, wo]`, `pad` rows and columns of zeros before the input (those after show in `ho`, `wo`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Conv3x3 {
    pub n: usize,
    pub ci: usize,
    pub h: usize,
    pub w: usize,
    pub co: usize,
    pub ho: usize,
    pub wo: usize,
    pub pad: [usize; 2],
}

impl Conv3x3 {
    /// 2x2 output tiles per row and per column of a sample.
    pub fn tiles(&self) -> [usize; 2] {
        [self.ho.div_ceil(2), self.wo.div_ceil(2)]
    }
}
