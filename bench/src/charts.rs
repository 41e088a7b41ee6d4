//! SVG charts of a run (plotters): latency CDF per object type, throughput over time, and the
//! startup and rebuffer distributions of players; `--html` bundles them into one page.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use plotters::prelude::*;

/// Chart size in pixels.
const SIZE: (u32, u32) = (900, 500);

type ChartResult = Result<(), String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A white SVG canvas of [`SIZE`] at `path`.
fn canvas(path: &Path) -> Result<DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, String> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    Ok(root)
}

/// The chart frame every plot uses: title, margins, axis label areas.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
    y_label_width: u32,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(y_label_width);
    builder
}

/// Plots the CDF of each named latency histogram (microseconds) on a log-scaled axis in ms.
pub fn latency_cdf(path: &Path, title: &str, series: &[(String, &Histogram<u64>)]) -> ChartResult {
    let series: Vec<_> = series.iter().filter(|(_, h)| !h.is_empty()).collect();
    let max_ms = series
        .iter()
        .map(|(_, h)| h.max() as f64 / 1000.0)
        .fold(1.0, f64::max);
    let min_ms = series
        .iter()
        .map(|(_, h)| h.min() as f64 / 1000.0)
        .fold(f64::INFINITY, f64::min)
        .clamp(0.001, max_ms)
        / 1.5;
    let root = canvas(path)?;
    let mut chart = frame(&root, title, 50)
        .build_cartesian_2d((min_ms..max_ms * 1.2).log_scale(), 0f64..1f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("share of requests at or below")
        .draw()
        .map_err(err)?;
    for (i, (name, h)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let total = h.len() as f64;
        let mut seen = 0u64;
        let points: Vec<(f64, f64)> = h
            .iter_recorded()
            .map(|v| {
                seen += v.count_at_value();
                (
                    (v.value_iterated_to() as f64 / 1000.0).max(0.01),
                    seen as f64 / total,
                )
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Plots a per-second series (requests/s or MB/s) over the run.
pub fn over_time(path: &Path, title: &str, y_desc: &str, values: &[f64]) -> ChartResult {
    let max = values.iter().copied().fold(1.0, f64::max);
    let root = canvas(path)?;
    let mut chart = frame(&root, title, 60)
        .build_cartesian_2d(0f64..(values.len().max(1)) as f64, 0f64..max * 1.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            values.iter().enumerate().map(|(i, v)| (i as f64 + 0.5, *v)),
            BLUE.stroke_width(2),
        ))
        .map_err(err)?;
    root.present().map_err(err)
}

/// Plots the distribution (empirical CDF) of per-player values.
pub fn distribution(path: &Path, title: &str, x_desc: &str, values: &[f64]) -> ChartResult {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let max = sorted.last().copied().unwrap_or(1.0).max(1e-6);
    let root = canvas(path)?;
    let mut chart = frame(&root, title, 50)
        .build_cartesian_2d(0f64..max * 1.1, 0f64..1f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("share of players at or below")
        .draw()
        .map_err(err)?;
    let n = sorted.len().max(1) as f64;
    chart
        .draw_series(LineSeries::new(
            sorted
                .iter()
                .enumerate()
                .map(|(i, v)| (*v, (i + 1) as f64 / n)),
            RED.stroke_width(2),
        ))
        .map_err(err)?;
    root.present().map_err(err)
}

/// Writes `index.html` in `dir` showing `table` and every chart.
pub fn html(dir: &Path, title: &str, table: &str, charts: &[PathBuf]) -> std::io::Result<PathBuf> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut page = format!(
        "<!doctype html><meta charset=utf-8><title>{t}</title>\
         <style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}img{{width:100%}}</style>\
         <h1>{t}</h1><pre>{}</pre>",
        escape(table),
        t = escape(title)
    );
    for c in charts {
        if let Some(name) = c.file_name().and_then(|n| n.to_str()) {
            page.push_str(&format!(
                "<p><img src=\"{}\" alt=\"{}\"></p>",
                escape(name),
                escape(name)
            ));
        }
    }
    let path = dir.join("index.html");
    std::fs::write(&path, page)?;
    Ok(path)
}

/// What to draw for one run.
pub struct RunCharts<'a> {
    /// Latency histograms by object type (or one "all" series).
    pub latency: Vec<(String, &'a Histogram<u64>)>,
    /// Completed requests per second.
    pub requests_per_second: &'a [u64],
    /// Body bytes per second.
    pub bytes_per_second: &'a [u64],
    /// Per-player startup seconds (players mode).
    pub startup_secs: Vec<f64>,
    /// Per-player rebuffer ratios (players mode).
    pub rebuffer_ratios: Vec<f64>,
}

/// Draws every chart of a run into `dir` and returns the files written.
pub fn write_all(dir: &Path, run: &RunCharts<'_>) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut files = Vec::new();
    let mut add = |name: &str, draw: &dyn Fn(&Path) -> ChartResult| -> ChartResult {
        let path = dir.join(name);
        draw(&path)?;
        files.push(path);
        Ok(())
    };
    add("latency_cdf.svg", &|p| {
        latency_cdf(p, "Latency CDF by object type", &run.latency)
    })?;
    let rps: Vec<f64> = run.requests_per_second.iter().map(|v| *v as f64).collect();
    add("requests_per_second.svg", &|p| {
        over_time(p, "Throughput", "requests/s", &rps)
    })?;
    let mbps: Vec<f64> = run
        .bytes_per_second
        .iter()
        .map(|v| *v as f64 * 8.0 / 1e6)
        .collect();
    add("bandwidth.svg", &|p| {
        over_time(p, "Bandwidth", "Mb/s", &mbps)
    })?;
    if !run.startup_secs.is_empty() {
        add("startup.svg", &|p| {
            distribution(p, "Startup time", "seconds", &run.startup_secs)
        })?;
    }
    if !run.rebuffer_ratios.is_empty() {
        add("rebuffer.svg", &|p| {
            distribution(
                p,
                "Rebuffer ratio",
                "stalled share of watch time",
                &run.rebuffer_ratios,
            )
        })?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in [100u64, 2_000, 15_000, 300_000] {
            h.record(v).unwrap();
        }
        let empty = Histogram::<u64>::new(3).unwrap();
        let run = RunCharts {
            latency: vec![("segment".into(), &h), ("init".into(), &empty)],
            requests_per_second: &[10, 20, 15],
            bytes_per_second: &[1_000_000, 2_000_000, 0],
            startup_secs: vec![0.2, 0.5, 1.5],
            rebuffer_ratios: vec![0.0, 0.0, 0.1],
        };
        let files = write_all(dir.path(), &run).unwrap();
        assert_eq!(files.len(), 5);
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(text.starts_with("<svg"), "{}", f.display());
        }
        let page = html(dir.path(), "run", "requests 3", &files).unwrap();
        let text = std::fs::read_to_string(page).unwrap();
        assert!(text.contains("latency_cdf.svg") && text.contains("requests 3"));
    }
}
