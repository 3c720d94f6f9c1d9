// Embedding gather and its backward.
// Forward: out[i, d] = table[idx[i], d].
// Backward: dtable[r, d] = sum over i with idx[i] == r of dy[i, d]. WGSL has
// no float atomics, so instead of scattering, each invocation owns one
// (r, d) of the table gradient and gathers the rows that point at it: no
// races, deterministic sums, O(rows * n * dim) work, which is small for the
// value and position tables this model gathers from.

const WG: u32 = 64u;

struct Params {
    n: u32,      // number of indices
    dim: u32,
    rows: u32,   // rows of the table
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dtable: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn embedding(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.n * p.dim) { return; }
    let i = t / p.dim;
    let d = t % p.dim;
    let r = min(idx[i], p.rows - 1u);
    out[t] = table[r * p.dim + d];
}

@compute @workgroup_size(WG)
fn embedding_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.rows * p.dim) { return; }
    let r = t / p.dim;
    let d = t % p.dim;
    var acc = 0.0;
    for (var i = 0u; i < p.n; i++) {
        if (idx[i] == r) { acc += dy[i * p.dim + d]; }
    }
    dtable[t] = acc;
}
