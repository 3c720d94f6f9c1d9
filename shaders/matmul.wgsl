// The general matmul kernel (any strides), used by `Ctx::gemm` when neither
// operand can be read as vec4s; the fast kernels are generated for each
// block size and operand layout by `BlockKernel` in src/ops/matmul.rs. Also
// `split_sum`, which adds up the partial products of a split-k product, and
// `add_bias`, for the products whose kernel does not add a linear's bias.
//
// Batched matrix product over strided operands:
//   C[z, i, j] = sum_l L[z, i, l] * R[z, l, j]
// L[z, i, l] = lhs[z * l_batch + i * l_row + l * l_col], likewise R, so any
// transpose (and the backward products dA = dC B^T, dB = A^T dC) is a choice
// of strides, never a copy. C is contiguous [batch, m, n].
//
// Each invocation owns a 4x4 block of C held in registers; a workgroup is
// 8x8 invocations (a 32x32 tile). No workgroup memory: on lavapipe every
// invocation is a SIMD lane and barriers are costly, while register blocks
// pay everywhere. Loads of rows/columns past the edge are clamped to the last
// valid one (always in bounds) and their results are not stored.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    l_batch: u32,
    l_row: u32,
    l_col: u32,
    r_batch: u32,
    r_row: u32,
    r_col: u32,
    // Split-k: number of k slices and the length of each (see split_sum).
    splits: u32,
    k_split: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lhs: array<f32>;
@group(0) @binding(2) var<storage, read> rhs: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
// The partial products of a split-k product, [batch, splits, m, n].
@group(0) @binding(4) var<storage, read> partials: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j0 = gid.x * 4u;
    let i0 = gid.y * 4u;
    let z = gid.z;
    if (i0 >= p.m || j0 >= p.n || z >= p.batch) { return; }

    let lb = z * p.l_batch;
    let rb = z * p.r_batch;
    // Row offsets of the 4 rows of L and column offsets of the 4 columns of R,
    // clamped so that every load is in bounds.
    let li = vec4<u32>(
        lb + min(i0, p.m - 1u) * p.l_row,
        lb + min(i0 + 1u, p.m - 1u) * p.l_row,
        lb + min(i0 + 2u, p.m - 1u) * p.l_row,
        lb + min(i0 + 3u, p.m - 1u) * p.l_row);
    let rj = vec4<u32>(
        rb + min(j0, p.n - 1u) * p.r_col,
        rb + min(j0 + 1u, p.n - 1u) * p.r_col,
        rb + min(j0 + 2u, p.n - 1u) * p.r_col,
        rb + min(j0 + 3u, p.n - 1u) * p.r_col);

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var l = 0u; l < p.k; l++) {
        let lo = l * p.l_col;
        let ro = l * p.r_row;
        let r = vec4<f32>(rhs[rj.x + ro], rhs[rj.y + ro], rhs[rj.z + ro], rhs[rj.w + ro]);
        acc0 += lhs[li.x + lo] * r;
        acc1 += lhs[li.y + lo] * r;
        acc2 += lhs[li.z + lo] * r;
        acc3 += lhs[li.w + lo] * r;
    }

    let cb = z * p.m * p.n;
    let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var di = 0u; di < 4u; di++) {
        let i = i0 + di;
        if (i >= p.m) { break; }
        let row = rows[di];
        for (var dj = 0u; dj < 4u; dj++) {
            let j = j0 + dj;
            if (j < p.n) {
                c[cb + i * p.n + j] = row[dj];
            }
        }
    }
}

const WG: u32 = 64u;

// The sum over slices s of partials[z, s, i, j] for C's element e.
fn slices_sum(e: u32) -> f32 {
    let mn = p.m * p.n;
    let z = e / mn;
    let base = z * p.splits * mn + (e - z * mn);
    var sum = 0.0;
    for (var s = 0u; s < p.splits; s++) {
        sum += partials[base + s * mn];
    }
    return sum;
}

// C[z, i, j] = sum over slices s of partials[z, s, i, j]: the second pass of
// a split-k product (each slice of the contraction wrote its own C).
@compute @workgroup_size(WG, 1, 1)
fn split_sum(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = gid.x + gid.y * nwg.x * WG;
    if (e >= p.batch * p.m * p.n) { return; }
    c[e] = slices_sum(e);
}

// A gradient accumulated so far, laid out like C (see split_sum_acc).
@group(0) @binding(6) var<storage, read> prev_grad: array<f32>;

// split_sum plus prev_grad[z, i, j]: a gradient's split-k product added to the
// gradient accumulated so far for the same tensor as it is stored
// (`Ctx::take_grad_acc`), the sum in the order of a separate addition.
@compute @workgroup_size(WG, 1, 1)
fn split_sum_acc(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = gid.x + gid.y * nwg.x * WG;
    if (e >= p.batch * p.m * p.n) { return; }
    c[e] = prev_grad[e] + slices_sum(e);
}

// A bias per column, [n].
@group(0) @binding(5) var<storage, read> bias: array<f32>;

// c[i, j] += bias[j] in place over m x n floats (p.m rows): the bias of a
// linear layer when the product's kernel could not add it while storing.
@compute @workgroup_size(WG, 1, 1)
fn add_bias(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = gid.x + gid.y * nwg.x * WG;
    if (e >= p.m * p.n) { return; }
    c[e] += bias[e % p.n];
}
