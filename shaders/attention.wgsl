// Fused multi-head scaled dot-product attention, softmax(Q K^T / sqrt(d)) V,
// with an optional causal mask, and its backward.
//
// Q, K and V come packed in one tensor [batch, len, 3 * width] (the output
// of one fused projection; Q at columns 0.., K at width.., V at 2 width..;
// head h owns columns h*dh .. (h+1)*dh of each), O is [batch, len, width];
// all read as vec4. Gradients go to one packed dQKV of the input's layout. One
// invocation owns one query row of one head: it keeps q and the output
// accumulator in registers and streams over the keys with an online softmax,
// so nothing of size len x len is ever stored. The forward saves the row's
// log-sum-exp for the backward.
//
// DH4 = dh / 4 is a compile-time constant so the per-row arrays live in
// registers; the engine specialises it per model (src/ops/attention.rs).
//
// Backward, with P = softmax(S), S = scale * Q K^T, D_i = dO_i . O_i:
//   dV_j = sum_i P_ij dO_i,   dP_ij = dO_i . V_j,   dS_ij = P_ij (dP_ij - D_i)
//   dQ_i = scale * sum_j dS_ij K_j,   dK_j = scale * sum_i dS_ij Q_i
// in two passes: one invocation per query row (D_i and dQ_i), then one per
// key row (dK_j and dV_j).

const WG: u32 = 64u;
const DH4: u32 = 4u;

struct Params {
    batch: u32,
    heads: u32,
    len: u32,
    causal: u32,
    scale: f32,
    width4: u32,   // heads * dh / 4: vec4s per row of O; Q, K, V start at 0, width4, 2 width4
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> o: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;      // [batch, heads, len]
@group(0) @binding(6) var<storage, read> d_o: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;    // [batch, heads, len]: D_i
@group(0) @binding(8) var<storage, read_write> dqkv: array<vec4<f32>>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// vec4 offset of head `h` at row `pos` of batch `b` in O (and dO).
fn out_base(b: u32, h: u32, pos: u32) -> u32 {
    return (b * p.len + pos) * p.width4 + h * DH4;
}

// vec4 offset of head `h` at row `pos` of batch `b` in the packed QKV
// (add width4 for K, 2 width4 for V).
fn in_base(b: u32, h: u32, pos: u32) -> u32 {
    return (b * p.len + pos) * 3u * p.width4 + h * DH4;
}

@compute @workgroup_size(WG)
fn attention(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.batch * p.heads * p.len) { return; }
    let i = t % p.len;
    let h = (t / p.len) % p.heads;
    let b = t / (p.len * p.heads);
    let qb = in_base(b, h, i);
    let ob = out_base(b, h, i);
    var qi: array<vec4<f32>, DH4>;
    var acc: array<vec4<f32>, DH4>;
    for (var d = 0u; d < DH4; d++) {
        qi[d] = qkv[qb + d] * p.scale;
        acc[d] = vec4<f32>(0.0);
    }
    var m = -3.0e38;
    var l = 0.0;
    let jend = select(p.len, i + 1u, p.causal != 0u);
    for (var j = 0u; j < jend; j++) {
        let kb = in_base(b, h, j) + p.width4;
        let vb = kb + p.width4;
        var s = 0.0;
        for (var d = 0u; d < DH4; d++) { s += dot(qi[d], qkv[kb + d]); }
        let m_new = max(m, s);
        let corr = exp(m - m_new);
        let e = exp(s - m_new);
        l = l * corr + e;
        for (var d = 0u; d < DH4; d++) { acc[d] = acc[d] * corr + e * qkv[vb + d]; }
        m = m_new;
    }
    let inv_l = 1.0 / l;
    for (var d = 0u; d < DH4; d++) { o[ob + d] = acc[d] * inv_l; }
    lse[t] = m + log(l);
}

// Pass 1: one invocation per query row: D_i and dQ_i.
@compute @workgroup_size(WG)
fn attention_backward_q(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.batch * p.heads * p.len) { return; }
    let i = t % p.len;
    let h = (t / p.len) % p.heads;
    let b = t / (p.len * p.heads);
    let qb = in_base(b, h, i);
    let ob = out_base(b, h, i);
    var qi: array<vec4<f32>, DH4>;
    var doi: array<vec4<f32>, DH4>;
    var acc: array<vec4<f32>, DH4>;
    var di = 0.0;
    for (var d = 0u; d < DH4; d++) {
        qi[d] = qkv[qb + d] * p.scale;
        doi[d] = d_o[ob + d];
        acc[d] = vec4<f32>(0.0);
        di += dot(doi[d], o[ob + d]);
    }
    delta[t] = di;
    let lse_i = lse[t];
    let jend = select(p.len, i + 1u, p.causal != 0u);
    for (var j = 0u; j < jend; j++) {
        let kb = in_base(b, h, j) + p.width4;
        let vb = kb + p.width4;
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < DH4; d++) {
            s += dot(qi[d], qkv[kb + d]);
            dp += dot(doi[d], qkv[vb + d]);
        }
        let ds = exp(s - lse_i) * (dp - di);
        for (var d = 0u; d < DH4; d++) { acc[d] += ds * qkv[kb + d]; }
    }
    for (var d = 0u; d < DH4; d++) { dqkv[qb + d] = acc[d] * p.scale; }
}

// Pass 2: one invocation per key row: dK_j and dV_j (needs pass 1's D).
@compute @workgroup_size(WG)
fn attention_backward_kv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.batch * p.heads * p.len) { return; }
    let j = t % p.len;
    let h = (t / p.len) % p.heads;
    let b = t / (p.len * p.heads);
    let kb = in_base(b, h, j) + p.width4;
    let vb = kb + p.width4;
    let stats = (b * p.heads + h) * p.len;
    var kj: array<vec4<f32>, DH4>;
    var vj: array<vec4<f32>, DH4>;
    var acc_k: array<vec4<f32>, DH4>;
    var acc_v: array<vec4<f32>, DH4>;
    for (var d = 0u; d < DH4; d++) {
        kj[d] = qkv[kb + d] * p.scale;
        vj[d] = qkv[vb + d];
        acc_k[d] = vec4<f32>(0.0);
        acc_v[d] = vec4<f32>(0.0);
    }
    let istart = select(0u, j, p.causal != 0u);
    for (var i = istart; i < p.len; i++) {
        let qb = in_base(b, h, i);
        let ob = out_base(b, h, i);
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < DH4; d++) {
            s += dot(qkv[qb + d], kj[d]);
            dp += dot(d_o[ob + d], vj[d]);
        }
        let pij = exp(s - lse[stats + i]);
        let ds = pij * (dp - delta[stats + i]);
        for (var d = 0u; d < DH4; d++) {
            acc_v[d] += pij * d_o[ob + d];
            acc_k[d] += ds * qkv[qb + d];
        }
    }
    for (var d = 0u; d < DH4; d++) {
        dqkv[kb + d] = acc_k[d] * p.scale;
        dqkv[vb + d] = acc_v[d];
    }
}
