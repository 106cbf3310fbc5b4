//! Per-unit sums over the points of a representation: what the measures
//! take of every layer, for every chunk of the landscape grid.
//!
//! In Burn's ops this is a broadcast difference, a square and two sums over
//! the points axis, each a pass with its own intermediate; Flex reduces over
//! a middle axis along rows of a few units, one element at a time.
//! [`FastMoments`] makes it one op; on Flex one vectorised pass (which
//! backend runs which is said in `nn/backend.rs`; the measured gain is in
//! `benches/RACE.md`).

use burn::backend::flex::FlexTensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor, TensorPrimitive};

use super::columns::LANES;
use super::flex::{flex_f32, Operand};
use super::simd::simd_dispatch;

/// Per member and unit, `Σₓ d` then `Σₓ d²` of `d = H − shift` over the
/// points, through [`FastMoments`].
///
/// # Shapes
/// - `representation`: `[members, points, units]`
/// - `shift`: `[members, 1, units]`
/// - output: `[members, 2·units]`
pub fn centred_sums<B: FastMoments>(
    representation: Tensor<B, 3>,
    shift: Tensor<B, 3>,
) -> Tensor<B, 2> {
    let sums = B::centred_sums(
        representation.into_primitive().tensor(),
        shift.into_primitive().tensor(),
    );
    Tensor::from_primitive(TensorPrimitive::Float(sums))
}

/// Per member, how many elements of `slope` have `|s| ≥ threshold`: the
/// active (point, unit) pairs of a layer (METHOD §3), through
/// [`FastMoments`]. Exact in `f32` below 2²⁴ pairs.
///
/// # Shapes
/// - `slope`: `[members, points, units]`
/// - output: `[members]`
pub fn active_counts<B: FastMoments>(slope: Tensor<B, 3>, threshold: f64) -> Tensor<B, 1> {
    Tensor::from_primitive(TensorPrimitive::Float(B::active_counts(
        slope.into_primitive().tensor(),
        threshold,
    )))
}

/// The centred sums and active counts, as fast as a backend allows. The
/// defaults are Burn's ops.
pub trait FastMoments: Backend {
    /// See [`centred_sums`].
    fn centred_sums(
        representation: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        centred_sums_by_ops::<Self>(representation, shift)
    }

    /// See [`active_counts`].
    fn active_counts(slope: FloatTensor<Self>, threshold: f64) -> FloatTensor<Self> {
        active_counts_by_ops::<Self>(slope, threshold)
    }
}

/// Two reductions, over the units then over the points, each at most one
/// axis long: wgpu's reduction of one row of millions of elements (width
/// 500 × a 101 × 101 grid) stopped counting near 2^18–2^19, so a row never
/// holds more than the grid or the layer does.
fn active_counts_by_ops<B: Backend>(slope: FloatTensor<B>, threshold: f64) -> FloatTensor<B> {
    let slope = Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(slope));
    let [members, _, _] = slope.dims();
    let active = slope.abs().greater_equal_elem(threshold).float();
    active
        .sum_dim(2)
        .sum_dim(1)
        .reshape([members])
        .into_primitive()
        .tensor()
}

/// [`FastMoments::active_counts`] on Flex: one pass, no intermediates.
pub(crate) fn flex_active_counts(slope: FlexTensor, threshold: f64) -> FlexTensor {
    let dims = slope.layout().shape().to_vec();
    if slope.dtype() != DType::F32 || dims.len() != 3 {
        return active_counts_by_ops::<burn::backend::Flex>(slope, threshold);
    }
    let [members, points, units] = [dims[0], dims[1], dims[2]];
    let values = Operand::of(&slope);
    if (0..members).any(|member| values.rows(member, points, units).is_none()) {
        return flex_active_counts(slope.to_contiguous(), threshold);
    }
    // The comparison Burn's `greater_equal_elem` makes: in the tensor's f32.
    let threshold = threshold as f32;
    let counts = (0..members)
        .map(|member| {
            let rows = values.rows(member, points, units).expect("checked above");
            count_at_least(rows, threshold) as f32
        })
        .collect();
    flex_f32(counts, [members])
}

