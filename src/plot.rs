//! Figures from what runs already write: training curves from
//! `metrics.jsonl`, accuracy bars from `eval` reports, and accuracy against
//! search compute from an `eval` sweep. Each figure is drawn once through
//! plotters and saved as SVG or PNG by the file's extension, written through
//! a temporary file and a rename like every other output.
//!
//! Text is rendered with an embedded DejaVu Sans (the `dejavu` crate) through
//! plotters' pure-Rust `ab_glyph` backend, so figures work on a bare machine
//! without fonts. Every series has its own colour from [`PALETTE`], in the
//! order the figure lists them ([`Figure::series`]); the tests count series
//! by those colours.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// Series colours, in order (a common qualitative palette's first eight,
/// then olive, navy and two light tints; no grey, so anti-aliased black
/// text never produces one).
pub const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(0, 0, 128),
    RGBColor(174, 199, 232),
    RGBColor(255, 187, 120),
];

/// A figure that can be drawn on any plotters backend.
pub trait Figure {
    /// Pixel size of the whole figure.
    fn size(&self) -> (u32, u32);
    /// Names of the series drawn, in colour order (series `i` uses
    /// `PALETTE[i % 12]`).
    fn series(&self) -> Vec<String>;
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

pub type DrawResult = std::result::Result<(), String>;

fn draw_err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped by the crate; failure
        // here would be a packaging error, not a user error.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Draw `fig` into `path`: SVG for `.svg`, PNG for `.png`.
pub fn save<F: Figure>(fig: &F, path: &Path) -> Result<()> {
    register_font();
    let (w, h) = fig.size();
    let fail = |e: String| Error::Config(format!("drawing {}: {e}", path.display()));
    let bytes = match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
                root.fill(&WHITE).map_err(draw_err).map_err(fail)?;
                fig.draw(&root).map_err(fail)?;
                root.present().map_err(draw_err).map_err(fail)?;
            }
            svg.into_bytes()
        }
        Some("png") => {
            let mut rgb = vec![0u8; (w * h * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
                root.fill(&WHITE).map_err(draw_err).map_err(fail)?;
                fig.draw(&root).map_err(fail)?;
                root.present().map_err(draw_err).map_err(fail)?;
            }
            encode_png(&rgb, w, h).map_err(|e| fail(e.to_string()))?
        }
        _ => {
            return Err(Error::Config(format!(
                "{}: a figure is written as .svg or .png",
                path.display()
            )));
        }
    };
    crate::checkpoint::write_atomic(path, &bytes)
}

/// Save `fig` as `<stem>.svg` and `<stem>.png`; returns both paths.
pub fn save_both<F: Figure>(fig: &F, stem: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for ext in ["svg", "png"] {
        let path = stem.with_extension(ext);
        save(fig, &path)?;
        out.push(path);
    }
    Ok(out)
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(rgb)?;
    }
    Ok(out)
}

/// A tick label: plain decimals where they are short, else powers of ten.
fn tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if (0.01..1e5).contains(&a) {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.0e}")
    }
}

/// The legend box of a chart's labelled series.
fn legend<'a, DB, CT>(chart: &mut ChartContext<'a, DB, CT>, at: SeriesLabelPosition) -> DrawResult
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)
}

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Read a JSON Lines file into values; a bad line is an error naming it.
pub fn read_json_lines(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                Error::Config(format!("{} line {}: not JSON ({e})", path.display(), i + 1))
            })
        })
        .collect()
}

/// Read one JSON file.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Config(format!("{} is not valid JSON: {e}", path.display())))
}

// ---------------------------------------------------------------------------
// Training curves

/// One curve of the training figure: a metrics key, its legend name and the
/// panel it is drawn in.
struct CurveSpec {
    key: &'static str,
    name: &'static str,
    panel: usize,
}

const CURVES: [CurveSpec; 8] = [
    CurveSpec {
        key: "loss",
        name: "loss",
        panel: 0,
    },
    CurveSpec {
        key: "recon",
        name: "recon",
        panel: 0,
    },
    CurveSpec {
        key: "reg",
        name: "reg",
        panel: 0,
    },
    CurveSpec {
        key: "tau_e",
        name: "tau_e",
        panel: 1,
    },
    CurveSpec {
        key: "tau_d",
        name: "tau_d",
        panel: 1,
    },
    CurveSpec {
        key: "val_id_accuracy",
        name: "validation ID accuracy",
        panel: 2,
    },
    CurveSpec {
        key: "grad_norm",
        name: "gradient norm",
        panel: 3,
    },
    // Last, so the colours of the others do not depend on it.
    CurveSpec {
        key: "view_nce",
        name: "view_nce",
        panel: 0,
    },
];

