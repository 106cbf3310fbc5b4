//! Matrix products for narrow layers, stored in chunks of points.
//!
//! Stored point by point (`narrow.rs`), a width-5 layer holds each row of
//! its small matrix in a vector of 8 floats, 3 of them idle, and spends 5
//! multiply-adds on a point's 25. Stored in chunks, the vectors run along
//! the points instead: 16 points per vector, every lane busy, 25
//! multiply-adds per 16 points. The training passes on host vectors
//! (`nn/stack.rs`) store networks whose layers are all narrow this way.
//!
//! **The layout.** A layer's values over a block of points are stored
//! chunk by chunk, [`LANES`] points per chunk, and within a chunk unit by
//! unit: unit `u` at point `p` is at `(p / LANES · units + u) · LANES +
//! p % LANES`. A chunk's values of one unit are one vector, and a chunk's
//! values of every unit lie together, so that every pass reads and writes
//! its values in order. The last chunk is padded to [`LANES`] points.
//!
//! The products are the same sums, in the same order, as `narrow.rs`'s:
//! the same bits. The weight gradient sums over the points, and keeps 16
//! partial sums (one per lane of a chunk) added pairwise at the end:
//! another order than `narrow.rs`'s point after point, but the same on
//! every CPU, as [`LANES`] is fixed and not the CPU's vector width.

use super::narrow::{with_inner, MAX_WIDTH};
use super::simd::simd_dispatch;

/// Points per chunk, whatever the CPU's vectors hold.
pub(crate) const LANES: usize = 16;

type Lanes = [f32; LANES];

/// Whether a product with these inner and outer widths runs here.
pub(crate) fn fits(inner: usize, outer: usize) -> bool {
    super::narrow::fits(inner, outer)
}

/// Values that `units` units over `points` points take, stored in chunks:
/// the last chunk's padding included.
pub(crate) fn stored_len(points: usize, units: usize) -> usize {
    points.div_ceil(LANES) * LANES * units
}

/// `rows` (`points × units`, row-major) stored in chunks into `out`, the
/// padding zero.
pub(crate) fn to_chunks(rows: &[f32], units: usize, out: &mut Vec<f32>) {
    let points = rows.len() / units;
    out.clear();
    out.resize(stored_len(points, units), 0.0);
    for (p, row) in rows.chunks_exact(units).enumerate() {
        let at = p / LANES * units * LANES + p % LANES;
        for (u, &value) in row.iter().enumerate() {
            out[at + u * LANES] = value;
        }
    }
}

/// The first `points` points of `chunks` (`units` units, stored in chunks)
/// point by point (`points × units`, row-major) into `out`.
pub(crate) fn from_chunks(chunks: &[f32], units: usize, points: usize, out: &mut Vec<f32>) {
    out.clear();
    out.extend((0..points).flat_map(|p| {
        let at = p / LANES * units * LANES + p % LANES;
        (0..units).map(move |u| chunks[at + u * LANES])
    }));
}

