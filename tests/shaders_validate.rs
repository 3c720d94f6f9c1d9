//! Every `shaders/*.wgsl` parses and validates with naga; needs no adapter.

use std::collections::BTreeSet;

mod common;
use common::validate_wgsl;

#[test]
fn every_shader_parses_and_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let src = std::fs::read_to_string(&path).unwrap();
        let module = validate_wgsl(&path.display().to_string(), &src);
        assert!(
            module
                .entry_points
                .iter()
                .all(|ep| ep.stage == naga::ShaderStage::Compute),
            "{name}: only compute entry points belong in shaders/"
        );
        files.insert(name);
    }
    let registered: BTreeSet<String> = nli_wgpu::gpu::shaders::SHADERS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(
        files, registered,
        "shaders/ and gpu::shaders::SHADERS must list the same files"
    );
    assert!(
        files.len() >= 8,
        "expected the engine's shaders, found {files:?}"
    );
}

#[test]
fn registered_sources_are_the_files_on_disk() {
    // include_str! copies are compiled in; they must be today's files.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for (name, src) in nli_wgpu::gpu::shaders::SHADERS {
        let disk = std::fs::read_to_string(dir.join(format!("{name}.wgsl"))).unwrap();
        assert_eq!(&disk, src, "{name}.wgsl differs from the compiled-in copy");
    }
}

#[test]
fn vec4_builds_validate_with_the_same_entry_points() {
    use nli_wgpu::gpu::shaders::{VEC4_SHADERS, source, vec4_source};
    let validate = |name: &str, src: &str| {
        validate_wgsl(name, src)
            .entry_points
            .iter()
            .map(|e| e.name.clone())
            .collect::<Vec<_>>()
    };
    assert!(VEC4_SHADERS.len() >= 2);
    for name in VEC4_SHADERS {
        let src = vec4_source(name);
        assert!(src.contains("alias E = vec4<f32>;"), "{name}");
        assert!(!src.contains("return v; }"), "{name}: hsum left scalar");
        assert_eq!(
            validate(name, &src),
            validate(name, source(name).unwrap()),
            "{name}"
        );
    }
}

#[test]
fn textured_builds_validate_and_read_no_storage_operand() {
    use nli_wgpu::gpu::shaders::{source, textured_source, vec4_source};
    let entries = |what: &str, s: &str| {
        validate_wgsl(what, s)
            .entry_points
            .iter()
            .map(|e| e.name.clone())
            .collect::<Vec<_>>()
    };
    for (shader, operands) in [
        ("elementwise", &[("a", 1), ("b", 2)][..]),
        ("skip_gate", &[("prev", 2), ("cand", 3), ("g", 5)][..]),
    ] {
        let src = textured_source(&vec4_source(shader), operands);
        assert_eq!(
            entries(&format!("{shader} (textured)"), &src),
            entries(shader, source(shader).unwrap()),
            "{shader}: the same kernels"
        );
        // Every read of the operands goes through its load function, and
        // names that merely end in one of them are left alone.
        for (line_no, line) in src.lines().enumerate() {
            for (var, _) in operands {
                let at = line.find(&format!("{var}["));
                if let Some(at) = at {
                    let before = line[..at].chars().last();
                    assert!(
                        before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{shader} line {}: `{var}[` still indexes a storage operand: {line}",
                        line_no + 1
                    );
                }
            }
        }
        if shader == "elementwise" {
            assert!(src.contains("load_b(i / (p.rep * p.inner) * p.inner + i % p.inner)"));
        } else {
            assert!(src.contains("load_g(base + i) * (load_prev(base + i) - load_cand(base + i))"));
        }
    }
}
