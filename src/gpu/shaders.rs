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
    ("attention", include_str!("../../shaders/attention.wgsl")),
    (
        "gumbel_softmax",
        include_str!("../../shaders/gumbel_softmax.wgsl"),
    ),
    ("skip_gate", include_str!("../../shaders/skip_gate.wgsl")),
];

pub fn source(name: &str) -> Option<&'static str> {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
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