/// How many of `slopes` have `|s| >= threshold`: a layer's active
/// (point, unit) pairs (METHOD §3).
pub(crate) fn count_at_least(slopes: &[f32], threshold: f32) -> u32 {
    simd_dispatch!(slopes
        .iter()
        .map(|s| u32::from(s.abs() >= threshold))
        .sum::<u32>())
}

fn centred_sums_by_ops<B: Backend>(
    representation: FloatTensor<B>,
    shift: FloatTensor<B>,
) -> FloatTensor<B> {
    let representation = Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(representation));
    let shift = Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(shift));
    let [members, _, units] = representation.dims();
    let centred = representation - shift;
    let sum = centred.clone().sum_dim(1).reshape([members, units]);
    let sum_of_squares = centred.square().sum_dim(1).reshape([members, units]);
    Tensor::cat(vec![sum, sum_of_squares], 1)
        .into_primitive()
        .tensor()
}

/// [`FastMoments::centred_sums`] on Flex: one pass over each member's rows.
pub(crate) fn flex_centred_sums(representation: FlexTensor, shift: FlexTensor) -> FlexTensor {
    let dims = representation.layout().shape().to_vec();
    let shapes_fit = dims.len() == 3 && shift.layout().shape().to_vec() == [dims[0], 1, dims[2]];
    let f32s = representation.dtype() == DType::F32 && shift.dtype() == DType::F32;
    if !(shapes_fit && f32s) || dims.contains(&0) {
        return centred_sums_by_ops::<burn::backend::Flex>(representation, shift);
    }
    let [members, points, units] = [dims[0], dims[1], dims[2]];
    let (h, centre) = (Operand::of(&representation), Operand::of(&shift));
    if (0..members).any(|member| h.rows(member, points, units).is_none()) {
        return flex_centred_sums(representation.to_contiguous(), shift);
    }
    let mut sums = Vec::with_capacity(members * 2 * units);
    for member in 0..members {
        let shift_row: Vec<f32> = (0..units).map(|unit| centre.at(member, 0, unit)).collect();
        let (sum, sum_of_squares) = centred_row_sums(
            h.rows(member, points, units).expect("checked above"),
            &shift_row,
        );
        sums.extend(sum);
        sums.extend(sum_of_squares);
    }
    flex_f32(sums, [members, 2 * units])
}

/// `(Σ d, Σ d²)` per column of the row-major `rows`, `d = value − shift`,
/// in `f32`: the sums of one chunk of the tensor path.
fn centred_row_sums(rows: &[f32], shift: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut sums = ColumnSums::new(shift, false);
    sums.add_partial(rows);
    (
        sums.fold(&sums.partial_sums),
        sums.fold(&sums.partial_squares),
    )
}

/// Running `(Σ d, Σ d²)` per column of row-major rows given block by
/// block, `d = value − shift`: short `f32` sums, added into `f64` every
/// [`ColumnSums::FLUSH_ROWS`] rows, as the tensor path adds its chunks'
/// sums.
///
/// A narrow row (5 units) is too short to vectorise, so up to
/// `ROWS_PER_BLOCK` rows are taken as one long row (the shift repeated),
/// summed element-wise, then folded into the columns. A block holds at
/// most `BLOCK_ELEMENTS` values, so a very wide layer is not folded over
/// 16 of its rows where a call brings only a few.
///
/// Rows stored in chunks of points (`columns.rs`) are summed the same way:
/// a chunk is a block of [`LANES`] rows laid out unit by unit, and its
/// lane `l` holds the row a block's row `l` holds, so the sums are the
/// same bits as from the same rows point by point.
pub(crate) struct ColumnSums {
    units: usize,
    /// Whether the rows come stored in chunks of points.
    in_chunks: bool,
    /// The shift, repeated for a block of rows.
    shifts: Vec<f32>,
    partial_sums: Vec<f32>,
    partial_squares: Vec<f32>,
    partial_rows: usize,
    sums: Vec<f64>,
    squares: Vec<f64>,
}

impl ColumnSums {
    const ROWS_PER_BLOCK: usize = 16;
    const BLOCK_ELEMENTS: usize = 1 << 14;
    /// Rows summed in `f32` before they are added into `f64`, however
    /// many rows each call brings: each partial sum has at most 16 terms.
    pub(crate) const FLUSH_ROWS: usize = 256;

