//! Diagnostic: what WGSL compute code reaches on this adapter, to tell how
//! far the engine's matmuls are from it (issue 11's levers).
//!
//! 1. **Arithmetic ceiling**: a loop whose body updates `ACC` vec4
//!    accumulators with `CHAIN` chained `fma`s each, reading nothing from
//!    memory: GFLOP/s per (accumulators, chain, workgroup size).
//! 2. **Matmuls**: the engine's product (`Ctx::matmul`, staging copies
//!    included) against a kernel that shares its loads across the SIMD group
//!    with `subgroupBroadcast` (workgroups of 8 invocations, each owning 4
//!    columns per column vector; the rows of A are loaded one per
//!    invocation and broadcast), for C[M, N] = A[M, K] B[K, N].
//!
//! Run it on an idle machine: `cargo run --release --example lavapipe_ceiling`
//! (`M=2560` for the interpreter's row count; the subgroup kernel needs an
//! adapter whose subgroups are 8 invocations, as lavapipe's are).
use std::fmt::Write as _;

use nli_wgpu::Ctx;
use nli_wgpu::gpu::{Bindings, DeviceOptions};

/// Parts 1 and 1b's kernel: `iters` loop iterations of `acc` accumulators,
/// `chain` chained fmas per accumulator per iteration, plus `loads` vec4
/// reads per iteration at addresses that differ per invocation (from a
/// storage buffer, or a staging texture with `texture`); read f feeds
/// accumulator f's multiplier, so none can be dropped. Addresses wrap at
/// `p.len` vec4s.
fn loop_kernel(acc: usize, chain: usize, workgroup: u32, loads: usize, texture: bool) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "struct Params {{ iters: u32, len: u32, b: u32, c: u32 }}\n\
         @group(0) @binding(0) var<uniform> p: Params;"
    );
    if texture {
        let row = nli_wgpu::gpu::TEXTURE_ROW;
        let _ = writeln!(
            w,
            "@group(0) @binding(1) var src: texture_2d<f32>;\n\
             fn load(i: u32) -> vec4<f32> {{ return textureLoad(src, vec2<u32>(i % {row}u, i / {row}u), 0); }}"
        );
    } else {
        let _ = writeln!(
            w,
            "@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;\n\
             fn load(i: u32) -> vec4<f32> {{ return src[i]; }}"
        );
    }
    let _ = writeln!(
        w,
        "@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;\n\
         @compute @workgroup_size({workgroup})\n\
         fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{\n  \
           let x = load(gid.x % p.len);\n  let y = load((gid.x + 1u) % p.len);"
    );
    for a in 0..acc {
        let _ = writeln!(w, "  var c{a} = load((gid.x + {a}u) % p.len);");
    }
    let _ = writeln!(w, "  for (var l = 0u; l < p.iters; l++) {{");
    for f in 0..loads {
        let _ = writeln!(
            w,
            "    let t{f} = load((gid.x * 37u + l * {loads}u + {f}u) % p.len);"
        );
    }
    for a in 0..acc {
        let mul = if a < loads {
            format!("t{a}")
        } else {
            "x".into()
        };
        let mut e = format!("c{a}");
        for _ in 0..chain {
            e = format!("fma({e}, {mul}, y)");
        }
        let _ = writeln!(w, "    c{a} = {e};");
    }
    let sum: Vec<String> = (0..acc).map(|a| format!("c{a}")).collect();
    let _ = writeln!(w, "  }}\n  out[gid.x] = {};\n}}", sum.join(" + "));
    s
}

