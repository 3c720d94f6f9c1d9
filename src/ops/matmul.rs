//! Batched matrix products with transpose options, and linear layers on them.
//! Kernels: register-blocked kernels generated for the operand layouts
//! ([`BlockKernel`]), with `shaders/matmul.wgsl` as the general strided
//! fallback and for the split-k sum. Operands are strided views, so
//! transposes and the backward products are strides, never copies.
//!
//! Backward (C = A' B', A' = op(A), B' = op(B)): dA' = dC B'^T and
//! dB' = A'^T dC; when A or B is stored transposed the product is taken in the
//! other order so that the gradient comes out in A's (B's) own layout. When B
//! is shared by the whole batch (a weight), the batch is folded into A's rows:
//! one 2-D product, whose dB sums over the batch by itself.
//!
//! Why generated kernels: on lavapipe (Vulkan on the CPU) each invocation is
//! one SIMD lane and every storage-buffer load is a loop over the lanes, so
//! the time goes into loads unless each invocation holds a large block of C
//! in registers (32x32 there) and loads vec4s; the block must be fully
//! unrolled in the source (lavapipe does not unroll loops over register
//! arrays), so its WGSL is written out for the block size and the operand
//! layouts of each product. On GPUs the same kernel runs with small blocks.
//! Stores cost as much as loads there, so `linear` adds its bias in the
//! matmul's stores instead of in a second pass over the output.

use std::fmt::Write as _;

use crate::ctx::Ctx;
use crate::gpu::{Bindings, Storage, TextureOperands};
use crate::tensor::Tensor;

/// What a product adds to its output as it stores it.
#[derive(Clone, Copy, Default)]
pub(crate) struct Epilogue<'a> {
    /// One value per output column (a linear layer's bias).
    pub bias: Option<&'a Storage>,
    /// One value per output element (a residual connection).
    pub residual: Option<&'a Storage>,
    /// GELU on the sum (see [`GeluEpilogue`]), with `act` its second
    /// buffer (laid out like C): where `Keep` puts GELU of the sum, and
    /// the pre-activation whose GELU derivative `Grad` multiplies by.
    pub gelu: GeluEpilogue,
    pub act: Option<&'a Storage>,
    /// An output beside C (batch 1 only): R summed over k, one value per
    /// column of C. With R = dY this is a linear layer's bias gradient, read
    /// from the loads of its weight gradient instead of a pass of its own.
    pub column_sums: Option<&'a Storage>,
    /// Added to `column_sums` as they are written (a bias's gradient
    /// accumulated so far: [`Ctx::take_grad_acc`]).
    pub column_sums_acc: Option<&'a Storage>,
}

/// GELU (tanh approximation) in a product's stores: the MLP's first layer
/// and its gradient ([`crate::ops::mlp`]), without a pass of their own over
/// the MLP's hidden layer (the widest activation of a block).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GeluEpilogue {
    /// C as it is.
    #[default]
    None,
    /// GELU(C) (a forward pass that keeps nothing for a backward).
    Apply,
    /// C, and GELU(C) into the second buffer (binding 7): the
    /// pre-activation and the activation, both kept for the backward.
    Keep,
    /// C * GELU'(a), a read from the second buffer (binding 7): the
    /// gradient of the pre-activation a from that of the activation.
    Grad,
}

impl GeluEpilogue {
    fn tag(self) -> &'static str {
        match self {
            GeluEpilogue::None => "",
            GeluEpilogue::Apply => "_ga",
            GeluEpilogue::Keep => "_gk",
            GeluEpilogue::Grad => "_gg",
        }
    }
}

/// A matrix operand: element (z, row, col) at
/// `z * batch + row * row_stride + col * col_stride`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub s: &'a Storage,
    pub batch: usize,
    pub row: usize,
    pub col: usize,
}

impl<'a> View<'a> {
    /// A contiguous row-major `rows` x `cols` matrix (batch 1).
    pub fn matrix(s: &'a Storage, rows: usize, cols: usize) -> View<'a> {
        View {
            s,
            batch: rows * cols,
            row: cols,
            col: 1,
        }
    }

    pub fn t(self) -> View<'a> {
        View {
            row: self.col,
            col: self.row,
            ..self
        }
    }
}

/// How a [`BlockKernel`] reads one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Load {
    /// vec4 of 4 consecutive k (the operand is contiguous along k).
    AlongK,
    /// vec4 of 4 consecutive rows of L, or columns of R, at one k.
    AlongFree,
    /// One scalar per element: any strides.
    Scalar,
}

impl Load {
    fn tag(self) -> &'static str {
        match self {
            Load::AlongK => "k",
            Load::AlongFree => "f",
            Load::Scalar => "s",
        }
    }
}

/// A matmul kernel in which each invocation computes a `rows` x `cols`
/// block of C (both multiples of 4) held in vec4 registers, for given load
/// modes of L and R. Invocation x enumerates (row block, k slice), y the
/// column blocks, z the batch. With split-k each slice of the contraction
/// writes its own partial C, summed by `matmul.wgsl:split_sum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockKernel {
    pub rows: u32,
    pub cols: u32,
    pub lhs: Load,
    pub rhs: Load,
    /// Store C as vec4 (needs n % 4 == 0).
    pub vec4_store: bool,
    /// Add `bias[j]` to C[z, i, j] (binding 4, vec4s when `vec4_store`):
    /// the bias of a linear layer, fused into the stores.
    pub bias: bool,
    /// Add `res[z, i, j]` (binding 5, laid out like C): a residual
    /// connection, fused into the stores.
    pub residual: bool,
    /// Invocations per workgroup (along x).
    pub workgroup: u32,
    /// Read L (R) through a `texture_2d<f32>` of vec4 texels at binding 1
    /// (2) instead of a storage buffer: texel i at (i % 256, i / 256), filled
    /// by [`crate::gpu::Gpu::stage_texture`]. Needs vec4 loads of it.
    pub lhs_texture: bool,
    pub rhs_texture: bool,
    /// Also write R summed over this invocation's k slice, per column, to
    /// binding 6 (`[splits, n]`, vec4s when `vec4_store`; stored by the
    /// invocations of the first row block): see [`Epilogue`].
    pub column_sums: bool,
    /// Share the reads of R across each subgroup of 8 invocations (which
    /// own the same columns and k slice, so read the same R): each reads an
    /// eighth of the step's R vec4s and takes the others from its
    /// neighbours with `subgroupBroadcast`. Needs vec4 loads of R, `cols` a
    /// multiple of 8, a workgroup of whole subgroups of 8, and an adapter
    /// with subgroup operations at that size ([`crate::gpu::Gpu::shared_rhs`]).
    /// The row blocks of each k slice are padded to whole workgroups so that
    /// a subgroup never straddles two slices.
    pub shared_rhs: bool,
    /// GELU in the stores (binding 7 for its second buffer); not with
    /// split-k (it applies to the sum of the slices).
    pub gelu: GeluEpilogue,
}

