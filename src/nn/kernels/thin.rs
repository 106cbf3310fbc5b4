//! Matrix products with a thin side: at most [`MAX_THIN`] wide on one
//! side, at least [`MIN_WIDE`] on the other.
//!
//! A fixed budget makes shallow networks wide: depth 1 of the paper is
//! `2 → 500 → 1`. Its products are `[points × 2]·[2 × 500]`,
//! `[points × 500]·[500 × 1]` and their backward passes: a few
//! multiply-adds per value read or written, so they are bound by memory,
//! and the passes on host vectors take them in blocks of a few rows that
//! stay in cache (`nn/stack.rs`). `gemm` packs its operands on every call;
//! here each is one pass along the wide side, vectorised along it:
//! - a thin inner side: each output row is `start` plus one scaled row of
//!   the small matrix per input (`scaled_rows`);
//! - a thin outer side: each output is a dot product over the wide side,
//!   summed in [`DOT_LANES`] fixed partial sums (`dot_products`);
//! - the weight gradient: each point's wide row added, scaled, to sums held
//!   in registers over all the points (`add_scaled_rows`).
//!
//! Every sum has one order whatever the CPU, and the multiply-adds are
//! fused, so every copy of `simd.rs` gives the same bits (as `narrow.rs`).
//! `affine.rs` uses them on Flex; unit tests below check them against the
//! naive loops.

use super::simd::simd_dispatch;

/// The widest thin side.
pub(crate) const MAX_THIN: usize = 4;

/// The narrowest wide side. Below it `gemm` is as fast: much of a row is
/// the tail of the vector loop.
const MIN_WIDE: usize = 64;

/// Runs `kernel::<THIN>(args)` (or `kernel::<THIN, more>(args)`, for
/// `kernel<more>(args)`) with the run-time `thin` (`1..=MAX_THIN`) as the
/// constant `THIN`, so that the loop over the thin side unrolls.
macro_rules! with_thin {
    ($thin:expr, $kernel:ident $(<$($more:tt),+>)? ($($arg:expr),*)) => {
        match $thin {
            1 => $kernel::<1 $($(, $more)+)?>($($arg),*),
            2 => $kernel::<2 $($(, $more)+)?>($($arg),*),
            3 => $kernel::<3 $($(, $more)+)?>($($arg),*),
            4 => $kernel::<4 $($(, $more)+)?>($($arg),*),
            thin => unreachable!("thin kernels take a thin side of 1 to {MAX_THIN}, not {thin}"),
        }
    };
}

/// Whether a product with these inner and outer widths has a thin side.
pub(crate) fn fits(inner: usize, outer: usize) -> bool {
    let (thin, wide) = (inner.min(outer), inner.max(outer));
    (1..=MAX_THIN).contains(&thin) && wide >= MIN_WIDE
}

/// Adds `aᵀ·g` to `product` (`inner × outer`, row-major) and the column
/// sums of `g` to `sums`, for the row-major `a` (`points × inner`) and `g`
/// (`points × outer`): each sum continues over the points in order.
pub(crate) fn add_transposed_product_and_sum(
    a: &[f32],
    g: &[f32],
    [inner, outer]: [usize; 2],
    product: &mut [f32],
    sums: &mut [f32],
) {
    debug_assert!(fits(inner, outer) && a.len() / inner == g.len() / outer);
    debug_assert!(product.len() == inner * outer && sums.len() == outer);
    if inner <= MAX_THIN {
        with_thin!(inner, add_scaled_rows<true>(a, g, outer, product, sums));
        return;
    }
    // A thin output: row j of the transposed product accumulates a's rows
    // scaled by g[p, j], without a's sums. With one output the product is
    // its own transpose.
    if outer == 1 {
        add_scaled_rows::<1, false>(g, a, inner, product, &mut []);
    } else {
        let mut transposed = transpose(product, [inner, outer]);
        with_thin!(
            outer,
            add_scaled_rows<false>(g, a, inner, &mut transposed, &mut [])
        );
        product.copy_from_slice(&transpose(&transposed, [outer, inner]));
    }
    for row in g.chunks_exact(outer) {
        sums.iter_mut()
            .zip(row)
            .for_each(|(sum, value)| *sum += value);
    }
}

