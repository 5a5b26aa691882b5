//! SVG bar charts of a report: one per workload, the median of each backend with its p90 as a whisker.

use std::path::Path;

use plotters::prelude::*;

use crate::Report;
use crate::report::format_value;

const COLORS: [RGBColor; 4] =
    [RGBColor(52, 120, 198), RGBColor(229, 126, 37), RGBColor(76, 160, 90), RGBColor(150, 90, 170)];

/// Writes `DIR/<workload>.svg` for every workload with samples, creating `dir` if needed; returns the files written.
///
/// # Errors
/// `dir` cannot be created, or a chart cannot be drawn or written.
pub fn write_charts(report: &Report, dir: &Path) -> Result<Vec<std::path::PathBuf>, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut workloads: Vec<&str> = Vec::new();
    for measurement in &report.measurements {
        if !workloads.contains(&measurement.workload.as_str()) {
            workloads.push(&measurement.workload);
        }
    }
    for workload in workloads {
        let rows: Vec<_> =
            report.measurements.iter().filter(|m| m.workload == workload && m.summary.is_some()).collect();
        if rows.is_empty() {
            continue;
        }
        let path = dir.join(format!("{workload}.svg"));
        let height = 70 + 44 * rows.len() as u32;
        let root = SVGBackend::new(&path, (720, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = rows.iter().map(|m| m.summary.unwrap().p90).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
        let title = format!("{workload}: {}", rows[0].description);
        root.draw(&Text::new(title, (12, 12), ("sans-serif", 16).into_font()))?;
        let (left, right) = (90.0, 600.0);
        for (i, m) in rows.iter().enumerate() {
            let summary = m.summary.unwrap();
            let y = 48 + 44 * i as i32;
            let x = |value: f64| (left + (right - left) * value / max) as i32;
            let color = COLORS[i % COLORS.len()];
            root.draw(&Text::new(m.backend.clone(), (12, y + 8), ("sans-serif", 14).into_font()))?;
            root.draw(&Rectangle::new([(left as i32, y), (x(summary.median), y + 26)], color.filled()))?;
            root.draw(&PathElement::new(vec![(x(summary.median), y + 13), (x(summary.p90), y + 13)], BLACK))?;
            root.draw(&PathElement::new(vec![(x(summary.p90), y + 6), (x(summary.p90), y + 20)], BLACK))?;
            let label = format!("{} (p90 {})", format_value(summary.median, m.unit), format_value(summary.p90, m.unit));
            root.draw(&Text::new(label, (x(summary.p90) + 6, y + 8), ("sans-serif", 12).into_font()))?;
        }
        root.present()?;
        drop(root);
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Measurement;

    #[test]
    fn one_chart_per_workload_even_when_backends_interleave() {
        let report = crate::report::fixture(vec![
            Measurement::new("memory-rss", "", "wasm", "KiB", vec![250.0]),
            Measurement::new("memory-pss", "", "wasm", "KiB", vec![120.0]),
            Measurement::new("memory-rss", "", "v8", "KiB", vec![900.0]),
            Measurement::new("memory-pss", "", "v8", "KiB", vec![900.0]),
        ]);
        let dir = std::env::temp_dir().join(format!("isobox-charts-{}", std::process::id()));
        let files = write_charts(&report, &dir).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["memory-rss.svg", "memory-pss.svg"]);
        let svg = std::fs::read_to_string(dir.join("memory-rss.svg")).unwrap();
        assert!(svg.contains("wasm") && svg.contains("v8"), "{svg}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