/// Words of the `Params` uniform shared by every matmul kernel.
const PARAMS: &str = "struct Params {
    m: u32, n: u32, k: u32, batch: u32,
    l_batch: u32, l_row: u32, l_col: u32,
    r_batch: u32, r_row: u32, r_col: u32,
    // k slices (split-k) and the length of each (a multiple of 4).
    splits: u32, k_split: u32,
}
";

impl BlockKernel {
    /// Identifies the generated source.
    pub fn name(&self) -> String {
        format!(
            "matmul_block_{}x{}_{}{}_{}{}{}{}{}{}{}{}_wg{}",
            self.rows,
            self.cols,
            self.lhs.tag(),
            self.rhs.tag(),
            if self.vec4_store { "v4" } else { "s" },
            if self.bias { "_bias" } else { "" },
            if self.residual { "_res" } else { "" },
            if self.lhs_texture { "_tl" } else { "" },
            if self.rhs_texture { "_tr" } else { "" },
            if self.column_sums { "_cs" } else { "" },
            if self.shared_rhs { "_sr" } else { "" },
            self.gelu.tag(),
            self.workgroup
        )
    }

    /// The WGSL of the kernel, entry point `matmul_block`.
    pub fn wgsl(&self) -> String {
        assert!(
            (!self.lhs_texture || self.lhs != Load::Scalar)
                && (!self.rhs_texture || self.rhs != Load::Scalar),
            "texture operands need vec4 loads: {self:?}"
        );
        assert!(
            self.rows.is_multiple_of(4)
                && self.cols.is_multiple_of(4)
                && self.rows > 0
                && self.cols > 0,
            "block sizes must be positive multiples of 4: {self:?}"
        );
        assert!(
            !self.shared_rhs
                || (self.rhs != Load::Scalar
                    && self.cols.is_multiple_of(8)
                    && self.workgroup.is_multiple_of(8)),
            "shared R reads need vec4 loads of R, 8 | cols and 8 | workgroup: {self:?}"
        );
        let (bm, bn) = (self.rows, self.cols);
        let elem = |vec4: bool| if vec4 { "vec4<f32>" } else { "f32" };
        let mut s = String::new();
        let w = &mut s;
        // `write!` into a String cannot fail.
        let _ = writeln!(
            w,
            "// Generated by nli_wgpu::ops::matmul::BlockKernel ({}): a {bm}x{bn} block of C per invocation.",
            self.name()
        );
        w.push_str(PARAMS);
        let _ = writeln!(w, "@group(0) @binding(0) var<uniform> p: Params;");
        // Each operand is read through `load_lhs(i)` (`load_rhs(i)`): element
        // i of a storage buffer, or texel i of a staging texture, at (i %
        // TEXTURE_ROW, i / TEXTURE_ROW).
        for (var, binding, load, texture) in [
            ("lhs", 1, self.lhs, self.lhs_texture),
            ("rhs", 2, self.rhs, self.rhs_texture),
        ] {
            let e = elem(load != Load::Scalar);
            w.push_str(&crate::gpu::shaders::read_operand(var, binding, e, texture));
        }
        let _ = writeln!(
            w,
            "@group(0) @binding(3) var<storage, read_write> out: array<{}>;\n",
            elem(self.vec4_store)
        );
        if self.bias {
            let _ = writeln!(
                w,
                "@group(0) @binding(4) var<storage, read> bias: array<{}>;\n",
                elem(self.vec4_store)
            );
        }
        if self.column_sums {
            let _ = writeln!(
                w,
                "@group(0) @binding(6) var<storage, read_write> colsum: array<{}>;\n",
                elem(self.vec4_store)
            );
        }
        if self.residual {
            let _ = writeln!(
                w,
                "@group(0) @binding(5) var<storage, read> res: array<{}>;\n",
                elem(self.vec4_store)
            );
        }
        if self.gelu != GeluEpilogue::None {
            write_gelu_functions(w, elem(self.vec4_store));
        }
        match self.gelu {
            GeluEpilogue::Keep => {
                let _ = writeln!(
                    w,
                    "@group(0) @binding(7) var<storage, read_write> act: array<{}>;\n",
                    elem(self.vec4_store)
                );
            }
            GeluEpilogue::Grad => {
                let _ = writeln!(
                    w,
                    "@group(0) @binding(7) var<storage, read> act: array<{}>;\n",
                    elem(self.vec4_store)
                );
            }
            GeluEpilogue::None | GeluEpilogue::Apply => {}
        }
        let _ = writeln!(
            w,
            "@compute @workgroup_size({}, 1, 1)\n\
             fn matmul_block(@builtin(global_invocation_id) gid: vec3<u32>{}) {{",
            self.workgroup,
            if self.shared_rhs {
                ", @builtin(subgroup_invocation_id) sl: u32"
            } else {
                ""
            }
        );
        // Which block and k slice this invocation owns. Loads use indices
        // clamped into the matrices; only the stores are skipped outside.
        // With shared R reads the row blocks of a slice are padded to whole
        // workgroups (the padding's blocks lie past the last row).
        let padded = if self.shared_rhs {
            format!(
                "(row_blocks + {wg}u) / {}u * {}u",
                self.workgroup,
                self.workgroup,
                wg = self.workgroup - 1
            )
        } else {
            "row_blocks".into()
        };
        let _ = writeln!(
            w,
            "  let row_blocks = (p.m + {}u) / {bm}u;\n  \
               let slice_blocks = {padded};\n  \
               let slice = gid.x / slice_blocks;\n  \
               let i0 = (gid.x % slice_blocks) * {bm}u;\n  \
               let j0 = gid.y * {bn}u;\n  \
               let z = gid.z;\n  \
               let k0 = min(slice * p.k_split, p.k);\n  \
               let k1 = min(k0 + p.k_split, p.k);\n  \
               let lb = z * p.l_batch;\n  \
               let rb = z * p.r_batch;",
            bm - 1
        );
        // Per-row (per row group) and per-column offsets into the operands.
        let lhs = OperandNames {
            var: "a",
            base: "lb",
            first: "i0",
            size: "p.m",
            free_stride: "p.l_row",
            k_stride: "p.l_col",
            k_stride4: "l_col4",
        };
        let rhs = OperandNames {
            var: "b",
            base: "rb",
            first: "j0",
            size: "p.n",
            free_stride: "p.r_col",
            k_stride: "p.r_row",
            k_stride4: "r_row4",
        };
        write_operand_offsets(w, self.lhs, &lhs, bm);
        write_operand_offsets(w, self.rhs, &rhs, bn);
        if self.shared_rhs {
            // The R vec4s this invocation reads for the subgroup: number
            // 8 j + sl of each step's bn (see `step`).
            for j in 0..bn / 8 {
                let _ = match self.rhs {
                    Load::AlongFree => writeln!(
                        w,
                        "  let sb{j} = (rb + min(j0 + 4u * ({}u + sl / 4u), p.n - 4u)) / 4u;",
                        2 * j
                    ),
                    _ => writeln!(
                        w,
                        "  let sb{j} = (rb + min(j0 + {}u + sl, p.n - 1u) * p.r_col) / 4u;",
                        8 * j
                    ),
                };
            }
            let _ = writeln!(w, "  let sq = sl % 4u;");
        }
        for r in 0..bm {
            for g in 0..bn / 4 {
                let _ = writeln!(w, "  var c{r}_{g} = vec4<f32>(0.0);");
            }
        }
        if self.column_sums {
            for g in 0..bn / 4 {
                let _ = writeln!(w, "  var s{g} = vec4<f32>(0.0);");
            }
        }
        // Main loop: 4 k per iteration. An operand read along k needs
        // k % 4 == 0 and slices of a multiple of 4 (checked by the caller),
        // so then the loop covers the whole slice.
        let _ = writeln!(w, "  for (var l = k0; l + 4u <= k1; l += 4u) {{");
        self.step(w, 4, self.shared_rhs);
        let _ = writeln!(w, "  }}");
        if self.lhs != Load::AlongK && self.rhs != Load::AlongK {
            let _ = writeln!(
                w,
                "  for (var l = k0 + (k1 - k0) / 4u * 4u; l < k1; l++) {{"
            );
            self.step(w, 1, false);
            let _ = writeln!(w, "  }}");
        }
        // Stores: C (or this slice's partial C) is contiguous [m, n].
        let _ = writeln!(w, "  if (slice >= p.splits) {{ return; }}");
        let _ = writeln!(w, "  let ob = (z * p.splits + slice) * p.m * p.n;");
        if self.column_sums {
            // One row block stores the slice's column sums (they are the
            // same in every row block).
            let _ = writeln!(
                w,
                "  if (i0 == 0u) {{\n    let so = (z * p.splits + slice) * p.n + j0;"
            );
            for g in 0..bn / 4 {
                if self.vec4_store {
                    let _ = writeln!(
                        w,
                        "    if (j0 + {}u < p.n) {{ colsum[so / 4u + {g}u] = s{g}; }}",
                        4 * g
                    );
                } else {
                    for e in 0..4 {
                        let _ = writeln!(
                            w,
                            "    if (j0 + {c}u < p.n) {{ colsum[so + {c}u] = s{g}.{}; }}",
                            XYZW[e as usize],
                            c = 4 * g + e
                        );
                    }
                }
            }
            let _ = writeln!(w, "  }}");
        }
        // What is stored for column group g of row r.
        let sum = |r: u32, g: u32| {
            if self.bias {
                format!("(c{r}_{g} + bias{g})")
            } else {
                format!("c{r}_{g}")
            }
        };
        if self.bias {
            // The bias of each column group, loaded once (clamped like R).
            for g in 0..bn / 4 {
                if self.vec4_store {
                    let _ = writeln!(
                        w,
                        "  let bias{g} = bias[min(j0 / 4u + {g}u, p.n / 4u - 1u)];"
                    );
                } else {
                    let cols: Vec<String> = (0..4)
                        .map(|e| format!("bias[min(j0 + {}u, p.n - 1u)]", 4 * g + e))
                        .collect();
                    let _ = writeln!(w, "  let bias{g} = vec4<f32>({});", cols.join(", "));
                }
            }
        }
        for r in 0..bm {
            let _ = writeln!(w, "  if (i0 + {r}u < p.m) {{");
            let _ = writeln!(w, "    let o = ob + (i0 + {r}u) * p.n + j0;");
            for g in 0..bn / 4 {
                if self.vec4_store {
                    let res = if self.residual {
                        format!(" + res[o / 4u + {g}u]")
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        w,
                        "    if (j0 + {}u < p.n) {{ {} }}",
                        4 * g,
                        self.store(&format!("o / 4u + {g}u"), &format!("{}{res}", sum(r, g)))
                    );
                } else {
                    for e in 0..4 {
                        let res = if self.residual {
                            format!(" + res[o + {}u]", 4 * g + e)
                        } else {
                            String::new()
                        };
                        let _ = writeln!(
                            w,
                            "    if (j0 + {}u < p.n) {{ {} }}",
                            4 * g + e,
                            self.store(
                                &format!("o + {}u", 4 * g + e),
                                &format!("{}.{}{res}", sum(r, g), XYZW[e as usize])
                            )
                        );
                    }
                }
            }
            let _ = writeln!(w, "  }}");
        }
        let _ = writeln!(w, "}}");
        s
    }