/// The small matrix of a product, `inner × outer`, as it is stored.
#[derive(Clone, Copy)]
pub(crate) enum Stored<'a> {
    /// Row-major.
    Rows(&'a [f32]),
    /// Its transpose, row-major (`outer × inner`): a weight matrix read as
    /// `Wᵀ`.
    Columns(&'a [f32]),
}

impl<'a> Stored<'a> {
    /// The matrix row-major, copied only where it is stored otherwise (one
    /// row or column is stored both ways).
    fn rows(self, [inner, outer]: [usize; 2]) -> std::borrow::Cow<'a, [f32]> {
        match self {
            Stored::Rows(values) => values.into(),
            Stored::Columns(values) if inner == 1 || outer == 1 => values.into(),
            Stored::Columns(values) => transpose(values, [outer, inner]).into(),
        }
    }

    /// Its transpose row-major, copied only where it is stored otherwise.
    fn columns(self, [inner, outer]: [usize; 2]) -> std::borrow::Cow<'a, [f32]> {
        match self {
            Stored::Columns(values) => values.into(),
            Stored::Rows(values) if inner == 1 || outer == 1 => values.into(),
            Stored::Rows(values) => transpose(values, [inner, outer]).into(),
        }
    }
}

/// The transpose of the row-major `rows × cols` `values`, row-major.
fn transpose(values: &[f32], [rows, cols]: [usize; 2]) -> Vec<f32> {
    (0..cols)
        .flat_map(|j| (0..rows).map(move |i| values[i * cols + j]))
        .collect()
}

/// `out[p, j] = start[j] + Σᵢ a[p, i]·m[i, j]` for every row `p` of the
/// row-major `a` (rows of `inner` values), `j < outer`, into `out`, which
/// holds exactly the `points × outer` values, row-major; without `start`,
/// from zero. `inner` or `outer` is the thin side ([`fits`]).
pub(crate) fn product_into(
    a: &[f32],
    [inner, outer]: [usize; 2],
    m: Stored,
    start: Option<&[f32]>,
    out: &mut [f32],
) {
    debug_assert!(fits(inner, outer) && a.len().is_multiple_of(inner));
    debug_assert_eq!(out.len(), a.len() / inner * outer);
    let zeros;
    let start = match start {
        Some(start) => start,
        None => {
            zeros = vec![0.0f32; outer];
            &zeros
        }
    };
    if inner <= MAX_THIN {
        let rows = m.rows([inner, outer]);
        with_thin!(inner, scaled_rows(a, &rows, start, out));
    } else {
        let columns = m.columns([inner, outer]);
        with_thin!(outer, dot_products(a, &columns, start, out));
    }
}

/// `out[p, ·] = start + Σᵢ a[p, i]·rows[i, ·]`, `THIN` rows of `rows` (each
/// as long as `start`), added first to last: [`scaled_columns`] for each
/// whole [`COLUMN_BLOCK`] of the output, then for the last [`COLUMN_BLOCK`]
/// columns, so that no column runs one by one (the overlap is computed
/// twice, to the same bits).
fn scaled_rows<const THIN: usize>(a: &[f32], rows: &[f32], start: &[f32], out: &mut [f32]) {
    let width = start.len();
    debug_assert!(width >= COLUMN_BLOCK);
    let whole = width / COLUMN_BLOCK * COLUMN_BLOCK;
    simd_dispatch!({
        for first in (0..whole).step_by(COLUMN_BLOCK) {
            scaled_columns::<THIN>(a, rows, start, first, out);
        }
        if whole < width {
            scaled_columns::<THIN>(a, rows, start, width - COLUMN_BLOCK, out);
        }
    });
}

/// [`scaled_rows`] for the [`COLUMN_BLOCK`] columns from `first`: the
/// rows' values there and the starts stay in registers from the first
/// point to the last.
#[inline(always)]
fn scaled_columns<const THIN: usize>(
    a: &[f32],
    rows: &[f32],
    start: &[f32],
    first: usize,
    out: &mut [f32],
) {
    let width = start.len();
    let columns = first..first + COLUMN_BLOCK;
    let rows: [[f32; COLUMN_BLOCK]; THIN] = std::array::from_fn(|i| {
        rows[i * width..][columns.clone()]
            .try_into()
            .expect("whole columns")
    });
    let start: [f32; COLUMN_BLOCK] = start[columns.clone()].try_into().expect("whole columns");
    for (values, out) in a.chunks_exact(THIN).zip(out.chunks_exact_mut(width)) {
        let mut sums = start;
        for (&value, row) in values.iter().zip(&rows) {
            for lane in 0..COLUMN_BLOCK {
                sums[lane] = value.mul_add(row[lane], sums[lane]);
            }
        }
        out[columns.clone()].copy_from_slice(&sums);
    }
}

