//! Tensors: a shape, a dtype and a GPU buffer shared by reference.
//!
//! A tensor is immutable once made by an op (parameters are the exception:
//! the optimiser updates them in place). `reshape` shares the buffer.

use std::rc::Rc;

use crate::gpu::Storage;

pub type TensorId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    /// Integer indices and targets (never differentiated).
    U32,
}

struct Inner {
    id: TensorId,
    shape: Vec<usize>,
    dtype: DType,
    storage: Rc<Storage>,
    requires_grad: bool,
}

/// A handle to a tensor on the GPU; cloning shares it.
#[derive(Clone)]
pub struct Tensor(Rc<Inner>);

impl Tensor {
    pub(crate) fn from_parts(
        id: TensorId,
        shape: Vec<usize>,
        dtype: DType,
        storage: Rc<Storage>,
        requires_grad: bool,
    ) -> Tensor {
        debug_assert!(storage.bytes >= (shape.iter().product::<usize>() * 4) as u64);
        Tensor(Rc::new(Inner {
            id,
            shape,
            dtype,
            storage,
            requires_grad,
        }))
    }

    pub fn id(&self) -> TensorId {
        self.0.id
    }
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    pub fn rank(&self) -> usize {
        self.0.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.0.shape.iter().product()
    }
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }
    pub fn storage(&self) -> &Storage {
        &self.0.storage
    }
    pub(crate) fn storage_rc(&self) -> &Rc<Storage> {
        &self.0.storage
    }
    /// Size of dimension `axis`; negative counts from the end.
    pub fn dim(&self, axis: isize) -> usize {
        self.0.shape[self.axis(axis)]
    }
    /// Normalise a possibly negative axis.
    pub fn axis(&self, axis: isize) -> usize {
        let r = self.rank() as isize;
        let a = if axis < 0 { r + axis } else { axis };
        assert!(
            (0..r).contains(&a),
            "axis {axis} out of range for shape {:?}",
            self.shape()
        );
        a as usize
    }
    /// (outer, axis, inner) sizes when viewing the tensor around `axis`.
    pub fn split_at_axis(&self, axis: usize) -> (usize, usize, usize) {
        let s = self.shape();
        (
            s[..axis].iter().product(),
            s[axis],
            s[axis + 1..].iter().product(),
        )
    }
    /// Product of all dimensions but the last, and the last.
    pub fn rows_cols(&self) -> (usize, usize) {
        let c = *self.shape().last().expect("rank >= 1");
        (self.numel() / c.max(1), c)
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor#{}{:?}{}",
            self.id(),
            self.shape(),
            if self.requires_grad() { " (grad)" } else { "" }
        )
    }
}