/// Part 2's kernel: A and B read through staging textures (texel i at
/// (i % 256, i / 256)); a workgroup of 8 owns `rows` rows and `cv` x 32
/// columns of C.
fn subgroup_matmul_kernel(rows: usize, cv: usize) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "struct Params {{ m: u32, n: u32, k: u32, pad: u32 }}\n\
         @group(0) @binding(0) var<uniform> p: Params;\n\
         @group(0) @binding(1) var lhs: texture_2d<f32>;\n\
         fn la(i: u32) -> vec4<f32> {{ return textureLoad(lhs, vec2<u32>(i % 256u, i / 256u), 0); }}\n\
         @group(0) @binding(2) var rhs: texture_2d<f32>;\n\
         fn lb(i: u32) -> vec4<f32> {{ return textureLoad(rhs, vec2<u32>(i % 256u, i / 256u), 0); }}\n\
         @group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;\n\
         @compute @workgroup_size(8)\n\
         fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {{\n  \
           let i0 = wg.x * {rows}u;\n  let j0 = wg.y * {}u;\n  let k4 = p.k / 4u;\n  let n4 = p.n / 4u;",
        32 * cv
    );
    for q in 0..rows.div_ceil(8) {
        let _ = writeln!(
            w,
            "  let arow{q} = min(i0 + {}u + lane, p.m - 1u) * k4;",
            q * 8
        );
    }
    for c in 0..cv {
        let _ = writeln!(
            w,
            "  let bcol{c} = min(j0 / 4u + {}u + lane, n4 - 1u);",
            c * 8
        );
    }
    for r in 0..rows {
        for c in 0..cv {
            let _ = writeln!(w, "  var c{r}_{c} = vec4<f32>(0.0);");
        }
    }
    let _ = writeln!(w, "  for (var l = 0u; l < k4; l++) {{");
    for q in 0..rows.div_ceil(8) {
        let _ = writeln!(w, "    let at{q} = la(arow{q} + l);");
    }
    for kk in 0..4 {
        for c in 0..cv {
            let _ = writeln!(
                w,
                "    let b{kk}_{c} = lb((l * 4u + {kk}u) * n4 + bcol{c});"
            );
        }
    }
    for r in 0..rows {
        for (kk, comp) in ["x", "y", "z", "w"].iter().enumerate() {
            let _ = writeln!(
                w,
                "    let a{r}_{kk} = subgroupBroadcast(at{}.{comp}, {}u);",
                r / 8,
                r % 8
            );
            for c in 0..cv {
                let _ = writeln!(
                    w,
                    "    c{r}_{c} = fma(vec4<f32>(a{r}_{kk}), b{kk}_{c}, c{r}_{c});"
                );
            }
        }
    }
    let _ = writeln!(w, "  }}");
    for r in 0..rows {
        for c in 0..cv {
            let col = format!("j0 / 4u + {}u + lane", c * 8);
            let _ = writeln!(
                w,
                "  if (i0 + {r}u < p.m && {col} < n4) {{ out[(i0 + {r}u) * n4 + {col}] = c{r}_{c}; }}"
            );
        }
    }
    let _ = writeln!(w, "}}");
    s
}

