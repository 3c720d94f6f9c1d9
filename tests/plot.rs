//! `nli-wgpu plot`: figures from a metrics file, eval reports and a sweep
//! report made here. Each SVG must parse as XML and each PNG must decode,
//! and both must show exactly the expected number of series: series `i` is
//! drawn in `PALETTE[i]`, so the first `n` palette colours must appear and
//! the others must not.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use nli_wgpu::plot::{AccuracyBars, Figure, PALETTE, Scaling, TrainingCurves};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nli-wgpu-plot-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn hex(c: &plotters::style::RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// Palette indices whose colour an SVG uses for a stroke or a fill.
fn svg_palette_colours(path: &Path) -> HashSet<usize> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let mut used = HashSet::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        for attr in ["stroke", "fill"] {
            if let Some(i) = node
                .attribute(attr)
                .and_then(|v| PALETTE.iter().position(|c| hex(c).eq_ignore_ascii_case(v)))
            {
                used.insert(i);
            }
        }
    }
    used
}

/// Palette indices with at least `min_pixels` pixels of exactly that colour
/// in a PNG.
fn png_palette_colours(path: &Path, min_pixels: usize) -> HashSet<usize> {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let mut counts = vec![0usize; PALETTE.len()];
    for px in buf[..info.buffer_size()].chunks(3) {
        if let Some(i) = PALETTE
            .iter()
            .position(|c| (c.0, c.1, c.2) == (px[0], px[1], px[2]))
        {
            counts[i] += 1;
        }
    }
    (0..PALETTE.len())
        .filter(|&i| counts[i] >= min_pixels)
        .collect()
}

fn assert_series(stem: &Path, n: usize) {
    let want: HashSet<usize> = (0..n).collect();
    let svg = svg_palette_colours(&stem.with_extension("svg"));
    assert_eq!(svg, want, "{}: series colours in the SVG", stem.display());
    let png = png_palette_colours(&stem.with_extension("png"), 20);
    assert_eq!(png, want, "{}: series colours in the PNG", stem.display());
}

fn nli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nli-wgpu"));
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write_metrics(dir: &Path, with_reg_and_tau_d: bool) {
    let mut text = String::new();
    for step in (10..=400).step_by(10) {
        let s = step as f64;
        let mut row = serde_json::json!({
            "step": step,
            "loss": 40.0 * (-s / 150.0).exp() + 0.5,
            "recon": 40.0 * (-s / 150.0).exp() + 0.4,
            "tau_e": 8.0 * (0.0625f64).powf(s / 400.0),
            "grad_norm": 1.0 + (s / 37.0).sin().abs(),
        });
        if with_reg_and_tau_d {
            // Exactly zero at times, as in real runs: a log axis must cope.
            row["reg"] = serde_json::json!(if step % 50 == 0 { 0.0 } else { 0.1 });
            row["tau_d"] = serde_json::json!(2.0 * (0.25f64).powf(s / 400.0));
        }
        if step % 100 == 0 {
            row["val_id_accuracy"] = serde_json::json!(s / 400.0);
        }
        text.push_str(&format!("{row}\n"));
    }
    std::fs::write(dir.join("metrics.jsonl"), text).unwrap();
}

