// Layer norm over the last axis: y = (x - mean) * rstd * gamma + beta,
// rstd = 1 / sqrt(var + eps). The forward saves (mean, rstd) per row so the
// backward does not recompute them.
// backward, with xhat = (x - mean) * rstd and dxhat = dy * gamma:
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
//   dgamma = sum_rows dy * xhat,  dbeta = sum_rows dy

const WG: u32 = 64u;

struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;   // [rows, 2]: mean, rstd
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
@group(0) @binding(8) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(9) var<storage, read_write> dbeta: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn layer_norm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    let inv_n = 1.0 / f32(p.cols);
    var mean = 0.0;
    for (var c = 0u; c < p.cols; c++) { mean += x[base + c]; }
    mean *= inv_n;
    // Two-pass variance: no cancellation for rows with a large mean.
    var v = 0.0;
    for (var c = 0u; c < p.cols; c++) { let d = x[base + c] - mean; v += d * d; }
    let rstd = inverseSqrt(v * inv_n + p.eps);
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
    var mean_dxhat = 0.0;
    var mean_dxhat_xhat = 0.0;
    for (var c = 0u; c < p.cols; c++) {
        let xhat = (x[base + c] - mean) * rstd;
        let dxhat = dy[base + c] * gamma[c];
        mean_dxhat += dxhat;
        mean_dxhat_xhat += dxhat * xhat;
    }
    let inv_n = 1.0 / f32(p.cols);
    mean_dxhat *= inv_n;
    mean_dxhat_xhat *= inv_n;
    for (var c = 0u; c < p.cols; c++) {
        let xhat = (x[base + c] - mean) * rstd;
        let dxhat = dy[base + c] * gamma[c];
        dx[base + c] = rstd * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat);
    }
}

// One invocation per column.
@compute @workgroup_size(WG)
fn layer_norm_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = flat(gid, nwg);
    if (c >= p.cols) { return; }
    var dg = 0.0;
    var db = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        let i = r * p.cols + c;
        let xhat = (x[i] - stats[2u * r]) * stats[2u * r + 1u];
        dg += dy[i] * xhat;
        db += dy[i];
    }
    dgamma[c] = dg;
    dbeta[c] = db;
}
