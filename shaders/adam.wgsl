// Adam update, in place, with global-norm gradient clipping folded in:
// the clip factor is computed from sumsq[0] (the sum of squared gradients of
// every parameter, accumulated on the GPU) so no number is read back.

const WG: u32 = 64u;

struct Params {
    n: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    bias1: f32,      // 1 / (1 - beta1^t)
    bias2: f32,      // 1 / (1 - beta2^t)
    max_norm: f32,   // <= 0: no clipping
    weight_decay: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> sumsq: array<f32>;

@compute @workgroup_size(WG)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    var clip = 1.0;
    if (p.max_norm > 0.0) {
        clip = min(1.0, p.max_norm / (sqrt(sumsq[0]) + 1e-6));
    }
    let g = grad[i] * clip;
    let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
    let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    let mhat = mi * p.bias1;
    let vhat = vi * p.bias2;
    param[i] = param[i] - p.lr * (mhat / (sqrt(vhat) + p.eps) + p.weight_decay * param[i]);
}
