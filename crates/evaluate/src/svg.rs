//! Hand-written SVG plots: a timeline per scenario and a bar chart of
//! violation-seconds per strategy.

use crate::strategy::Strategy;
use std::fmt::Write;

/// Colours per strategy, in [`Strategy::ALL`] order.
fn colour(s: Strategy) -> &'static str {
    match s {
        Strategy::None => "#7f7f7f",
        Strategy::Static => "#d62728",
        Strategy::Charter => "#1f77b4",
        Strategy::Oracle => "#2ca02c",
        Strategy::OracleDetect => "#9467bd",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" step for about `n` ticks over `span`.
/// The opening of a plot `W` wide and `h` high, on a white background.
fn open_svg(h: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{W}" height="{h}" fill="white"/>"#
    );
    out
}

fn nice_step(span: f64, n: f64) -> f64 {
    if span.is_nan() || span <= 0.0 {
        return 1.0;
    }
    let raw = span / n;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn fmt_num(x: f64) -> String {
    if x.abs() >= 100.0 || x == x.round() {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// One strategy's panel of a timeline.
#[derive(Debug, Clone)]
pub struct Panel {
    pub strategy: Strategy,
    /// `(seconds, value)`; `None` where the value was missing.
    pub points: Vec<(f64, Option<f64>)>,
    /// `(seconds, label)` of each applied action.
    pub actions: Vec<(f64, String)>,
}

/// A timeline of one series under every strategy.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub title: String,
    /// `objective@component`.
    pub series: String,
    pub duration_secs: f64,
    /// `(start, end)` of each fault.
    pub faults: Vec<(f64, f64)>,
    /// Warning and critical thresholds, drawn dashed.
    pub thresholds: Vec<(String, f64)>,
    pub panels: Vec<Panel>,
}

const W: f64 = 900.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const PANEL_H: f64 = 150.0;
const GAP: f64 = 40.0;
const TOP: f64 = 50.0;

/// Render a timeline: one panel per strategy with a shared y scale, the fault windows
/// shaded, thresholds dashed, actions as triangles labelled with their kind.
pub fn timeline(t: &Timeline) -> String {
    let values = t
        .panels
        .iter()
        .flat_map(|p| p.points.iter().filter_map(|(_, v)| *v))
        .chain(t.thresholds.iter().map(|(_, v)| *v));
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    lo = lo.min(0.0);
    if hi <= lo {
        hi = lo + 1.0;
    }
    hi += (hi - lo) * 0.05;
    let h = TOP + t.panels.len() as f64 * (PANEL_H + GAP) + 10.0;
    let plot_w = W - LEFT - RIGHT;
    let dur = t.duration_secs.max(1.0);
    let x = |s: f64| LEFT + s / dur * plot_w;
    let mut out = open_svg(h);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{}</text>"#,
        esc(&t.title)
    );
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="36">{} — shaded: fault active; dashed: thresholds; ▲: action</text>"#,
        esc(&t.series)
    );
    let ystep = nice_step(hi - lo, 4.0);
    let xstep = nice_step(dur / 60.0, 8.0) * 60.0;
    for (k, p) in t.panels.iter().enumerate() {
        let top = TOP + k as f64 * (PANEL_H + GAP);
        let bottom = top + PANEL_H;
        let y = |v: f64| bottom - (v - lo) / (hi - lo) * PANEL_H;
        let c = colour(p.strategy);
        for &(a, b) in &t.faults {
            let _ = writeln!(
                out,
                r##"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{PANEL_H}" fill="#f4c7c3" fill-opacity="0.5"/>"##,
                x(a),
                (x(b.min(dur)) - x(a)).max(1.0)
            );
        }
        // Axes and ticks.
        let _ = writeln!(
            out,
            r#"<line x1="{LEFT}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="black"/>"#,
            W - RIGHT
        );
        let _ = writeln!(
            out,
            r#"<line x1="{LEFT}" y1="{top:.1}" x2="{LEFT}" y2="{bottom:.1}" stroke="black"/>"#
        );
        let mut v = (lo / ystep).ceil() * ystep;
        while v <= hi {
            let _ = writeln!(
                out,
                r##"<line x1="{:.1}" y1="{yy:.1}" x2="{LEFT}" y2="{yy:.1}" stroke="black"/><line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT - 4.0,
                W - RIGHT,
                LEFT - 6.0,
                y(v) + 4.0,
                fmt_num(v),
                yy = y(v)
            );
            v += ystep;
        }
        let mut s = 0.0;
        while s <= dur {
            let _ = writeln!(
                out,
                r#"<line x1="{xx:.1}" y1="{bottom:.1}" x2="{xx:.1}" y2="{:.1}" stroke="black"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}m</text>"#,
                bottom + 4.0,
                bottom + 16.0,
                fmt_num(s / 60.0),
                xx = x(s)
            );
            s += xstep;
        }
        for (name, v) in &t.thresholds {
            let _ = writeln!(
                out,
                r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ff7f0e" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" fill="#ff7f0e">{}</text>"##,
                W - RIGHT,
                LEFT + 4.0,
                y(*v) - 2.0,
                esc(name),
                yy = y(*v)
            );
        }
        let pts: Vec<String> = p
            .points
            .iter()
            .filter_map(|(s, v)| v.map(|v| format!("{:.1},{:.1}", x(*s), y(v))))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{}"/>"#,
            pts.join(" ")
        );
        for (i, (s, label)) in p.actions.iter().enumerate() {
            let ax = x(*s);
            let ay = top + 10.0 + (i % 3) as f64 * 11.0;
            let _ = writeln!(
                out,
                r#"<path d="M{:.1},{:.1} l-4,8 h8 z" fill="{c}"/><text x="{:.1}" y="{:.1}" fill="{c}">{}</text>"#,
                ax,
                ay - 8.0,
                ax + 5.0,
                ay,
                esc(label)
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-weight="bold" fill="{c}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            top - 4.0,
            p.strategy
        );
    }
    out.push_str("</svg>\n");
    out
}

