//! WGSL of the fused attention kernels, generated per head size.
//!
//! Why generated: lavapipe (Mesa's llvmpipe) neither unrolls loops over
//! per-invocation arrays nor keeps such arrays in registers, and every
//! storage-buffer load costs a loop over the SIMD lanes. The kernels
//! therefore spell out every head-size component as its own variable, and
//! each invocation owns ROWS rows so that one load of a key or value row
//! serves ROWS query rows (and one query row serves ROWS key rows in the
//! backward pass).
//!
//! Layout: Q, K, V packed in one tensor [batch, len, 3 * width] (Q at
//! columns 0.., K at width.., V at 2 width..; head h owns columns
//! h*dh .. (h+1)*dh of each), O is [batch, len, width], all read as vec4.
//! The forward streams over the keys with an online softmax (nothing of size
//! len x len is stored) and saves each row's log-sum-exp.
//!
//! Backward, with P = softmax(S), S = scale * Q K^T, D_i = dO_i . O_i:
//!   dV_j = sum_i P_ij dO_i,   dP_ij = dO_i . V_j,   dS_ij = P_ij (dP_ij - D_i)
//!   dQ_i = scale * sum_j dS_ij K_j,   dK_j = scale * sum_i dS_ij Q_i
//! in two passes: per query block (D_i and dQ_i), then per key block (dK_j
//! and dV_j, which need every D_i).

use std::fmt::Write as _;

