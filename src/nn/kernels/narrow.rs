//! Matrix products for narrow layers (at most [`MAX_WIDTH`] units wide).
//!
//! A fixed budget makes deep networks narrow: width 5–13 at depths 12–64.
//! Their products are `[points × 5]·[5 × 5]`, where `gemm`'s blocking and
//! packing cost more than the 25 multiply-adds per point. These kernels
//! hold each row of the small matrix in one vector of 8 floats (16 where
//! the product is 9 to 15 wide) and make one pass over the points (a few
//! for the weight gradient of the widest); wider layers keep `gemm`
//! (`benches/RACE.md` has the measurements). They are plain
//! Rust, compiled for the baseline CPU, AVX2 and AVX-512 (chosen at run
//! time, `simd.rs`), with fused multiply-adds: every CPU gets the same
//! numbers, only at another speed. `affine.rs` uses them on Flex; unit tests below
//! check them against the naive loops.

use super::simd::simd_dispatch;

/// Runs `kernel::<G…, INNER>(args)`, written `kernel::<G…>(args)`, with
/// the run-time `inner` (`1..=MAX_WIDTH`, as [`fits`] checks) as the
/// constant `INNER`, the last generic parameter: each
/// width gets its own loop, unrolled over the inner dimension with every
/// row in a register. With `inner` a variable the compiler vectorises the
/// inner loop across rows instead, with shuffles.
macro_rules! with_inner {
    ($inner:expr, $kernel:ident$(::<$($generic:tt),+>)?($($arg:expr),*)) => {
        match $inner {
            1 => $kernel::<$($($generic,)+)? 1>($($arg),*),
            2 => $kernel::<$($($generic,)+)? 2>($($arg),*),
            3 => $kernel::<$($($generic,)+)? 3>($($arg),*),
            4 => $kernel::<$($($generic,)+)? 4>($($arg),*),
            5 => $kernel::<$($($generic,)+)? 5>($($arg),*),
            6 => $kernel::<$($($generic,)+)? 6>($($arg),*),
            7 => $kernel::<$($($generic,)+)? 7>($($arg),*),
            8 => $kernel::<$($($generic,)+)? 8>($($arg),*),
            9 => $kernel::<$($($generic,)+)? 9>($($arg),*),
            10 => $kernel::<$($($generic,)+)? 10>($($arg),*),
            11 => $kernel::<$($($generic,)+)? 11>($($arg),*),
            12 => $kernel::<$($($generic,)+)? 12>($($arg),*),
            13 => $kernel::<$($($generic,)+)? 13>($($arg),*),
            14 => $kernel::<$($($generic,)+)? 14>($($arg),*),
            15 => $kernel::<$($($generic,)+)? 15>($($arg),*),
            inner => unreachable!("narrow kernels take 1 to {MAX_WIDTH} inputs, not {inner}"),
        }
    };
}
pub(super) use with_inner;

/// The widest fan-in and fan-out these kernels take. At width 16 `gemm`
/// is as fast (`benches/RACE.md`).
pub(crate) const MAX_WIDTH: usize = 15;

/// Products at most this wide hold a row of the small matrix in 8 floats,
/// wider ones in [`LONG_LANES`].
const SHORT_LANES: usize = 8;
const LONG_LANES: usize = 16;

/// Whether a product with these inner and outer widths runs here.
pub(crate) fn fits(inner: usize, outer: usize) -> bool {
    (1..=MAX_WIDTH).contains(&inner) && (1..=MAX_WIDTH).contains(&outer)
}

/// `out[p, j] = start[j] + Σᵢ a[p, i]·m(i, j)` for every row `p` of the
/// row-major `a` (rows of `inner` values), `j < outer`: `points × outer`
/// values, row-major.
pub(crate) fn product(
    a: &[f32],
    inner: usize,
    outer: usize,
    m: impl Fn(usize, usize) -> f32,
    start: impl Fn(usize) -> f32,
) -> Vec<f32> {
    let mut out = vec![0.0f32; a.len() / inner * outer];
    product_into(a, inner, outer, m, start, &mut out);
    out
}

