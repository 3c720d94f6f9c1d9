// Elementwise kernels: fill, add, sub, mul, scale, axpy, broadcast add over a
// trailing shape, GELU and ReLU with their backward passes.
// One invocation per element of type E; the index spills into y past 65535
// workgroups. E is f32 here; the engine also builds this source with
// `alias E = vec4<f32>;` (src/ops/elementwise.rs) for sizes that are
// multiples of 4: on lavapipe every storage load is a loop over the SIMD
// lanes, so four floats per load move far more data per second.

alias E = f32;

const WG: u32 = 64u;

struct Params {
    n: u32,       // number of output elements (of type E)
    inner: u32,   // size of the broadcast operand (add_broadcast), in E
    alpha: f32,   // scalar (fill value, scale factor)
    rep: u32,     // add_broadcast: rows that share one copy of b
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<E>;
@group(0) @binding(2) var<storage, read> b: array<E>;
@group(0) @binding(3) var<storage, read_write> out: array<E>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = a[i] + b[i];
}

@compute @workgroup_size(WG)
fn sub(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = a[i] - b[i];
}

@compute @workgroup_size(WG)
fn mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = a[i] * b[i];
}

// out = a + alpha * b
@compute @workgroup_size(WG)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = a[i] + p.alpha * b[i];
}

// out[o, r, j] = a[o, r, j] + b[o, j], r < rep, j < inner
// (rep = n / inner: one b for all rows, a bias)
@compute @workgroup_size(WG)
fn add_broadcast(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = a[i] + b[i / (p.rep * p.inner) * p.inner + i % p.inner];
}

// GELU, tanh form: 0.5 x (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2/pi).
const GELU_C: f32 = 0.7978845608028654;

fn tanh_safe(u: E) -> E {
    // tanh via exp of a clamped argument: no inf/inf for large |u|.
    let v = clamp(u, E(-15.0), E(15.0));
    let e = exp(2.0 * v);
    return (e - 1.0) / (e + 1.0);
}

// out = gelu(a); b unused
@compute @workgroup_size(WG)
fn gelu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let x = a[i];
    let t = tanh_safe(GELU_C * (x + 0.044715 * x * x * x));
    out[i] = 0.5 * x * (1.0 + t);
}

// out = dy * gelu'(x); a = x, b = dy
@compute @workgroup_size(WG)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let x = a[i];
    let t = tanh_safe(GELU_C * (x + 0.044715 * x * x * x));
    let dt = GELU_C * (1.0 + 3.0 * 0.044715 * x * x) * (1.0 - t * t);
    out[i] = b[i] * (0.5 * (1.0 + t) + 0.5 * x * dt);
}

@compute @workgroup_size(WG)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = max(a[i], E(0.0));
}

// out = dy * [x > 0]; a = x, b = dy
@compute @workgroup_size(WG)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = select(E(0.0), b[i], a[i] > E(0.0));
}

// out = alpha * a
@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = p.alpha * a[i];
}

// out = alpha
@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = E(p.alpha);
}

// out = exp(a)
@compute @workgroup_size(WG)
fn exp_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = exp(a[i]);
}

// out = a + alpha
@compute @workgroup_size(WG)
fn add_scalar(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = a[i] + p.alpha;
}

// out = log(max(1 - a, alpha)): the clamp keeps log(1 - q) finite for q -> 1.
@compute @workgroup_size(WG)
fn log1m_clamped(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = log(max(1.0 - a[i], E(p.alpha)));
}

// out = dy * d/da log(max(1 - a, alpha)) = -dy / (1 - a) where unclamped, else 0;
// a = input, b = dy
@compute @workgroup_size(WG)
fn log1m_clamped_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let one_minus = 1.0 - a[i];
    out[i] = select(E(0.0), -b[i] / one_minus, one_minus > E(p.alpha));
}