    /// The statements that store `value` (an expression) at index `at` of
    /// `out`, through the GELU epilogue.
    fn store(&self, at: &str, value: &str) -> String {
        match self.gelu {
            GeluEpilogue::None => format!("out[{at}] = {value};"),
            GeluEpilogue::Apply => format!("out[{at}] = gelu({value});"),
            GeluEpilogue::Keep => {
                format!("let v = {value}; out[{at}] = v; act[{at}] = gelu(v);")
            }
            GeluEpilogue::Grad => format!("out[{at}] = ({value}) * gelu_grad(act[{at}]);"),
        }
    }

    /// The body of one loop iteration over `steps` (4 or 1) values of k
    /// starting at `l`: load the L block, then for each group of 4 columns
    /// load R and update that column group of every row. Going column group
    /// by column group keeps few R values live (the accumulators already
    /// take more registers than there are).
    /// With `share` (4 steps), R's bn vec4s of the step are read an eighth
    /// per invocation (vec4 8 j + sl into `rt{j}`) and handed round the
    /// subgroup: vec4 t is column group t / 4 at k = l + t % 4 (along the
    /// free axis), or column t at k4 (along k).
    fn step(&self, w: &mut String, steps: u32, share: bool) {
        let bm = self.rows;
        match self.lhs {
            Load::AlongK => {
                let _ = writeln!(w, "    let l4 = l / 4u;");
                for r in 0..bm {
                    let _ = writeln!(w, "    let x{r} = load_lhs(a{r} + l4);");
                }
            }
            Load::AlongFree => {
                for q in 0..steps {
                    for g in 0..bm / 4 {
                        let _ = writeln!(
                            w,
                            "    let x{g}_{q} = load_lhs(a{g} + (l + {q}u) * l_col4);"
                        );
                    }
                }
            }
            Load::Scalar => {
                for q in 0..steps {
                    let _ = writeln!(w, "    let lo{q} = (l + {q}u) * p.l_col;");
                }
                for r in 0..bm {
                    let terms: Vec<String> = (0..4)
                        .map(|q| {
                            if q < steps {
                                format!("load_lhs(a{r} + lo{q})")
                            } else {
                                "0.0".into()
                            }
                        })
                        .collect();
                    let _ = writeln!(w, "    let x{r} = vec4<f32>({});", terms.join(", "));
                }
            }
        }
        // L value of row r at k = l + q.
        let lhs_at = |r: u32, q: u32| match self.lhs {
            Load::AlongK | Load::Scalar => format!("x{r}.{}", XYZW[q as usize]),
            Load::AlongFree => format!("x{}_{q}.{}", r / 4, XYZW[(r % 4) as usize]),
        };
        if self.rhs == Load::AlongK {
            let _ = writeln!(w, "    let k4 = l / 4u;");
        }
        if share {
            for j in 0..self.cols / 8 {
                let _ = match self.rhs {
                    Load::AlongFree => {
                        writeln!(w, "    let rt{j} = load_rhs(sb{j} + (l + sq) * r_row4);")
                    }
                    _ => writeln!(w, "    let rt{j} = load_rhs(sb{j} + k4);"),
                };
            }
        }
        let shared = |t: u32| format!("subgroupBroadcast(rt{}, {}u)", t / 8, t % 8);
        if self.rhs == Load::Scalar {
            for q in 0..steps {
                let _ = writeln!(w, "    let ro{q} = (l + {q}u) * p.r_row;");
            }
        }
        for g in 0..self.cols / 4 {
            let _ = writeln!(w, "    {{");
            // y{q}: R at k = l + q, columns 4g .. 4g + 3.
            match self.rhs {
                Load::AlongFree => {
                    for q in 0..steps {
                        let y = if share {
                            shared(4 * g + q)
                        } else {
                            format!("load_rhs(b{g} + (l + {q}u) * r_row4)")
                        };
                        let _ = writeln!(w, "      let y{q} = {y};");
                    }
                }
                Load::AlongK => {
                    for e in 0..4 {
                        let y = if share {
                            shared(4 * g + e)
                        } else {
                            format!("load_rhs(b{} + k4)", 4 * g + e)
                        };
                        let _ = writeln!(w, "      let w{e} = {y};");
                    }
                    for q in 0..steps {
                        let c = XYZW[q as usize];
                        let _ = writeln!(
                            w,
                            "      let y{q} = vec4<f32>(w0.{c}, w1.{c}, w2.{c}, w3.{c});"
                        );
                    }
                }
                Load::Scalar => {
                    for q in 0..steps {
                        let cols: Vec<String> = (0..4)
                            .map(|e| format!("load_rhs(b{} + ro{q})", 4 * g + e))
                            .collect();
                        let _ = writeln!(w, "      let y{q} = vec4<f32>({});", cols.join(", "));
                    }
                }
            }
            for r in 0..bm {
                let mut e = format!("c{r}_{g}");
                for q in 0..steps {
                    e = format!("fma(vec4<f32>({}), y{q}, {e})", lhs_at(r, q));
                }
                let _ = writeln!(w, "      c{r}_{g} = {e};");
            }
            if self.column_sums {
                let ys: Vec<String> = (0..steps).map(|q| format!("y{q}")).collect();
                let _ = writeln!(w, "      s{g} = s{g} + {};", ys.join(" + "));
            }
            let _ = writeln!(w, "    }}");
        }
    }
}