/// The backward pass of a dot product with one output (`out[p] = start +
/// a[p, ·]·column`, `inner` wide): `input_grad[p, ·] = g[p]·column` and
/// `product += Σₚ g[p]·a[p, ·]`, in one pass over `a` where the two
/// kernels above take two. The same sums in the same order as
/// [`product_into`] (from zero) and [`add_transposed_product_and_sum`]
/// give: the same bits.
pub(crate) fn dot_backward([a, g, column]: [&[f32]; 3], [input_grad, product]: [&mut [f32]; 2]) {
    let inner = column.len();
    debug_assert!(fits(inner, 1) && a.len() == g.len() * inner);
    debug_assert!(input_grad.len() == a.len() && product.len() == inner);
    const HALF: usize = COLUMN_BLOCK / 2;
    dot_backward_blocks::<COLUMN_BLOCK, HALF>(a, g, column, input_grad, product);
}

/// [`dot_backward`] in the widest copy the CPU has: [`dot_backward_columns`]
/// for each whole block of `BLOCK` columns, then for `HALF`, then the last
/// few columns one by one, as [`add_scaled_rows`] takes them. (Generic so
/// that the compiler inlines the loops into each copy: it kept them out,
/// without the copies' features, from a function that was not; marking
/// `simd_dispatch!`'s closures `#[inline(always)]` did too, but made
/// [`dot_products`] slower.)
fn dot_backward_blocks<const BLOCK: usize, const HALF: usize>(
    a: &[f32],
    g: &[f32],
    column: &[f32],
    input_grad: &mut [f32],
    product: &mut [f32],
) {
    let inner = column.len();
    let whole = inner / BLOCK * BLOCK;
    let halves = whole + (inner - whole) / HALF * HALF;
    simd_dispatch!({
        for first in (0..whole).step_by(BLOCK) {
            dot_backward_columns::<BLOCK>(a, g, column, first, input_grad, product);
        }
        for first in (whole..halves).step_by(HALF) {
            dot_backward_columns::<HALF>(a, g, column, first, input_grad, product);
        }
        let rows = a
            .chunks_exact(inner)
            .zip(input_grad.chunks_exact_mut(inner));
        for ((row, grads), &scale) in rows.zip(g) {
            for j in halves..inner {
                grads[j] = scale.mul_add(column[j], 0.0);
                product[j] = scale.mul_add(row[j], product[j]);
            }
        }
    });
}

/// [`dot_backward`] for the `COLUMNS` columns from `first`: the column's
/// values and the product's sums stay in registers from the first point
/// to the last.
#[inline(always)]
fn dot_backward_columns<const COLUMNS: usize>(
    a: &[f32],
    g: &[f32],
    column: &[f32],
    first: usize,
    input_grad: &mut [f32],
    product: &mut [f32],
) {
    let inner = column.len();
    let columns = first..first + COLUMNS;
    let weights: [f32; COLUMNS] = column[columns.clone()].try_into().expect("whole columns");
    let mut sums: [f32; COLUMNS] = product[columns.clone()].try_into().expect("whole columns");
    let rows = a
        .chunks_exact(inner)
        .zip(input_grad.chunks_exact_mut(inner));
    for ((row, grads), &scale) in rows.zip(g) {
        let values: [f32; COLUMNS] = row[columns.clone()].try_into().expect("whole columns");
        let mut out = [0.0f32; COLUMNS];
        for lane in 0..COLUMNS {
            out[lane] = scale.mul_add(weights[lane], 0.0);
            sums[lane] = scale.mul_add(values[lane], sums[lane]);
        }
        grads[columns.clone()].copy_from_slice(&out);
    }
    product[columns].copy_from_slice(&sums);
}

/// The partial sums of a dot product: the wide side's index `k` goes to
/// sum `k % DOT_LANES`, and the sums are added pairwise at the end. A
/// constant, not the CPU's width, so that every CPU sums in one order.
const DOT_LANES: usize = 16;

