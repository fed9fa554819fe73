// SPDX-License-Identifier: MIT OR Apache-2.0
//! The per-row kernels of the resize. Each reads a source row where R, G and B of the pixel at
//! offset `p` sit at `p + off[c]`: `off` is a constant per packed format (see
//! [`packed_layout!`]: every kernel is inlined, so each layout is compiled on its own), and the
//! plane starts for the planar RGB rows the YUV path makes.

/// Calls `kernel(off, args…)` with the channel offsets of a packed format as constants.
macro_rules! packed_layout {
    ($bpp:expr, $off:expr, $kernel:ident($($arg:expr),* $(,)?)) => {
        match ($bpp, $off) {
            (3, [0, 1, 2]) => $kernel([0, 1, 2], $($arg),*),
            (3, [2, 1, 0]) => $kernel([2, 1, 0], $($arg),*),
            (4, [0, 1, 2]) => $kernel([0, 1, 2], $($arg),*),
            (4, [2, 1, 0]) => $kernel([2, 1, 0], $($arg),*),
            (4, [1, 2, 3]) => $kernel([1, 2, 3], $($arg),*),
            (4, [3, 2, 1]) => $kernel([3, 2, 1], $($arg),*),
            (1, [0, 0, 0]) => $kernel([0, 0, 0], $($arg),*),
            (bpp, off) => unreachable!("PixelFormat::packed_layout has no layout {bpp} {off:?}"),
        }
    };
}
pub(super) use packed_layout;

/// Pixel offsets of the two source pixels of each output column, and the largest of them.
#[derive(Clone, Copy)]
pub(super) struct Taps<'a> {
    pub first: &'a [u32],
    pub second: &'a [u32],
    pub max: u32,
}

/// The tables never point past the row: one check per row instead of one per read.
#[inline(always)]
fn check_bounds(len: usize, off: [usize; 3], max: u32) {
    let reach = max as usize + off[0].max(off[1]).max(off[2]);
    assert!(reach < len, "resize table beyond the row");
}

/// Reads channel `c` of the pixel at `p`.
///
/// SAFETY (callers): `p <= max` of a [`check_bounds`]-checked row and `off` from that check.
#[inline(always)]
unsafe fn read(src: &[u8], p: usize, off: usize) -> u8 {
    // SAFETY: the caller's check_bounds covers p + off.
    unsafe { *src.get_unchecked(p + off) }
}

/// OpenCV's `HResizeLinear` for 8-bit input: `H = p[x0]·a0 + p[x1]·a1` per channel, stored as
/// `H >> 4`.
#[inline(always)]
pub(super) fn hresize(
    off: [usize; 3],
    src: &[u8],
    taps: Taps<'_>,
    alpha: &[[i16; 2]],
    dst: &mut [i16],
) {
    let n = dst.len() / 3;
    let (x0, x1, alpha) = (&taps.first[..n], &taps.second[..n], &alpha[..n]);
    if n == 0 {
        return;
    }
    check_bounds(src.len(), off, taps.max);
    for (i, d) in dst.chunks_exact_mut(3).enumerate() {
        let (p0, p1) = (x0[i] as usize, x1[i] as usize);
        let [a0, a1] = alpha[i];
        let (a0, a1) = (a0 as i32, a1 as i32);
        for c in 0..3 {
            // SAFETY: p0, p1 <= taps.max, checked for this row and `off` above.
            let (v0, v1) = unsafe { (read(src, p0, off[c]), read(src, p1, off[c])) };
            d[c] = ((v0 as i32 * a0 + v1 as i32 * a1) >> 4) as i16;
        }
    }
}

/// OpenCV's `VResizeLinearVec_32s8u`: `((h0·b0) >> 16) + ((h1·b1) >> 16)`, then `(t + 2) >> 2`,
/// saturated. On `i16` lanes (both products' high halves fit), so it maps to `pmulhw`.
#[inline(always)]
pub(super) fn vresize_two(r0: &[i16], r1: &[i16], b0: i16, b1: i16, out: &mut [u8]) {
    let n = out.len();
    let (r0, r1) = (&r0[..n], &r1[..n]);
    for i in 0..n {
        let t = mul_hi(r0[i], b0).wrapping_add(mul_hi(r1[i], b1));
        out[i] = (t.wrapping_add(2) >> 2).clamp(0, 255) as u8;
    }
}

/// [`vresize_two`] when the second row's weight is 0.
#[inline(always)]
pub(super) fn vresize_one(r0: &[i16], b0: i16, out: &mut [u8]) {
    let n = out.len();
    let r0 = &r0[..n];
    for i in 0..n {
        out[i] = (mul_hi(r0[i], b0).wrapping_add(2) >> 2).clamp(0, 255) as u8;
    }
}

#[inline(always)]
fn mul_hi(a: i16, b: i16) -> i16 {
    ((a as i32 * b as i32) >> 16) as i16
}

