//! Every WGSL source of the engine, compiled into the binary from `shaders/`.
//!
//! One file per kernel family, named like its `src/ops` module; each holds the
//! forward and backward entry points of that family.

/// (name, source) of every shader; `tests/shaders_validate.rs` checks that
/// this list and the files in `shaders/` are the same set.
pub const SHADERS: &[(&str, &str)] = &[
    ("matmul", include_str!("../../shaders/matmul.wgsl")),
    (
        "elementwise",
        include_str!("../../shaders/elementwise.wgsl"),
    ),
    ("reduce", include_str!("../../shaders/reduce.wgsl")),
    ("softmax", include_str!("../../shaders/softmax.wgsl")),
    ("layer_norm", include_str!("../../shaders/layer_norm.wgsl")),
    ("embedding", include_str!("../../shaders/embedding.wgsl")),
    ("shape", include_str!("../../shaders/shape.wgsl")),
    ("adam", include_str!("../../shaders/adam.wgsl")),
    (
        "gumbel_softmax",
        include_str!("../../shaders/gumbel_softmax.wgsl"),
    ),
    ("skip_gate", include_str!("../../shaders/skip_gate.wgsl")),
];

pub fn source(name: &str) -> Option<&'static str> {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The element alias of shaders that also build on four floats per element.
const SCALAR_ELEMENT: &str = "alias E = f32;";
/// Their horizontal sum of an element, for reductions over a row.
const SCALAR_HSUM: &str = "fn hsum(v: E) -> f32 { return v; }";

/// Shaders written over `alias E = f32;` (and, when they reduce,
/// `fn hsum(v: E) -> f32 { return v; }`), each of whose kernels reads as the
/// same kernel on vec4 elements.
pub const VEC4_SHADERS: &[&str] = &["elementwise", "layer_norm", "skip_gate"];

/// The vec4 build of one of [`VEC4_SHADERS`]: on lavapipe every storage load
/// is a loop over the SIMD lanes, so four floats per load move far more data
/// per second. The engine uses it when the sizes are multiples of 4.
pub fn vec4_source(name: &str) -> String {
    assert!(
        VEC4_SHADERS.contains(&name),
        "{name}.wgsl has no vec4 build"
    );
    let src = source(name).expect("registered shader");
    assert!(
        src.contains(SCALAR_ELEMENT),
        "{name}.wgsl declares `{SCALAR_ELEMENT}`"
    );
    src.replace(SCALAR_ELEMENT, "alias E = vec4<f32>;").replace(
        SCALAR_HSUM,
        "fn hsum(v: E) -> f32 { return v.x + v.y + v.z + v.w; }",
    )
}

/// `source` (the vec4 build of a shader whose read-only operands are
/// declared `var<storage, read> NAME: array<E>;`) with the operands named
/// in `operands` (name, binding) read through staging textures instead:
/// each declaration becomes a `texture_2d<f32>` with its `load_NAME`
/// ([`read_operand`]), and every `NAME[index]` in the source `load_NAME(index)`.
/// Kernels of the source that read none of them are unchanged.
pub fn textured_source(source: &str, operands: &[(&str, u32)]) -> String {
    let mut out = source.to_string();
    for &(var, binding) in operands {
        let decl = format!("@group(0) @binding({binding}) var<storage, read> {var}: array<E>;\n");
        assert!(
            out.contains(&decl),
            "no storage operand `{var}` at {binding}"
        );
        out = out.replace(&decl, &read_operand(var, binding, "vec4<f32>", true));
        out = replace_indexing(&out, var);
    }
    out
}

/// Every `var[expr]` (at a word boundary) as `load_var(expr)`, with
/// brackets inside `expr` matched.
fn replace_indexing(src: &str, var: &str) -> String {
    let pat = format!("{var}[");
    let bytes = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while let Some(off) = src[i..].find(&pat) {
        let at = i + off;
        let boundary = at == 0 || {
            let c = bytes[at - 1] as char;
            !(c.is_ascii_alphanumeric() || c == '_')
        };
        out.push_str(&src[i..at]);
        if !boundary {
            out.push_str(&pat);
            i = at + pat.len();
            continue;
        }
        let start = at + pat.len();
        let mut depth = 1;
        let mut end = start;
        for (j, c) in src[start..].char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = start + j;
                break;
            }
        }
        assert!(depth == 0, "unmatched `[` after `{var}`");
        out.push_str(&format!("load_{var}({})", &src[start..end]));
        i = end + 1;
    }
    out.push_str(&src[i..]);
    out
}

/// Replace the value of each `const NAME: u32 = ...;` line named in
/// `defines`. Returns the first name that has no such line.
pub fn specialize(source: &str, defines: &[(&str, u32)]) -> Result<String, String> {
    let mut out = source.to_string();
    for (name, value) in defines {
        let prefix = format!("const {name}: u32 = ");
        let start = out.find(&prefix).ok_or_else(|| name.to_string())?;
        let end = start + out[start..].find(';').ok_or_else(|| name.to_string())?;
        out.replace_range(start..end, &format!("{prefix}{value}u"));
    }
    Ok(out)
}

/// WGSL for a read-only operand of a generated kernel: the binding `var` at
/// `binding` and `fn load_{var}(i: u32) -> {elem}`, which reads element i of
/// a storage buffer, or with `texture` texel i of a staging texture
/// ([`crate::gpu::Gpu::stage_texture`]) at (i % TEXTURE_ROW, i /
/// TEXTURE_ROW). Textures hold vec4s, so `elem` must then be `vec4<f32>`.
pub fn read_operand(var: &str, binding: u32, elem: &str, texture: bool) -> String {
    if texture {
        assert_eq!(elem, "vec4<f32>", "{var}: texture operands are vec4s");
        let row = crate::gpu::TEXTURE_ROW;
        format!(
            "@group(0) @binding({binding}) var {var}: texture_2d<f32>;\n\
             fn load_{var}(i: u32) -> {elem} {{ return textureLoad({var}, vec2<u32>(i % {row}u, i / {row}u), 0); }}\n"
        )
    } else {
        format!(
            "@group(0) @binding({binding}) var<storage, read> {var}: array<{elem}>;\n\
             fn load_{var}(i: u32) -> {elem} {{ return {var}[i]; }}\n"
        )
    }
}