/// `out[j, p] = start[j] + Σᵢ m(i, j)·a[i, p]` for every point `p` of
/// every chunk, the padding included, `a` (`inner` units) and `out`
/// (`outer` units) stored in chunks; without `start` the sums start at
/// zero.
pub(crate) fn product_into(
    a: &[f32],
    [inner, outer]: [usize; 2],
    m: impl Fn(usize, usize) -> f32,
    start: Option<&[f32]>,
    out: &mut [f32],
) {
    debug_assert!(fits(inner, outer) && a.len().is_multiple_of(inner * LANES));
    debug_assert_eq!(out.len(), a.len() / inner * outer);
    // Each output unit's coefficients in one row: the kernel reads them
    // as broadcasts, unit after unit.
    let mut coefficients = [[0.0f32; MAX_WIDTH]; MAX_WIDTH];
    for (j, row) in coefficients.iter_mut().enumerate().take(outer) {
        row.iter_mut()
            .take(inner)
            .enumerate()
            .for_each(|(i, value)| *value = m(i, j));
    }
    let mut first = [0.0f32; MAX_WIDTH];
    if let Some(start) = start {
        first[..outer].copy_from_slice(&start[..outer]);
    }
    let coefficients = &coefficients[..outer];
    // Output units per pass by fan-in, as measured (benches/RACE.md): 4
    // keep their coefficients, sums and a chunk's value within AVX-512's
    // 32 registers up to a fan-in of 6, 2 up to 13; fan-ins 14 and 15 take
    // one. Spelled out, so that only these pairs are compiled.
    let first = &first;
    match inner {
        1 => product_chunks::<4, 1>(a, coefficients, first, out),
        2 => product_chunks::<4, 2>(a, coefficients, first, out),
        3 => product_chunks::<4, 3>(a, coefficients, first, out),
        4 => product_chunks::<4, 4>(a, coefficients, first, out),
        5 => product_chunks::<4, 5>(a, coefficients, first, out),
        6 => product_chunks::<4, 6>(a, coefficients, first, out),
        7 => product_chunks::<2, 7>(a, coefficients, first, out),
        8 => product_chunks::<2, 8>(a, coefficients, first, out),
        9 => product_chunks::<2, 9>(a, coefficients, first, out),
        10 => product_chunks::<2, 10>(a, coefficients, first, out),
        11 => product_chunks::<2, 11>(a, coefficients, first, out),
        12 => product_chunks::<2, 12>(a, coefficients, first, out),
        13 => product_chunks::<2, 13>(a, coefficients, first, out),
        14 => product_chunks::<1, 14>(a, coefficients, first, out),
        15 => product_chunks::<1, 15>(a, coefficients, first, out),
        inner => unreachable!("narrow kernels take 1 to {MAX_WIDTH} inputs, not {inner}"),
    }
}

/// [`product_into`] in the widest copy the CPU has: output units `UNITS`
/// at a time (the last few one at a time), each pass over the chunks with
/// the units' coefficients in registers.
fn product_chunks<const UNITS: usize, const INNER: usize>(
    a: &[f32],
    coefficients: &[[f32; MAX_WIDTH]],
    first: &[f32; MAX_WIDTH],
    out: &mut [f32],
) {
    let outer = coefficients.len();
    let (a, _) = a.as_chunks::<LANES>();
    let (out, _) = out.as_chunks_mut::<LANES>();
    let whole = outer / UNITS * UNITS;
    simd_dispatch!({
        for j in (0..whole).step_by(UNITS) {
            product_units::<UNITS, INNER>(a, coefficients, first, j, out);
        }
        for j in whole..outer {
            product_units::<1, INNER>(a, coefficients, first, j, out);
        }
    });
}

/// Output units `j..j + UNITS` over every chunk: `out` holds `outer`
/// units per chunk, `first` the sums' starts.
#[inline(always)]
fn product_units<const UNITS: usize, const INNER: usize>(
    a: &[Lanes],
    coefficients: &[[f32; MAX_WIDTH]],
    first: &[f32; MAX_WIDTH],
    j: usize,
    out: &mut [Lanes],
) {
    let outer = coefficients.len();
    let weights: [[f32; INNER]; UNITS] =
        std::array::from_fn(|u| std::array::from_fn(|i| coefficients[j + u][i]));
    let starts: [f32; UNITS] = std::array::from_fn(|u| first[j + u]);
    for (x, out) in a.chunks_exact(INNER).zip(out.chunks_exact_mut(outer)) {
        let x: &[Lanes; INNER] = x.try_into().expect("INNER vectors");
        for (u, weights) in weights.iter().enumerate() {
            let mut sum = [starts[u]; LANES];
            for (values, &weight) in x.iter().zip(weights) {
                for lane in 0..LANES {
                    sum[lane] = values[lane].mul_add(weight, sum[lane]);
                }
            }
            out[j + u] = sum;
        }
    }
}

/// Adds `Σₚ a[i, p]·g[j, p]` to `product[i·outer + j]` and `Σₚ g[j, p]` to
/// `sums[j]` over the first `points` points, `a` (`inner` units) and `g`
/// (`outer` units) stored in chunks: the weight and bias gradients of
/// [`product_into`]'s map. The padding is left out.
pub(crate) fn add_transposed_product_and_sum(
    a: &[f32],
    g: &[f32],
    [inner, outer]: [usize; 2],
    points: usize,
    product: &mut [f32],
    sums: &mut [f32],
) {
    debug_assert!(fits(inner, outer) && a.len() / inner == g.len() / outer);
    debug_assert_eq!(a.len(), stored_len(points, inner));
    debug_assert_eq!((product.len(), sums.len()), (inner * outer, outer));
    with_inner!(
        inner,
        accumulate_blocks(a, g, [outer, points], product, sums)
    );
}

