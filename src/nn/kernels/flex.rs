//! Reading and building Flex tensors in place, for the kernels of
//! `affine.rs` and `moments.rs`.
//!
//! The one place the kernels touch raw memory is `gemm`, which takes
//! pointers and strides. [`Matrix`] is how they reach it: a view that can
//! only be made by [`Operand::matrix`], which checks that every element the
//! view can address lies inside the tensor's buffer.

use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Shape};

/// A `[members, rows, cols]` `f32` Flex tensor read in place: its buffer,
/// shape and strides in elements (the member stride is 0 for an input
/// broadcast over members).
pub(crate) struct Operand<'a> {
    data: &'a [f32],
    offset: isize,
    dims: [usize; 3],
    pub(crate) strides: [isize; 3],
}

/// One member's `rows × cols` matrix of an [`Operand`], as a pointer with
/// strides. Its fields are private: the only constructor checks that every
/// `(row, col)` it can address is inside the borrowed buffer, which is what
/// makes passing it to `gemm` sound.
#[derive(Clone, Copy)]
pub(crate) struct Matrix<'a> {
    data: &'a [f32],
    start: usize,
    rows: usize,
    cols: usize,
    /// `(row, col)` strides in elements.
    strides: [isize; 2],
}

impl<'a> Operand<'a> {
    /// Panics unless `tensor` is a 3-D `f32` tensor (the kernels check the
    /// dtype and rank before they read one).
    pub(crate) fn of(tensor: &'a FlexTensor) -> Self {
        let layout = tensor.layout();
        let (shape, strides) = (layout.shape(), layout.strides());
        assert_eq!(layout.num_dims(), 3, "a kernel operand is 3-D");
        Self {
            data: tensor.storage::<f32>(),
            offset: layout.start_offset() as isize,
            dims: [shape[0], shape[1], shape[2]],
            strides: [strides[0], strides[1], strides[2]],
        }
    }

    /// `member`'s matrix as a strided view; panics if `member` is out of
    /// range or the layout would reach outside the buffer.
    pub(crate) fn matrix(&self, member: usize) -> Matrix<'a> {
        assert!(member < self.dims[0], "member {member} of {}", self.dims[0]);
        let start = (member as isize)
            .checked_mul(self.strides[0])
            .and_then(|offset| offset.checked_add(self.offset))
            .expect("a member's offset fits in isize");
        Matrix::new(
            self.data,
            start,
            [self.dims[1], self.dims[2]],
            [self.strides[1], self.strides[2]],
        )
    }

    /// `member`'s matrix as one row-major slice, where it is stored so.
    /// `None` unless `rows × cols` is the operand's own matrix shape.
    pub(crate) fn rows(&self, member: usize, rows: usize, cols: usize) -> Option<&'a [f32]> {
        let row_major = self.strides[1] == cols as isize && self.strides[2] == 1;
        if member >= self.dims[0] || [rows, cols] != [self.dims[1], self.dims[2]] || !row_major {
            return None;
        }
        let start = (member as isize)
            .checked_mul(self.strides[0])?
            .checked_add(self.offset)?;
        self.data
            .get(usize::try_from(start).ok()?..)?
            .get(..rows * cols)
    }

    pub(crate) fn at(&self, member: usize, row: usize, col: usize) -> f32 {
        let index = self.offset
            + member as isize * self.strides[0]
            + row as isize * self.strides[1]
            + col as isize * self.strides[2];
        self.data[index as usize]
    }
}

impl<'a> Matrix<'a> {
    /// Checks that the first and the farthest element in each direction are
    /// inside `data` (a strided matrix's addresses lie between those), in
    /// arithmetic that cannot overflow unnoticed.
    fn new(data: &'a [f32], start: isize, [rows, cols]: [usize; 2], strides: [isize; 2]) -> Self {
        assert!(rows > 0 && cols > 0, "an empty matrix has nothing to read");
        let span = |count: usize, stride: isize| {
            isize::try_from(count - 1)
                .ok()
                .and_then(|steps| steps.checked_mul(stride))
                .expect("a matrix's span fits in isize")
        };
        let (row_span, col_span) = (span(rows, strides[0]), span(cols, strides[1]));
        let reach = |a: isize, b: isize| {
            start
                .checked_add(a)
                .and_then(|v| v.checked_add(b))
                .expect("a matrix's addresses fit in isize")
        };
        let lowest = reach(row_span.min(0), col_span.min(0));
        let highest = reach(row_span.max(0), col_span.max(0));
        assert!(
            lowest >= 0 && (highest as usize) < data.len(),
            "a {rows}×{cols} matrix at {start} with strides {strides:?} is outside its buffer of {}",
            data.len()
        );
        Self {
            data,
            start: start as usize,
            rows,
            cols,
            strides,
        }
    }

    /// A row-major `rows × cols` matrix at the start of `data`.
    pub(crate) fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, 0, [rows, cols], [cols as isize, 1])
    }

    /// The transpose: the same elements with the strides swapped.
    pub(crate) fn transposed(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            strides: [self.strides[1], self.strides[0]],
            ..self
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// `(row, col)` strides in elements.
    pub(crate) fn strides(&self) -> [isize; 2] {
        self.strides
    }

    /// The first element. Every `(r, c)` with `r < rows` and `c < cols` is
    /// at `ptr + r·strides[0] + c·strides[1]`, inside the buffer (checked
    /// when the view was made), for as long as the view lives. The pointer
    /// is derived from the whole buffer, not from `start` on, because a
    /// negative stride (a flipped tensor) reaches below `start`.
    pub(crate) fn ptr(&self) -> *const f32 {
        self.data.as_ptr().wrapping_add(self.start)
    }
}

/// A contiguous `f32` Flex tensor of shape `dims` holding `data`.
pub(crate) fn flex_f32<const D: usize>(data: Vec<f32>, dims: [usize; D]) -> FlexTensor {
    // A `Vec<f32>`'s own buffer: Flex's `empty` zero-fills and then copies
    // into an aligned one.
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(dims.to_vec())),
        DType::F32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(data: Vec<f32>, dims: [usize; 3]) -> FlexTensor {
        flex_f32(data, dims)
    }

    #[test]
    fn a_matrix_view_addresses_its_member() {
        let t = tensor((0..12).map(|v| v as f32).collect(), [2, 2, 3]);
        let operand = Operand::of(&t);
        let m = operand.matrix(1);
        assert_eq!((m.rows(), m.cols(), m.strides()), (2, 3, [3, 1]));
        let t = m.transposed();
        assert_eq!((t.rows(), t.cols(), t.strides()), (3, 2, [1, 3]));
        assert_eq!(operand.rows(1, 2, 3).unwrap()[0], 6.0);
    }

    #[test]
    #[should_panic(expected = "member 2 of 2")]
    fn a_member_past_the_first_axis_is_refused() {
        let t = tensor(vec![0.0; 12], [2, 2, 3]);
        Operand::of(&t).matrix(2);
    }

    #[test]
    #[should_panic(expected = "outside its buffer")]
    fn a_layout_larger_than_its_buffer_is_refused() {
        let data = [0.0f32; 5];
        Matrix::new(&data, 0, [2, 3], [3, 1]);
    }

    #[test]
    fn rows_outside_the_members_are_none() {
        let t = tensor(vec![0.0; 12], [2, 2, 3]);
        assert!(Operand::of(&t).rows(2, 2, 3).is_none());
    }
}