#[test]
fn training_curves_show_every_logged_series() {
    let dir = tmp("curves");
    write_metrics(&dir, true);
    let out = run_ok(nli().args(["plot", "--run"]).arg(&dir));
    assert!(
        out.contains("curves.svg") && out.contains("curves.png"),
        "{out}"
    );
    // loss, recon, reg, tau_e, tau_d, validation accuracy, gradient norm.
    assert_series(&dir.join("curves"), 7);

    // A run that logs fewer quantities gets fewer series, in the same order
    // (reg and tau_d missing: 5 series, colours 0, 1, 3, 5, 6).
    let dir2 = tmp("curves-fewer");
    write_metrics(&dir2, false);
    let fig = TrainingCurves::from_run(&dir2).unwrap();
    assert_eq!(
        fig.series(),
        [
            "loss",
            "recon",
            "tau_e",
            "validation ID accuracy",
            "gradient norm"
        ]
    );
    nli_wgpu::plot::save(&fig, &dir2.join("c.svg")).unwrap();
    let used = svg_palette_colours(&dir2.join("c.svg"));
    assert_eq!(used, HashSet::from([0, 1, 3, 5, 6]));
    assert_eq!(fig.panels(), [0, 1, 2, 3]);

    // A baseline's run: no temperatures, so no temperature panel, and the
    // views' contrastive loss among the loss's terms.
    let dir3 = tmp("curves-baseline");
    let rows: Vec<serde_json::Value> = (1..=40)
        .map(|step| {
            let mut row = serde_json::json!({
                "step": step * 10, "loss": 3.0, "recon": 1.0, "view_nce": 2.0,
                "grad_norm": 1.5,
            });
            if step % 10 == 0 {
                row["val_id_accuracy"] = serde_json::json!(0.5);
            }
            row
        })
        .collect();
    let fig = TrainingCurves::from_metrics("baseline", &rows);
    assert_eq!(
        fig.series(),
        [
            "loss",
            "recon",
            "validation ID accuracy",
            "gradient norm",
            "view_nce"
        ]
    );
    assert_eq!(
        fig.panel_titles(),
        [
            "loss and its terms (log)",
            "validation ID accuracy (no search)",
            "gradient norm before clipping (log)"
        ]
    );
    nli_wgpu::plot::save(&fig, &dir3.join("c.svg")).unwrap();
    let svg = std::fs::read_to_string(dir3.join("c.svg")).unwrap();
    assert!(!svg.contains("temperatures"), "an empty panel was drawn");
    assert_eq!(
        svg_palette_colours(&dir3.join("c.svg")),
        HashSet::from([0, 1, 5, 6, 7])
    );
}

#[test]
fn a_bad_metrics_line_is_named() {
    let dir = tmp("bad-metrics");
    std::fs::write(
        dir.join("metrics.jsonl"),
        "{\"step\": 1, \"loss\": 2}\n{oops\n",
    )
    .unwrap();
    let out = nli().args(["plot", "--run"]).arg(&dir).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
}

fn eval_report(suite: &str, rows: &[(&str, &str, f64)]) -> serde_json::Value {
    serde_json::json!({
        "suite": suite,
        "checkpoint": "test",
        "adapter": "test",
        "search": nli_wgpu::search::SearchConfig::default(),
        "rows": rows.iter().map(|(m, s, a)| serde_json::json!({
            "method": m, "split": s, "accuracy": a, "tasks": 200, "seconds": 1.0
        })).collect::<Vec<_>>(),
    })
}