/// [`product`] into `out`, which holds exactly the `points × outer` values.
pub(crate) fn product_into(
    a: &[f32],
    inner: usize,
    outer: usize,
    m: impl Fn(usize, usize) -> f32,
    start: impl Fn(usize) -> f32,
    out: &mut [f32],
) {
    debug_assert!(fits(inner, outer) && a.len().is_multiple_of(inner));
    debug_assert_eq!(out.len(), a.len() / inner * outer);
    if outer <= SHORT_LANES {
        product_with::<SHORT_LANES>(a, inner, outer, m, start, out)
    } else {
        product_with::<LONG_LANES>(a, inner, outer, m, start, out)
    }
}

/// `(aᵀ·g, Σₚ g[p, ·])`: the `inner × outer` product (row-major) and the
/// column sums of `g`, for the row-major `a` (`points × inner`) and `g`
/// (`points × outer`).
pub(crate) fn transposed_product_and_sum(
    a: &[f32],
    inner: usize,
    g: &[f32],
    outer: usize,
) -> (Vec<f32>, Vec<f32>) {
    debug_assert!(fits(inner, outer) && a.len() / inner == g.len() / outer);
    if outer <= SHORT_LANES {
        accumulate_with::<SHORT_LANES>(a, inner, g, outer)
    } else {
        accumulate_with::<LONG_LANES>(a, inner, g, outer)
    }
}

fn product_with<const LANES: usize>(
    a: &[f32],
    inner: usize,
    outer: usize,
    m: impl Fn(usize, usize) -> f32,
    start: impl Fn(usize) -> f32,
    out: &mut [f32],
) {
    let mut rows = [[0.0f32; LANES]; MAX_WIDTH];
    for (i, row) in rows.iter_mut().enumerate().take(inner) {
        row.iter_mut()
            .take(outer)
            .enumerate()
            .for_each(|(j, value)| *value = m(i, j));
    }
    let mut first = [0.0f32; LANES];
    first
        .iter_mut()
        .take(outer)
        .enumerate()
        .for_each(|(j, value)| *value = start(j));
    let rows = &rows[..inner];
    with_inner!(inner, product_rows::<LANES>(a, rows, first, outer, out));
}

/// Every row of `a` through [`product_kernel`], in the widest copy the CPU
/// has. Each width dispatches on its own: one dispatch around all sixteen
/// widths made a copy too large for the compiler to inline the kernels
/// into, and they ran unvectorised.
fn product_rows<const LANES: usize, const INNER: usize>(
    a: &[f32],
    rows: &[[f32; LANES]],
    first: [f32; LANES],
    outer: usize,
    out: &mut [f32],
) {
    let points = a.len() / INNER;
    // Each row is stored as a whole vector that spills into the next row,
    // which overwrites it; the last few rows, whose vector would spill past
    // `out`, go through a padded copy.
    let direct = whole_vector_rows(out.len(), LANES, outer, points);
    simd_dispatch!({
        product_kernel::<LANES, INNER>(&a[..direct * INNER], rows, first, outer, out);
        for p in direct..points {
            let mut padded = [0.0f32; LANES];
            let row = &a[p * INNER..(p + 1) * INNER];
            product_kernel::<LANES, INNER>(row, rows, first, LANES, &mut padded);
            out[p * outer..(p + 1) * outer].copy_from_slice(&padded[..outer]);
        }
    });
}