const XYZW: [&str; 4] = ["x", "y", "z", "w"];

/// `gelu` and `gelu_grad` on values of type `e` (f32 or vec4<f32>), the
/// same arithmetic as `shaders/elementwise.wgsl`'s `gelu` and
/// `gelu_backward`.
fn write_gelu_functions(w: &mut String, e: &str) {
    let _ = writeln!(
        w,
        "const GELU_C: f32 = 0.7978845608028654;\n\
         fn gelu_tanh(x: {e}) -> {e} {{\n  \
           let v = clamp(GELU_C * (x + 0.044715 * x * x * x), {e}(-15.0), {e}(15.0));\n  \
           let e = exp(2.0 * v);\n  \
           return (e - 1.0) / (e + 1.0);\n\
         }}\n\
         fn gelu(x: {e}) -> {e} {{ return 0.5 * x * (1.0 + gelu_tanh(x)); }}\n\
         fn gelu_grad(x: {e}) -> {e} {{\n  \
           let t = gelu_tanh(x);\n  \
           let dt = GELU_C * (1.0 + 3.0 * 0.044715 * x * x) * (1.0 - t * t);\n  \
           return 0.5 * (1.0 + t) + 0.5 * x * dt;\n\
         }}\n"
    );
}

fn round_up4(x: usize) -> usize {
    x.div_ceil(4) * 4
}

/// The load mode of L (m x k) for its strides.
fn lhs_load(l: &View, m: usize, k: usize) -> Load {
    let aligned = l.batch.is_multiple_of(4);
    if aligned && l.col == 1 && l.row.is_multiple_of(4) && k.is_multiple_of(4) {
        Load::AlongK
    } else if aligned && l.row == 1 && l.col.is_multiple_of(4) && m.is_multiple_of(4) {
        Load::AlongFree
    } else {
        Load::Scalar
    }
}

