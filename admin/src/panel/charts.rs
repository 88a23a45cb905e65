//! Charts drawn as SVG on the server (no script, no external library, no inline style — only
//! presentation attributes, which the panel's content security policy allows).

use std::fmt::Write;

use gridline_shared::text::escape_html as esc;

/// One bar.
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Text shown at the end of the bar (e.g. `12` or `57.1%`).
    pub text: String,
    pub color: &'static str,
}

impl Bar {
    /// A bar of a count, the count written at its end.
    pub fn count(label: impl Into<String>, n: u64, color: &'static str) -> Bar {
        Bar {
            label: label.into(),
            value: n as f64,
            text: n.to_string(),
            color,
        }
    }
}

/// A horizontal bar chart; `max` = the value of a full bar (the largest value when `None`).
pub fn hbars(title: &str, bars: &[Bar], max: Option<f64>) -> String {
    const W: f64 = 560.0;
    const LABEL_W: f64 = 150.0;
    const ROW: f64 = 24.0;
    const TOP: f64 = 26.0;
    let max = max
        .unwrap_or_else(|| bars.iter().map(|b| b.value).fold(0.0, f64::max))
        .max(f64::EPSILON);
    let h = TOP + ROW * bars.len().max(1) as f64 + 6.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {h}" width="100%" role="img" aria-label="{t}"><title>{t}</title><text x="0" y="16" font-size="14" font-weight="bold" fill="#1f2933">{t}</text>"##,
        t = esc(title)
    );
    let bar_w = W - LABEL_W - 70.0;
    for (i, b) in bars.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let w = (b.value / max).clamp(0.0, 1.0) * bar_w;
        let _ = write!(
            s,
            r##"<text x="{lx}" y="{ty}" font-size="12" text-anchor="end" fill="#1f2933">{label}</text><rect x="{bx}" y="{y}" width="{w:.1}" height="{bh}" rx="2" fill="{c}"/><text x="{vx:.1}" y="{ty}" font-size="12" fill="#61707d">{text}</text>"##,
            lx = LABEL_W - 6.0,
            ty = y + 14.0,
            label = esc(&b.label),
            bx = LABEL_W,
            bh = ROW - 8.0,
            c = b.color,
            vx = LABEL_W + w + 6.0,
            text = esc(&b.text),
        );
    }
    if bars.is_empty() {
        let _ = write!(
            s,
            r##"<text x="{LABEL_W}" y="{}" font-size="12" fill="#61707d">—</text>"##,
            TOP + 14.0
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_labels() {
        let svg = hbars(
            "a<b",
            &[Bar {
                label: "<script>".into(),
                value: 1.0,
                text: "1".into(),
                color: "#123",
            }],
            None,
        );
        assert!(svg.starts_with("<svg"));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("style="));
    }
}
