// Skip-gated recurrence of the interpreter:
//   pi_t = z * pi_prev + (1 - z) * pi_cand
// with one gate value per group of rows: prev and cand are [groups, inner]
// (inner = sequences of the group x positions x values), z is [groups]
// (z_t[SKIP] of the program that runs on those sequences).
// Backward: dprev = z g, dcand = (1 - z) g, dz[k] = sum_i g (prev - cand).
//
// Written over elements E (n and inner count them): f32 here, vec4<f32> in
// the vec4 build (`gpu::shaders::vec4_source`) when inner is a multiple of
// 4, whose prev, cand and g may also be read through staging textures
// (`gpu::shaders::textured_source`).

alias E = f32;
fn hsum(v: E) -> f32 { return v; }

const WG: u32 = 64u;

struct Params {
    n: u32,       // groups * inner, in elements
    inner: u32,   // elements per group
    groups: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> prev: array<E>;
@group(0) @binding(3) var<storage, read> cand: array<E>;
@group(0) @binding(4) var<storage, read_write> out: array<E>;
@group(0) @binding(5) var<storage, read> g: array<E>;
@group(0) @binding(6) var<storage, read_write> dprev: array<E>;
@group(0) @binding(7) var<storage, read_write> dcand: array<E>;
@group(0) @binding(8) var<storage, read_write> dz: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn skip_gate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let zk = z[i / p.inner];
    out[i] = zk * prev[i] + (1.0 - zk) * cand[i];
}

@compute @workgroup_size(WG)
fn skip_gate_backward_inputs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let zk = z[i / p.inner];
    let gi = g[i];
    dprev[i] = zk * gi;
    dcand[i] = (1.0 - zk) * gi;
}

// One invocation per group.
@compute @workgroup_size(WG)
fn skip_gate_backward_gate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = flat(gid, nwg);
    if (k >= p.groups) { return; }
    var acc = E(0.0);
    let base = k * p.inner;
    for (var i = 0u; i < p.inner; i++) {
        acc += g[base + i] * (prev[base + i] - cand[base + i]);
    }
    dz[k] = hsum(acc);
}