/// One group of bars (a scenario or `all`).
#[derive(Debug, Clone)]
pub struct BarGroup {
    pub label: String,
    /// One value per strategy.
    pub bars: Vec<(Strategy, f64)>,
}

/// A grouped bar chart; each group is scaled to its own maximum (printed above it)
/// so that small scenarios stay readable next to large ones.
pub fn bar_chart(title: &str, unit: &str, groups: &[BarGroup]) -> String {
    let strategies: Vec<Strategy> = {
        let mut v: Vec<Strategy> = groups
            .iter()
            .flat_map(|g| g.bars.iter().map(|(s, _)| *s))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let row_h = 20.0 + strategies.len() as f64 * 14.0;
    let h = 70.0 + groups.len() as f64 * row_h + 20.0;
    let label_w = 150.0;
    let plot_w = W - label_w - 120.0;
    let mut out = open_svg(h);
    let _ = writeln!(
        out,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let _ = writeln!(
        out,
        r#"<text x="10" y="36">{} — bars of one group share a scale; value at the bar's end</text>"#,
        esc(unit)
    );
    // Legend.
    for (i, s) in strategies.iter().enumerate() {
        let lx = label_w + i as f64 * 100.0;
        let _ = writeln!(
            out,
            r#"<rect x="{lx}" y="46" width="12" height="10" fill="{}"/><text x="{}" y="55">{s}</text>"#,
            colour(*s),
            lx + 16.0
        );
    }
    for (k, g) in groups.iter().enumerate() {
        let top = 70.0 + k as f64 * row_h;
        let max = g.bars.iter().map(|(_, v)| *v).fold(0.0, f64::max);
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-weight="bold">{}</text>"#,
            label_w - 8.0,
            top + 14.0,
            esc(&g.label)
        );
        let _ = writeln!(
            out,
            r##"<line x1="{label_w}" y1="{top:.1}" x2="{label_w}" y2="{:.1}" stroke="black"/>"##,
            top + row_h - 6.0
        );
        for (i, (s, v)) in g.bars.iter().enumerate() {
            let len = if max > 0.0 { v / max * plot_w } else { 0.0 };
            let y = top + 4.0 + i as f64 * 14.0;
            let _ = writeln!(
                out,
                r#"<rect x="{label_w}" y="{y:.1}" width="{len:.1}" height="11" fill="{}"><title>{s}: {v:.1}</title></rect><text x="{:.1}" y="{:.1}">{}</text>"#,
                colour(*s),
                label_w + len + 4.0,
                y + 9.5,
                fmt_num(*v)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tags open and close in order (self-closing ones count as both).
    fn balanced(svg: &str) -> bool {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            let Some(j) = rest[i..].find('>') else {
                return false;
            };
            let tag = &rest[i + 1..i + j];
            rest = &rest[i + j + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop().as_deref() != Some(name.trim()) {
                    return false;
                }
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap_or("");
                stack.push(name.to_string());
            }
        }
        stack.is_empty()
    }

    #[test]
    fn timeline_is_well_formed_with_one_polyline_per_strategy() {
        let t = Timeline {
            title: "traffic-surge <seed 1>".into(),
            series: "cpu_utilization@catalog".into(),
            duration_secs: 600.0,
            faults: vec![(60.0, 300.0)],
            thresholds: vec![("warning".into(), 0.85), ("critical".into(), 1.0)],
            panels: Strategy::ALL
                .iter()
                .map(|&s| Panel {
                    strategy: s,
                    points: (0..40)
                        .map(|i| (i as f64 * 15.0, (i != 7).then_some(0.5 + i as f64 / 50.0)))
                        .collect(),
                    actions: vec![(90.0, "scale_out".into())],
                })
                .collect(),
        };
        let svg = timeline(&t);
        assert!(balanced(&svg), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), Strategy::ALL.len());
        assert!(svg.contains("&lt;seed 1&gt;"));
        assert!(svg.contains(">scale_out</text>"));
        let bars = bar_chart(
            "violation-seconds",
            "mean per run",
            &[BarGroup {
                label: "all".into(),
                bars: vec![(Strategy::None, 10.0), (Strategy::Charter, 2.0)],
            }],
        );
        assert!(balanced(&bars), "{bars}");
        assert_eq!(bars.matches("<rect").count(), 1 + 2 + 2);
    }
}