#[inline(always)]
fn product_kernel<const LANES: usize, const INNER: usize>(
    a: &[f32],
    rows: &[[f32; LANES]],
    first: [f32; LANES],
    outer: usize,
    out: &mut [f32],
) {
    let rows: &[[f32; LANES]; INNER] = rows.try_into().expect("INNER rows");
    for (p, values) in a.chunks_exact(INNER).enumerate() {
        let mut sum = first;
        for (&value, row) in values.iter().zip(rows) {
            for lane in 0..LANES {
                sum[lane] = value.mul_add(row[lane], sum[lane]);
            }
        }
        out[p * outer..p * outer + LANES].copy_from_slice(&sum);
    }
}

fn accumulate_with<const LANES: usize>(
    a: &[f32],
    inner: usize,
    g: &[f32],
    outer: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut products = [[0.0f32; LANES]; MAX_WIDTH];
    let mut sums = [0.0f32; LANES];
    with_inner!(
        inner,
        accumulate_rows::<LANES>(a, g, outer, &mut products[..inner], &mut sums)
    );
    let product = products[..inner]
        .iter()
        .flat_map(|row| &row[..outer])
        .copied()
        .collect();
    (product, sums[..outer].to_vec())
}

/// The first rows of a `points × outer` row-major buffer of `len` values
/// whose `lanes`-float vector, starting at the row, lies inside it.
fn whole_vector_rows(len: usize, lanes: usize, outer: usize, points: usize) -> usize {
    if len >= lanes {
        ((len - lanes) / outer + 1).min(points)
    } else {
        0
    }
}

/// [`accumulate_pass`] over every row, in the widest copy the CPU has,
/// one dispatch per width (as [`product_rows`]).
fn accumulate_rows<const LANES: usize, const INNER: usize>(
    a: &[f32],
    g: &[f32],
    outer: usize,
    products: &mut [[f32; LANES]],
    sums: &mut [f32; LANES],
) {
    // The rows of `g` whose whole vector lies inside `g`; the last few are
    // read through a padded copy.
    let points = g.len() / outer;
    let direct = whole_vector_rows(g.len(), LANES, outer, points);
    // The padded rows inside the dispatch too: outside it every fused
    // multiply-add would be a call to the C library's `fmaf`.
    simd_dispatch!({
        accumulate_passes::<LANES, INNER>(&a[..direct * INNER], g, outer, products, sums);
        for p in direct..points {
            let mut padded = [0.0f32; LANES];
            padded[..outer].copy_from_slice(&g[p * outer..(p + 1) * outer]);
            let row = &a[p * INNER..(p + 1) * INNER];
            accumulate_passes::<LANES, INNER>(row, &padded, LANES, products, sums);
        }
    });
}

/// Rows of `products` one pass over the points accumulates, out of
/// `inner`. The compiler unrolls a pass, with every accumulator in a
/// register, only while the pass is small: 16-float rows take at most
/// [`SINGLE_PASS_WIDTH`] rows in one pass, and wider fan-ins passes of 6.
/// Larger passes were not unrolled and ran many times slower
/// (`benches/RACE.md`).
const fn pass_rows(lanes: usize, inner: usize) -> usize {
    if lanes <= SHORT_LANES || inner <= SINGLE_PASS_WIDTH {
        inner
    } else {
        6
    }
}

/// The widest fan-in whose weight gradient is accumulated in one pass.
const SINGLE_PASS_WIDTH: usize = 11;

/// Passes [`accumulate_passes`] makes at most.
const MAX_PASSES: usize = 3;
const _: () = assert!(MAX_PASSES * pass_rows(LONG_LANES, MAX_WIDTH) >= MAX_WIDTH);

/// [`accumulate_pass`] over `products`' rows, [`pass_rows`] at a time;
/// the first pass also sums the rows of `g`. Each product is still the
/// same sum, in the same order, whichever rows share its pass.
#[inline(always)]
fn accumulate_passes<const LANES: usize, const INNER: usize>(
    a: &[f32],
    g: &[f32],
    stride: usize,
    products: &mut [[f32; LANES]],
    sums: &mut [f32; LANES],
) {
    // The pass index is a constant, so that each pass's rows are too.
    accumulate_pass::<LANES, INNER, 0>(a, g, stride, products, sums);
    if INNER > pass_rows(LANES, INNER) {
        accumulate_pass::<LANES, INNER, 1>(a, g, stride, products, sums);
    }
    if INNER > 2 * pass_rows(LANES, INNER) {
        accumulate_pass::<LANES, INNER, 2>(a, g, stride, products, sums);
    }
}

