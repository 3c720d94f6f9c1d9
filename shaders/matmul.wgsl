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
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lhs: array<f32>;
@group(0) @binding(2) var<storage, read> rhs: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

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
