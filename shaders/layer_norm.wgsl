// Layer norm over the last axis: y = (x - mean) * rstd * gamma + beta,
// rstd = 1 / sqrt(var + eps). The forward saves (mean, rstd) per row so the
// backward does not recompute them.
// backward, with xhat = (x - mean) * rstd and dxhat = dy * gamma:
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
//   dgamma = sum_rows dy * xhat,  dbeta = sum_rows dy
//
// Rows are read as elements of type E: f32 here; the engine also builds this
// source with E = vec4<f32> (gpu::shaders::vec4_source) when the row length
// is a multiple of 4, and then `cols` counts vec4s.

alias E = f32;
fn hsum(v: E) -> f32 { return v; }

const WG: u32 = 64u;

struct Params {
    rows: u32,
    cols: u32,    // row length in E
    eps: f32,
    inv_n: f32,   // 1 / row length in floats
    chunk: u32,   // layer_norm_backward_params: rows per partial sum
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<E>;
@group(0) @binding(2) var<storage, read> gamma: array<E>;
@group(0) @binding(3) var<storage, read> beta: array<E>;
@group(0) @binding(4) var<storage, read_write> y: array<E>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;   // [rows, 2]: mean, rstd
@group(0) @binding(6) var<storage, read> dy: array<E>;
@group(0) @binding(7) var<storage, read_write> dx: array<E>;
@group(0) @binding(8) var<storage, read_write> dgamma: array<E>;
@group(0) @binding(9) var<storage, read_write> dbeta: array<E>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn layer_norm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    var sum = E(0.0);
    for (var c = 0u; c < p.cols; c++) { sum += x[base + c]; }
    let mean = hsum(sum) * p.inv_n;
    // Two-pass variance: no cancellation for rows with a large mean.
    var v = E(0.0);
    for (var c = 0u; c < p.cols; c++) { let d = x[base + c] - mean; v += d * d; }
    let rstd = inverseSqrt(hsum(v) * p.inv_n + p.eps);
    for (var c = 0u; c < p.cols; c++) {
        y[base + c] = (x[base + c] - mean) * rstd * gamma[c] + beta[c];
    }
    stats[2u * r] = mean;
    stats[2u * r + 1u] = rstd;
}

@compute @workgroup_size(WG)
fn layer_norm_backward_x(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    let mean = stats[2u * r];
    let rstd = stats[2u * r + 1u];
    var sum_dxhat = E(0.0);
    var sum_dxhat_xhat = E(0.0);
    for (var c = 0u; c < p.cols; c++) {
        let xhat = (x[base + c] - mean) * rstd;
        let dxhat = dy[base + c] * gamma[c];
        sum_dxhat += dxhat;
        sum_dxhat_xhat += dxhat * xhat;
    }
    let mean_dxhat = hsum(sum_dxhat) * p.inv_n;
    let mean_dxhat_xhat = hsum(sum_dxhat_xhat) * p.inv_n;
    for (var c = 0u; c < p.cols; c++) {
        let xhat = (x[base + c] - mean) * rstd;
        let dxhat = dy[base + c] * gamma[c];
        dx[base + c] = rstd * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat);
    }
}

// One invocation per column (per group of 4 columns in the vec4 build) and
// chunk of `chunk` rows: dgamma and dbeta get [chunks, cols] partial sums
// (the engine sums them over chunks when there is more than one; many rows
// and few columns would otherwise leave a GPU nearly idle).
@compute @workgroup_size(WG)
fn layer_norm_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    let chunks = (p.rows + p.chunk - 1u) / p.chunk;
    if (t >= p.cols * chunks) { return; }
    let c = t % p.cols;
    let r0 = (t / p.cols) * p.chunk;
    let r1 = min(p.rows, r0 + p.chunk);
    var dg = E(0.0);
    var db = E(0.0);
    for (var r = r0; r < r1; r++) {
        let i = r * p.cols + c;
        let xhat = (x[i] - stats[2u * r]) * stats[2u * r + 1u];
        dg += dy[i] * xhat;
        db += dy[i];
    }
    dgamma[t] = dg;
    dbeta[t] = db;
}
