//! Small SVG and text helpers for the report: a canvas, axes, bars, lines,
//! legends, and number formats. No chart crate: the charts are few and simple,
//! and drawing them here keeps the report free of scripts and dependencies.

use std::fmt::Write as _;

use crate::money::Money;

/// Okabe–Ito colours, safe for the common kinds of colour blindness. Yellow is
/// left out: it is too pale on white.
pub(crate) const PALETTE: [&str; 7] = [
    "#0072B2", // blue
    "#E69F00", // orange
    "#009E73", // bluish green
    "#CC79A7", // reddish purple
    "#D55E00", // vermillion
    "#56B4E9", // sky blue
    "#000000", // black
];
/// Colours of the population groups in the turnout and representation charts:
/// the six Okabe–Ito colours above, then six of Paul Tol's "muted" scheme
/// that none of them resembles (indigo, dark green, olive, wine, sand,
/// teal), so that a district's usual ten groups (age bands and languages)
/// never share a colour.
pub(crate) const GROUP_COLOURS: [&str; 12] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#332288", "#117733",
    "#999933", "#882255", "#DDCC77", "#44AA99",
];
/// Dash patterns that tell lines apart where colours repeat or blur.
pub(crate) const DASHES: [Option<&str>; 3] = [None, Some("7 4"), Some("2 3")];

pub(crate) const BLUE: &str = PALETTE[0];
pub(crate) const ORANGE: &str = PALETTE[1];
pub(crate) const GREEN: &str = PALETTE[2];
pub(crate) const PURPLE: &str = PALETTE[3];
pub(crate) const SKY: &str = PALETTE[5];
/// Bars of projects that were not funded.
pub(crate) const GREY: &str = "#BDBDBD";
pub(crate) const INK: &str = "#1f2328";
pub(crate) const MUTED: &str = "#5b6470";
pub(crate) const GRID: &str = "#e4e7eb";

/// Width of every chart, in CSS pixels.
pub(crate) const WIDTH: f64 = 900.0;

/// Escapes text for HTML and SVG, in element content and in quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters have no place in a report; keep tabs and newlines.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The estimated width of `text` at `size` px in a sans-serif font (DejaVu Sans,
/// Liberation Sans, Arial run about 0.55–0.6 em a character).
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// `text`, cut with an ellipsis to fit `max` px at `size` px.
pub(crate) fn truncate(text: &str, max: f64, size: f64) -> String {
    if text_width(text, size) <= max {
        return text.to_owned();
    }
    let keep = ((max / (size * 0.6)).floor() as usize).saturating_sub(1);
    let mut out: String = text.chars().take(keep).collect();
    out = out.trim_end().to_owned();
    out.push('…');
    out
}

/// Whole numbers with a narrow no-break space between thousands: `12 345`.
pub(crate) fn group_digits(digits: &str) -> String {
    let n = digits.chars().count();
    let mut out = String::with_capacity(digits.len() + n / 3 * 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push('\u{202F}');
        }
        out.push(c);
    }
    out
}

/// An integer with grouped thousands and its sign.
pub(crate) fn int(n: i128) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", group_digits(&n.unsigned_abs().to_string()))
}

/// An integer change with an explicit sign: `+12`, `−3`, `±0`.
pub(crate) fn signed(n: i128) -> String {
    match n {
        0 => "±0".to_owned(),
        n if n > 0 => format!("+{}", int(n)),
        n => format!("−{}", group_digits(&n.unsigned_abs().to_string())),
    }
}

/// Money as [`Money`]'s `Display` writes it (every öre, then the currency code),
/// with the thousands grouped: `1 649 999.50 SEK`.
pub(crate) fn money(m: Money) -> String {
    let plain = m.to_string();
    let (amount, code) = plain.rsplit_once(' ').unwrap_or((plain.as_str(), ""));
    let (sign, amount) = match amount.strip_prefix('-') {
        Some(rest) => ("−", rest),
        None => ("", amount),
    };
    let (whole, fraction) = match amount.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (amount, None),
    };
    let mut out = format!("{sign}{}", group_digits(whole));
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    if !code.is_empty() {
        out.push('\u{A0}');
        out.push_str(code);
    }
    out
}

/// A change in money with an explicit sign.
pub(crate) fn money_change(m: Money) -> String {
    if m.is_zero() {
        return format!("±{}", money(m));
    }
    let text = money(m);
    if m.is_positive() {
        format!("+{text}")
    } else {
        text
    }
}

/// A share as a percentage with one decimal: `12.3 %`.
pub(crate) fn percent(share: f64) -> String {
    format!("{:.1}\u{A0}%", share * 100.0)
}