/// The load mode of R (k x n) for its strides.
fn rhs_load(r: &View, n: usize, k: usize) -> Load {
    let aligned = r.batch.is_multiple_of(4);
    if aligned && r.col == 1 && r.row.is_multiple_of(4) && n.is_multiple_of(4) {
        Load::AlongFree
    } else if aligned && r.row == 1 && r.col.is_multiple_of(4) && k.is_multiple_of(4) {
        Load::AlongK
    } else {
        Load::Scalar
    }
}

/// The smallest of 4, 8, .. `cap` (powers of two) holding `x`: few distinct
/// kernels, each compiled once.
fn block_size(x: usize, cap: u32) -> u32 {
    let mut b = 4;
    while b < cap && (b as usize) < x {
        b *= 2;
    }
    b
}

impl Ctx {
    /// C[z] = L[z] R[z] (L: m x k, R: k x n, C contiguous [batch, m, n])
    /// plus what `epi` adds to every C[z, i, j] (`bias[j]`, `bias`: n
    /// floats, and `res[z, i, j]`, laid out like C), and R summed
    /// over k into `epi.column_sums` (n floats) when the product runs a
    /// block kernel with batch 1: the bool says whether they were written
    /// (else the caller sums them itself). The GELU epilogue applies to the
    /// sum of all that, in the stores, or in a pass after a split-k sum or
    /// the general kernel.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn gemm_epilogue(
        &self,
        l: View,
        r: View,
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
        epi: Epilogue,
    ) -> (Storage, bool) {
        let bias = epi.bias;
        let out = self.alloc_f32(batch * m * n);
        if batch * m * n == 0 {
            return (out, false);
        }
        if k == 0 {
            self.gpu.clear(&out);
            return (self.apply_epilogue(out, epi, batch * m, n), false);
        }
        let (lhs, rhs) = (lhs_load(&l, m, k), rhs_load(&r, n, k));
        let macs = batch * m * n * k;
        // Neither operand can be read as vec4s: the general kernel, unless
        // the product is large enough for the larger blocks of a generated
        // kernel with scalar loads to pay for its compilation.
        if lhs == Load::Scalar && rhs == Load::Scalar && macs < 1 << 20 {
            self.gemm_strided(l, r, batch, m, n, k, &out);
            return (self.apply_epilogue(out, epi, batch * m, n), false);
        }
        // Lavapipe (a CPU adapter) wants large blocks: loads cost far more
        // than arithmetic there, and the registers spill to L1 cheaply. GPUs
        // want small ones (registers per thread are few, threads many).
        let cpu = self.gpu.summary.device_type == "Cpu";
        let cap = match (cpu, macs >= 1 << 24) {
            (true, true) => 32,
            // Smaller problems: blocks that compile fast (a 32x32 block takes
            // seconds to compile on lavapipe).
            (true, false) => 16,
            (false, _) => 8,
        };
        let cap = self.gpu.tuning().matmul_block.unwrap_or(cap);
        let rows = block_size(m, cap);
        let cols = block_size(n, cap);
        let row_blocks = m.div_ceil(rows as usize);
        let col_blocks = n.div_ceil(cols as usize);
        // Split-k when the blocks alone give too few invocations to fill the
        // device (e.g. dW = X^T dY: 64 x 64 outputs, k = thousands of rows).
        // (CPU: 64 invocations are 8 SIMD groups, 4 per core on 2 cores;
        // more slices only add partial sums.)
        let wanted = if cpu { 64 } else { 8192 };
        let blocks = row_blocks * col_blocks * batch;
        let min_slice = 128;
        let splits = if blocks >= wanted || k < 2 * min_slice {
            1
        } else {
            wanted.div_ceil(blocks).min(k / min_slice)
        };
        let k_split = round_up4(k.div_ceil(splits));
        let splits = k.div_ceil(k_split);
        // Operands read through textures (see Gpu::texture_operands): vec4
        // operands that fit a staging texture, in products large enough for
        // the copy to pay (each copy is a memcpy of the operand).
        let texels = |v: &View, rows_free: usize| {
            // vec4s from the start of the buffer to the operand's last one.
            (v.batch * (batch - 1) + v.row * (rows_free - 1) + v.col * (k - 1)) / 4 + 1
        };
        let use_texture = |load: Load, texels: usize, s: &Storage| {
            let wanted = match self.gpu.texture_operands() {
                TextureOperands::Off => false,
                TextureOperands::Large => macs >= 1 << 20,
                TextureOperands::All => true,
            };
            wanted
                && load != Load::Scalar
                && texels <= self.gpu.max_texture_texels()
                && texels as u64 * 16 <= s.buffer().size()
        };
        let (l_texels, r_texels) = (texels(&l, m), texels(&r.t(), n));
        let lhs_texture = use_texture(lhs, l_texels, l.s);
        let rhs_texture = use_texture(rhs, r_texels, r.s);
        let workgroup = if cpu { 16 } else { 64 };
        let cfg = BlockKernel {
            lhs_texture,
            rhs_texture,
            rows,
            cols,
            lhs,
            rhs,
            vec4_store: n.is_multiple_of(4),
            // With split-k the bias and the residual are added once, after
            // the slices' sum.
            bias: bias.is_some() && splits == 1,
            residual: epi.residual.is_some() && splits == 1,
            workgroup,
            column_sums: epi.column_sums.is_some() && batch == 1,
            gelu: if splits == 1 {
                epi.gelu
            } else {
                GeluEpilogue::None
            },
            // Shared R reads pad each slice's row blocks to whole
            // workgroups: only where that adds at most an eighth (products
            // with few rows, such as the dW products, would mostly pad).
            shared_rhs: self.gpu.shared_rhs()
                && rhs != Load::Scalar
                && cols.is_multiple_of(8)
                && row_blocks.next_multiple_of(workgroup as usize) * 8 <= row_blocks * 9,
        };
        let kernel = self
            .gpu
            .generated_kernel(&cfg.name(), "matmul_block", || cfg.wgsl());
        let params = [
            m, n, k, batch, l.batch, l.row, l.col, r.batch, r.row, r.col, splits, k_split,
        ]
        .map(|v| u32::try_from(v).expect("matmul sizes and strides must fit in u32"));
        // Each slice's row blocks padded to whole workgroups when R's reads
        // are shared (the kernel computes the same padding).
        let slice_blocks = if cfg.shared_rhs {
            row_blocks.next_multiple_of(cfg.workgroup as usize)
        } else {
            row_blocks
        };
        let groups = [
            (slice_blocks * splits).div_ceil(cfg.workgroup as usize) as u32,
            col_blocks as u32,
            batch as u32,
        ];
        // Operand bindings: storage buffers or staged textures.
        let mut bind = Bindings::default();
        bind.operand(&self.gpu, lhs_texture, 1, l.s, l_texels, 0)
            .operand(&self.gpu, rhs_texture, 2, r.s, r_texels, 1);
        // The column sums: straight into their output, or one row per k
        // slice, added up like C's slices.
        let sums = epi.column_sums.filter(|_| cfg.column_sums);
        // With an accumulator the sums go through split_sum_acc, one slice
        // or several.
        let sums_acc = epi.column_sums_acc.filter(|_| sums.is_some());
        let partial_sums = sums
            .filter(|_| splits > 1 || sums_acc.is_some())
            .map(|_| self.alloc_f32(splits * n));
        if let Some(s) = partial_sums.as_ref().or(sums) {
            bind.buffer(6, s);
        }
        let written = sums.is_some();
        if splits == 1 {
            bind.buffer(3, &out);
            if let Some(b) = bias {
                bind.buffer(4, b);
            }
            if let Some(res) = epi.residual {
                bind.buffer(5, res);
            }
            if matches!(epi.gelu, GeluEpilogue::Keep | GeluEpilogue::Grad) {
                bind.buffer(7, epi.act.expect("the GELU epilogue's second buffer"));
            }
            self.gpu.dispatch_bound(&kernel, &params, &bind, groups);
            self.sum_column_slices(&params, n, partial_sums.as_ref(), sums, sums_acc);
            return (out, written);
        }
        let partial = self.alloc_f32(batch * splits * m * n);
        bind.buffer(3, &partial);
        self.gpu.dispatch_bound(&kernel, &params, &bind, groups);
        // The residual (an accumulated gradient, say) in the slices' sum
        // when there is no bias to add before it.
        let fused_residual = epi.residual.filter(|_| bias.is_none());
        self.split_sum(&params, &partial, &out, fused_residual, batch * m * n);
        self.sum_column_slices(&params, n, partial_sums.as_ref(), sums, sums_acc);
        let rest = Epilogue {
            residual: epi.residual.filter(|_| fused_residual.is_none()),
            ..epi
        };
        (self.apply_epilogue(out, rest, batch * m, n), written)
    }

    /// The column sums of a block kernel written one row per k slice
    /// (`partial`, [splits, n]) summed into `sums`, plus `acc`: split_sum
    /// (or split_sum_acc) over a product of one row. Nothing when the
    /// kernel wrote `sums` itself (`partial` is `None`).
    fn sum_column_slices(
        &self,
        params: &[u32; 12],
        n: usize,
        partial: Option<&Storage>,
        sums: Option<&Storage>,
        acc: Option<&Storage>,
    ) {
        let (Some(partial), Some(sums)) = (partial, sums) else {
            return;
        };
        // [1, splits, 1, n] -> [n].
        let mut one_row = *params;
        (one_row[0], one_row[3]) = (1, 1);
        self.split_sum(&one_row, partial, sums, acc, n);
    }

    /// `out` (`elements` floats) = the sum of the k slices of `partial`
    /// under `params` (`matmul.wgsl:split_sum`), plus `acc` when given
    /// (`split_sum_acc`).
    fn split_sum(
        &self,
        params: &[u32; 12],
        partial: &Storage,
        out: &Storage,
        acc: Option<&Storage>,
        elements: usize,
    ) {
        let mut buffers = vec![(4, partial), (3, out)];
        buffers.extend(acc.map(|a| (6, a)));
        let entry = match acc {
            Some(_) => "split_sum_acc",
            None => "split_sum",
        };
        self.gpu.dispatch(
            &self.gpu.kernel("matmul", entry, &[]),
            params,
            &buffers,
            self.gpu.groups_1d(elements),
        );
    }

    /// C[z] = L[z] R[z] (L: m x k, R: k x n, C contiguous [batch, m, n]),
    /// plus `acc` (laid out like C) added as C is stored: a gradient product
    /// that takes over the gradient accumulated so far for the same tensor
    /// ([`Ctx::take_grad_acc`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn gemm_acc(
        &self,
        l: View,
        r: View,
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
        acc: Option<&Tensor>,
    ) -> Storage {
        let epi = Epilogue {
            residual: acc.map(|t| t.storage()),
            ..Epilogue::default()
        };
        self.gemm_epilogue(l, r, batch, m, n, k, epi).0
    }

    /// A weight's gradient `x^T dy` (k x n; x: `rows` x k, dy [rows, n])
    /// when `weight`, and its bias's gradient, dy's column sums, when
    /// `bias`: out of the weight gradient's product where its kernel gives
    /// them, else summed on their own.
    /// `accs`, the weight's and the bias's gradients accumulated so far,
    /// are added to the new ones (as they are stored, where the kernels
    /// can).
    pub(crate) fn weight_bias_grads(
        &self,
        x: View,
        dy: &Tensor,
        k: usize,
        weight: bool,
        bias: bool,
        accs: (Option<&Tensor>, Option<&Tensor>),
    ) -> (Option<Storage>, Option<Tensor>) {
        let (rows, n) = (dy.dim(0), dy.dim(1));
        let sums = bias.then(|| self.alloc_f32(n));
        let dw = weight.then(|| {
            let epi = Epilogue {
                column_sums: sums.as_ref(),
                column_sums_acc: accs.1.map(|t| t.storage()),
                residual: accs.0.map(|t| t.storage()),
                ..Epilogue::default()
            };
            let dyv = View::matrix(dy.storage(), rows, n);
            self.gemm_epilogue(x.t(), dyv, 1, k, n, rows, epi)
        });
        let db = sums.map(|s| match &dw {
            Some((_, true)) => self.wrap(&[n], s),
            _ => {
                let db = self.sum_axis(dy, 0);
                match accs.1 {
                    Some(acc) => self.add(acc, &db),
                    None => db,
                }
            }
        });
        (dw.map(|(s, _)| s), db)
    }

    /// C (`rows` x `n`) plus the bias and the residual of `epi`, then its
    /// GELU, for the paths that do not fuse them into the product's stores.
    fn apply_epilogue(&self, c: Storage, epi: Epilogue, rows: usize, n: usize) -> Storage {
        self.add_bias(&c, epi.bias, rows, n);
        let c = match epi.residual {
            None => c,
            Some(res) => self.add_storage(&c, res, rows * n),
        };
        let act = || epi.act.expect("the GELU epilogue's second buffer");
        match epi.gelu {
            GeluEpilogue::None => c,
            GeluEpilogue::Apply => self.gelu_storage(&c, rows * n),
            GeluEpilogue::Keep => {
                self.gelu_storage_into(&c, act(), rows * n);
                c
            }
            GeluEpilogue::Grad => self.gelu_backward_storage(act(), &c, rows * n),
        }
    }

    /// `c[i, j] += bias[j]` in place on `rows` x `n` floats, for the paths
    /// that do not fuse the bias into the product's stores.
    fn add_bias(&self, c: &Storage, bias: Option<&Storage>, rows: usize, n: usize) {
        let Some(bias) = bias else {
            return;
        };
        let kernel = self.gpu.kernel("matmul", "add_bias", &[]);
        let mut params = [0u32; 12];
        (params[0], params[1], params[3]) = (rows as u32, n as u32, 1);
        self.gpu.dispatch(
            &kernel,
            &params,
            &[(3, c), (5, bias)],
            self.gpu.groups_1d(rows * n),
        );
    }

    /// The general kernel of `shaders/matmul.wgsl`: any strides, scalar loads.
    #[allow(clippy::too_many_arguments)]
    fn gemm_strided(
        &self,
        l: View,
        r: View,
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
        out: &Storage,
    ) {
        let kernel = self.gpu.kernel("matmul", "matmul", &[]);
        let params = [
            m, n, k, batch, l.batch, l.row, l.col, r.batch, r.row, r.col, 1, k,
        ]
        .map(|v| u32::try_from(v).expect("matmul sizes and strides must fit in u32"));
        let groups = [n.div_ceil(32) as u32, m.div_ceil(32) as u32, batch as u32];
        self.gpu
            .dispatch(&kernel, &params, &[(1, l.s), (2, r.s), (3, out)], groups);
    }

    /// `a @ b` over the last two axes; leading axes are batch axes (equal for
    /// both), or `b` is 2-D and shared by the whole batch.
    pub fn matmul(&self, a: &Tensor, b: &Tensor) -> Tensor {
        self.matmul_t(a, b, false, false)
    }

    /// `op(a) @ op(b)` where `op` transposes the last two axes when asked.
    pub fn matmul_t(&self, a: &Tensor, b: &Tensor, trans_a: bool, trans_b: bool) -> Tensor {
        self.matmul_bias(a, b, trans_a, trans_b, None, None)
    }

    /// `op(a) @ op(b) (+ bias) (+ residual)`, `bias` of shape [n] added to
    /// every row, `residual` of the output's shape.
    fn matmul_bias(
        &self,
        a: &Tensor,
        b: &Tensor,
        trans_a: bool,
        trans_b: bool,
        bias: Option<&Tensor>,
        residual: Option<&Tensor>,
    ) -> Tensor {
        assert!(
            a.rank() >= 2 && b.rank() >= 2,
            "matmul needs rank >= 2: {:?} {:?}",
            a.shape(),
            b.shape()
        );
        let (ar, ac) = (a.dim(-2), a.dim(-1));
        let (br, bc) = (b.dim(-2), b.dim(-1));
        let (m, k) = if trans_a { (ac, ar) } else { (ar, ac) };
        let (k2, n) = if trans_b { (bc, br) } else { (br, bc) };
        assert_eq!(
            k,
            k2,
            "matmul: inner sizes differ: {:?}{} x {:?}{}",
            a.shape(),
            if trans_a { "^T" } else { "" },
            b.shape(),
            if trans_b { "^T" } else { "" }
        );
        if b.rank() == 2 && a.rank() > 2 {
            assert!(
                !trans_a,
                "matmul: a shared b with a transposed a is not supported"
            );
            // A matrix shared by the whole batch (a weight): the batch's rows
            // are contiguous, so this is one product of [batch * m, k] by b.
            // One dispatch over all rows instead of a small product per
            // batch element, and the weight's gradient is one product too.
            let rows = a.numel() / k;
            let res2 = residual.map(|r| self.reshape(r, &[rows, n]));
            let y = self.matmul_bias(
                &self.reshape(a, &[rows, k]),
                b,
                false,
                trans_b,
                bias,
                res2.as_ref(),
            );
            let mut shape = a.shape()[..a.rank() - 1].to_vec();
            shape.push(n);
            return self.reshape(&y, &shape);
        }
        let batch_shape = a.shape()[..a.rank() - 2].to_vec();
        let batch: usize = batch_shape.iter().product();
        assert_eq!(
            &b.shape()[..b.rank() - 2],
            &batch_shape[..],
            "matmul: batch axes differ: {:?} {:?}",
            a.shape(),
            b.shape()
        );
        let av = View {
            s: a.storage(),
            batch: ar * ac,
            row: if trans_a { 1 } else { ac },
            col: if trans_a { ac } else { 1 },
        };
        let bv = View {
            s: b.storage(),
            batch: br * bc,
            row: if trans_b { 1 } else { bc },
            col: if trans_b { bc } else { 1 },
        };
        if let Some(c) = bias {
            assert_eq!(
                c.shape(),
                [n],
                "matmul: bias {:?} for {n} columns",
                c.shape()
            );
        }
        let mut shape = batch_shape;
        shape.extend([m, n]);
        if let Some(r) = residual {
            assert_eq!(
                r.shape(),
                &shape[..],
                "matmul: residual {:?} for an output {shape:?}",
                r.shape()
            );
        }
        let epi = Epilogue {
            bias: bias.map(|c| c.storage()),
            residual: residual.map(|r| r.storage()),
            ..Epilogue::default()
        };
        let out = self.gemm_epilogue(av, bv, batch, m, n, k, epi).0;
        let (a2, b2, bias2) = (a.clone(), b.clone(), bias.cloned());
        let bias_needs_grad = bias.is_some_and(|c| c.requires_grad());
        let has_bias = bias.is_some();
        let has_residual = residual.is_some();
        let residual_needs_grad = residual.is_some_and(|r| r.requires_grad());
        let inputs: Vec<&Tensor> = [a, b].into_iter().chain(bias).chain(residual).collect();
        self.op_output("matmul", shape, out, &inputs, move |ctx, g| {
            let av = View {
                s: a2.storage(),
                ..av
            };
            let bv = View {
                s: b2.storage(),
                ..bv
            };
            let gv = View {
                s: g.storage(),
                batch: m * n,
                row: n,
                col: 1,
            };
            // dA' = dC B'^T  (m x k); stored transposed: dA = B' dC^T (k x m).
            // Each product adds the gradient accumulated so far for its
            // tensor as it stores (Ctx::take_grad_acc).
            let da = if a2.requires_grad() {
                let acc = ctx.take_grad_acc(&a2);
                let s = if trans_a {
                    ctx.gemm_acc(bv, gv.t(), batch, k, m, n, acc.as_ref())
                } else {
                    ctx.gemm_acc(gv, bv.t(), batch, m, k, n, acc.as_ref())
                };
                Some(ctx.wrap(a2.shape(), s))
            } else {
                None
            };
            // dB' = A'^T dC (k x n); stored transposed: dB = dC^T A' (n x k).
            // A linear layer's bias gradient (dC summed over its rows) comes
            // out of the same product when it can (batch 1, B not
            // transposed): the sums of the R operand, dC, over k.
            let mut fused_dbias = None;
            let db = if b2.requires_grad() {
                let acc = ctx.take_grad_acc(&b2);
                let s = if trans_b {
                    ctx.gemm_acc(gv.t(), av, batch, n, k, m, acc.as_ref())
                } else if batch == 1 {
                    let g2 = ctx.reshape(g, &[m, n]);
                    let bias_acc = bias2
                        .as_ref()
                        .filter(|_| bias_needs_grad)
                        .and_then(|b| ctx.take_grad_acc(b));
                    let accs = (acc.as_ref(), bias_acc.as_ref());
                    let (dw, dbias) =
                        ctx.weight_bias_grads(av, &g2, k, true, bias_needs_grad, accs);
                    fused_dbias = dbias;
                    dw.expect("the weight gradient was asked for")
                } else {
                    ctx.gemm_acc(av.t(), gv, batch, k, n, m, acc.as_ref())
                };
                Some(ctx.wrap(b2.shape(), s))
            } else {
                None
            };
            let mut grads = vec![da, db];
            if has_bias {
                // d bias = dC summed over every row of every batch.
                grads.push(bias_needs_grad.then(|| {
                    fused_dbias.unwrap_or_else(|| ctx.sum_axis(&ctx.reshape(g, &[batch * m, n]), 0))
                }));
            }
            if has_residual {
                // The residual passes the gradient through.
                grads.push(residual_needs_grad.then(|| g.clone()));
            }
            grads
        })
    }

    /// `x @ w + b` over the last axis of `x`: x [.., in], w [in, out], b [out].
    pub fn linear(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
        self.linear_impl(x, w, b, None)
    }

    /// `r + x @ w + b`: a linear layer on a residual connection, `r` of the
    /// output's shape, added as the product is stored (no separate add).
    pub fn linear_residual(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        r: &Tensor,
    ) -> Tensor {
        self.linear_impl(x, w, b, Some(r))
    }

    fn linear_impl(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        r: Option<&Tensor>,
    ) -> Tensor {
        let (rows, cols) = x.rows_cols();
        let out_cols = w.dim(-1);
        let x2 = self.reshape(x, &[rows, cols]);
        let r2 = r.map(|r| self.reshape(r, &[rows, out_cols]));
        // A bias of one value per output column and a residual are added by
        // the matmul's stores: one pass over the output instead of several.
        let y = match b {
            Some(b) if b.shape() == [out_cols] => {
                self.matmul_bias(&x2, w, false, false, Some(b), r2.as_ref())
            }
            Some(b) => {
                let y = self.add_broadcast(&self.matmul(&x2, w), b);
                match &r2 {
                    Some(r) => self.add(&y, r),
                    None => y,
                }
            }
            None => self.matmul_bias(&x2, w, false, false, None, r2.as_ref()),
        };
        let mut shape = x.shape().to_vec();
        *shape.last_mut().unwrap() = out_cols;
        self.reshape(&y, &shape)
    }
}

