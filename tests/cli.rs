//! The command line end to end: `demo` prints both programs, `train` refuses
//! a bad configuration before announcing anything, `eval` writes a figure
//! beside its report and runs a search sweep, and a checkpoint holding a NaN
//! is refused with the tensor's name.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nli_wgpu::checkpoint;
use nli_wgpu::model::ModelKind;

fn nli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nli-wgpu"));
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nli-wgpu-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A tiny NLI model trained for a few steps into `dir`.
fn tiny_checkpoint(dir: &Path) {
    common::train_tiny(ModelKind::Nli, "shift-l", 4, dir);
}

/// `demo` with the shipped Shift-L model on one OOD task and a search of 2
/// starts, plus `extra` arguments.
fn tiny_demo(extra: &[&str]) -> Output {
    nli()
        .args(["demo", "--tasks", "1", "--starts", "2"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn info_prints_the_adapter_and_the_block_sizes_the_environment_forces() {
    // `info`'s stdout with these block sizes in the environment (None: unset).
    let info = |matmul: Option<&str>, attention: Option<&str>| {
        let mut c = nli();
        c.arg("info");
        for (var, v) in [
            ("NLI_MATMUL_BLOCK", matmul),
            ("NLI_ATTENTION_BLOCK", attention),
        ] {
            match v {
                Some(v) => c.env(var, v),
                None => c.env_remove(var),
            };
        }
        let out = c.output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        stdout
    };
    let stdout = info(None, None);
    assert!(stdout.contains("driver:"), "{stdout}");
    assert!(stdout.contains("matmul block:"), "{stdout}");
    let stdout = info(Some("4"), Some("3"));
    assert!(stdout.contains("matmul block: at most 4x4"), "{stdout}");
    assert!(stdout.contains("attention block: 3 query rows"), "{stdout}");
}

#[test]
fn demo_prints_the_program_without_and_with_search() {
    let out = tiny_demo(&["--search-steps", "2"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let line = |label: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"))
            .to_string()
    };
    for label in ["no search", "gradient search"] {
        let l = line(label);
        assert!(l.contains("program [") && l.contains("->"), "{l}");
        assert!(l.ends_with("right") || l.contains("wrong (expected"), "{l}");
    }
    // The task is an OOD shift of Shift-L: the examples are shown.
    assert!(line("task 1 of 1").contains("shl_"), "{stdout}");
    assert!(line("examples").contains(" -> "), "{stdout}");
    assert!(line("accuracy without search").contains("/1"), "{stdout}");
    assert!(
        line("accuracy with gradient search").contains("2 starts x 2 steps"),
        "{stdout}"
    );
}

/// `--profile` prints the GPU time of each kernel the command ran (or says
/// that the adapter cannot time them).
#[test]
fn profile_prints_the_gpu_time_by_kernel() {
    let out = tiny_demo(&["--search-steps", "1", "--profile"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    if stderr.contains("has no timestamp queries") {
        return;
    }
    let table = stderr
        .split("GPU time by kernel:")
        .nth(1)
        .unwrap_or_else(|| panic!("no profile in:\n{stderr}"));
    // The interpreter's products and attention ran, each with a time.
    for kernel in ["matmul", "attention", "total"] {
        let line = table
            .lines()
            .find(|l| l.contains(kernel))
            .unwrap_or_else(|| panic!("no {kernel} row in:\n{table}"));
        let ms: f64 = line
            .split_whitespace()
            .rev()
            .find_map(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no time in {line:?}"));
        assert!(ms > 0.0, "{line:?}");
    }
}

#[test]
fn train_refuses_a_bad_configuration_before_announcing_a_run() {
    let dir = tmp("bad-train");
    let out = nli()
        .args(["train", "--preset", "tiny", "--lr=-1", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("lr=-1"), "{stderr}");
    assert!(
        !stderr.contains("training") && !stdout.contains("training"),
        "announced before refusing: {stderr}"
    );
    assert!(!dir.exists(), "nothing is written for a refused run");
    // A float flag that is not a finite number is refused by name.
    for bad in ["--mi-cap=inf", "--lr=NaN"] {
        let out = nli()
            .args(["train", "--preset", "tiny", bad, "--out"])
            .arg(&dir)
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{bad} accepted");
        assert!(stderr.contains("not a finite number"), "{bad}: {stderr}");
        assert!(!dir.exists());
    }
}

#[test]
fn a_checkpoint_with_a_nan_parameter_is_refused_naming_it() {
    let dir = tmp("nan-ckpt");
    tiny_checkpoint(&dir);
    let mut ckpt = checkpoint::load(&dir).unwrap();
    let name = {
        let (name, _, data) = ckpt
            .tensors
            .iter_mut()
            .find(|(n, _, _)| {
                !n.starts_with(checkpoint::ADAM_M) && !n.starts_with(checkpoint::ADAM_V)
            })
            .unwrap();
        data[1] = f32::NAN;
        name.clone()
    };
    checkpoint::save(&dir, &ckpt).unwrap();
    let err = checkpoint::load(&dir)
        .err()
        .expect("a NaN weight is refused");
    let msg = err.to_string();
    assert!(msg.contains(&name) && msg.contains("NaN"), "{msg}");
    // Every command that loads a model says so and stops.
    let out = nli()
        .args(["eval", "--methods", "none", "--tasks", "2", "--checkpoint"])
        .arg(&dir)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains(&name), "{stderr}");
}

#[test]
fn eval_writes_a_figure_and_sweeps_search_budgets() {
    let dir = tmp("eval");
    tiny_checkpoint(&dir);
    let out = nli()
        .args(["eval", "--methods", "none", "--tasks", "3", "--checkpoint"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    for f in ["eval.json", "eval.svg", "eval.png"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    // Each row's accuracy is broken down by hidden program, and the
    // breakdown adds up to the row.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "one row per split");
    for row in rows {
        let cells = row["by_program"].as_object().expect("by_program");
        assert!(cells.keys().all(|p| p.starts_with("shl_")), "{cells:?}");
        let sum = |i: usize| -> u64 { cells.values().map(|c| c[i].as_u64().unwrap()).sum() };
        assert_eq!(sum(1), 3, "{cells:?}");
        let acc = row["accuracy"].as_f64().unwrap();
        assert!(
            (sum(0) as f64 / 3.0 - acc).abs() < 1e-6,
            "{cells:?} vs {acc}"
        );
        // Partial credit is at least the exact match's, and every wrong
        // answer is named: a training program (Shift-L's shl_1..5) or other.
        let pos = row["position_accuracy"].as_f64().unwrap();
        assert!((acc - 1e-6..=1.0).contains(&pos), "{pos} vs {acc}");
        let wrong = row["wrong_as"].as_object().cloned().unwrap_or_default();
        let named: u64 = wrong
            .values()
            .flat_map(|c| c.as_object().unwrap().iter())
            .map(|(k, n)| {
                assert!(
                    k == "other"
                        || ["shl_1", "shl_2", "shl_3", "shl_4", "shl_5"].contains(&k.as_str()),
                    "{k}"
                );
                n.as_u64().unwrap()
            })
            .sum();
        assert_eq!(named, 3 - sum(0), "{wrong:?}");
        if named > 0 {
            assert!(
                text(&out)
                    .1
                    .contains("wrong answers that are a training program's output: "),
                "{}",
                text(&out).1
            );
        }
    }
    assert!(text(&out).1.contains(", positions "), "{}", text(&out).1);
    assert!(
        text(&out).1.contains("by program: shl_"),
        "{}",
        text(&out).1
    );
    let out = nli()
        .args([
            "eval",
            "--sweep-starts",
            "1,2",
            "--sweep-steps",
            "1,3",
            "--splits",
            "ood",
            "--tasks",
            "2",
            "--quiet",
            "--search-program-len",
            "6",
            "--checkpoint",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sweep.json")).unwrap()).unwrap();
    // The sweep searched programs of 6 slots (the tiny model writes 4) and
    // says so.
    assert_eq!(report["search"]["program_len"], 6);
    let points = report["sweep"].as_array().unwrap();
    let grid: Vec<(u64, u64)> = points
        .iter()
        .map(|p| (p["starts"].as_u64().unwrap(), p["steps"].as_u64().unwrap()))
        .collect();
    assert_eq!(grid, [(1, 1), (1, 3), (2, 1), (2, 3)]);
    assert!(
        points
            .iter()
            .all(|p| p["split"] == "ood" && p["tasks"] == 2)
    );
    assert!(dir.join("sweep.svg").exists() && dir.join("sweep.png").exists());
    // A model exported with a search length searches programs of that
    // length unless told otherwise, and its reports say so.
    let exported = dir.join("exported-len7");
    let out = nli()
        .args(["export", "--search-program-len", "7", "--checkpoint"])
        .arg(&dir)
        .arg("--out")
        .arg(&exported)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let search_len = |ckpt: &std::path::Path, extra: &[&str]| {
        let out = nli()
            .args([
                "eval",
                "--methods",
                "gradient",
                "--splits",
                "ood",
                "--tasks",
                "1",
            ])
            .args(["--starts", "2", "--search-steps", "1", "--quiet"])
            .args(extra)
            .arg("--checkpoint")
            .arg(ckpt)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out).1);
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(ckpt.join("eval.json")).unwrap())
                .unwrap();
        report["search"]["program_len"].clone()
    };
    assert_eq!(search_len(&exported, &[]), 7);
    assert_eq!(search_len(&exported, &["--search-program-len", "5"]), 5);
    // A plain checkpoint searches its own program length (4 in tiny).
    assert_eq!(search_len(&dir, &[]), 4);
    // export refuses a length of no slots.
    let out = nli()
        .args(["export", "--search-program-len", "0", "--checkpoint"])
        .arg(&dir)
        .arg("--out")
        .arg(dir.join("exported-len0"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out)
            .1
            .contains("search_program_len=0: a searched program needs at least one slot"),
        "{}",
        text(&out).1
    );
    // The training run drew its curves beside the checkpoint.
    assert!(dir.join("curves.svg").exists());
    // A program of no slots is refused by name before any output.
    let out = nli()
        .args(["eval", "--search-program-len", "0", "--checkpoint"])
        .arg(&dir)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("--search-program-len") && stderr.contains("at least one slot"),
        "{stderr}"
    );
}

#[test]
fn table_puts_each_report_row_in_its_cell() {
    let dir = tmp("table");
    std::fs::create_dir_all(&dir).unwrap();
    let report_of = |model: Option<&str>, suite: &str, tasks: u64, rows: &[(&str, &str, f64)]| {
        let mut r = serde_json::json!({
            "suite": suite,
            "rows": rows.iter().map(|(m, s, a)| serde_json::json!({
                "method": m, "split": s, "accuracy": a, "tasks": tasks, "seconds": 12.0
            })).collect::<Vec<_>>(),
        });
        if let Some(m) = model {
            r["model"] = serde_json::json!(m);
        }
        r.to_string()
    };
    let report = |model: Option<&str>, suite: &str, rows: &[(&str, &str, f64)]| {
        report_of(model, suite, 200, rows)
    };
    // An NLI report from before model kinds existed, a later one of the
    // same cell over as many tasks (it stands), and two LPN ones: the
    // second, a search report, also measured its 40 tasks without search,
    // which must not replace the 200-task cell.
    std::fs::write(
        dir.join("nli.json"),
        report(None, "shift-l", &[("GradientSearch", "ood", 0.985)]),
    )
    .unwrap();
    std::fs::write(
        dir.join("lpn.json"),
        report(
            Some("lpn"),
            "comp-i",
            &[
                ("NoSearch", "id", 0.97),
                ("LatentSearchDefault", "ood", 0.2),
            ],
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("nli-again.json"),
        report(None, "shift-l", &[("GradientSearch", "ood", 0.99)]),
    )
    .unwrap();
    std::fs::write(
        dir.join("lpn-search.json"),
        report_of(
            Some("lpn"),
            "comp-i",
            40,
            &[("NoSearch", "id", 0.5), ("GradientSearch", "id", 0.9)],
        ),
    )
    .unwrap();
    let out = nli()
        .arg("table")
        .arg(dir.join("nli.json"))
        .arg(dir.join("nli-again.json"))
        .arg(dir.join("lpn.json"))
        .arg(dir.join("lpn-search.json"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let row = |label: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {label} |")))
            .unwrap_or_else(|| panic!("no row {label}:\n{stdout}"))
            .split('|')
            .map(|c| c.trim().to_string())
            .collect::<Vec<_>>()
    };
    // Columns: "", label, L ID, L OOD, P ID, P OOD, C ID, C OOD.
    let nli_row = row("NLI gradient search");
    assert!(nli_row[3].starts_with("**0.99** (0.99)"), "{nli_row:?}");
    assert_eq!(nli_row[2], "- (1.00)");
    let lpn = row("LPN");
    assert!(lpn[6].starts_with("**0.97** (1.00)"), "{lpn:?}");
    assert!(lpn[6].contains("200 tasks"), "{lpn:?}");
    let lpn_gradient = row("LPN gradient search");
    assert!(lpn_gradient[6].starts_with("**0.90**"), "{lpn_gradient:?}");
    assert!(lpn_gradient[6].contains("40 tasks"), "{lpn_gradient:?}");
    let lpn100 = row("LPN gradient search (1 x 100)");
    assert!(lpn100[7].starts_with("**0.20**"), "{lpn100:?}");
    // A report of an unknown model kind is an error that names it.
    std::fs::write(dir.join("bad.json"), report(Some("gpt"), "shift-l", &[])).unwrap();
    let out = nli()
        .arg("table")
        .arg(dir.join("bad.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).1.contains("gpt"));
}

/// `inspect --probe-program` prints what a token string computes on the
/// shipped Shift-L model (its tokens each shift by one, so three of one
/// token shift by three), and refuses a string that is not token ids or
/// that the model cannot hold, by name, before any output.
#[test]
fn inspect_probes_a_token_string_and_refuses_bad_ones() {
    let probe = |program: &str| {
        nli()
            .args(["inspect", "--suite", "shift-l", "--tasks", "2"])
            .args(["--probe-samples", "8", "--probe-program", program])
            .output()
            .unwrap()
    };
    // The token the model writes for shl_1, from inspect's own listing.
    let listing = text(&probe("0")).0;
    let token = listing
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("shl_1 "))
        .and_then(|rest| rest.trim_start().strip_prefix('['))
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("no shl_1 program: {listing}"))
        .to_string();
    assert!(
        token.parse::<u32>().is_ok(),
        "shl_1 is one token: {listing}"
    );
    let out = probe(&format!("{token}, {token} {token}"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let line = stdout
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with(&format!("[{token} {token} {token}]:"))
        })
        .unwrap_or_else(|| panic!("no probe line: {stdout}"));
    assert!(line.contains(": shl_3 1.00"), "{line}");
    for (bad, why) in [
        ("1 x", "\"x\" is not a token id"),
        (" , ", "at least one token id"),
        ("1 1 1 1 1 1 1 1 1 1 1 1 1", "at most 12"),
        ("99", "token 99 is outside the codebook"),
    ] {
        let out = probe(bad);
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{bad:?} accepted: {stdout}");
        assert!(stderr.contains(why), "{bad:?}: {stderr}");
        assert!(
            stdout.is_empty(),
            "{bad:?}: printed before refusing: {stdout}"
        );
    }
}