/// Panel titles and whether the panel's y axis is logarithmic.
const PANELS: [(&str, bool); 4] = [
    ("loss and its terms (log)", true),
    ("temperatures", false),
    ("validation ID accuracy (no search)", false),
    ("gradient norm before clipping (log)", true),
];

/// One drawn curve: legend name, panel, palette index, (step, value) points.
struct Curve {
    name: String,
    panel: usize,
    colour: usize,
    points: Vec<(f64, f64)>,
}

/// The mesh, the curves (positive points only on a `log` axis), optional
/// dots at each point, and the legend of one panel.
fn draw_curves<'a, DB, Y>(
    c: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    curves: &[&Curve],
    log: bool,
    dots: bool,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    c.configure_mesh()
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(WHITE)
        .draw()
        .map_err(draw_err)?;
    for curve in curves {
        let col = color(curve.colour);
        let pts: Vec<(f64, f64)> = curve
            .points
            .iter()
            .copied()
            .filter(|p| !log || p.1 > 0.0)
            .collect();
        c.draw_series(LineSeries::new(pts.iter().copied(), col.stroke_width(2)))
            .map_err(draw_err)?
            .label(curve.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col));
        if dots {
            c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))
                .map_err(draw_err)?;
        }
    }
    if !curves.is_empty() {
        legend(c, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// Training curves of one run: loss parts on a log axis, the temperatures,
/// validation accuracy and the gradient norm, stacked on one step axis; a
/// panel with nothing logged (the baselines' temperatures) is left out.
pub struct TrainingCurves {
    pub title: String,
    curves: Vec<Curve>,
    max_step: f64,
}

impl TrainingCurves {
    /// From the lines of a `metrics.jsonl`; keys a run does not log (a model
    /// without some part) are left out.
    pub fn from_metrics(title: &str, rows: &[serde_json::Value]) -> TrainingCurves {
        let mut curves = Vec::new();
        for (ci, spec) in CURVES.iter().enumerate() {
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| Some((r.get("step")?.as_f64()?, r.get(spec.key)?.as_f64()?)))
                .filter(|(_, v)| v.is_finite())
                .collect();
            if !pts.is_empty() {
                curves.push(Curve {
                    name: spec.name.to_string(),
                    panel: spec.panel,
                    colour: ci,
                    points: pts,
                });
            }
        }
        let max_step = rows
            .iter()
            .filter_map(|r| r.get("step")?.as_f64())
            .fold(1.0, f64::max);
        TrainingCurves {
            title: title.to_string(),
            curves,
            max_step,
        }
    }

    /// Read `<run_dir>/metrics.jsonl`.
    pub fn from_run(run_dir: &Path) -> Result<TrainingCurves> {
        let rows = read_json_lines(&run_dir.join(crate::checkpoint::METRICS_FILE))?;
        if rows.is_empty() {
            return Err(Error::Config(format!(
                "{}: metrics.jsonl has no lines yet",
                run_dir.display()
            )));
        }
        let title = run_dir
            .file_name()
            .map_or("run".into(), |n| n.to_string_lossy().into_owned());
        Ok(Self::from_metrics(&title, &rows))
    }

    /// The panels (indices into [`PANELS`]) with at least one curve, top to
    /// bottom; the loss panel always.
    pub fn panels(&self) -> Vec<usize> {
        (0..PANELS.len())
            .filter(|&pi| pi == 0 || self.curves.iter().any(|c| c.panel == pi))
            .collect()
    }

    /// The panels' titles, top to bottom.
    pub fn panel_titles(&self) -> Vec<&'static str> {
        self.panels().into_iter().map(|pi| PANELS[pi].0).collect()
    }
}

impl Figure for TrainingCurves {
    fn size(&self) -> (u32, u32) {
        (900, 100 + 250 * self.panels().len() as u32)
    }

