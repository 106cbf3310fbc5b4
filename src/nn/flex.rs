//! Reading and building Flex tensors in place, for the kernels of
//! `nn/affine.rs` and `nn/moments.rs`.

use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Shape};

/// A `[members, rows, cols]` Flex tensor read in place: its buffer and strides in
/// elements (the member stride is 0 for an input broadcast over members).
pub(crate) struct Operand<'a> {
    data: &'a [f32],
    offset: isize,
    pub(crate) strides: [isize; 3],
}

impl<'a> Operand<'a> {
    pub(crate) fn of(tensor: &'a FlexTensor) -> Self {
        let layout = tensor.layout();
        let strides = layout.strides();
        Self {
            data: tensor.storage::<f32>(),
            offset: layout.start_offset() as isize,
            strides: [strides[0], strides[1], strides[2]],
        }
    }

    /// The first element of `member`'s matrix.
    pub(crate) fn member(&self, member: usize) -> *const f32 {
        // SAFETY: the offset is inside the buffer, which the layout covers.
        unsafe {
            self.data
                .as_ptr()
                .offset(self.offset + member as isize * self.strides[0])
        }
    }

    /// `member`'s matrix as one row-major slice, where it is stored so.
    pub(crate) fn rows(&self, member: usize, rows: usize, cols: usize) -> Option<&'a [f32]> {
        let start = self.offset + member as isize * self.strides[0];
        (self.strides[1] == cols as isize && self.strides[2] == 1 && start >= 0)
            .then(|| &self.data[start as usize..][..rows * cols])
    }

    pub(crate) fn at(&self, member: usize, row: usize, col: usize) -> f32 {
        let index = self.offset
            + member as isize * self.strides[0]
            + row as isize * self.strides[1]
            + col as isize * self.strides[2];
        self.data[index as usize]
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