/// CPU reference: C[z] = op(A[z]) op(B[z]) with row-major storage; `b_batch`
/// false means B is shared by every batch.
#[allow(clippy::too_many_arguments)]
pub fn cpu_matmul(
    a: &[f32],
    b: &[f32],
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
    b_batched: bool,
) -> Vec<f32> {
    let mut c = vec![0.0f32; batch * m * n];
    for z in 0..batch {
        let ab = z * m * k;
        let bb = if b_batched { z * k * n } else { 0 };
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f64;
                for l in 0..k {
                    let av = if trans_a {
                        a[ab + l * m + i]
                    } else {
                        a[ab + i * k + l]
                    };
                    let bv = if trans_b {
                        b[bb + j * k + l]
                    } else {
                        b[bb + l * n + j]
                    };
                    acc += av as f64 * bv as f64;
                }
                c[z * m * n + i * n + j] = acc as f32;
            }
        }
    }
    c
}

/// WGSL names of one operand in the generated kernel.
struct OperandNames {
    /// Prefix of the offset variables (`a0`, `a1`, ...).
    var: &'static str,
    /// Batch offset variable.
    base: &'static str,
    /// First row (column) of the block.
    first: &'static str,
    /// Size of the free axis.
    size: &'static str,
    /// Stride along the free axis (rows of L, columns of R).
    free_stride: &'static str,
    /// Stride along k, and the name of its vec4 form.
    k_stride: &'static str,
    k_stride4: &'static str,
}

