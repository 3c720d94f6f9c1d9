//! `Ctx`: the handle every op is called on. It owns the GPU, the tape and the
//! grad mode; ops live in `src/ops/*` as `impl Ctx` blocks.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::autodiff::Tape;
use crate::error::Result;
use crate::gpu::{DeviceOptions, Gpu, Storage};
use crate::tensor::{DType, Tensor, TensorId};

pub struct Ctx {
    pub gpu: Gpu,
    pub(crate) tape: RefCell<Tape>,
    /// During `backward`, the gradients accumulated so far for the inputs
    /// of the node whose backward runs (see [`Ctx::take_grad_acc`]).
    pub(crate) grad_accs: RefCell<std::collections::HashMap<TensorId, Tensor>>,
    grad_enabled: Cell<bool>,
    next_id: Cell<TensorId>,
}

/// Restores the previous grad mode when dropped.
pub struct GradModeGuard<'a> {
    ctx: &'a Ctx,
    previous: bool,
}

impl Drop for GradModeGuard<'_> {
    fn drop(&mut self) {
        self.ctx.grad_enabled.set(self.previous);
    }
}

impl Ctx {
    pub fn new(opts: &DeviceOptions) -> Result<Ctx> {
        Ok(Ctx::with_gpu(Gpu::new(opts)?))
    }

    pub fn with_gpu(gpu: Gpu) -> Ctx {
        Ctx {
            gpu,
            tape: RefCell::new(Tape::default()),
            grad_accs: RefCell::default(),
            grad_enabled: Cell::new(true),
            next_id: Cell::new(1),
        }
    }

    pub fn grad_enabled(&self) -> bool {
        self.grad_enabled.get()
    }

    /// Inference mode until the guard drops: ops record nothing.
    pub fn no_grad(&self) -> GradModeGuard<'_> {
        let previous = self.grad_enabled.replace(false);
        GradModeGuard {
            ctx: self,
            previous,
        }
    }

    /// Recording on until the guard drops, even inside `no_grad` (an inner
    /// gradient taken while the outer computation is inference only).
    pub fn enable_grad(&self) -> GradModeGuard<'_> {
        let previous = self.grad_enabled.replace(true);
        GradModeGuard {
            ctx: self,
            previous,
        }
    }

    fn fresh_id(&self) -> TensorId {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    pub(crate) fn tensor_on(
        &self,
        shape: Vec<usize>,
        dtype: DType,
        storage: Rc<Storage>,
        requires_grad: bool,
    ) -> Tensor {
        Tensor::from_parts(self.fresh_id(), shape, dtype, storage, requires_grad)
    }

    /// A gradient-free f32 tensor on storage a kernel just filled.
    pub(crate) fn wrap(&self, shape: &[usize], storage: Storage) -> Tensor {
        self.tensor_on(shape.to_vec(), DType::F32, Rc::new(storage), false)
    }

    /// Uninitialised f32 storage for `n` elements (kernels fill it).
    pub(crate) fn alloc_f32(&self, n: usize) -> Storage {
        self.gpu.alloc(n as u64 * 4)
    }

    fn check_len(shape: &[usize], len: usize) {
        assert_eq!(
            shape.iter().product::<usize>(),
            len,
            "data of length {len} does not fill shape {shape:?}"
        );
    }

    /// A constant tensor (no gradient).
    pub fn tensor(&self, data: &[f32], shape: &[usize]) -> Tensor {
        Self::check_len(shape, data.len());
        let s = self.gpu.upload(bytemuck::cast_slice(data));
        self.tensor_on(shape.to_vec(), DType::F32, Rc::new(s), false)
    }

    /// A leaf that requires a gradient (a parameter, or a test input).
    pub fn param(&self, data: &[f32], shape: &[usize]) -> Tensor {
        Self::check_len(shape, data.len());
        let s = self.gpu.upload(bytemuck::cast_slice(data));
        self.tensor_on(shape.to_vec(), DType::F32, Rc::new(s), true)
    }

    /// Integer indices or targets.
    pub fn indices(&self, data: &[u32], shape: &[usize]) -> Tensor {
        Self::check_len(shape, data.len());
        let s = self.gpu.upload(bytemuck::cast_slice(data));
        self.tensor_on(shape.to_vec(), DType::U32, Rc::new(s), false)
    }

    pub fn zeros(&self, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let s = self.gpu.alloc_zeroed(n as u64 * 4);
        self.tensor_on(shape.to_vec(), DType::F32, Rc::new(s), false)
    }

    /// A tensor of `shape` with every element `value` (filled on the GPU).
    pub fn full(&self, shape: &[usize], value: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let s = self.alloc_f32(n);
        self.fill_storage(&s, n, value);
        self.tensor_on(shape.to_vec(), DType::F32, Rc::new(s), false)
    }

    /// The same tensor cut off from the tape (no gradient flows through).
    pub fn detach(&self, t: &Tensor) -> Tensor {
        self.tensor_on(t.shape().to_vec(), t.dtype(), t.storage_rc().clone(), false)
    }

    /// Overwrite a tensor's contents from the host (e.g. a batch buffer reused
    /// across steps). Shapes must match.
    pub fn write(&self, t: &Tensor, data: &[f32]) {
        assert_eq!(t.dtype(), DType::F32);
        Self::check_len(t.shape(), data.len());
        self.gpu.write(t.storage(), bytemuck::cast_slice(data));
    }

    /// Read an f32 tensor back to the host (submits pending work and waits).
    pub fn read(&self, t: &Tensor) -> Vec<f32> {
        self.read_many(&[t]).pop().unwrap()
    }

    /// Read several f32 tensors in one round trip.
    pub fn read_many(&self, ts: &[&Tensor]) -> Vec<Vec<f32>> {
        let storages: Vec<&Storage> = ts.iter().map(|t| t.storage()).collect();
        self.gpu
            .read_bytes(&storages)
            .into_iter()
            .zip(ts)
            .map(|(bytes, t)| {
                assert_eq!(t.dtype(), DType::F32, "read of a u32 tensor; use read_u32");
                bytemuck::pod_collect_to_vec::<u8, f32>(&bytes)[..t.numel()].to_vec()
            })
            .collect()
    }

    pub fn read_u32(&self, t: &Tensor) -> Vec<u32> {
        let bytes = self.gpu.read_bytes(&[t.storage()]).pop().unwrap();
        bytemuck::pod_collect_to_vec::<u8, u32>(&bytes)[..t.numel()].to_vec()
    }

    /// Read a one-element tensor.
    pub fn item(&self, t: &Tensor) -> f32 {
        assert_eq!(t.numel(), 1, "item() of {:?}", t.shape());
        self.read(t)[0]
    }
}