/// Chunks per block of [`accumulate_blocks`]: a block of every input and
/// output unit (at most 30 vectors a chunk, 30 KB) stays in the L1 cache
/// while each output unit passes over it.
const BLOCK_CHUNKS: usize = 16;

/// [`add_transposed_product_and_sum`] in the widest copy the CPU has:
/// block of chunks by block of chunks, each output unit in turn with its
/// `INNER + 1` vectors of partial sums in registers. Each lane's sums
/// follow the chunks in order, whatever the blocks.
fn accumulate_blocks<const INNER: usize>(
    a: &[f32],
    g: &[f32],
    [outer, points]: [usize; 2],
    product: &mut [f32],
    sums: &mut [f32],
) {
    let (a, _) = a.as_chunks::<LANES>();
    let (g, _) = g.as_chunks::<LANES>();
    let whole = points / LANES;
    simd_dispatch!({
        let mut partial_products = [[[0.0f32; LANES]; INNER]; MAX_WIDTH];
        let mut partial_sums = [[0.0f32; LANES]; MAX_WIDTH];
        for block in (0..whole).step_by(BLOCK_CHUNKS) {
            let chunks = block..(block + BLOCK_CHUNKS).min(whole);
            let x = &a[chunks.start * INNER..chunks.end * INNER];
            let y = &g[chunks.start * outer..chunks.end * outer];
            for j in 0..outer {
                (partial_products[j], partial_sums[j]) =
                    accumulate_unit(x, y, [outer, j], partial_products[j], partial_sums[j]);
            }
        }
        let count = points - whole * LANES;
        if count > 0 {
            // The last chunk's padding lanes as zeros, on both sides.
            let x: [Lanes; INNER] = std::array::from_fn(|i| masked(&a[whole * INNER + i], count));
            for j in 0..outer {
                let y = masked(&g[whole * outer + j], count);
                (partial_products[j], partial_sums[j]) =
                    accumulate_chunk(&x, &y, partial_products[j], partial_sums[j]);
            }
        }
        let units = partial_products.iter().zip(&partial_sums).take(outer);
        for (j, (products, sum)) in units.enumerate() {
            for (i, values) in products.iter().enumerate() {
                product[i * outer + j] += pairwise_sum(values);
            }
            sums[j] += pairwise_sum(sum);
        }
    });
}

/// Output unit `j`'s partial sums, taken by value and returned (so that
/// the compiler keeps them in registers), after the chunks of `x` and `y`.
#[inline(always)]
fn accumulate_unit<const INNER: usize>(
    x: &[Lanes],
    y: &[Lanes],
    [outer, j]: [usize; 2],
    mut products: [Lanes; INNER],
    mut sum: Lanes,
) -> ([Lanes; INNER], Lanes) {
    for (x, y) in x.chunks_exact(INNER).zip(y.chunks_exact(outer)) {
        let x: &[Lanes; INNER] = x.try_into().expect("INNER vectors");
        (products, sum) = accumulate_chunk(x, &y[j], products, sum);
    }
    (products, sum)
}

/// Adds one chunk's products of the input units' values `x` with an output
/// unit's gradients `y` to `products`, and `y` to `sum`.
#[inline(always)]
fn accumulate_chunk<const INNER: usize>(
    x: &[Lanes; INNER],
    y: &Lanes,
    mut products: [Lanes; INNER],
    mut sum: Lanes,
) -> ([Lanes; INNER], Lanes) {
    for (product, values) in products.iter_mut().zip(x) {
        for lane in 0..LANES {
            product[lane] = values[lane].mul_add(y[lane], product[lane]);
        }
    }
    for lane in 0..LANES {
        sum[lane] += y[lane];
    }
    (products, sum)
}

/// The first `count` lanes of `values`, then zeros.
#[inline(always)]
fn masked(values: &Lanes, count: usize) -> Lanes {
    std::array::from_fn(|lane| if lane < count { values[lane] } else { 0.0 })
}

