// Softmax, log-softmax and cross-entropy along the last axis, with backward.
// One invocation per row: rows here are short (values, codebook entries), so
// a row lives in one lane and needs no barriers. Max-subtracted throughout
// (numerically stable for any logits).

const WG: u32 = 64u;

struct Params {
    rows: u32,
    cols: u32,
    eps_bits: u32,   // nll_probs: probability floor, f32 bits
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // logits, or saved output
@group(0) @binding(2) var<storage, read> dy: array<f32>;       // upstream gradient
@group(0) @binding(3) var<storage, read> labels: array<u32>;   // class per row
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn row_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn row_max(base: u32) -> f32 {
    var m = x[base];
    for (var c = 1u; c < p.cols; c++) { m = max(m, x[base + c]); }
    return m;
}

// log sum exp of the row starting at base.
fn row_lse(base: u32) -> f32 {
    let m = row_max(base);
    var s = 0.0;
    for (var c = 0u; c < p.cols; c++) { s += exp(x[base + c] - m); }
    return m + log(s);
}

@compute @workgroup_size(WG)
fn softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    let lse = row_lse(base);
    for (var c = 0u; c < p.cols; c++) { out[base + c] = exp(x[base + c] - lse); }
}

// x = softmax output y: dx = y * (dy - sum(dy * y))
@compute @workgroup_size(WG)
fn softmax_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    var dot = 0.0;
    for (var c = 0u; c < p.cols; c++) { dot += dy[base + c] * x[base + c]; }
    for (var c = 0u; c < p.cols; c++) { out[base + c] = x[base + c] * (dy[base + c] - dot); }
}

@compute @workgroup_size(WG)
fn log_softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    let lse = row_lse(base);
    for (var c = 0u; c < p.cols; c++) { out[base + c] = x[base + c] - lse; }
}

// x = log-softmax output: dx = dy - exp(x) * sum(dy)
@compute @workgroup_size(WG)
fn log_softmax_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    var s = 0.0;
    for (var c = 0u; c < p.cols; c++) { s += dy[base + c]; }
    for (var c = 0u; c < p.cols; c++) { out[base + c] = dy[base + c] - exp(x[base + c]) * s; }
}

// loss[r] = lse(x[r]) - x[r, labels[r]]
@compute @workgroup_size(WG)
fn cross_entropy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    let t = min(labels[r], p.cols - 1u);
    out[r] = row_lse(base) - x[base + t];
}

// dx[r, c] = dy[r] * (softmax(x[r])[c] - [c == labels[r]])
@compute @workgroup_size(WG)
fn cross_entropy_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    let t = min(labels[r], p.cols - 1u);
    let lse = row_lse(base);
    let g = dy[r];
    for (var c = 0u; c < p.cols; c++) {
        let onehot = select(0.0, 1.0, c == t);
        out[base + c] = g * (exp(x[base + c] - lse) - onehot);
    }
}

// Negative log-likelihood of probabilities (not logits), clamped:
// loss[r] = -log(max(x[r, labels[r]], eps)); eps is p.eps_bits.
@compute @workgroup_size(WG)
fn nll_probs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let eps = bitcast<f32>(p.eps_bits);
    let t = min(labels[r], p.cols - 1u);
    out[r] = -log(max(x[r * p.cols + t], eps));
}

// dx[r, c] = -dy[r] / x[r, c] at c == labels[r] where x > eps, else 0.
@compute @workgroup_size(WG)
fn nll_probs_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let eps = bitcast<f32>(p.eps_bits);
    let t = min(labels[r], p.cols - 1u);
    let base = r * p.cols;
    for (var c = 0u; c < p.cols; c++) {
        let v = x[base + c];
        out[base + c] = select(0.0, -dy[r] / v, c == t && v > eps);
    }
}
