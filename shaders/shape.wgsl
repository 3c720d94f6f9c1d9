// Data movement: copy a block along one axis (slice, concat, their backward
// passes) and repeat along a new axis (expand).
// Tensors are viewed as [outer, axis, inner].

const WG: u32 = 64u;

struct Params {
    n: u32,          // invocations: outer * len * inner
    len: u32,        // axis positions copied (axis_copy) or repeats (expand)
    inner: u32,
    src_axis: u32,   // axis size of src
    dst_axis: u32,   // axis size of dst
    src_start: u32,
    dst_start: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// dst[o, dst_start + a, i] = src[o, src_start + a, i]
@compute @workgroup_size(WG)
fn axis_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.n) { return; }
    let i = t % p.inner;
    let a = (t / p.inner) % p.len;
    let o = t / (p.inner * p.len);
    dst[(o * p.dst_axis + p.dst_start + a) * p.inner + i] = src[(o * p.src_axis + p.src_start + a) * p.inner + i];
}

// dst[o, r, i] = src[o, i] for r < len
@compute @workgroup_size(WG)
fn expand(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.n) { return; }
    let i = t % p.inner;
    let o = t / (p.inner * p.len);
    dst[t] = src[o * p.inner + i];
}