fn main() {
    let ctx = Ctx::new(&DeviceOptions::default()).expect("a GPU adapter");
    println!("adapter: {}", ctx.gpu.summary.name);
    let _no_grad = ctx.no_grad();

    println!("1. arithmetic ceiling (no memory reads in the loop)");
    let src = ctx.tensor(&[0.5f32; 256], &[256]);
    let (invocations, iters) = (8192usize, 256u32);
    for (acc, chain, wg) in [
        (4, 1, 8),
        (4, 4, 8),
        (4, 16, 8),
        (16, 1, 8),
        (16, 4, 8),
        (16, 4, 64),
        (16, 16, 8),
    ] {
        let name = format!("ceiling_alu_{acc}_{chain}_{wg}");
        let kernel = ctx
            .gpu
            .generated_kernel(&name, "main", || loop_kernel(acc, chain, wg, 0, false));
        let out = ctx.gpu.alloc((invocations * 16) as u64);
        // `src` holds 64 vec4s.
        let params = [iters, 64, 0, 0];
        let groups = [(invocations as u32).div_ceil(wg), 1, 1];
        let run = || {
            ctx.gpu
                .dispatch(&kernel, &params, &[(1, src.storage()), (3, &out)], groups)
        };
        run();
        ctx.gpu.sync();
        let ns = ctx.gpu.time(5, run).best_ns();
        let flops = (invocations * acc * chain * 8) as f64 * iters as f64;
        println!(
            "  {acc:2} vec4 accumulators, {chain:2} fmas per write, workgroup {wg:2}: {:6.1} GFLOP/s",
            flops / ns
        );
    }

    println!(
        "1b. the same loop (16 accumulators, 4 fmas per write, workgroup 8) with vec4 reads \
         at per-invocation addresses: ms per 1000 iterations of 8192 invocations"
    );
    let len = 1usize << 16;
    let table = ctx.tensor(&vec![0.25f32; 4 * len], &[4 * len]);
    for loads in [0usize, 4, 16] {
        for texture in [false, true] {
            if loads == 0 && texture {
                continue;
            }
            let name = format!("ceiling_loads_{loads}_{texture}");
            let kernel = ctx
                .gpu
                .generated_kernel(&name, "main", || loop_kernel(16, 4, 8, loads, texture));
            let out = ctx.gpu.alloc((invocations * 16) as u64);
            let params = [iters, len as u32, 0, 0];
            let groups = [(invocations as u32).div_ceil(8), 1, 1];
            // Staged once: the timing holds the dispatches only.
            let view = texture.then(|| ctx.gpu.stage_texture(table.storage(), len, 0));
            let run = || {
                if let Some(view) = &view {
                    let bind = Bindings {
                        buffers: vec![(3, &out)],
                        textures: vec![(1, view.clone())],
                    };
                    ctx.gpu.dispatch_bound(&kernel, &params, &bind, groups);
                } else {
                    ctx.gpu
                        .dispatch(&kernel, &params, &[(1, table.storage()), (3, &out)], groups);
                }
            };
            run();
            ctx.gpu.sync();
            let ms = ctx.gpu.time(5, run).best_ns() / 1e6 * 1000.0 / iters as f64;
            println!(
                "  {loads:2} reads per iteration from {}: {ms:6.2} ms",
                if texture {
                    "a texture"
                } else {
                    "a storage buffer"
                }
            );
        }
    }

    let m: usize = std::env::var("M")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6656);
    // The kernel's workgroup of 8 must be one whole subgroup.
    let subgroups = ctx.gpu.summary.subgroup_size == Some(8);
    println!(
        "2. matmuls, {m} rows (engine: Ctx::matmul; subgroup kernel: {})",
        if subgroups {
            "loads shared by subgroupBroadcast"
        } else {
            "skipped, the adapter has no subgroups of 8"
        }
    );
    for (k, n) in [(64usize, 256usize), (64, 64), (256, 64)] {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104_729) % 89) as f32 / 89.0 - 0.5)
            .collect();
        let (a, b) = (ctx.tensor(&a, &[m, k]), ctx.tensor(&b, &[k, n]));
        let flops = 2.0 * (m * k * n) as f64;
        let reference = ctx.read(&ctx.matmul(&a, &b));
        let ns = ctx.gpu.time(5, || {
            let _ = ctx.matmul(&a, &b);
        });
        println!(
            "  {m}x{k} @ {k}x{n}: engine {:5.1} GFLOP/s",
            flops / ns.best_ns()
        );
        if !subgroups {
            continue;
        }
        for (rows, cv) in [(8, 1), (32, 1), (32, 2), (64, 2)] {
            if !n.is_multiple_of(32 * cv) {
                continue;
            }
            let name = format!("ceiling_subgroup_{rows}_{cv}");
            let kernel = ctx
                .gpu
                .generated_kernel(&name, "main", || subgroup_matmul_kernel(rows, cv));
            let out = ctx.gpu.alloc((m * n * 4) as u64);
            let groups = [m.div_ceil(rows) as u32, (n / (32 * cv)) as u32, 1];
            let params = [m as u32, n as u32, k as u32, 0];
            let run = || {
                let mut bind = Bindings::buffers(&[(3, &out)]);
                bind.operand(&ctx.gpu, true, 1, a.storage(), m * k / 4, 0)
                    .operand(&ctx.gpu, true, 2, b.storage(), k * n / 4, 1);
                ctx.gpu.dispatch_bound(&kernel, &params, &bind, groups);
            };
            run();
            let got = ctx.gpu.read_bytes(&[&out]);
            let got: &[f32] = bytemuck::cast_slice(&got[0]);
            let err = reference
                .iter()
                .zip(got)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            let ns = ctx.gpu.time(5, run).best_ns();
            println!(
                "    subgroup kernel, {rows:2} rows x {:3} columns per workgroup: {:5.1} GFLOP/s (max error {err:.1e})",
                32 * cv,
                flops / ns
            );
        }
    }
}