/// Pass `PASS` of [`accumulate_passes`]: adds `a[p, i]·g[p, ·]` to
/// `products[i]` for its rows `i`, and in pass 0 `g[p, ·]` to `sums`, over
/// the rows of `a` (`INNER` values each); row `p` of `g` starts at
/// `p·stride`.
#[inline(always)]
fn accumulate_pass<const LANES: usize, const INNER: usize, const PASS: usize>(
    a: &[f32],
    g: &[f32],
    stride: usize,
    products: &mut [[f32; LANES]],
    sums: &mut [f32; LANES],
) {
    let first = PASS * pass_rows(LANES, INNER);
    let rows = pass_rows(LANES, INNER).min(INNER - first);
    let with_sums = PASS == 0;
    // Local accumulators and a local copy of each row: the compiler then
    // keeps them in vector registers (through the slices it did not).
    let mut local_products = [[0.0f32; LANES]; MAX_WIDTH];
    let mut local_sums = [0.0f32; LANES];
    for (p, values) in a.chunks_exact(INNER).enumerate() {
        let row: [f32; LANES] = g[p * stride..p * stride + LANES]
            .try_into()
            .expect("a whole vector");
        for (&value, product) in values[first..first + rows]
            .iter()
            .zip(local_products.iter_mut())
        {
            for lane in 0..LANES {
                product[lane] = value.mul_add(row[lane], product[lane]);
            }
        }
        if with_sums {
            for lane in 0..LANES {
                local_sums[lane] += row[lane];
            }
        }
    }
    for (product, local) in products[first..first + rows].iter_mut().zip(local_products) {
        (0..LANES).for_each(|lane| product[lane] += local[lane]);
    }
    if with_sums {
        (0..LANES).for_each(|lane| sums[lane] += local_sums[lane]);
    }
}

#[cfg(test)]
mod tests {
    use super::super::naive::{check_product, check_transposed_product_and_sum, values};
    use super::*;

    #[test]
    fn product_matches_the_naive_loop() {
        for shape @ [points, inner, outer] in SHAPES {
            let (a, m, start) = (
                values(points * inner, 1),
                values(inner * outer, 2),
                values(outer, 3),
            );
            let out = product(&a, inner, outer, |i, j| m[i * outer + j], |j| start[j]);
            check_product([&a, &m, &start, &out], shape);
        }
    }

    #[test]
    fn transposed_product_and_sum_match_the_naive_loops() {
        for shape @ [points, inner, outer] in SHAPES {
            let (a, g) = (values(points * inner, 4), values(points * outer, 5));
            let (product, sums) = transposed_product_and_sum(&a, inner, &g, outer);
            let zeros = vec![0.0f32; inner * outer];
            check_transposed_product_and_sum([&a, &g, &zeros, &zeros], [&product, &sums], shape);
        }
    }

    /// `[points, inner, outer]`: every row width (8 and 16 floats), one
    /// and several passes of the weight gradient, one point and many.
    const SHAPES: [[usize; 3]; 16] = [
        [37, 5, 5],
        [1, 1, 1],
        [2, 3, 7],
        [50, 2, 8],
        [9, 8, 1],
        [9, 8, 3],
        [40, 7, 8],
        [3, 8, 8],
        [33, 10, 11],
        [17, 11, 11],
        [5, 3, 9],
        [20, 9, 2],
        [29, 12, 13],
        [31, 15, 15],
        [6, 13, 4],
        [11, 4, 14],
    ];
}