/// One output row when every weight is (2048, 0): the source pixels at `x0`, as RGB.
#[inline(always)]
pub(super) fn sample(off: [usize; 3], src: &[u8], taps: Taps<'_>, dst: &mut [u8]) {
    let n = dst.len() / 3;
    let x0 = &taps.first[..n];
    if n == 0 {
        return;
    }
    check_bounds(src.len(), off, taps.max);
    for (d, &p) in dst.chunks_exact_mut(3).zip(x0) {
        for c in 0..3 {
            // SAFETY: p <= taps.max, checked for this row and `off` above.
            d[c] = unsafe { read(src, p as usize, off[c]) };
        }
    }
}

/// `sum[i] = a[i] + b[i]`: two source rows added once, so that [`average`] reads one row.
#[inline(always)]
pub(super) fn add_rows(a: &[u8], b: &[u8], sum: &mut [u16]) {
    let n = sum.len();
    let (a, b) = (&a[..n], &b[..n]);
    for i in 0..n {
        sum[i] = a[i] as u16 + b[i] as u16;
    }
}

/// One output row when every weight is (1024, 1024): `(a + b + c + d + 2) >> 2` of the two
/// taps of the two rows, read from their [`add_rows`] sum.
#[inline(always)]
pub(super) fn average(off: [usize; 3], sum: &[u16], taps: Taps<'_>, dst: &mut [u8]) {
    let n = dst.len() / 3;
    let (x0, x1) = (&taps.first[..n], &taps.second[..n]);
    if n == 0 {
        return;
    }
    check_bounds(sum.len(), off, taps.max);
    for (i, d) in dst.chunks_exact_mut(3).enumerate() {
        let (p0, p1) = (x0[i] as usize, x1[i] as usize);
        for c in 0..3 {
            // SAFETY: p0, p1 <= taps.max and taps.max + off[c] < sum.len(), checked above.
            let (v0, v1) = unsafe {
                (
                    *sum.get_unchecked(p0 + off[c]),
                    *sum.get_unchecked(p1 + off[c]),
                )
            };
            d[c] = ((v0 + v1 + 2) >> 2) as u8;
        }
    }
}

/// [`average`] for an exact 2× downscale of `BPP`-byte pixels: the sum row is read in order,
/// two pixels per output pixel, which the compiler vectorises.
#[inline(always)]
pub(super) fn average_pairs<const BPP: usize>(off: [usize; 3], sum: &[u16], dst: &mut [u8]) {
    for (d, s) in dst.chunks_exact_mut(3).zip(sum.chunks_exact(2 * BPP)) {
        for c in 0..3 {
            d[c] = ((s[off[c]] + s[BPP + off[c]] + 2) >> 2) as u8;
        }
    }
}

/// [`sample`] for an exact 3× downscale of `BPP`-byte pixels: the middle pixel of every three,
/// read in order, which the compiler vectorises.
#[inline(always)]
pub(super) fn sample_thirds<const BPP: usize>(off: [usize; 3], src: &[u8], dst: &mut [u8]) {
    let Some(last) = (dst.len() / 3).checked_sub(1) else {
        return;
    };
    // The last pixel's three-pixel group may be cut short by the row's end.
    let (body, tail) = dst.split_at_mut(3 * last);
    let src = &src[BPP..];
    for (d, s) in body.chunks_exact_mut(3).zip(src.chunks_exact(3 * BPP)) {
        for c in 0..3 {
            d[c] = s[off[c]];
        }
    }
    for c in 0..3 {
        tail[c] = src[3 * BPP * last + off[c]];
    }
}

#[cfg(test)]
mod tests {
    use super::super::tables::Tables;
    use super::*;

    /// The in-order kernel reads the pixels the tables name, to the row's last pixel, for
    /// every packed layout of 3 and 4 bytes.
    #[test]
    fn sampling_thirds_reads_what_the_tables_name() {
        let mut tables = Tables::default();
        for (bpp, offs) in [
            (3, vec![[0, 1, 2], [2, 1, 0]]),
            (4, vec![[0, 1, 2], [2, 1, 0], [1, 2, 3], [3, 2, 1]]),
        ] {
            for width in [1920, 1923, 3] {
                tables.build(width, 9, width / 3, 3, bpp);
                assert!(tables.thirds, "{width} {bpp}");
                let row: Vec<u8> = (0..width * bpp).map(|i| (i * 7 + i / 5) as u8).collect();
                for off in offs.iter().copied() {
                    let mut want = vec![0u8; width / 3 * 3];
                    packed_layout!(bpp, off, sample(&row, tables.pixel_taps(), &mut want));
                    let mut got = vec![0u8; want.len()];
                    match bpp {
                        3 => sample_thirds::<3>(off, &row, &mut got),
                        _ => sample_thirds::<4>(off, &row, &mut got),
                    }
                    assert_eq!(got, want, "{width} px, {bpp} bytes, {off:?}");
                }
            }
        }
    }
}