#[test]
fn eval_bars_have_one_series_per_method() {
    let dir = tmp("bars");
    let a = dir.join("a.json");
    let b = dir.join("b.json");
    std::fs::write(
        &a,
        eval_report(
            "shift-l",
            &[
                ("NoSearch", "id", 1.0),
                ("NoSearch", "ood", 0.0),
                ("GradientSearch", "ood", 0.985),
            ],
        )
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        &b,
        eval_report(
            "comp-i",
            &[("PriorSearch", "id", 0.3), ("PriorSearch", "ood", 0.1)],
        )
        .to_string(),
    )
    .unwrap();
    let stem = dir.join("bars");
    run_ok(
        nli()
            .args(["plot", "--eval"])
            .arg(&a)
            .arg(&b)
            .arg("--out")
            .arg(&stem),
    );
    assert_series(&stem, 3);
    let fig =
        AccuracyBars::from_reports(&[
            serde_json::from_str(&std::fs::read_to_string(&a).unwrap()).unwrap()
        ])
        .unwrap();
    assert_eq!(fig.groups, ["shift-l ID", "shift-l OOD"]);
    assert_eq!(fig.methods, ["NLI (no search)", "NLI gradient search"]);
    assert_eq!(fig.values[1][1], Some((0.985, 200)));
    assert_eq!(fig.values[0][1], None);
    // `--splits ood` keeps the OOD groups; of two reports of the same
    // cell the one over more tasks stands, whichever comes first.
    let mut fewer = eval_report("shift-l", &[("GradientSearch", "ood", 0.5)]);
    fewer["rows"][0]["tasks"] = serde_json::json!(40);
    let c = dir.join("c.json");
    std::fs::write(&c, fewer.to_string()).unwrap();
    let stem = dir.join("ood");
    run_ok(
        nli()
            .args(["plot", "--splits", "ood", "--eval"])
            .arg(&a)
            .arg(&b)
            .arg(&c)
            .arg("--out")
            .arg(&stem),
    );
    assert_series(&stem, 3);
    let read = |f: &Path| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
    let fig =
        AccuracyBars::from_reports_of_splits(&[read(&a), read(&c)], &["ood".to_string()]).unwrap();
    assert_eq!(fig.groups, ["shift-l OOD"]);
    assert_eq!(fig.values[0][1], Some((0.985, 200)));
    // In Table 1's order (ID before OOD, its rows' order), whatever the
    // reports' order.
    let fig = AccuracyBars::from_reports_of_splits(&[read(&c), read(&b), read(&a)], &[]).unwrap();
    assert_eq!(
        fig.groups,
        ["shift-l ID", "shift-l OOD", "comp-i ID", "comp-i OOD"]
    );
    assert_eq!(
        fig.methods,
        ["NLI (no search)", "NLI prior search", "NLI gradient search"]
    );
    assert_eq!(fig.values[1][2], Some((0.985, 200)));
    assert_eq!(fig.values[3][1], Some((0.1, 200)));
    // A split that is not one is refused by name, and a filter that leaves
    // nothing to draw is an error, not an empty figure.
    let id_only = dir.join("id-only.json");
    std::fs::write(
        &id_only,
        eval_report("shift-l", &[("NoSearch", "id", 1.0)]).to_string(),
    )
    .unwrap();
    let out = nli()
        .args(["plot", "--splits", "OOD", "--eval"])
        .arg(&id_only)
        .arg("--out")
        .arg(dir.join("none"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to draw"));
    assert!(!dir.join("none.svg").exists());
    let out = nli()
        .args(["plot", "--splits", "test", "--eval"])
        .arg(&a)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("test"));
}

#[test]
fn scaling_has_one_series_per_number_of_starts() {
    let dir = tmp("scaling");
    let mut points = Vec::new();
    for split in ["id", "ood"] {
        for (si, s) in [1, 4, 16].into_iter().enumerate() {
            for l in [1, 10, 50] {
                let acc = (0.1 * (si as f64 + 1.0) + l as f64 / 100.0).min(1.0);
                points.push(serde_json::json!({
                    "split": split, "starts": s, "steps": l, "accuracy": acc,
                    "tasks": 8, "seconds": 1.0
                }));
            }
        }
    }
    let report = serde_json::json!({
        "suite": "shift-l", "checkpoint": "test", "adapter": "test",
        "search": nli_wgpu::search::SearchConfig::default(), "sweep": points,
    });
    let file = dir.join("sweep.json");
    std::fs::write(&file, report.to_string()).unwrap();
    run_ok(nli().args(["plot", "--scaling"]).arg(&file));
    assert_series(&dir.join("sweep"), 3);
    let fig = Scaling::from_sweep(&report).unwrap();
    assert_eq!(fig.splits, ["ID", "OOD"]);
    assert_eq!(fig.starts, [1, 4, 16]);
    // An eval report is not a sweep: a clear error.
    let err = Scaling::from_sweep(&eval_report("shift-l", &[]))
        .err()
        .expect("not a sweep");
    assert!(err.to_string().contains("sweep"), "{err}");
}