/// `out[p, j] = start[j] + a[p, ·]·columns[j, ·]` for the `THIN` columns
/// (each as long as a row of `a`), each dot product in [`dot`]'s order.
fn dot_products<const THIN: usize>(a: &[f32], columns: &[f32], start: &[f32], out: &mut [f32]) {
    let width = columns.len() / THIN;
    let columns: [&[f32]; THIN] = std::array::from_fn(|j| &columns[j * width..(j + 1) * width]);
    simd_dispatch!({
        for (row, out) in a.chunks_exact(width).zip(out.chunks_exact_mut(THIN)) {
            let sums = dot::<THIN>(row, &columns);
            for ((out, sum), &start) in out.iter_mut().zip(sums).zip(start) {
                *out = start + sum;
            }
        }
    });
}

/// `row·columns[j]` for each of the `THIN` columns, as long as `row`: every
/// [`DOT_LANES`]-th product in one partial sum, the partial sums added
/// pairwise.
#[inline(always)]
fn dot<const THIN: usize>(row: &[f32], columns: &[&[f32]; THIN]) -> [f32; THIN] {
    let mut partial = [[0.0f32; DOT_LANES]; THIN];
    let mut values = row.chunks_exact(DOT_LANES);
    let mut column_chunks = columns.map(|column| column.chunks_exact(DOT_LANES));
    // Whole chunks as arrays held by value: the compiler then keeps each
    // partial sum in vector registers.
    for values in &mut values {
        let values: [f32; DOT_LANES] = values.try_into().expect("lanes");
        for (partial, chunks) in partial.iter_mut().zip(&mut column_chunks) {
            let column: [f32; DOT_LANES] = chunks
                .next()
                .expect("as long as the row")
                .try_into()
                .expect("lanes");
            for lane in 0..DOT_LANES {
                partial[lane] = values[lane].mul_add(column[lane], partial[lane]);
            }
        }
    }
    for (partial, chunks) in partial.iter_mut().zip(&column_chunks) {
        let tail = values.remainder().iter().zip(chunks.remainder());
        for (lane, (&value, &m)) in tail.enumerate() {
            partial[lane] = value.mul_add(m, partial[lane]);
        }
    }
    partial.map(|mut lanes| {
        let mut half = DOT_LANES / 2;
        while half > 0 {
            for lane in 0..half {
                lanes[lane] += lanes[lane + half];
            }
            half /= 2;
        }
        lanes[0]
    })
}

/// `product[i, ·] += a[p, i]·g[p, ·]` for the `THIN` inputs and, with
/// `SUMS`, `sums += g[p, ·]`, point after point, for `g`'s rows `width`
/// long: [`add_scaled_columns`] for each whole [`COLUMN_BLOCK`] of `g`,
/// then for half as many, then the last few columns row by row.
fn add_scaled_rows<const THIN: usize, const SUMS: bool>(
    a: &[f32],
    g: &[f32],
    width: usize,
    product: &mut [f32],
    sums: &mut [f32],
) {
    const HALF: usize = COLUMN_BLOCK / 2;
    let whole = width / COLUMN_BLOCK * COLUMN_BLOCK;
    let halves = whole + (width - whole) / HALF * HALF;
    simd_dispatch!({
        for first in (0..whole).step_by(COLUMN_BLOCK) {
            add_scaled_columns::<THIN, SUMS, COLUMN_BLOCK>(a, g, width, first, product, sums);
        }
        for first in (whole..halves).step_by(HALF) {
            add_scaled_columns::<THIN, SUMS, HALF>(a, g, width, first, product, sums);
        }
        for (values, row) in a.chunks_exact(THIN).zip(g.chunks_exact(width)) {
            for (j, &value) in row.iter().enumerate().skip(halves) {
                for (i, &scale) in values.iter().enumerate() {
                    let sum = &mut product[i * width + j];
                    *sum = scale.mul_add(value, *sum);
                }
                if SUMS {
                    sums[j] += value;
                }
            }
        }
    });
}

/// The most columns of `g` whose sums [`add_scaled_columns`] holds in
/// registers: two AVX-512 vectors per row of sums (four AVX2 ones, which
/// spill past three rows).
const COLUMN_BLOCK: usize = 32;

