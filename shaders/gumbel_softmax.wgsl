// Counter-based random numbers and Gumbel-Softmax.
//
// RNG: Philox4x32-10 (Salmon et al. 2011), counter = (element index, step,
// stream, 0), key = 64-bit seed. A number depends only on (seed, step,
// stream, index): never on the dispatch shape, the workgroup size or the
// adapter, so a backward pass (or a test) can regenerate noise instead of
// storing it. u32 -> uniform keeps 23 bits and centres them, so uniforms lie
// strictly inside (0, 1) and are exact in f32.
//
// Gumbel-Softmax along the last axis: y = softmax((l + g) / tau) with
// g = -log(-log(u)) (or g = 0 without noise). The hard variant outputs
// one_hot(argmax y) and its backward is the soft one (straight-through).
// Backward: dl = (1 / tau) * y * (dy - sum(dy * y)), y the soft output.

const WG: u32 = 64u;

struct Params {
    rows: u32,
    cols: u32,
    seed_lo: u32,
    seed_hi: u32,
    step: u32,
    stream: u32,
    tau: f32,
    noise: u32,    // 0: no noise
    hard: u32,     // 1: straight-through one-hot output
    offset: u32,   // first element index (fill kernels)
    n: u32,        // elements (fill kernels)
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> y_soft: array<f32>;
@group(0) @binding(3) var<storage, read_write> y_out: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dl: array<f32>;
@group(0) @binding(6) var<storage, read_write> bits: array<u32>;

// (hi, lo) of the 64-bit product a * b, from 16-bit halves.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let t = a_hi * b_lo + (lo_lo >> 16u);
    let u = a_lo * b_hi + (t & 0xffffu);
    let hi = a_hi * b_hi + (t >> 16u) + (u >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key_in;
    for (var r = 0u; r < 10u; r++) {
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

fn random_bits(index: u32) -> u32 {
    return philox4x32_10(vec4<u32>(index, p.step, p.stream, 0u), vec2<u32>(p.seed_lo, p.seed_hi)).x;
}

// Uniform strictly inside (0, 1): (k + 0.5) / 2^23 for k in [0, 2^23).
fn uniform_from_bits(x: u32) -> f32 {
    return (f32(x >> 9u) + 0.5) * (1.0 / 8388608.0);
}

fn gumbel(index: u32) -> f32 {
    return -log(-log(uniform_from_bits(random_bits(index))));
}

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// bits[i] = raw 32-bit draw for element offset + i (tests and diagnostics).
@compute @workgroup_size(WG)
fn random_bits_fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    bits[i] = random_bits(p.offset + i);
}

// y_out[i] = Gumbel(0, 1) draw for element offset + i.
@compute @workgroup_size(WG)
fn gumbel_fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    y_out[i] = gumbel(p.offset + i);
}

// One invocation per row.
@compute @workgroup_size(WG)
fn gumbel_softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    let inv_tau = 1.0 / p.tau;
    // Perturbed, scaled logits go to y_soft first, then become the softmax.
    var m = -3.0e38;
    var arg = 0u;
    for (var c = 0u; c < p.cols; c++) {
        var z = logits[base + c];
        if (p.noise != 0u) { z += gumbel(base + c); }
        z *= inv_tau;
        y_soft[base + c] = z;
        if (z > m) { m = z; arg = c; }
    }
    var s = 0.0;
    for (var c = 0u; c < p.cols; c++) {
        let e = exp(y_soft[base + c] - m);
        y_soft[base + c] = e;
        s += e;
    }
    let inv_s = 1.0 / s;
    for (var c = 0u; c < p.cols; c++) {
        let y = y_soft[base + c] * inv_s;
        y_soft[base + c] = y;
        if (p.hard != 0u) {
            y_out[base + c] = select(0.0, 1.0, c == arg);
        } else {
            y_out[base + c] = y;
        }
    }
}

@compute @workgroup_size(WG)
fn gumbel_softmax_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    var dot = 0.0;
    for (var c = 0u; c < p.cols; c++) { dot += dy[base + c] * y_soft[base + c]; }
    let inv_tau = 1.0 / p.tau;
    for (var c = 0u; c < p.cols; c++) {
        dl[base + c] = inv_tau * y_soft[base + c] * (dy[base + c] - dot);
    }
}