/// Rows owned by one invocation.
pub fn rows() -> u32 {
    std::env::var("NLI_ATTN_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(4)
}

const HEADER: &str = "
const WG: u32 = 64u;

struct Params {
    batch: u32,
    heads: u32,
    len: u32,
    causal: u32,
    scale: f32,
    width4: u32,   // vec4s per row of O; Q, K, V start at 0, width4, 2 width4 of a QKV row
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

// vec4 offset of head h at row pos of batch b in O (and dO).
fn out_base(b: u32, h: u32, pos: u32) -> u32 {
    return (b * p.len + pos) * p.width4 + h * DH4;
}

// vec4 offset of head h at row pos of batch b in the packed QKV
// (add width4 for K, 2 width4 for V).
fn in_base(b: u32, h: u32, pos: u32) -> u32 {
    return (b * p.len + pos) * 3u * p.width4 + h * DH4;
}
";

/// Common start of every entry point: which (batch, head, block of ROWS
/// rows) this invocation owns.
fn prologue(w: &mut String) {
    let rows = rows();
    let _ = writeln!(
        w,
        "    let t = flat(gid, nwg);
    let blocks = (p.len + {rows}u - 1u) / {rows}u;
    if (t >= p.batch * p.heads * blocks) {{ return; }}
    let r0 = (t % blocks) * {rows}u;
    let h = (t / blocks) % p.heads;
    let b = t / (blocks * p.heads);
    let stats = (b * p.heads + h) * p.len;"
    );
}

fn dot_sum(a: impl Fn(u32) -> String, b: impl Fn(u32) -> String, dh4: u32) -> String {
    (0..dh4).map(|d| format!("dot({}, {})", a(d), b(d))).collect::<Vec<_>>().join(" + ")
}

const ENTRY: &str = "@compute @workgroup_size(WG)\nfn {name}(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {";

fn entry(w: &mut String, name: &str) {
    w.push_str(&ENTRY.replace("{name}", name));
    w.push('\n');
}

/// The three entry points for head size `4 * dh4`.
pub fn attention_source(dh4: u32) -> String {
    let nrows = rows();
    let mut w = format!("const DH4: u32 = {dh4}u;\n{HEADER}\n");
    let rows = 0..nrows;

    // Forward: ROWS query rows, online softmax over the keys.
    entry(&mut w, "attention");
    prologue(&mut w);
    for r in rows.clone() {
        let _ = writeln!(w, "    let qb{r} = in_base(b, h, min(r0 + {r}u, p.len - 1u));");
        for d in 0..dh4 {
            let _ = writeln!(w, "    let q{r}_{d} = qkv[qb{r} + {d}u] * p.scale;");
            let _ = writeln!(w, "    var acc{r}_{d} = vec4<f32>(0.0);");
        }
        let _ = writeln!(w, "    var m{r} = -3.0e38;\n    var l{r} = 0.0;");
    }
    let _ = writeln!(
        w,
        "    let jend = select(p.len, min(r0 + {nrows}u, p.len), p.causal != 0u);
    for (var j = 0u; j < jend; j++) {{
        let kb = in_base(b, h, j) + p.width4;
        let vb = kb + p.width4;"
    );
    for d in 0..dh4 {
        let _ = writeln!(w, "        let k{d} = qkv[kb + {d}u];\n        let v{d} = qkv[vb + {d}u];");
    }
    for r in rows.clone() {
        let s = dot_sum(|d| format!("q{r}_{d}"), |d| format!("k{d}"), dh4);
        let _ = writeln!(
            w,
            "        if (p.causal == 0u || j <= r0 + {r}u) {{
            let s = {s};
            let m_new = max(m{r}, s);
            let corr = exp(m{r} - m_new);
            let e = exp(s - m_new);
            l{r} = l{r} * corr + e;
            m{r} = m_new;"
        );
        for d in 0..dh4 {
            let _ = writeln!(w, "            acc{r}_{d} = acc{r}_{d} * corr + e * v{d};");
        }
        w.push_str("        }\n");
    }
    w.push_str("    }\n");
    for r in rows.clone() {
        let _ = writeln!(
            w,
            "    if (r0 + {r}u < p.len) {{
        let ob = out_base(b, h, r0 + {r}u);
        let inv_l = 1.0 / l{r};"
        );
        for d in 0..dh4 {
            let _ = writeln!(w, "        o[ob + {d}u] = acc{r}_{d} * inv_l;");
        }
        let _ = writeln!(w, "        lse[stats + r0 + {r}u] = m{r} + log(l{r});\n    }}");
    }
    w.push_str("}\n\n");

    // Backward pass 1: ROWS query rows: D_i and dQ_i.
    entry(&mut w, "attention_backward_q");
    prologue(&mut w);
    for r in rows.clone() {
        let _ = writeln!(w, "    let i{r} = min(r0 + {r}u, p.len - 1u);");
        let _ = writeln!(w, "    let qb{r} = in_base(b, h, i{r});\n    let ob{r} = out_base(b, h, i{r});");
        for d in 0..dh4 {
            let _ = writeln!(w, "    let q{r}_{d} = qkv[qb{r} + {d}u] * p.scale;");
            let _ = writeln!(w, "    let do{r}_{d} = d_o[ob{r} + {d}u];");
            let _ = writeln!(w, "    var acc{r}_{d} = vec4<f32>(0.0);");
        }
        let di = dot_sum(|d| format!("do{r}_{d}"), |d| format!("o[ob{r} + {d}u]"), dh4);
        let _ = writeln!(w, "    let di{r} = {di};\n    let lse{r} = lse[stats + i{r}];");
        let _ = writeln!(w, "    if (r0 + {r}u < p.len) {{ delta[stats + r0 + {r}u] = di{r}; }}");
    }
    let _ = writeln!(
        w,
        "    let jend = select(p.len, min(r0 + {nrows}u, p.len), p.causal != 0u);
    for (var j = 0u; j < jend; j++) {{
        let kb = in_base(b, h, j) + p.width4;
        let vb = kb + p.width4;"
    );
    for d in 0..dh4 {
        let _ = writeln!(w, "        let k{d} = qkv[kb + {d}u];\n        let v{d} = qkv[vb + {d}u];");
    }
    for r in rows.clone() {
        let s = dot_sum(|d| format!("q{r}_{d}"), |d| format!("k{d}"), dh4);
        let dp = dot_sum(|d| format!("do{r}_{d}"), |d| format!("v{d}"), dh4);
        let _ = writeln!(
            w,
            "        if (p.causal == 0u || j <= r0 + {r}u) {{
            let ds = exp({s} - lse{r}) * ({dp} - di{r});"
        );
        for d in 0..dh4 {
            let _ = writeln!(w, "            acc{r}_{d} += ds * k{d};");
        }
        w.push_str("        }\n");
    }
    w.push_str("    }\n");
    for r in rows.clone() {
        let _ = writeln!(w, "    if (r0 + {r}u < p.len) {{");
        for d in 0..dh4 {
            let _ = writeln!(w, "        dqkv[qb{r} + {d}u] = acc{r}_{d} * p.scale;");
        }
        w.push_str("    }\n");
    }
    w.push_str("}\n\n");

    // Backward pass 2: ROWS key rows: dK_j and dV_j.
    entry(&mut w, "attention_backward_kv");
    prologue(&mut w);
    for r in rows.clone() {
        let _ = writeln!(w, "    let kb{r} = in_base(b, h, min(r0 + {r}u, p.len - 1u)) + p.width4;");
        let _ = writeln!(w, "    let vb{r} = kb{r} + p.width4;");
        for d in 0..dh4 {
            let _ = writeln!(w, "    let k{r}_{d} = qkv[kb{r} + {d}u] * p.scale;");
            let _ = writeln!(w, "    let v{r}_{d} = qkv[vb{r} + {d}u];");
            let _ = writeln!(w, "    var acck{r}_{d} = vec4<f32>(0.0);\n    var accv{r}_{d} = vec4<f32>(0.0);");
        }
    }
    let _ = writeln!(
        w,
        "    let istart = select(0u, r0, p.causal != 0u);
    for (var i = istart; i < p.len; i++) {{
        let qb = in_base(b, h, i);
        let ob = out_base(b, h, i);
        let lse_i = lse[stats + i];
        let di = delta[stats + i];"
    );
    for d in 0..dh4 {
        let _ = writeln!(w, "        let q{d} = qkv[qb + {d}u];\n        let do{d} = d_o[ob + {d}u];");
    }
    for r in rows.clone() {
        let s = dot_sum(|d| format!("q{d}"), |d| format!("k{r}_{d}"), dh4);
        let dp = dot_sum(|d| format!("do{d}"), |d| format!("v{r}_{d}"), dh4);
        let _ = writeln!(
            w,
            "        if (p.causal == 0u || i >= r0 + {r}u) {{
            let pij = exp({s} - lse_i);
            let ds = pij * ({dp} - di);"
        );
        for d in 0..dh4 {
            let _ = writeln!(w, "            accv{r}_{d} += pij * do{d};\n            acck{r}_{d} += ds * q{d};");
        }
        w.push_str("        }\n");
    }
    w.push_str("    }\n");
    for r in rows {
        let _ = writeln!(w, "    if (r0 + {r}u < p.len) {{");
        for d in 0..dh4 {
            let _ = writeln!(w, "        dqkv[kb{r} + {d}u] = acck{r}_{d} * p.scale;");
            let _ = writeln!(w, "        dqkv[vb{r} + {d}u] = accv{r}_{d};");
        }
        w.push_str("    }\n");
    }
    w.push_str("}\n");
    w
}