/// Offsets of each row (L) or column (R) of the block into the operand, or
/// of each group of 4 when loads run along the free axis; rows past the edge
/// are clamped to the last valid one so every load is in bounds.
fn write_operand_offsets(w: &mut String, load: Load, o: &OperandNames, count: u32) {
    use std::fmt::Write as _;
    let OperandNames {
        var,
        base,
        first,
        size,
        free_stride,
        k_stride,
        k_stride4,
    } = o;
    match load {
        Load::AlongK => {
            for r in 0..count {
                let _ = writeln!(
                    w,
                    "  let {var}{r} = ({base} + min({first} + {r}u, {size} - 1u) * {free_stride}) / 4u;"
                );
            }
        }
        Load::AlongFree => {
            for g in 0..count / 4 {
                let _ = writeln!(
                    w,
                    "  let {var}{g} = ({base} + min({first} + {}u, {size} - 4u)) / 4u;",
                    4 * g
                );
            }
            let _ = writeln!(w, "  let {k_stride4} = {k_stride} / 4u;");
        }
        Load::Scalar => {
            for r in 0..count {
                let _ = writeln!(
                    w,
                    "  let {var}{r} = {base} + min({first} + {r}u, {size} - 1u) * {free_stride};"
                );
            }
        }
    }
}