    /// Empty sums centred on `shift` (one value per column), of rows given
    /// point by point (`in_chunks` false) or stored in chunks of points
    /// (at most `narrow::MAX_WIDTH` columns).
    pub(crate) fn new(shift: &[f32], in_chunks: bool) -> Self {
        let units = shift.len();
        let block = (Self::BLOCK_ELEMENTS / units.max(1)).clamp(1, Self::ROWS_PER_BLOCK) * units;
        let shifts = match in_chunks {
            true => shift
                .iter()
                .flat_map(|&s| std::iter::repeat_n(s, LANES))
                .collect(),
            false => shift.iter().copied().cycle().take(block).collect(),
        };
        debug_assert!(!in_chunks || block == LANES * units);
        Self {
            units,
            in_chunks,
            shifts,
            partial_sums: vec![0.0; block],
            partial_squares: vec![0.0; block],
            partial_rows: 0,
            sums: vec![0.0; units],
            squares: vec![0.0; units],
        }
    }

    /// Adds `rows` (whole rows, row-major).
    pub(crate) fn add(&mut self, mut rows: &[f32]) {
        debug_assert!(!self.in_chunks);
        if self.units == 0 {
            return;
        }
        while !rows.is_empty() {
            let room = (Self::FLUSH_ROWS - self.partial_rows) * self.units;
            let (now, later) = rows.split_at(rows.len().min(room));
            self.add_partial(now);
            self.flush_when_full();
            rows = later;
        }
    }

    /// Adds `points` rows stored in chunks of points (whole chunks, the
    /// last one padded), after rows that filled whole chunks.
    pub(crate) fn add_chunks(&mut self, mut chunks: &[f32], mut points: usize) {
        debug_assert!(self.in_chunks && self.partial_rows.is_multiple_of(LANES));
        let chunk = LANES * self.units;
        while points > 0 {
            // A multiple of LANES, but for the last part of a padded chunk.
            let now = points.min(Self::FLUSH_ROWS - self.partial_rows);
            let (whole, later) = chunks.split_at(now / LANES * chunk);
            self.add_partial(whole);
            let lanes = now % LANES;
            if lanes > 0 {
                self.add_lanes(&later[..chunk], lanes);
            }
            self.flush_when_full();
            chunks = later;
            points -= now;
        }
    }

    /// Adds the first `lanes` rows of one chunk.
    fn add_lanes(&mut self, chunk: &[f32], lanes: usize) {
        let units = chunk
            .chunks(LANES)
            .zip(self.shifts.chunks(LANES))
            .zip(self.partial_sums.chunks_mut(LANES))
            .zip(self.partial_squares.chunks_mut(LANES));
        for (((values, shifts), sums), squares) in units {
            for (((value, shift), sum), square) in values[..lanes]
                .iter()
                .zip(shifts)
                .zip(sums.iter_mut())
                .zip(squares.iter_mut())
            {
                let d = value - shift;
                *sum += d;
                *square = d.mul_add(d, *square);
            }
        }
        self.partial_rows += lanes;
    }

    fn flush_when_full(&mut self) {
        if self.partial_rows >= Self::FLUSH_ROWS {
            self.flush();
        }
    }

    /// `(Σ d, Σ d²)` per column over every row added.
    pub(crate) fn finish(mut self) -> (Vec<f64>, Vec<f64>) {
        self.flush();
        (self.sums, self.squares)
    }

    fn add_partial(&mut self, rows: &[f32]) {
        let (shifts, sums, squares) = (
            &self.shifts,
            &mut self.partial_sums,
            &mut self.partial_squares,
        );
        // Row `r` since the last flush goes to the block's row `r % rows
        // per block`, whatever rows each call brings: the same sums, to the
        // bit, from blocks of 4 rows as from blocks of 16.
        let block = shifts.len().max(1);
        let first = self.partial_rows * self.units % block;
        let (head, rest) = rows.split_at(rows.len().min(block - first));
        // All inside the dispatch, as `for` loops: a part of a block (fewer
        // rows than a block, at its start or not) would otherwise
        // call the C library's `fmaf` per value, and `for_each` on
        // `&mut chunks` calls a `fold` the compiler keeps out of line,
        // without the copy's features.
        simd_dispatch!({
            let chunks = std::iter::once((head, first)).chain(rest.chunks(block).map(|c| (c, 0)));
            for (chunk, first) in chunks {
                for (((value, shift), sum), square) in chunk
                    .iter()
                    .zip(&shifts[first..])
                    .zip(sums[first..].iter_mut())
                    .zip(squares[first..].iter_mut())
                {
                    let d = value - shift;
                    *sum += d;
                    *square = d.mul_add(d, *square);
                }
            }
        });
        self.partial_rows += rows.len() / self.units.max(1);
    }