    fn series(&self) -> Vec<String> {
        self.curves.iter().map(|c| c.name.clone()).collect()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let root = root
            .titled(&self.title, ("sans-serif", 24))
            .map_err(draw_err)?;
        let drawn = self.panels();
        let panels = root.split_evenly((drawn.len(), 1));
        for (&pi, area) in drawn.iter().zip(panels.iter()) {
            let (title, log) = PANELS[pi];
            let mine: Vec<&Curve> = self.curves.iter().filter(|c| c.panel == pi).collect();
            // Log panels draw positive values only (the regulariser is
            // exactly 0 at times).
            let vals = || {
                mine.iter()
                    .flat_map(|c| c.points.iter().map(|p| p.1))
                    .filter(move |v| !log || *v > 0.0)
            };
            let (lo, hi) = vals().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
            let mut chart = ChartBuilder::on(area);
            chart
                .margin(8)
                .caption(title, ("sans-serif", 16))
                .x_label_area_size(28)
                .y_label_area_size(64);
            let xr = 0.0..self.max_step;
            if log {
                let (lo, hi) = if lo.is_finite() {
                    (lo * 0.8, hi * 1.25)
                } else {
                    (0.1, 10.0)
                };
                let mut c = chart
                    .build_cartesian_2d(xr, (lo..hi).log_scale())
                    .map_err(draw_err)?;
                draw_curves(&mut c, &mine, true, false)?;
            } else {
                let (lo, hi) = if pi == 2 || !lo.is_finite() {
                    (0.0, 1.05)
                } else {
                    (0.0, hi * 1.1)
                };
                let mut c = chart.build_cartesian_2d(xr, lo..hi).map_err(draw_err)?;
                draw_curves(&mut c, &mine, false, pi == 2)?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Accuracy bars

/// Accuracy of one or more `eval` reports as grouped bars: one group per
/// (suite, split), one bar per method.
pub struct AccuracyBars {
    pub title: String,
    /// "shift-l ID", ...
    pub groups: Vec<String>,
    /// Row labels of the paper's table ("NLI gradient search", "TTT", ...),
    /// in colour order.
    pub methods: Vec<String>,
    /// values[group][method]: accuracy and the number of tasks.
    pub values: Vec<Vec<Option<(f64, usize)>>>,
}

impl AccuracyBars {
    /// From parsed `eval` reports (the JSON `eval` writes).
    pub fn from_reports(reports: &[serde_json::Value]) -> Result<AccuracyBars> {
        Self::from_reports_of_splits(reports, &[])
    }

    /// [`AccuracyBars::from_reports`] with only the rows of `splits` ("id",
    /// "ood"; all when empty), one bar per cell of
    /// [`crate::eval::report_cells`] (of reports that measured the same
    /// cell, the one over the most tasks).
    pub fn from_reports_of_splits(
        reports: &[serde_json::Value],
        splits: &[String],
    ) -> Result<AccuracyBars> {
        let mut groups: Vec<String> = Vec::new();
        let mut methods: Vec<String> = Vec::new();
        let mut cells: Vec<(usize, usize, f64, usize)> = Vec::new();
        for c in crate::eval::report_cells(reports)? {
            if c.accuracy.is_nan() {
                return Err(Error::Config(format!(
                    "eval report: the row of {} on {} {} lacks an accuracy",
                    c.label, c.suite, c.split
                )));
            }
            if !splits.is_empty() && !splits.contains(&c.split) {
                continue;
            }
            let gi = index_of(
                &mut groups,
                format!("{} {}", c.suite, c.split.to_uppercase()),
            );
            let mi = index_of(&mut methods, c.label);
            cells.push((gi, mi, c.accuracy, c.tasks as usize));
        }
        // Groups in Table 1's order of suites, ID before OOD; methods in
        // its order of rows; others after them (other suites' groups in
        // the order first seen, ID before OOD; other methods as first seen).
        let group_key = |g: &String| {
            let suite = crate::eval::TABLE1_SUITES
                .iter()
                .position(|s| g.starts_with(&format!("{s} ")))
                .unwrap_or(usize::MAX);
            (suite, g.ends_with(" OOD"))
        };
        let method_key = |m: &String| {
            crate::eval::PAPER_TABLE1
                .iter()
                .position(|(label, _)| label == m)
                .unwrap_or(usize::MAX)
        };
        let mut group_order: Vec<usize> = (0..groups.len()).collect();
        group_order.sort_by_key(|&i| group_key(&groups[i]));
        let mut method_order: Vec<usize> = (0..methods.len()).collect();
        method_order.sort_by_key(|&i| method_key(&methods[i]));
        let rank = |order: &[usize]| {
            let mut r = vec![0; order.len()];
            for (new, &old) in order.iter().enumerate() {
                r[old] = new;
            }
            r
        };
        let (group_rank, method_rank) = (rank(&group_order), rank(&method_order));
        let mut values = vec![vec![None; methods.len()]; groups.len()];
        for (g, m, a, n) in cells {
            values[group_rank[g]][method_rank[m]] = Some((a, n));
        }
        let groups = group_order.iter().map(|&i| groups[i].clone()).collect();
        let methods = method_order.iter().map(|&i| methods[i].clone()).collect();
        Ok(AccuracyBars {
            title: "accuracy (exact match of the query output)".into(),
            groups,
            methods,
            values,
        })
    }
}

fn index_of(list: &mut Vec<String>, item: String) -> usize {
    match list.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

impl Figure for AccuracyBars {
    fn size(&self) -> (u32, u32) {
        // Room for each bar's value label (36 px; the whole of Table 1,
        // 6 groups of 11 methods, is 2376 px wide).
        let g = self.groups.len() as u32;
        let bars = g * self.methods.len() as u32;
        (
            (220 * g).max(36 * bars).clamp(440, 2400) + BAR_LEGEND_WIDTH,
            480,
        )
    }

    fn series(&self) -> Vec<String> {
        self.methods.clone()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        // The legend has a column of its own, so it never covers a bar.
        let (w, _) = root.dim_in_pixel();
        let (plot, side) = root.split_horizontally(w.saturating_sub(BAR_LEGEND_WIDTH));
        let g = self.groups.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .caption(&self.title, ("sans-serif", 20))
            .x_label_area_size(36)
            .y_label_area_size(48)
            // Headroom above 1.0 for the values.
            .build_cartesian_2d(-0.5..g - 0.5, 0.0..1.32)
            .map_err(draw_err)?;
        let groups = self.groups.clone();
        let label = move |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < groups.len() {
                groups[i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(self.groups.len() + 1)
            .x_label_formatter(&label)
            .x_label_style(("sans-serif", 15))
            .y_desc("accuracy")
            .y_label_formatter(&|v| {
                if *v <= 1.0 + 1e-9 {
                    tick(*v)
                } else {
                    String::new()
                }
            })
            .light_line_style(WHITE)
            .draw()
            .map_err(draw_err)?;
        let nm = self.methods.len().max(1) as f64;
        let width = 0.8 / nm;
        for mi in 0..self.methods.len() {
            let col = color(mi);
            let bars: Vec<(f64, f64)> = self
                .values
                .iter()
                .enumerate()
                .filter_map(|(gi, row)| row[mi].map(|(a, _)| (gi as f64, a)))
                .collect();
            let x0 = |gi: f64| gi - 0.4 + mi as f64 * width;
            chart
                .draw_series(bars.iter().map(|&(gi, a)| {
                    Rectangle::new(
                        [(x0(gi) + 0.01, 0.0), (x0(gi) + width - 0.01, a)],
                        col.filled(),
                    )
                }))
                .map_err(draw_err)?;
            chart
                .draw_series(bars.iter().map(|&(gi, a)| {
                    let style = TextStyle::from(("sans-serif", 13).into_font())
                        .pos(Pos::new(HPos::Center, VPos::Bottom));
                    Text::new(
                        crate::eval::accuracy_label(a),
                        (x0(gi) + width / 2.0, a + 0.01),
                        style,
                    )
                }))
                .map_err(draw_err)?;
        }
        let font =
            TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        for (mi, name) in self.methods.iter().enumerate() {
            let y = 56 + 20 * mi as i32;
            side.draw(&Rectangle::new(
                [(8, y - 6), (22, y + 6)],
                color(mi).filled(),
            ))
            .map_err(draw_err)?;
            side.draw(&Text::new(name.as_str(), (30, y), font.clone()))
                .map_err(draw_err)?;
        }
        Ok(())
    }
}

/// Pixels of the column beside the accuracy bars that holds their legend.
const BAR_LEGEND_WIDTH: u32 = 220;

// ---------------------------------------------------------------------------
// Accuracy against search compute

/// Accuracy against gradient-search steps, one line per number of starts,
/// one panel per split: what test-time compute buys.
pub struct Scaling {
    pub title: String,
    pub splits: Vec<String>,
    /// Starts values, in colour order.
    pub starts: Vec<usize>,
    /// (split index, starts index, steps, accuracy)
    pub points: Vec<(usize, usize, usize, f64)>,
}

impl Scaling {
    /// From a sweep report (`eval --sweep-starts ... --sweep-steps ...`).
    pub fn from_sweep(report: &serde_json::Value) -> Result<Scaling> {
        let bad = |w: &str| Error::Config(format!("sweep report: {w}"));
        let pts = report
            .get("sweep")
            .and_then(|p| p.as_array())
            .ok_or_else(|| bad("no `sweep` points (write one with eval --sweep-starts)"))?;
        let mut splits = Vec::new();
        let mut starts: Vec<usize> = Vec::new();
        let mut raw = Vec::new();
        for p in pts {
            let (Some(split), Some(s), Some(l), Some(a)) = (
                p.get("split").and_then(|v| v.as_str()),
                p.get("starts").and_then(|v| v.as_u64()),
                p.get("steps").and_then(|v| v.as_u64()),
                p.get("accuracy").and_then(|v| v.as_f64()),
            ) else {
                return Err(bad("a point lacks split, starts, steps or accuracy"));
            };
            let si = index_of(&mut splits, split.to_uppercase());
            if !starts.contains(&(s as usize)) {
                starts.push(s as usize);
            }
            raw.push((si, s as usize, l as usize, a));
        }
        starts.sort_unstable();
        let points = raw
            .into_iter()
            .map(|(si, s, l, a)| (si, starts.iter().position(|&x| x == s).unwrap(), l, a))
            .collect();
        let suite = report.get("suite").and_then(|s| s.as_str()).unwrap_or("");
        Ok(Scaling {
            title: format!("{suite}: accuracy against gradient-search compute"),
            splits,
            starts,
            points,
        })
    }
}

impl Figure for Scaling {
    fn size(&self) -> (u32, u32) {
        (480 * self.splits.len().max(1) as u32 + 40, 460)
    }

    fn series(&self) -> Vec<String> {
        self.starts.iter().map(|s| format!("{s} starts")).collect()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let root = root
            .titled(&self.title, ("sans-serif", 20))
            .map_err(draw_err)?;
        let max_steps = self.points.iter().map(|p| p.2).max().unwrap_or(1).max(2) as f64;
        let panels = root.split_evenly((1, self.splits.len().max(1)));
        // Tick labels only at the step counts measured (a log axis would
        // label 1, 2, ..., 9, 10 on top of each other).
        let measured: Vec<usize> = self.points.iter().map(|p| p.2.max(1)).collect();
        let steps_label = move |v: &f64| {
            let r = v.round();
            if (v - r).abs() < 1e-6 && measured.contains(&(r as usize)) {
                format!("{r:.0}")
            } else {
                String::new()
            }
        };
        for (si, area) in panels.iter().enumerate() {
            let Some(split) = self.splits.get(si) else {
                continue;
            };
            let mut chart = ChartBuilder::on(area)
                .margin(10)
                .caption(split, ("sans-serif", 16))
                .x_label_area_size(36)
                .y_label_area_size(48)
                .build_cartesian_2d((1.0..max_steps * 1.2).log_scale(), 0.0..1.05)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc("search steps (L)")
                .y_desc("accuracy")
                .x_label_formatter(&steps_label)
                .light_line_style(WHITE)
                .draw()
                .map_err(draw_err)?;
            for (ki, s) in self.starts.iter().enumerate() {
                let col = color(ki);
                let mut pts: Vec<(f64, f64)> = self
                    .points
                    .iter()
                    .filter(|p| p.0 == si && p.1 == ki)
                    .map(|p| (p.2.max(1) as f64, p.3))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), col.stroke_width(2)))
                    .map_err(draw_err)?
                    .label(format!("{s} starts"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col));
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, col.filled())))
                    .map_err(draw_err)?;
            }
            legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        Ok(())
    }
}