/// The sum of a vector's partial sums: halves added lane by lane until one
/// is left, the same order on every CPU.
#[inline(always)]
fn pairwise_sum(values: &Lanes) -> f32 {
    let mut values = *values;
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            values[lane] += values[lane + width];
        }
    }
    values[0]
}

#[cfg(test)]
mod tests {
    use super::super::naive::{check_product, check_transposed_product_and_sum, values};
    use super::*;

    fn chunks(rows: &[f32], units: usize) -> Vec<f32> {
        let mut out = Vec::new();
        to_chunks(rows, units, &mut out);
        out
    }

    fn rows(chunks: &[f32], units: usize, points: usize) -> Vec<f32> {
        let mut out = Vec::new();
        from_chunks(chunks, units, points, &mut out);
        out
    }

    #[test]
    fn products_match_the_naive_loop_and_the_narrow_kernels_to_the_bit() {
        for shape @ [points, inner, outer] in SHAPES {
            let (a, m, start) = (
                values(points * inner, 1),
                values(inner * outer, 2),
                values(outer, 3),
            );
            let stored = chunks(&a, inner);
            let mut out = vec![0.0f32; stored_len(points, outer)];
            let at = |i: usize, j: usize| m[i * outer + j];
            product_into(&stored, [inner, outer], at, Some(&start), &mut out);
            let out = rows(&out, outer, points);
            check_product([&a, &m, &start, &out], shape);
            let by_points = super::super::narrow::product(&a, inner, outer, at, |j| start[j]);
            assert!(
                out.iter()
                    .zip(&by_points)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{shape:?}: the narrow kernels' bits"
            );
            let mut unstarted = vec![0.0f32; stored_len(points, outer)];
            product_into(&stored, [inner, outer], at, None, &mut unstarted);
            let unstarted = rows(&unstarted, outer, points);
            check_product([&a, &m, &vec![0.0; outer], &unstarted], shape);
        }
    }

    #[test]
    fn the_weight_gradient_matches_the_naive_loops_and_leaves_out_the_padding() {
        for shape @ [points, inner, outer] in SHAPES {
            let (a, g) = (values(points * inner, 4), values(points * outer, 5));
            let (start_product, start_sums) = (values(inner * outer, 6), values(outer, 7));
            let (mut product, mut sums) = (start_product.clone(), start_sums.clone());
            let (mut a_stored, mut g_stored) = (chunks(&a, inner), chunks(&g, outer));
            // Values in the padding, as a forward pass leaves there.
            let padding = |stored: &mut [f32], units| {
                for p in points..points.div_ceil(LANES) * LANES {
                    for u in 0..units {
                        stored[p / LANES * units * LANES + u * LANES + p % LANES] = 7.0;
                    }
                }
            };
            padding(&mut a_stored, inner);
            padding(&mut g_stored, outer);
            add_transposed_product_and_sum(
                &a_stored,
                &g_stored,
                [inner, outer],
                points,
                &mut product,
                &mut sums,
            );
            check_transposed_product_and_sum(
                [&a, &g, &start_product, &start_sums],
                [&product, &sums],
                shape,
            );
        }
    }

    #[test]
    fn values_stored_in_chunks_come_back_as_they_were() {
        let values: Vec<f32> = (1..=3 * 20).map(|v| v as f32).collect();
        let stored = chunks(&values, 3);
        assert_eq!(stored.len(), 2 * LANES * 3);
        // Unit 1 of point 17: chunk 1, lane 1.
        assert_eq!(stored[(3 + 1) * LANES + 1], values[17 * 3 + 1]);
        // Points 20–31 of every unit: the padding, zero.
        for unit in 0..3 {
            let padding = &stored[(3 + unit) * LANES + 4..(3 + unit + 1) * LANES];
            assert!(padding.iter().all(|&v| v == 0.0));
        }
        assert_eq!(rows(&stored, 3, 20), values);
    }

    /// `[points, inner, outer]`: fewer points than a chunk, whole chunks
    /// and a partial last one, more chunks than a block of the weight
    /// gradient; odd and even fan-outs.
    const SHAPES: [[usize; 3]; 10] = [
        [5, 3, 4],
        [16, 1, 1],
        [37, 5, 5],
        [64, 2, 8],
        [40, 7, 3],
        [33, 10, 11],
        [50, 11, 2],
        [31, 15, 15],
        [300, 13, 4],
        [100, 4, 14],
    ];
}
