// Reductions along one axis of a tensor viewed as [outer, axis, inner]:
// out[o, i] = alpha * sum_a x[o, a, i]. One invocation per output element;
// each loops over the axis. A long axis with few outputs (a bias gradient:
// 64 sums over thousands of rows) would leave a GPU nearly idle, so the
// engine then first sums chunks of the axis (sum_axis_partial, one
// invocation per chunk and output) and reduces the partial sums with
// sum_axis (sum_axis_acc when the sum is a gradient that adds the one
// accumulated so far). Also the sum of squares used by global-norm
// gradient clipping.

const WG: u32 = 64u;

struct Params {
    n: u32,      // outputs: outer * inner (sum_axis_partial: outer * chunks * inner)
    axis: u32,
    inner: u32,
    alpha: f32,
    chunk: u32,  // sum_axis_partial: axis elements per chunk
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// The sum of x[o, a, i] over the whole axis for output t = (o, i).
fn axis_sum(t: u32) -> f32 {
    let i = t % p.inner;
    let o = t / p.inner;
    var sum = 0.0;
    var idx = o * p.axis * p.inner + i;
    for (var a = 0u; a < p.axis; a++) {
        sum += x[idx];
        idx += p.inner;
    }
    return sum;
}

@compute @workgroup_size(WG)
fn sum_axis(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.n) { return; }
    out[t] = p.alpha * axis_sum(t);
}

// A gradient accumulated so far, laid out like out (see sum_axis_acc).
@group(0) @binding(3) var<storage, read> prev_grad: array<f32>;

// sum_axis plus prev_grad[o, i]: a gradient's reduction added to the gradient
// accumulated so far for the same tensor as it is stored
// (`Ctx::take_grad_acc`), in the order of a separate addition.
@compute @workgroup_size(WG)
fn sum_axis_acc(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.n) { return; }
    out[t] = prev_grad[t] + p.alpha * axis_sum(t);
}

// out[o, c, i] = sum of x[o, a, i] over a in chunk c (a from c * chunk to
// min(axis, (c + 1) * chunk)); n = outer * chunks * inner.
@compute @workgroup_size(WG)
fn sum_axis_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.n) { return; }
    let chunks = (p.axis + p.chunk - 1u) / p.chunk;
    let i = t % p.inner;
    let c = (t / p.inner) % chunks;
    let o = t / (p.inner * chunks);
    let a0 = c * p.chunk;
    let a1 = min(p.axis, a0 + p.chunk);
    var acc = 0.0;
    var idx = (o * p.axis + a0) * p.inner + i;
    for (var a = a0; a < a1; a++) {
        acc += x[idx];
        idx += p.inner;
    }
    out[t] = acc;
}

// One workgroup: out[0] += sum(x[0..n]^2). Dispatches of this kernel run in
// order, so accumulating into out[0] across tensors needs no atomics.
const RW: u32 = 256u;
var<workgroup> partial: array<f32, RW>;

@compute @workgroup_size(RW)
fn sum_squares_acc(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var i = lid.x; i < p.n; i += RW) {
        let v = x[i];
        acc += v * v;
    }
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var s = RW / 2u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            partial[lid.x] += partial[lid.x + s];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        out[0] += partial[0];
    }
}
