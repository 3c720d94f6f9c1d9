//! The tape: forward ops are recorded in execution order; `backward` of a
//! scalar replays their backward passes in reverse, accumulating gradients
//! when a tensor feeds more than one op (a reverse walk over a topological
//! order, which the recording order already is).
//!
//! An op records a node only when grad mode is on and one of its inputs
//! requires a gradient, so inference records nothing. Each node owns a boxed
//! closure that captures exactly what its backward kernels need (inputs,
//! outputs, saved statistics) and is consumed by `backward`.

use std::collections::HashMap;

use crate::ctx::Ctx;
use crate::tensor::{Tensor, TensorId};

/// A backward function: gradient of the node's output in, one optional
/// gradient per input out (in the order the inputs were given).
pub type BackwardFn = Box<dyn FnOnce(&Ctx, &Tensor) -> Vec<Option<Tensor>>>;

pub struct Node {
    pub op: &'static str,
    pub output: TensorId,
    /// (id, requires_grad) of each input, in order.
    pub inputs: Vec<(TensorId, bool)>,
    pub backward: BackwardFn,
}

#[derive(Default)]
pub struct Tape {
    pub nodes: Vec<Node>,
}

/// Gradients of the leaves (and of every tensor that was not consumed on the
/// way), by tensor id.
#[derive(Default)]
pub struct Grads {
    map: HashMap<TensorId, Tensor>,
}

impl Grads {
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.map.get(&t.id())
    }
    pub fn remove(&mut self, t: &Tensor) -> Option<Tensor> {
        self.map.remove(&t.id())
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Ctx {
    /// Gradients of the scalar `loss` with respect to every tensor that
    /// requires one. Consumes the tape.
    pub fn backward(&self, loss: &Tensor) -> Grads {
        assert_eq!(
            loss.numel(),
            1,
            "backward needs a scalar, got {:?}",
            loss.shape()
        );
        assert!(
            loss.requires_grad(),
            "loss does not depend on any parameter"
        );
        let nodes = std::mem::take(&mut self.tape.borrow_mut().nodes);
        let _guard = self.no_grad();
        let mut grads: HashMap<TensorId, Tensor> = HashMap::new();
        grads.insert(loss.id(), self.full(loss.shape(), 1.0));
        // A backward running inside a backward (none does today) keeps the
        // outer one's accumulators apart.
        let outer_accs = std::mem::take(&mut *self.grad_accs.borrow_mut());
        for node in nodes.into_iter().rev() {
            let Some(g) = grads.remove(&node.output) else {
                continue;
            };
            // The gradients accumulated so far for this node's inputs are
            // offered to its backward (Ctx::take_grad_acc); those it does
            // not take are added to what it returns, as before.
            let mut offered = Vec::new();
            for (id, needs) in &node.inputs {
                if let (true, Some(prev)) = (*needs, grads.remove(id)) {
                    self.grad_accs.borrow_mut().insert(*id, prev);
                    offered.push(*id);
                }
            }
            let input_grads = (node.backward)(self, &g);
            let untaken: HashMap<TensorId, Tensor> = self.grad_accs.borrow_mut().drain().collect();
            debug_assert_eq!(input_grads.len(), node.inputs.len(), "{}", node.op);
            // A backward that took an accumulated gradient must return the
            // input's gradient (which now carries it), or it would be lost.
            for id in offered.iter().filter(|id| !untaken.contains_key(id)) {
                assert!(
                    node.inputs
                        .iter()
                        .zip(&input_grads)
                        .any(|((i, _), gi)| i == id && gi.is_some()),
                    "{}: took an input's accumulated gradient and returned none for it",
                    node.op
                );
            }
            grads.extend(untaken);
            for ((id, needs), gi) in node.inputs.iter().zip(input_grads) {
                let (true, Some(gi)) = (*needs, gi) else {
                    continue;
                };
                let acc = match grads.remove(id) {
                    Some(prev) => self.add(&prev, &gi),
                    None => gi,
                };
                grads.insert(*id, acc);
            }
        }
        *self.grad_accs.borrow_mut() = outer_accs;
        Grads { map: grads }
    }

    /// Inside a backward function: the gradient accumulated so far for its
    /// input `t` (from the ops that use `t` later in the forward), taken
    /// over by the caller, who must then return a gradient for `t` that
    /// includes it. A product that adds it in its stores (or a kernel that
    /// adds it as it writes) saves the separate pass over memory that
    /// `backward` would otherwise spend adding the two. `None` when nothing
    /// has been accumulated for `t` yet (or outside a backward).
    pub(crate) fn take_grad_acc(&self, t: &Tensor) -> Option<Tensor> {
        if !t.requires_grad() {
            return None;
        }
        self.grad_accs.borrow_mut().remove(&t.id())
    }

    /// Run `f` on a tape of its own, with recording on: what it records
    /// (and differentiates with `backward`) never mixes with the nodes
    /// recorded so far, which are there again afterwards, and grad mode is
    /// restored. An inner gradient (LPN's latent ascent) can so be taken in
    /// the middle of recording a training step, or inside `no_grad`.
    pub fn with_own_tape<T>(&self, f: impl FnOnce() -> T) -> T {
        let outer = std::mem::take(&mut self.tape.borrow_mut().nodes);
        let out = {
            let _recording = self.enable_grad();
            f()
        };
        self.tape.borrow_mut().nodes = outer;
        out
    }

    /// Forget every recorded node (a forward pass that will not be differentiated).
    pub fn clear_tape(&self) {
        self.tape.borrow_mut().nodes.clear();
    }

    /// Number of nodes recorded since the last backward.
    pub fn tape_len(&self) -> usize {
        self.tape.borrow().nodes.len()
    }

    /// Make the output tensor of an op: a new tensor of `shape` on `storage`
    /// that requires a gradient when grad mode is on and any input does; in
    /// that case `backward` is recorded on the tape.
    pub(crate) fn op_output(
        &self,
        op: &'static str,
        shape: Vec<usize>,
        storage: crate::gpu::Storage,
        inputs: &[&Tensor],
        backward: impl FnOnce(&Ctx, &Tensor) -> Vec<Option<Tensor>> + 'static,
    ) -> Tensor {
        self.op_output_rc(op, shape, std::rc::Rc::new(storage), inputs, backward)
    }

    pub(crate) fn op_output_rc(
        &self,
        op: &'static str,
        shape: Vec<usize>,
        storage: std::rc::Rc<crate::gpu::Storage>,
        inputs: &[&Tensor],
        backward: impl FnOnce(&Ctx, &Tensor) -> Vec<Option<Tensor>> + 'static,
    ) -> Tensor {
        let needs = self.grad_enabled() && inputs.iter().any(|t| t.requires_grad());
        let out = self.tensor_on(shape, crate::tensor::DType::F32, storage, needs);
        if needs {
            self.tape.borrow_mut().nodes.push(Node {
                op,
                output: out.id(),
                inputs: inputs.iter().map(|t| (t.id(), t.requires_grad())).collect(),
                backward: Box::new(backward),
            });
        }
        out
    }
}