    /// The columns of a block of partial sums, in `f32`: the block's rows
    /// added in order.
    fn fold(&self, partial: &[f32]) -> Vec<f32> {
        if self.in_chunks {
            return partial
                .chunks_exact(LANES)
                .map(|lanes| lanes.iter().fold(0.0f32, |column, value| column + value))
                .collect();
        }
        let mut columns = vec![0.0f32; self.units];
        for row in partial.chunks_exact(self.units.max(1)) {
            for (column, value) in columns.iter_mut().zip(row) {
                *column += value;
            }
        }
        columns
    }

    fn flush(&mut self) {
        let (sums, squares) = (
            self.fold(&self.partial_sums),
            self.fold(&self.partial_squares),
        );
        for (total, part) in self
            .sums
            .iter_mut()
            .zip(sums)
            .chain(self.squares.iter_mut().zip(squares))
        {
            *total += f64::from(part);
        }
        self.partial_sums.fill(0.0);
        self.partial_squares.fill(0.0);
        self.partial_rows = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Flex, NdArray};
    use burn::tensor::TensorData;

    fn tensor<Bk: Backend>(
        members: usize,
        points: usize,
        units: usize,
        salt: usize,
    ) -> Tensor<Bk, 3> {
        let data: Vec<f32> = (0..members * points * units)
            .map(|i| (((i * 31 + salt * 13) % 17) as f32 - 8.0) * 0.21)
            .collect();
        Tensor::from_data(
            TensorData::new(data, [members, points, units]),
            &Default::default(),
        )
    }

