//! Minimal SVG line charts for the report: throughput against packet size (log-log) and latency
//! distributions (cumulative, log time axis). Plain text output, no dependencies.

use std::fmt::Write as _;

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    /// Dashed line (baselines).
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// An axis: logarithmic or linear, with its label.
#[derive(Clone, Copy)]
pub struct Axis<'a> {
    pub label: &'a str,
    pub log: bool,
}

const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 55.0;

fn bounds(series: &[Series], pick: impl Fn(&(f64, f64)) -> f64, log: bool) -> (f64, f64) {
    let values = series.iter().flat_map(|s| s.points.iter().map(&pick)).filter(|v| v.is_finite() && (!log || *v > 0.0));
    let (mut lo, mut hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        (lo, hi) = (1.0, 10.0);
    }
    if log {
        (10f64.powf(lo.log10().floor()), 10f64.powf(hi.log10().ceil().max(lo.log10().floor() + 1.0)))
    } else {
        let span = (hi - lo).max(1e-9);
        (0f64.min(lo), hi + span * 0.05)
    }
}

fn ticks(lo: f64, hi: f64, log: bool) -> Vec<f64> {
    if log {
        let mut out = Vec::new();
        let mut decade = lo;
        while decade <= hi * 1.0001 {
            for m in [1.0, 2.0, 5.0] {
                let v = decade * m;
                if v >= lo * 0.9999 && v <= hi * 1.0001 {
                    out.push(v);
                }
            }
            decade *= 10.0;
        }
        out
    } else {
        let raw = (hi - lo) / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(raw);
        let mut out = Vec::new();
        let mut v = (lo / step).ceil() * step;
        while v <= hi + step * 1e-6 {
            out.push(v);
            v += step;
        }
        out
    }
}

fn label(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{}", (v * 100.0).round() / 100.0)
    } else {
        format!("{}", (v * 1000.0).round() / 1000.0)
    }
}

/// Renders a chart of `series` as an SVG document.
pub fn chart(title: &str, x: Axis<'_>, y: Axis<'_>, series: &[Series]) -> String {
    let (x0, x1) = bounds(series, |p| p.0, x.log);
    let (y0, y1) = bounds(series, |p| p.1, y.log);
    let map = |v: f64, lo: f64, hi: f64, log: bool| {
        if log {
            (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10())
        } else {
            (v - lo) / (hi - lo)
        }
    };
    let px = |v: f64| LEFT + map(v, x0, x1, x.log) * (W - LEFT - RIGHT);
    let py = |v: f64| H - BOTTOM - map(v, y0, y1, y.log) * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{title}</text>"#,
        (W - RIGHT + LEFT) / 2.0
    );
    for t in ticks(x0, x1, x.log) {
        let p = px(t);
        let _ = writeln!(s, r##"<line x1="{p:.1}" y1="{TOP}" x2="{p:.1}" y2="{:.1}" stroke="#ddd"/>"##, H - BOTTOM);
        let _ =
            writeln!(s, r#"<text x="{p:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, H - BOTTOM + 16.0, label(t));
    }
    for t in ticks(y0, y1, y.log) {
        let p = py(t);
        let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{p:.1}" x2="{:.1}" y2="{p:.1}" stroke="#ddd"/>"##, W - RIGHT);
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, LEFT - 6.0, p + 4.0, label(t));
    }
    let _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (W - RIGHT + LEFT) / 2.0,
        H - 12.0,
        x.label
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
        (H - BOTTOM + TOP) / 2.0,
        (H - BOTTOM + TOP) / 2.0,
        y.label
    );
    for (i, line) in series.iter().enumerate() {
        let points: Vec<String> = line
            .points
            .iter()
            .filter(|(a, b)| a.is_finite() && b.is_finite() && (!x.log || *a > 0.0) && (!y.log || *b > 0.0))
            .map(|&(a, b)| format!("{:.1},{:.1}", px(a), py(b)))
            .collect();
        let dash = if line.dashed { r#" stroke-dasharray="6 4""# } else { "" };
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"/>"#,
            line.color,
            points.join(" ")
        );
        let ly = TOP + 14.0 + 20.0 * i as f64;
        let lx = W - RIGHT + 12.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/>"#,
            lx + 24.0,
            line.color
        );
        let _ = writeln!(s, r#"<text x="{}" y="{}">{}</text>"#, lx + 30.0, ly + 4.0, line.name);
    }
    s.push_str("</svg>\n");
    s
}