/// [`add_scaled_rows`] for the `COLUMNS` columns from `first`: each sum
/// stays in a register from the first point to the last, so that `g` is
/// the only memory read.
#[inline(always)]
fn add_scaled_columns<const THIN: usize, const SUMS: bool, const COLUMNS: usize>(
    a: &[f32],
    g: &[f32],
    width: usize,
    first: usize,
    product: &mut [f32],
    sums: &mut [f32],
) {
    let columns = first..first + COLUMNS;
    let mut local: [[f32; COLUMNS]; THIN] = std::array::from_fn(|i| {
        product[i * width + first..][..COLUMNS]
            .try_into()
            .expect("whole columns")
    });
    let mut local_sums = [0.0f32; COLUMNS];
    if SUMS {
        local_sums.copy_from_slice(&sums[columns.clone()]);
    }
    for (values, row) in a.chunks_exact(THIN).zip(g.chunks_exact(width)) {
        let chunk: [f32; COLUMNS] = row[columns.clone()].try_into().expect("whole columns");
        for (&scale, local) in values.iter().zip(&mut local) {
            for lane in 0..COLUMNS {
                local[lane] = scale.mul_add(chunk[lane], local[lane]);
            }
        }
        if SUMS {
            for lane in 0..COLUMNS {
                local_sums[lane] += chunk[lane];
            }
        }
    }
    for (i, local) in local.iter().enumerate() {
        product[i * width + first..][..COLUMNS].copy_from_slice(local);
    }
    if SUMS {
        sums[columns].copy_from_slice(&local_sums);
    }
}

#[cfg(test)]
mod tests {
    use super::super::naive::{check_product, check_transposed_product_and_sum, values};
    use super::*;

    /// `[points, inner, outer]`: every thin width, on either side, wide
    /// sides that are and are not a multiple of the vectors.
    const SHAPES: [[usize; 3]; 9] = [
        [37, 2, 500],
        [5, 1, 64],
        [9, 4, 97],
        [3, 3, 80],
        [40, 2, 70],
        [23, 500, 1],
        [7, 70, 4],
        [11, 64, 3],
        [6, 97, 2],
    ];

    /// With the small matrix stored either way, and without a start.
    #[test]
    fn products_match_the_naive_loop() {
        for shape @ [points, inner, outer] in SHAPES {
            assert!(fits(inner, outer));
            let (a, m, start) = (
                values(points * inner, 1),
                values(inner * outer, 2),
                values(outer, 3),
            );
            let mut out = vec![f32::NAN; points * outer];
            product_into(&a, [inner, outer], Stored::Rows(&m), Some(&start), &mut out);
            check_product([&a, &m, &start, &out], shape);
            let transposed = transpose(&m, [inner, outer]);
            let m_columns = Stored::Columns(&transposed);
            product_into(&a, [inner, outer], m_columns, None, &mut out);
            check_product([&a, &m, &vec![0.0; outer], &out], shape);
        }
    }

    /// Sums that start where a previous block left them.
    #[test]
    fn the_weight_gradient_matches_the_naive_loops() {
        for shape @ [points, inner, outer] in SHAPES {
            let (a, g) = (values(points * inner, 4), values(points * outer, 5));
            let (mut product, mut sums) = (values(inner * outer, 6), values(outer, 7));
            let starts = [product.clone(), sums.clone()];
            add_transposed_product_and_sum(&a, &g, [inner, outer], &mut product, &mut sums);
            check_transposed_product_and_sum(
                [&a, &g, &starts[0], &starts[1]],
                [&product, &sums],
                shape,
            );
        }
    }

    /// The one-pass backward of a single output against the two kernels
    /// it replaces, to the bit, on wide sides with and without a tail
    /// (half a block, a few columns), the product's sums starting where a
    /// previous block left them.
    #[test]
    fn dot_backward_matches_the_two_kernels_to_the_bit() {
        for (points, inner) in [(37, 500), (5, 64), (9, 97), (16, 80), (3, 112)] {
            let (a, g, column) = (
                values(points * inner, 8),
                values(points, 9),
                values(inner, 10),
            );
            let start = values(inner, 11);
            let mut input_grad = vec![f32::NAN; points * inner];
            let mut product = start.clone();
            dot_backward([&a, &g, &column], [&mut input_grad, &mut product]);
            let mut expected_grad = vec![f32::NAN; points * inner];
            let weight = Stored::Columns(&column);
            product_into(&g, [1, inner], weight, None, &mut expected_grad);
            let (mut expected, mut sums) = (start, vec![0.0; 1]);
            add_transposed_product_and_sum(&a, &g, [inner, 1], &mut expected, &mut sums);
            let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&input_grad),
                bits(&expected_grad),
                "{points} × {inner}"
            );
            assert_eq!(bits(&product), bits(&expected), "{points} × {inner}");
        }
    }
}