    #[test]
    fn flex_centred_sums_match_burns_ops() {
        // Narrow and wide rows, a point count that is not a whole number of
        // blocks, and a transposed (non-contiguous) representation.
        for (members, points, units) in [(3, 37, 5), (1, 1, 1), (2, 200, 40)] {
            let (h, shift) = (
                tensor::<Flex>(members, points, units, 1),
                tensor::<Flex>(members, 1, units, 2),
            );
            let transposed = tensor::<Flex>(members, units, points, 3).swap_dims(1, 2);
            for (case, h) in [("contiguous", h), ("transposed", transposed)] {
                let expected = centred_sums_by_ops::<Flex>(
                    h.clone().into_primitive().tensor(),
                    shift.clone().into_primitive().tensor(),
                );
                let expected = Tensor::<Flex, 2>::from_primitive(TensorPrimitive::Float(expected))
                    .into_data()
                    .to_vec::<f32>()
                    .unwrap();
                let actual = centred_sums(h, shift.clone())
                    .into_data()
                    .to_vec::<f32>()
                    .unwrap();
                assert_eq!(actual.len(), members * 2 * units);
                for (a, e) in actual.iter().zip(&expected) {
                    assert!(
                        (a - e).abs() <= 1e-5 * e.abs().max(1.0),
                        "{case} {members}×{points}×{units}: {a} vs {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn flex_active_counts_match_burns_ops() {
        for (members, points, units) in [(3, 37, 5), (1, 1, 1), (2, 200, 40)] {
            let slope = tensor::<Flex>(members, points, units, 4);
            let transposed = tensor::<Flex>(members, units, points, 5).swap_dims(1, 2);
            for (case, slope) in [("contiguous", slope), ("transposed", transposed)] {
                // A threshold equal to some values: `≥` must count them.
                for threshold in [0.0, 0.84, 5.0] {
                    let expected = active_counts_by_ops::<Flex>(
                        slope.clone().into_primitive().tensor(),
                        threshold,
                    );
                    let expected =
                        Tensor::<Flex, 1>::from_primitive(TensorPrimitive::Float(expected))
                            .into_data()
                            .to_vec::<f32>()
                            .unwrap();
                    let actual = active_counts(slope.clone(), threshold)
                        .into_data()
                        .to_vec::<f32>()
                        .unwrap();
                    assert_eq!(
                        actual, expected,
                        "{case} {members}×{points}×{units} at {threshold}"
                    );
                }
            }
        }
    }

    #[test]
    fn centred_sums_are_sums_of_differences_and_their_squares() {
        // One member, one unit: values 1, 2, 4 about the shift 1.
        let h = Tensor::<NdArray, 3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 4.0], [1, 3, 1]),
            &Default::default(),
        );
        let shift = h.clone().narrow(1, 0, 1);
        assert_eq!(
            centred_sums(h.clone(), shift.clone())
                .into_data()
                .to_vec::<f32>()
                .unwrap(),
            vec![4.0, 10.0]
        );
        let flex = Tensor::<Flex, 3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 4.0], [1, 3, 1]),
            &Default::default(),
        );
        let flex_shift = flex.clone().narrow(1, 0, 1);
        assert_eq!(
            centred_sums(flex, flex_shift)
                .into_data()
                .to_vec::<f32>()
                .unwrap(),
            vec![4.0, 10.0]
        );
    }

    /// The sums of a wide layer (a block of 16 rows) and a narrow one (one
    /// long row of 16 rows), its rows brought 1, 2, 4, 8, 16, 100 or all
    /// 600 at a time: the same bits, to the flush after 256 rows and
    /// beyond, and within float tolerance of the sums in `f64`.
    #[test]
    fn column_sums_do_not_depend_on_the_rows_per_call() {
        for units in [500, 5] {
            let rows = 600;
            let values: Vec<f32> = (0..rows * units)
                .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.3) * 3.0)
                .collect();
            let shift = &values[..units];
            let sums_by = |rows_per_call: usize| {
                let mut sums = ColumnSums::new(shift, false);
                for rows in values.chunks(rows_per_call * units) {
                    sums.add(rows);
                }
                sums.finish()
            };
            let (sums, squares) = sums_by(16);
            for rows_per_call in [1, 2, 4, 8, 100, 600] {
                let (other_sums, other_squares) = sums_by(rows_per_call);
                let same =
                    |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same(&sums, &other_sums),
                    "{units} units, {rows_per_call} rows a call"
                );
                assert!(
                    same(&squares, &other_squares),
                    "{units} units, {rows_per_call} rows a call"
                );
            }
            for (u, (&sum, &square)) in sums.iter().zip(&squares).enumerate() {
                let column = values.iter().skip(u).step_by(units);
                let d = || column.clone().map(|&v| f64::from(v - shift[u]));
                let (exact_sum, exact_square) = (d().sum::<f64>(), d().map(|d| d * d).sum::<f64>());
                assert!((sum - exact_sum).abs() <= 1e-5 * exact_square.sqrt().max(1.0));
                assert!((square - exact_square).abs() <= 1e-5 * exact_square);
            }
        }
    }

    /// Rows stored in chunks of points, brought a chunk, three chunks or
    /// all of them at a time (600 rows: the last chunk holds 8), give the
    /// bits of the same rows point by point.
    #[test]
    fn column_sums_of_chunks_are_the_sums_of_their_rows() {
        for units in [1, 5, 15] {
            let rows = 600;
            let values: Vec<f32> = (0..rows * units)
                .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.3) * 3.0)
                .collect();
            let shift = &values[..units];
            let mut by_rows = ColumnSums::new(shift, false);
            by_rows.add(&values);
            let (sums, squares) = by_rows.finish();
            let mut chunks = Vec::new();
            crate::nn::kernels::columns::to_chunks(&values, units, &mut chunks);
            for chunks_per_call in [1, 3, 40] {
                let mut by_chunks = ColumnSums::new(shift, true);
                let call = chunks_per_call * LANES;
                for (i, part) in chunks.chunks(call * units).enumerate() {
                    by_chunks.add_chunks(part, call.min(rows - i * call));
                }
                let (other_sums, other_squares) = by_chunks.finish();
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&sums),
                    bits(&other_sums),
                    "{units} units, {chunks_per_call}"
                );
                assert_eq!(
                    bits(&squares),
                    bits(&other_squares),
                    "{units} units, {chunks_per_call}"
                );
            }
        }
    }
}