/// Basis points as signed percentage points: `+1.25 pp`.
pub(crate) fn points_change(bp: i64) -> String {
    let sign = match bp.signum() {
        0 => "±",
        1 => "+",
        _ => "−",
    };
    let abs = bp.unsigned_abs();
    format!("{sign}{}.{:02}\u{A0}pp", abs / 100, abs % 100)
}

/// A short axis label for an amount of major units: `250k`, `1.5M`.
pub(crate) fn short_amount(v: f64) -> String {
    let a = v.abs();
    let (x, unit) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = format!("{x:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s).to_owned();
    format!("{s}{unit}")
}

/// Round tick values from zero to at least `max`, about `target` of them:
/// steps of 1, 2 or 5 times a power of ten.
pub(crate) fn nice_ticks(max: f64, target: usize) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / target.max(1) as f64;
    let magnitude = 10_f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let count = (max / step).ceil().max(1.0) as usize;
    (0..=count).map(|i| i as f64 * step).collect()
}

/// How text is anchored at its point.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    /// A filled square.
    Swatch(&'a str),
    /// A line with a point, and its dash pattern.
    Line(&'a str, Option<&'a str>),
    /// A dashed reference line.
    Rule(&'a str),
}

/// An SVG canvas being drawn.
#[derive(Debug)]
pub(crate) struct Svg {
    width: f64,
    height: f64,
    label: String,
    body: String,
}

/// Rounds a coordinate to a tenth of a pixel for compact output.
fn r(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

impl Svg {
    /// A canvas of `width` × `height` px; `label` describes the chart for screen
    /// readers.
    pub(crate) fn new(width: f64, height: f64, label: &str) -> Svg {
        Svg {
            width,
            height,
            label: label.to_owned(),
            body: String::new(),
        }
    }

    /// A rectangle; `tip` becomes its tooltip.
    pub(crate) fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, tip: Option<&str>) {
        let _ = write!(
            self.body,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}""#,
            r(x),
            r(y),
            r(w.max(0.0)),
            r(h.max(0.0))
        );
        match tip {
            Some(t) => {
                let _ = write!(self.body, "><title>{}</title></rect>", escape(t));
            }
            None => self.body.push_str("/>"),
        }
    }

    /// A straight line.
    pub(crate) fn line(
        &mut self,
        (x1, y1): (f64, f64),
        (x2, y2): (f64, f64),
        stroke: &str,
        width: f64,
        dash: Option<&str>,
    ) {
        let _ = write!(
            self.body,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{stroke}" stroke-width="{width}""#,
            r(x1),
            r(y1),
            r(x2),
            r(y2)
        );
        if let Some(d) = dash {
            let _ = write!(self.body, r#" stroke-dasharray="{d}""#);
        }
        self.body.push_str("/>");
    }

    /// A line through `points`.
    pub(crate) fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, dash: Option<&str>) {
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{},{}", r(*x), r(*y)))
            .collect();
        let _ = write!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{stroke}" stroke-width="2.5" stroke-linejoin="round""#,
            pts.join(" ")
        );
        if let Some(d) = dash {
            let _ = write!(self.body, r#" stroke-dasharray="{d}""#);
        }
        self.body.push_str("/>");
    }

    /// A point marker; `tip` becomes its tooltip.
    pub(crate) fn dot(&mut self, x: f64, y: f64, fill: &str, tip: Option<&str>) {
        let _ = write!(
            self.body,
            r##"<circle cx="{}" cy="{}" r="4.5" fill="{fill}" stroke="#fff" stroke-width="1.5""##,
            r(x),
            r(y)
        );
        match tip {
            Some(t) => {
                let _ = write!(self.body, "><title>{}</title></circle>", escape(t));
            }
            None => self.body.push_str("/>"),
        }
    }

    /// Text (escaped) in one of the report's text classes (`lbl`, `tick`,
    /// `val`, `strong`, `note`).
    pub(crate) fn text(&mut self, x: f64, y: f64, text: &str, anchor: Anchor, class: &str) {
        let _ = write!(
            self.body,
            r#"<text x="{}" y="{}" text-anchor="{}" class="{class}">{}</text>"#,
            r(x),
            r(y),
            anchor.as_str(),
            escape(text)
        );
    }

    /// Text with a tooltip holding the full text it may have been cut from.
    pub(crate) fn text_tip(
        &mut self,
        x: f64,
        y: f64,
        text: &str,
        tip: &str,
        anchor: Anchor,
        class: &str,
    ) {
        let _ = write!(
            self.body,
            r#"<text x="{}" y="{}" text-anchor="{}" class="{class}"><title>{}</title>{}</text>"#,
            r(x),
            r(y),
            anchor.as_str(),
            escape(tip),
            escape(text)
        );
    }

    /// A horizontal value axis along `y` from `x0` to `x1` with vertical grid
    /// lines up to `top`; `ticks` in data units, `scale` maps them to pixels
    /// from `x0`.
    pub(crate) fn x_axis(
        &mut self,
        (x0, x1): (f64, f64),
        (top, y): (f64, f64),
        ticks: &[f64],
        scale: f64,
        format: impl Fn(f64) -> String,
    ) {
        for &t in ticks {
            let x = x0 + t * scale;
            if x > x1 + 0.5 {
                break;
            }
            self.line((x, top), (x, y), GRID, 1.0, None);
            self.text(x, y + 14.0, &format(t), Anchor::Middle, "tick");
        }
        self.line((x0, top), (x0, y), MUTED, 1.0, None);
    }

    /// A vertical value axis at `x` from `bottom` up, with horizontal grid lines
    /// to `x1`; `scale` maps data units to pixels upwards.
    pub(crate) fn y_axis(
        &mut self,
        (x, x1): (f64, f64),
        bottom: f64,
        ticks: &[f64],
        scale: f64,
        format: impl Fn(f64) -> String,
    ) {
        for &t in ticks {
            let y = bottom - t * scale;
            self.line((x, y), (x1, y), GRID, 1.0, None);
            self.text(x - 6.0, y + 4.0, &format(t), Anchor::End, "tick");
        }
        self.line((x, bottom), (x1, bottom), MUTED, 1.0, None);
    }

    /// A legend from `(x, y)` (top left), wrapping before `max_x`; returns the
    /// height it took.
    pub(crate) fn legend(
        &mut self,
        x: f64,
        y: f64,
        max_x: f64,
        items: &[(Key<'_>, String)],
    ) -> f64 {
        let (mut cx, mut cy) = (x, y);
        let row = 20.0;
        for (key, label) in items {
            let w = 26.0 + text_width(label, 12.0) + 18.0;
            if cx > x && cx + w > max_x {
                cx = x;
                cy += row;
            }
            match key {
                Key::Swatch(c) => self.rect(cx, cy + 2.0, 12.0, 12.0, c, None),
                Key::Line(c, dash) => {
                    self.line((cx - 2.0, cy + 8.0), (cx + 18.0, cy + 8.0), c, 2.5, *dash);
                    self.dot(cx + 8.0, cy + 8.0, c, None);
                }
                Key::Rule(c) => {
                    self.line(
                        (cx - 2.0, cy + 8.0),
                        (cx + 18.0, cy + 8.0),
                        c,
                        1.5,
                        Some("6 4"),
                    );
                }
            }
            let tx = if matches!(key, Key::Line(..) | Key::Rule(..)) {
                cx + 24.0
            } else {
                cx + 18.0
            };
            self.text(tx, cy + 12.5, label, Anchor::Start, "lbl");
            cx += w;
        }
        cy + row - y
    }

    /// The finished `<svg>` element.
    pub(crate) fn finish(self) -> String {
        format!(
            r#"<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">{body}</svg>"#,
            w = r(self.width),
            h = r(self.height),
            label = escape(&self.label),
            body = self.body
        )
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn twelve_groups_have_twelve_colours() {
        let distinct: std::collections::HashSet<&str> = GROUP_COLOURS.iter().copied().collect();
        assert_eq!(distinct.len(), GROUP_COLOURS.len());
        assert!(GROUP_COLOURS.len() >= 10, "a district's usual ten groups");
        for c in GROUP_COLOURS {
            assert_ne!(c, GREY, "grey marks projects not funded");
        }
    }

    use super::*;
    use crate::money::Currency;

    #[test]
    fn formats() {
        assert_eq!(escape(r#"<b>&"'"#), "&lt;b&gt;&amp;&quot;&#39;");
        assert_eq!(group_digits("1234567"), "1\u{202F}234\u{202F}567");
        assert_eq!(group_digits("123"), "123");
        assert_eq!(
            money(Money::new(164_999_950, Currency::SEK)),
            "1\u{202F}649\u{202F}999.50\u{A0}SEK"
        );
        assert_eq!(money(Money::new(-5, Currency::SEK)), "−0.05\u{A0}SEK");
        assert_eq!(points_change(-125), "−1.25\u{A0}pp");
        assert_eq!(points_change(0), "±0.00\u{A0}pp");
        assert_eq!(signed(-1234), "−1\u{202F}234");
        assert_eq!(short_amount(250_000.0), "250k");
        assert_eq!(short_amount(1_500_000.0), "1.5M");
        assert_eq!(nice_ticks(9.0, 4), vec![0.0, 2.5, 5.0, 7.5, 10.0]);
        assert_eq!(nice_ticks(0.0, 4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(truncate("abcdefghij", 6.0 * 0.6 * 10.0, 10.0), "abcde…");
    }
}
