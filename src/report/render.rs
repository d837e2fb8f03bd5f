//! Writing a [`Report`] as HTML: the page, its tables and its charts.

use std::fmt::Write as _;

use super::svg::{
    self, Anchor, BLUE, DASHES, GREEN, GREY, GROUP_COLOURS, INK, Key, ORANGE, PURPLE, SKY, Svg,
    WIDTH, escape, int, money, money_change, percent, points_change, signed, text_width, truncate,
};
use super::{Explained, Needed, ProgrammePart, ProjectRow, Report, RuleRun, YearPart};
use crate::followup::{CycleMetrics, Proportionality, YearChange};
use crate::money::{Currency, Money};
use crate::process::Step;
use crate::tally::{Fraction, Measure};

const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #1f2328;
  font: 15px/1.5 "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; }
main { max-width: 960px; margin: 0 auto; padding: 24px 30px 40px; background: #fff; }
header { border-bottom: 3px solid #0072B2; padding-bottom: 12px; margin-bottom: 18px; }
.kicker { margin: 0; color: #5b6470; font-size: 13px; letter-spacing: .06em; text-transform: uppercase; }
h1 { margin: 2px 0 4px; font-size: 30px; line-height: 1.2; }
h2 { margin: 34px 0 8px; font-size: 22px; border-bottom: 1px solid #e4e7eb; padding-bottom: 4px; }
h3 { margin: 22px 0 6px; font-size: 16px; }
p { margin: 6px 0; }
.sub, .note { color: #5b6470; }
.note { font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; margin: 12px 0; }
.cards.six { grid-template-columns: repeat(6, 1fr); }
.card { border: 1px solid #e4e7eb; border-radius: 6px; padding: 8px 12px; background: #fafbfc; }
.card .k { display: block; color: #5b6470; font-size: 12px; }
.card .v { display: block; font-size: 17px; font-weight: bold; white-space: nowrap; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 13.5px; }
th, td { padding: 5px 8px; border-bottom: 1px solid #e4e7eb; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #5b6470; white-space: nowrap; }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
.chg { display: block; color: #5b6470; font-size: 12px; }
.yes { color: #0072B2; font-weight: bold; }
.bad { color: #D55E00; font-weight: bold; }
figure { margin: 10px 0 6px; }
figcaption { color: #5b6470; font-size: 13px; margin-top: 2px; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; fill: #1f2328; }
svg .lbl { font-size: 12px; }
svg .strong { font-size: 12px; font-weight: bold; }
svg .tick { font-size: 11px; fill: #5b6470; }
svg .val { font-size: 11px; }
svg .head { font-size: 12.5px; font-weight: bold; }
svg .note { font-size: 11px; fill: #5b6470; }
svg .inv { font-size: 11px; font-weight: bold; fill: #fff; }
ul.lessons { margin: 4px 0; padding-left: 22px; }
.record code { font-size: 12.5px; overflow-wrap: anywhere; }
footer { margin-top: 34px; padding-top: 10px; border-top: 1px solid #e4e7eb; color: #5b6470; font-size: 12.5px; }
@media print { body { background: #fff; } main { padding: 0; } section.year { break-before: page; } }
"#;

/// The whole document.
pub(super) fn html(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = page_title(report);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"medborgarbudget {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>",
        env!("CARGO_PKG_VERSION"),
        escape(&title)
    );
    header(&mut out, report);
    if let Some(p) = &report.programme {
        programme(&mut out, report, p);
    }
    for y in &report.years {
        year(&mut out, y, report.programme.is_some());
    }
    if let Some((stream, verified)) = report.head() {
        record(&mut out, stream, verified);
    }
    let _ = writeln!(
        out,
        "<footer>Made by medborgarbudget {} from the cycle's recorded events. Counts and amounts are exact \
         (money to the öre); percentages are rounded to one decimal. Turnout is voters over the district's \
         population; representation is a group's share of voters over its share of the population (1 is \
         proportional). Equal shares is the Method of Equal Shares without completion, counted on the same \
         ballots with the same tie-breaking.</footer>\n</main>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
    out
}

/// The published head of the stream the report was made from.
fn record(out: &mut String, stream: &crate::store::StreamId, v: &crate::store::Verified) {
    let seal = match (v.sealed, v.seal) {
        (true, _) => "its seal was verified with the log key".to_owned(),
        (false, Some(_)) => {
            "it is sealed, but the seal was not checked: the log key was not at hand".to_owned()
        }
        (false, None) => "it carries no seal: the store was written without a log key".to_owned(),
    };
    let _ = writeln!(
        out,
        "<section class=\"record\" id=\"record\">\n<h2>The record</h2>\n\
         <p>This report was made from the event log <code>{}</code>: {} events, every link of its hash \
         chain checked, ending at the head below; {}. Keep the head: a copy of the log exported later \
         (its last line) must end at the same head, or the log was changed after this report.</p>\n\
         <p class=\"head\">Head: event {}, <code>{}</code>{}</p>\n</section>",
        escape(stream.as_str()),
        v.events,
        seal,
        v.events,
        v.head,
        v.seal
            .map(|s| format!("<br>Seal: <code>{s}</code>"))
            .unwrap_or_default(),
    );
}

fn years_text(report: &Report) -> String {
    match &report.programme {
        Some(p) => {
            let last = p.first_year + i32::from(p.committed) - 1;
            format!("{}–{last}", p.first_year)
        }
        None => report
            .years
            .first()
            .map(|y| y.metrics.year.to_string())
            .unwrap_or_default(),
    }
}

fn page_title(report: &Report) -> String {
    format!(
        "Medborgarbudget {} {} — report",
        report.area,
        years_text(report)
    )
}

fn header(out: &mut String, report: &Report) {
    let kind = if report.programme.is_some() {
        "Programme report"
    } else {
        "Cycle report"
    };
    let _ = writeln!(
        out,
        "<header>\n<p class=\"kicker\">Medborgarbudget · participatory budgeting · {kind}</p>\n<h1>{} {}</h1>",
        escape(&report.area),
        escape(&years_text(report))
    );
    match &report.programme {
        Some(p) => {
            let counted = report.years.len();
            let carry = if p.carry_over {
                "unspent money carries over"
            } else {
                "no carry-over"
            };
            let _ = writeln!(
                out,
                "<p class=\"sub\">A programme of {} committed years from {}: {counted} counted so far, {} abandoned; {carry}.</p>",
                p.committed,
                p.first_year,
                p.abandoned.len()
            );
        }
        None => {
            if let Some(y) = report.years.first() {
                let _ = writeln!(
                    out,
                    "<p class=\"sub\">The cycle of {}, now in step: {}.</p>",
                    y.metrics.year,
                    step_text(y.step)
                );
            }
        }
    }
    out.push_str("</header>\n");
}

fn step_text(step: Step) -> String {
    match step.number() {
        Some(n) => format!("{n}. {} ({})", step.label_en(), step.label_sv()),
        None => format!("{} ({})", step.label_en(), step.label_sv()),
    }
}

fn card(out: &mut String, key: &str, value: &str) {
    let _ = write!(
        out,
        "<div class=\"card\"><span class=\"k\">{}</span><span class=\"v\">{}</span></div>",
        escape(key),
        escape(value)
    );
}

fn share(f: &Fraction) -> String {
    percent(f.value())
}

// ---------------------------------------------------------------- programme

fn programme(out: &mut String, report: &Report, p: &ProgrammePart) {
    let m = &p.metrics;
    out.push_str("<section>\n<div class=\"cards\">");
    card(out, "Set aside by the council", &money(m.set_aside));
    card(out, "Spent", &money(m.spent));
    card(out, "Carried over", &money(m.carried_over));
    card(out, "Left at the end", &money(m.left_at_end));
    let voters: u64 = m.years.iter().map(|y| y.voters).sum();
    card(out, "Ballots, all years", &int(i128::from(voters)));
    let co: u64 = m.years.iter().map(|y| y.co_creators).sum();
    card(out, "Co-creators, all years", &int(i128::from(co)));
    out.push_str("</div>\n");
    for (year, step, reason) in &p.abandoned {
        let _ = writeln!(
            out,
            "<p class=\"bad\">{year}: abandoned in step {} — {}</p>",
            escape(&step_text(*step)),
            escape(reason)
        );
    }
    for (year, step) in &p.running {
        let _ = writeln!(
            out,
            "<p class=\"note\">{year}: not counted yet (step {}).</p>",
            escape(&step_text(*step))
        );
    }
    out.push_str("</section>\n");

    out.push_str("<section>\n<h2>Who took part, year by year</h2>\n");
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>Turnout: voters as a share of the district's population, overall and by group.</figcaption></figure>",
        turnout_chart(&m.years)
    );
    if m.years.iter().any(|y| !y.groups.is_empty()) {
        let _ = writeln!(
            out,
            "<figure>{}<figcaption>Representation: a group's share of the voters divided by its share of the population. Below 1 the group is under-represented.</figcaption></figure>",
            representation_chart(&m.years)
        );
    }
    out.push_str("</section>\n");

    out.push_str("<section>\n<h2>The main measures per year</h2>\n");
    measures_table(out, report, &m.years, &m.changes);
    out.push_str("</section>\n");
    deliveries(out, p);
}

/// Projects handed over to the programme: the plan as first made and now, the
/// estimate, where each stands and how many updates it has had.
fn deliveries(out: &mut String, p: &ProgrammePart) {
    if p.deliveries.is_empty() {
        return;
    }
    out.push_str(
        "<section>\n<h2>Projects built across years</h2>\n<p>Funded projects still being built when \
         their year ended, handed over to the programme and reported on until completed or \
         cancelled.</p>\n<table>\n<thead><tr><th>Year</th><th>Project</th><th>Planned</th>\
         <th>Estimate</th><th>Status</th><th>Spent</th><th>Updates</th></tr></thead>\n<tbody>\n",
    );
    for d in &p.deliveries {
        let planned = if d.planned_completion == d.handed_over.planned_completion {
            d.planned_completion.to_string()
        } else {
            format!(
                "{} → {}",
                d.handed_over.planned_completion, d.planned_completion
            )
        };
        let status = match &d.status {
            crate::project::DeliveryStatus::InProgress => {
                format!("being built ({} %)", d.progress.percent())
            }
            crate::project::DeliveryStatus::Completed { at, .. } => {
                format!("completed {}", at.date_naive())
            }
            crate::project::DeliveryStatus::Cancelled { at, reason, .. } => {
                format!("cancelled {}: {reason}", at.date_naive())
            }
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            d.year,
            escape(&d.title),
            escape(&planned),
            escape(&money(d.estimate)),
            escape(&status),
            escape(&d.spent().map_or_else(|| "–".to_owned(), money)),
            d.history.len()
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// Each group of any year, in order of first appearance: (dimension, group).
fn group_keys(years: &[CycleMetrics]) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for y in years {
        for g in &y.groups {
            if !keys.iter().any(|(d, n)| *d == g.dimension && *n == g.group) {
                keys.push((g.dimension.clone(), g.group.clone()));
            }
        }
    }
    keys
}

fn group_label((dimension, group): &(String, String)) -> String {
    format!("{dimension} {group}")
}

/// The x position of year `i` of `n` between `x0` and `x1`.
fn slot(i: usize, n: usize, x0: f64, x1: f64) -> f64 {
    let w = (x1 - x0) / n.max(1) as f64;
    x0 + w * (i as f64 + 0.5)
}

/// A line of the turnout chart: label, colour, dash, one value a year.
type Series<'a> = (String, &'a str, Option<&'a str>, Vec<Option<f64>>);

fn turnout_chart(years: &[CycleMetrics]) -> String {
    let keys = group_keys(years);
    let mut series: Vec<Series<'_>> = Vec::new();
    series.push((
        "All residents".to_owned(),
        INK,
        Some("7 4"),
        years.iter().map(|y| Some(y.turnout.value())).collect(),
    ));
    for (i, key) in keys.iter().enumerate() {
        let colour = GROUP_COLOURS[i % GROUP_COLOURS.len()];
        let dash = DASHES[(i / GROUP_COLOURS.len()) % DASHES.len()];
        let values = years
            .iter()
            .map(|y| {
                y.groups
                    .iter()
                    .find(|g| g.dimension == key.0 && g.group == key.1)
                    .and_then(|g| g.turnout.map(|t| t.value()))
            })
            .collect();
        series.push((group_label(key), colour, dash, values));
    }
    let max = series
        .iter()
        .flat_map(|s| s.3.iter().flatten())
        .fold(0.0_f64, |a, &b| a.max(b));
    let ticks = svg::nice_ticks(max * 100.0, 5);
    let top_tick = ticks.last().copied().unwrap_or(1.0);

    let items: Vec<(Key<'_>, String)> = series
        .iter()
        .map(|(label, colour, dash, _)| (Key::Line(colour, *dash), label.clone()))
        .collect();
    let (x0, x1) = (70.0, WIDTH - 30.0);
    let mut probe = Svg::new(WIDTH, 0.0, "");
    let legend_h = probe.legend(x0, 0.0, x1, &items);
    let top = 20.0 + legend_h + 14.0;
    let plot_h = 230.0;
    let bottom = top + plot_h;
    let height = bottom + 40.0;
    let mut s = Svg::new(
        WIDTH,
        height,
        "Line chart: turnout by population group over the years",
    );
    s.legend(x0, 12.0, x1, &items);
    let scale = plot_h / top_tick;
    s.y_axis((x0, x1), bottom, &ticks, scale, |t| format!("{t} %"));
    let n = years.len();
    for (i, y) in years.iter().enumerate() {
        s.text(
            slot(i, n, x0, x1),
            bottom + 18.0,
            &y.year.to_string(),
            Anchor::Middle,
            "lbl",
        );
    }
    for (label, colour, dash, values) in &series {
        let points: Vec<(f64, f64, f64)> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (slot(i, n, x0, x1), bottom - v * 100.0 * scale, v)))
            .collect();
        let line: Vec<(f64, f64)> = points.iter().map(|(x, y, _)| (*x, *y)).collect();
        if line.len() > 1 {
            s.polyline(&line, colour, *dash);
        }
        for (i, (x, y, v)) in points.iter().enumerate() {
            let year = years.get(i).map(|y| y.year).unwrap_or_default();
            s.dot(
                *x,
                *y,
                colour,
                Some(&format!("{label}, {year}: {}", percent(*v))),
            );
        }
    }
    s.finish()
}

fn representation_chart(years: &[CycleMetrics]) -> String {
    let keys = group_keys(years);
    let mut items: Vec<(Key<'_>, String)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                Key::Swatch(GROUP_COLOURS[i % GROUP_COLOURS.len()]),
                group_label(k),
            )
        })
        .collect();
    items.push((Key::Rule(INK), "1 = proportional".to_owned()));
    let (x0, x1) = (70.0, WIDTH - 30.0);
    let mut probe = Svg::new(WIDTH, 0.0, "");
    let legend_h = probe.legend(x0, 0.0, x1, &items);
    let max = years
        .iter()
        .flat_map(|y| {
            y.groups
                .iter()
                .filter_map(|g| g.representation.map(|r| r.value()))
        })
        .fold(1.2_f64, f64::max);
    let ticks = svg::nice_ticks(max * 1.08, 5);
    let top_tick = ticks.last().copied().unwrap_or(1.5);
    let top = 20.0 + legend_h + 14.0;
    let plot_h = 210.0;
    let bottom = top + plot_h;
    let mut s = Svg::new(
        WIDTH,
        bottom + 40.0,
        "Grouped bar chart: representation of each population group per year",
    );
    s.legend(x0, 12.0, x1, &items);
    let scale = plot_h / top_tick;
    s.y_axis((x0, x1), bottom, &ticks, scale, |t| format!("{t}"));
    let n = years.len();
    let slot_w = (x1 - x0) / n.max(1) as f64;
    let bars = keys.len().max(1) as f64;
    let bar_w = ((slot_w * 0.78) / bars).min(56.0);
    for (i, y) in years.iter().enumerate() {
        let cx = slot(i, n, x0, x1);
        s.text(
            cx,
            bottom + 18.0,
            &y.year.to_string(),
            Anchor::Middle,
            "lbl",
        );
        let start = cx - bar_w * bars / 2.0;
        for (k, key) in keys.iter().enumerate() {
            let Some(g) = y
                .groups
                .iter()
                .find(|g| g.dimension == key.0 && g.group == key.1)
            else {
                continue;
            };
            // A suppressed count (too few voters to publish) has no bar.
            let (Some(representation), Some(voters), Some(turnout)) =
                (g.representation, g.voters, g.turnout)
            else {
                continue;
            };
            let v = representation.value();
            let h = v * scale;
            let x = start + bar_w * k as f64;
            let tip = format!(
                "{}, {}: representation {:.2} ({} of {} voted, {})",
                group_label(key),
                y.year,
                v,
                int(i128::from(voters)),
                int(i128::from(g.population)),
                percent(turnout.value())
            );
            s.rect(
                x + 1.0,
                bottom - h,
                bar_w - 2.0,
                h,
                GROUP_COLOURS[k % GROUP_COLOURS.len()],
                Some(&tip),
            );
            if bar_w >= 26.0 {
                s.text(
                    x + bar_w / 2.0,
                    bottom - h - 4.0,
                    &format!("{v:.2}"),
                    Anchor::Middle,
                    "val",
                );
            }
        }
    }
    let y1 = bottom - scale;
    s.line((x0, y1), (x1, y1), INK, 1.5, Some("6 4"));
    s.finish()
}

/// A cell: the value and, under it, the change from the year before.
fn cell(out: &mut String, value: &str, change: Option<String>) {
    let _ = write!(out, "<td class=\"num\">{}", escape(value));
    if let Some(c) = change {
        let _ = write!(out, "<span class=\"chg\">{}</span>", escape(&c));
    }
    out.push_str("</td>");
}

fn ejr(p: &Proportionality) -> String {
    match p {
        Proportionality::Exact { ejr_up_to_one, .. } => {
            if *ejr_up_to_one {
                "EJR-1 holds".to_owned()
            } else {
                "EJR-1 violated".to_owned()
            }
        }
        Proportionality::Indicator {
            violations,
            checked,
        } => format!("{violations} of {checked} sets violate"),
        #[allow(unreachable_patterns)]
        _ => "not checked".to_owned(),
    }
}

fn measures_table(
    out: &mut String,
    report: &Report,
    years: &[CycleMetrics],
    changes: &[YearChange],
) {
    out.push_str("<table>\n<thead><tr><th>Measure</th>");
    for y in years {
        let _ = write!(out, "<th>{}</th>", y.year);
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let change_of = |year: i32| changes.iter().find(|c| c.year == year);
    type Row<'a> = (
        &'a str,
        Box<dyn Fn(&CycleMetrics) -> String + 'a>,
        Box<dyn Fn(&YearChange) -> String + 'a>,
    );
    let none = || -> Box<dyn Fn(&YearChange) -> String> { Box::new(|_| String::new()) };
    let rows: Vec<Row<'_>> = vec![
        (
            "Voters",
            Box::new(|m| int(i128::from(m.voters))),
            Box::new(|c| signed(i128::from(c.voters))),
        ),
        (
            "Turnout",
            Box::new(|m| share(&m.turnout)),
            Box::new(|c| points_change(c.turnout_bp)),
        ),
        (
            // Activities report the people they reached; one resident
            // reached by two activities is counted by both, so the sum counts
            // contacts, not people, and may pass the population.
            "Outreach contacts",
            Box::new(|m| {
                format!(
                    "{} ({} activities)",
                    int(i128::from(m.outreach_reached)),
                    m.outreach_activities
                )
            }),
            none(),
        ),
        (
            "Ideas submitted",
            Box::new(|m| int(i128::from(m.ideas))),
            none(),
        ),
        (
            "Projects funded / on the ballot",
            Box::new(|m| format!("{} / {}", m.funded, m.projects_on_ballot)),
            none(),
        ),
        (
            "Voters with a funded project",
            Box::new(|m| share(&m.voters_with_funded)),
            Box::new(|c| points_change(c.voters_with_funded_bp)),
        ),
        (
            "Mean satisfaction (cost share)",
            Box::new(|m| share(&m.satisfaction_by_cost.mean)),
            Box::new(|c| points_change(c.satisfaction_by_cost_bp)),
        ),
        (
            "Inequality (Gini, cost)",
            Box::new(|m| format!("{:.2}", m.satisfaction_by_cost.gini.value())),
            none(),
        ),
        (
            "Proportionality",
            Box::new(|m| ejr(&m.proportionality)),
            none(),
        ),
        ("Budget", Box::new(|m| money(m.budget)), none()),
        (
            "of which carried in",
            Box::new(|m| money(m.carried_in)),
            none(),
        ),
        (
            "Spent",
            Box::new(|m| money(m.spent)),
            Box::new(|c| money_change(c.spent)),
        ),
        ("Left over", Box::new(|m| money(m.left_over)), none()),
        (
            "Delivered / cancelled / in progress",
            Box::new(|m| format!("{} / {} / {}", m.delivered, m.cancelled, m.in_progress)),
            none(),
        ),
        (
            "Co-creators",
            Box::new(|m| int(i128::from(m.co_creators))),
            Box::new(|c| signed(i128::from(c.co_creators))),
        ),
    ];
    for (label, value, change) in &rows {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(label));
        for y in years {
            let c = change_of(y.year).map(change).filter(|c| !c.is_empty());
            cell(out, &value(y), c);
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">Under each value from the second year on: the change from the year before \
         (pp = percentage points). Outreach contacts add up the people each activity reached: a \
         resident reached by two activities counts twice, so they may pass the population. \
         Satisfaction is the cost of the funded projects a voter supported, as a share of the budget. \
         {} counted year(s).</p>",
        report.years.len()
    );
}

// --------------------------------------------------------------------- year

fn year(out: &mut String, y: &YearPart, in_programme: bool) {
    let m = &y.metrics;
    let _ = write!(out, "<section class=\"year\">\n<h2>{}", m.year);
    if in_programme {
        let _ = write!(
            out,
            " <span class=\"note\">· {}</span>",
            escape(&step_text(y.step))
        );
    }
    out.push_str("</h2>\n<div class=\"cards six\">");
    card(out, "Voters", &int(i128::from(m.voters)));
    card(out, "Turnout", &share(&m.turnout));
    card(out, "Ideas", &int(i128::from(m.ideas)));
    card(
        out,
        "Funded / on ballot",
        &format!("{} / {}", m.funded, m.projects_on_ballot),
    );
    card(
        out,
        "Delivered",
        &format!(
            "{} of {}",
            m.delivered,
            m.delivered + m.cancelled + m.in_progress
        ),
    );
    card(out, "Co-creators", &int(i128::from(m.co_creators)));
    out.push_str("</div>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">Counted by <b>{}</b>, ties broken by {}.</p>",
        escape(&y.rule),
        escape(&y.tie_breaking)
    );

    parts_table(out, y);
    out.push_str("<h3>Projects on the ballot</h3>\n");
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>Each project's {} and cost; the funded ones in blue.</figcaption></figure>",
        projects_chart(y),
        y.score_unit
    );

    out.push_str("<h3>The budget</h3>\n");
    let _ = writeln!(out, "<figure>{}</figure>", budget_chart(y));

    out.push_str("<h3>Greedy and equal shares on the same ballots</h3>\n");
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>Greedy funds the projects with most {} first; equal shares gives each \
         voter an equal part of the budget to spend on the projects they support.</figcaption></figure>",
        rules_chart(y),
        y.score_unit
    );
    rules_table(out, y);
    satisfaction_table(out, y);
    needed_list(out, y);

    if !m.groups.is_empty() {
        out.push_str("<h3>Who took part</h3>\n<table>\n<thead><tr><th>Group</th><th>Population</th><th>Outreach contacts aimed at it</th><th>Ideas</th><th>Voters</th><th>Turnout</th><th>Representation</th></tr></thead>\n<tbody>\n");
        let mut suppressed = false;
        for g in &m.groups {
            let (voters, turnout, representation) = match (g.voters, &g.turnout, g.representation) {
                (Some(v), Some(t), Some(r)) => {
                    (int(i128::from(v)), share(t), format!("{:.2}", r.value()))
                }
                _ => {
                    suppressed = true;
                    ("–".to_owned(), "–".to_owned(), "–".to_owned())
                }
            };
            let _ = writeln!(
                out,
                "<tr><td>{} {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&g.dimension),
                escape(&g.group),
                int(i128::from(g.population)),
                int(i128::from(g.reached)),
                int(i128::from(g.ideas)),
                voters,
                turnout,
                representation
            );
        }
        out.push_str("</tbody>\n</table>\n");
        out.push_str("<p class=\"note\">From outreach to the vote, by group: the contacts made by the outreach activities aimed at the group (those aimed at everyone are not counted here; one aimed at several groups counts its whole reach for each), the ideas its residents submitted, and its voters against its share of the population.</p>\n");
        if suppressed {
            out.push_str("<p class=\"note\">– : too few voters to publish (the count is suppressed to protect who voted).</p>\n");
        }
    }

    if let Some((summary, lessons)) = &y.evaluation {
        let _ = writeln!(out, "<h3>Evaluation</h3>\n<p>{}</p>", escape(summary));
        if !lessons.is_empty() {
            out.push_str("<ul class=\"lessons\">");
            for l in lessons {
                let _ = write!(out, "<li>{}</li>", escape(l));
            }
            out.push_str("</ul>\n");
        }
    }
    out.push_str("</section>\n");
}

/// `text` with its first letter in upper case.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Money in major units as a float, for scaling bars only.
fn major(m: Money) -> f64 {
    m.minor() as f64 / m.currency().minor_per_major().max(1) as f64
}

fn projects_chart(y: &YearPart) -> String {
    let mut order: Vec<usize> = (0..y.projects.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (&y.projects[a], &y.projects[b]);
        pb.score
            .cmp(&pa.score)
            .then_with(|| pa.title.cmp(&pb.title))
    });
    let row = 26.0;
    let top = 58.0;
    let height = top + row * order.len() as f64 + 36.0;
    let mut s = Svg::new(
        WIDTH,
        height,
        &format!(
            "Bar chart: {} and cost of each project on the ballot in {}, funded projects highlighted",
            y.score_unit, y.metrics.year
        ),
    );
    s.legend(
        10.0,
        6.0,
        WIDTH,
        &[
            (Key::Swatch(BLUE), "funded".to_owned()),
            (Key::Swatch(GREY), "not funded".to_owned()),
        ],
    );
    // Columns: titles | scores | costs.
    let (title_x, score_x0, score_w, cost_x0, cost_w) = (250.0, 262.0, 190.0, 540.0, 220.0);
    let max_score = y.projects.iter().map(|p| p.score).max().unwrap_or(0) as f64;
    let max_cost = y.projects.iter().map(|p| major(p.cost)).fold(0.0, f64::max);
    let score_ticks = svg::nice_ticks(max_score, 4);
    let cost_ticks = svg::nice_ticks(max_cost, 4);
    let score_scale = score_w / score_ticks.last().copied().unwrap_or(1.0);
    let cost_scale = cost_w / cost_ticks.last().copied().unwrap_or(1.0);
    let bottom = top + row * order.len() as f64;
    let head = top - 10.0;
    let unit = capitalised(y.score_unit);
    s.text(score_x0, head, &unit, Anchor::Start, "head");
    s.text(
        cost_x0,
        head,
        &format!("Cost ({})", y.currency),
        Anchor::Start,
        "head",
    );
    s.text(title_x, head, "Project", Anchor::End, "head");
    s.x_axis(
        (score_x0, score_x0 + score_w),
        (top - 2.0, bottom),
        &score_ticks,
        score_scale,
        |t| int(t as i128),
    );
    s.x_axis(
        (cost_x0, cost_x0 + cost_w),
        (top - 2.0, bottom),
        &cost_ticks,
        cost_scale,
        svg::short_amount,
    );
    for (r, &i) in order.iter().enumerate() {
        let p = &y.projects[i];
        let yy = top + row * r as f64;
        let colour = if p.funded { BLUE } else { GREY };
        let class = if p.funded { "strong" } else { "lbl" };
        let shown = truncate(&p.title, title_x - 8.0, 12.5);
        s.text_tip(title_x, yy + 17.0, &shown, &p.title, Anchor::End, class);
        let status = if p.funded { "funded" } else { "not funded" };
        let tip = format!(
            "{}: {} {}, {}, {status}",
            p.title,
            int(i128::from(p.score)),
            y.score_unit,
            money(p.cost)
        );
        let sw = p.score as f64 * score_scale;
        s.rect(score_x0, yy + 4.0, sw, 17.0, colour, Some(&tip));
        s.text(
            score_x0 + sw + 5.0,
            yy + 17.0,
            &int(i128::from(p.score)),
            Anchor::Start,
            "val",
        );
        let cw = major(p.cost) * cost_scale;
        s.rect(cost_x0, yy + 4.0, cw, 17.0, colour, Some(&tip));
        s.text(
            cost_x0 + cw + 5.0,
            yy + 17.0,
            &money(p.cost),
            Anchor::Start,
            "val",
        );
    }
    s.finish()
}

fn budget_chart(y: &YearPart) -> String {
    let m = &y.metrics;
    let (x0, x1) = (150.0, WIDTH - 20.0);
    let budget = major(m.budget);
    let spent = major(m.spent);
    let total = budget.max(spent).max(f64::MIN_POSITIVE);
    let scale = (x1 - x0) / total;
    let overrun = m.left_over.is_negative();
    let spent_label = if m.in_progress > 0 {
        "Spent or committed"
    } else {
        "Spent"
    };
    let mut items = vec![
        (
            Key::Swatch(SKY),
            format!("Set aside this year {}", money(y.set_aside)),
        ),
        (
            Key::Swatch(PURPLE),
            format!("Carried in {}", money(m.carried_in)),
        ),
        (
            Key::Swatch(BLUE),
            format!("{spent_label} {}", money(m.spent)),
        ),
    ];
    if overrun {
        items.push((
            Key::Swatch(svg::PALETTE[4]),
            format!("Over budget {}", money(m.left_over)),
        ));
    } else {
        items.push((Key::Swatch(ORANGE), format!("Left {}", money(m.left_over))));
    }
    let bar_h = 26.0;
    let (r1, r2) = (12.0, 50.0);
    let height = r2 + bar_h + 14.0 + 2.0 * 20.0 + 4.0;
    let mut s = Svg::new(
        WIDTH,
        height,
        &format!(
            "Stacked bar chart: the budget of {} and how much of it was spent",
            m.year
        ),
    );
    let segment = |s: &mut Svg, y: f64, from: f64, amount: f64, colour: &str, tip: &str| {
        let w = amount.max(0.0) * scale;
        s.rect(x0 + from * scale, y, w, bar_h, colour, Some(tip));
        from + amount.max(0.0)
    };
    s.text(x0 - 10.0, r1 + 17.5, "Budget", Anchor::End, "strong");
    s.text(x0 - 10.0, r2 + 17.5, "Use", Anchor::End, "strong");
    let at = segment(
        &mut s,
        r1,
        0.0,
        major(y.set_aside),
        SKY,
        &format!("Set aside {}", money(y.set_aside)),
    );
    segment(
        &mut s,
        r1,
        at,
        major(m.carried_in),
        PURPLE,
        &format!("Carried in {}", money(m.carried_in)),
    );
    let within = spent.min(budget);
    let at = segment(
        &mut s,
        r2,
        0.0,
        within,
        BLUE,
        &format!("{spent_label} {}", money(m.spent)),
    );
    if overrun {
        segment(
            &mut s,
            r2,
            at,
            spent - budget,
            svg::PALETTE[4],
            &format!("Over budget {}", money(m.left_over)),
        );
    } else {
        segment(
            &mut s,
            r2,
            at,
            major(m.left_over),
            ORANGE,
            &format!("Left {}", money(m.left_over)),
        );
    }
    // Shares inside the bars where they fit.
    if budget > 0.0 {
        let pct = spent / budget;
        let label = format!("{} of the budget", percent(pct));
        let w = within * scale;
        if text_width(&label, 11.0) + 12.0 < w {
            s.text(x0 + 8.0, r2 + 17.5, &label, Anchor::Start, "inv");
        }
    }
    s.text(
        x1,
        r1 - 2.0,
        &format!("total {}", money(m.budget)),
        Anchor::End,
        "note",
    );
    let (money_in, money_out) = items.split_at(2);
    s.legend(x0, r2 + bar_h + 14.0, x1, money_in);
    s.legend(x0, r2 + bar_h + 34.0, x1, money_out);
    s.finish()
}

fn rules_chart(y: &YearPart) -> String {
    let budget = major(y.metrics.budget).max(f64::MIN_POSITIVE);
    let colours = [ORANGE, GREEN];
    let row = 30.0;
    let top = 40.0;
    let panel_h = row * y.rules.len() as f64;
    let height = top + panel_h + 36.0;
    let mut s = Svg::new(
        WIDTH,
        height,
        &format!(
            "Bar chart: budget used and voters with a funded project under greedy and equal shares in {}",
            y.metrics.year
        ),
    );
    let (label_x, a0, aw, b0, bw) = (118.0, 130.0, 250.0, 560.0, 190.0);
    s.text(a0, top - 14.0, "Budget used", Anchor::Start, "head");
    s.text(
        b0,
        top - 14.0,
        "Voters with a funded project",
        Anchor::Start,
        "head",
    );
    let ticks = [0.0, 25.0, 50.0, 75.0, 100.0];
    let bottom = top + panel_h;
    s.x_axis(
        (a0, a0 + aw),
        (top - 4.0, bottom),
        &ticks,
        aw / 100.0,
        |t| format!("{t} %"),
    );
    s.x_axis(
        (b0, b0 + bw),
        (top - 4.0, bottom),
        &ticks,
        bw / 100.0,
        |t| format!("{t} %"),
    );
    for (i, run) in y.rules.iter().enumerate() {
        let yy = top + row * i as f64;
        let colour = colours[i % colours.len()];
        s.text(label_x, yy + 19.0, run.label, Anchor::End, "strong");
        match &run.result {
            Ok(r) => {
                let used = major(r.cost) / budget;
                let w = used.clamp(0.0, 1.0) * aw;
                let tip = format!(
                    "{}: {} of {}",
                    run.label,
                    money(r.cost),
                    money(y.metrics.budget)
                );
                s.rect(a0, yy + 6.0, w, 18.0, colour, Some(&tip));
                s.text(
                    a0 + w + 5.0,
                    yy + 19.0,
                    &format!("{} ({})", money(r.cost), percent(used)),
                    Anchor::Start,
                    "val",
                );
                let sh = r.share().value();
                let w = sh.clamp(0.0, 1.0) * bw;
                let tip = format!(
                    "{}: {} of {} voters",
                    run.label,
                    int(i128::from(r.voters_with_funded())),
                    int(i128::from(r.satisfaction.voters))
                );
                s.rect(b0, yy + 6.0, w, 18.0, colour, Some(&tip));
                s.text(
                    b0 + w + 5.0,
                    yy + 19.0,
                    &format!(
                        "{} ({} of {})",
                        percent(sh),
                        int(i128::from(r.voters_with_funded())),
                        int(i128::from(r.satisfaction.voters))
                    ),
                    Anchor::Start,
                    "val",
                );
            }
            Err(e) => {
                s.text(
                    a0 + 6.0,
                    yy + 19.0,
                    &truncate(
                        &format!("could not be counted: {e}"),
                        WIDTH - a0 - 20.0,
                        11.0,
                    ),
                    Anchor::Start,
                    "note",
                );
            }
        }
    }
    s.finish()
}

/// Voters by how many of the projects they voted for each rule funds, with
/// the averages researchers compare rules by.
fn satisfaction_table(out: &mut String, y: &YearPart) {
    const SHOWN: usize = 4;
    let rows: Vec<(&str, &crate::tally::Satisfaction)> = y
        .rules
        .iter()
        .filter_map(|run| Some((run.label, &run.result.as_ref().ok()?.satisfaction)))
        .collect();
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "<table>\n<caption>Voters by how many of the projects they voted for are funded</caption>\n\
         <thead><tr><th>Rule</th>",
    );
    for k in 0..SHOWN {
        let _ = write!(out, "<th>{k}</th>");
    }
    let _ = write!(
        out,
        "<th>{SHOWN} or more</th><th>On average</th><th>Their cost, on average</th></tr></thead>\n<tbody>\n"
    );
    for (label, s) in rows {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(label));
        for k in 0..SHOWN {
            let v = s.histogram.get(k).copied().unwrap_or(0);
            let _ = write!(
                out,
                "<td class=\"num\">{}</td>",
                escape(&int(i128::from(v)))
            );
        }
        let more: u64 = s.histogram.iter().skip(SHOWN).sum();
        let mean_cost = s.mean_cost().value().round();
        let _ = writeln!(
            out,
            "<td class=\"num\">{}</td><td class=\"num\">{:.2}</td><td class=\"num\">{}</td></tr>",
            escape(&int(i128::from(more))),
            s.mean_cardinality().value(),
            escape(&money(Money::new(mean_cost as i64, y.currency)))
        );
    }
    out.push_str(
        "</tbody>\n</table>\n<p class=\"note\">Satisfaction as in Faliszewski et al., <i>Participatory \
         Budgeting: Data, Tools, and Analysis</i> (IJCAI 2023): how many of a voter's projects are \
         funded, and what they cost.</p>\n",
    );
}

/// In plain words, for each project not funded, what it would have needed.
fn needed_list(out: &mut String, y: &YearPart) {
    if y.projects.iter().all(|p| p.funded) {
        return;
    }
    let why_not = match y.explained {
        Explained::Yes => None,
        Explained::NotForRule => Some(format!(
            "The report does not work out what the projects not funded would have needed \
             under {}: recounting by it many times takes too long. \
             <code>medborgarbudget tally --explain</code> does, on the year's votes as a .pb file.",
            escape(&y.rule)
        )),
        Explained::TooCostly => Some(
            "What the projects not funded would have needed is left out: recounting this \
             year took more work than the report allows."
                .to_owned(),
        ),
        Explained::Parts => Some(
            "What the projects not funded would have needed is not worked out for a cycle of \
             several budget parts yet: each part was counted alone."
                .to_owned(),
        ),
        Explained::SetAside => Some(
            "What the projects not funded would have needed is not worked out: the count \
             left projects out (too few votes, or a project of the same exclusion group \
             chosen first), and a recount of the whole ballot would not."
                .to_owned(),
        ),
    };
    if let Some(text) = why_not {
        let _ = writeln!(out, "<p class=\"note\">{text}</p>");
        return;
    }
    let mut order: Vec<usize> = (0..y.projects.len())
        .filter(|&i| !y.projects[i].funded && y.projects[i].needed.is_some())
        .collect();
    if order.is_empty() {
        return;
    }
    order.sort_by(|&a, &b| y.projects[b].score.cmp(&y.projects[a].score));
    let _ = writeln!(
        out,
        "<h3>What the projects not funded would have needed</h3>\n<p>Counted again by the same rule \
         ({}), with everything else as it was.</p>\n<ul class=\"needed\">",
        escape(&y.rule)
    );
    for i in order {
        let p = &y.projects[i];
        let Some(needed) = p.needed else { continue };
        let _ = writeln!(
            out,
            "<li><strong>{}</strong> ({}, {} {}): {}</li>",
            escape(&p.title),
            escape(&money(p.cost)),
            escape(&int(i128::from(p.score))),
            escape(y.score_unit),
            escape(&needed_words(needed, y.currency))
        );
    }
    out.push_str("</ul>\n");
}

/// One sentence: the cost at which, or the voters with whom, a project would
/// have been funded.
fn needed_words(needed: Needed, currency: Currency) -> String {
    let amount = |v: u64| money(Money::new(i64::try_from(v).unwrap_or(i64::MAX), currency));
    let cost = match needed.max_cost {
        Measure::Exact(v) => Some(format!("had it cost {} or less", amount(v))),
        Measure::Threshold(v) => Some(format!("had it cost about {}", amount(v))),
        _ => None,
    };
    let voters = match needed.extra_voters {
        Measure::Exact(1) => Some("had one more resident voted for it".to_owned()),
        Measure::Exact(k) => Some(format!(
            "had {} more residents voted for it",
            int(i128::from(k))
        )),
        Measure::Threshold(k) => Some(format!(
            "had about {} more residents voted for it",
            int(i128::from(k))
        )),
        _ => None,
    };
    match (cost, voters) {
        (Some(c), Some(v)) => format!("It would have been funded {c}, or {v}."),
        (Some(c), None) => {
            format!("It would have been funded {c}; more votes alone would not have been enough.")
        }
        (None, Some(v)) => {
            format!("It would have been funded {v}; a lower cost alone would not have been enough.")
        }
        (None, None) => {
            "No lower cost and no number of extra votes would have funded it under this rule."
                .to_owned()
        }
    }
}

fn rules_table(out: &mut String, y: &YearPart) {
    // The year's own rule has its column already ("Funded (greedy)"): the
    // compared rules are the others.
    let others: Vec<&RuleRun> = y.rules.iter().filter(|r| r.name != y.rule).collect();
    out.push_str("<table>\n<thead><tr><th>Project</th><th>Cost</th>");
    let _ = write!(out, "<th>{}</th>", escape(&capitalised(y.score_unit)));
    let adjusted = !y.adjustments.is_empty();
    if adjusted {
        let _ = write!(
            out,
            "<th>Counted ({})</th><th>Funded after the council</th>",
            escape(&y.rule)
        );
    } else {
        let _ = write!(out, "<th>Funded ({})</th>", escape(&y.rule));
    }
    for run in &others {
        let _ = write!(out, "<th>{}</th>", escape(run.label));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let mark = |yes: bool| {
        if yes {
            "<span class=\"yes\">✓</span>"
        } else {
            "<span class=\"note\">–</span>"
        }
    };
    let mut order: Vec<usize> = (0..y.projects.len()).collect();
    order.sort_by(|&a, &b| y.projects[b].score.cmp(&y.projects[a].score));
    for i in order {
        let p = &y.projects[i];
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}",
            escape(&p.title),
            escape(&money(p.cost)),
            escape(&int(i128::from(p.score))),
            mark(p.counted)
        );
        if let Some(why) = &p.set_aside {
            let _ = write!(out, " <span class=\"note\">{}</span>", escape(why));
        }
        out.push_str("</td>");
        if adjusted {
            let _ = write!(out, "<td>{}</td>", mark(p.funded));
        }
        for run in &others {
            let funded = run.result.as_ref().is_ok_and(|r| r.funded.contains(&i));
            let _ = write!(out, "<td>{}</td>", mark(funded));
        }
        out.push_str("</tr>\n");
    }
    let total = |pick: fn(&ProjectRow) -> bool| {
        money(
            Money::sum(
                y.currency,
                y.projects.iter().filter(|p| pick(p)).map(|p| p.cost),
            )
            .unwrap_or(Money::zero(y.currency)),
        )
    };
    let _ = write!(
        out,
        "<tr><th scope=\"row\">Total funded</th><td></td><td></td><td class=\"num\">{}</td>",
        escape(&total(|p| p.counted))
    );
    if adjusted {
        let _ = write!(
            out,
            "<td class=\"num\">{}</td>",
            escape(&total(|p| p.funded))
        );
    }
    for run in &others {
        let text = match &run.result {
            Ok(r) => money(r.cost),
            Err(_) => "—".to_owned(),
        };
        let _ = write!(out, "<td class=\"num\">{}</td>", escape(&text));
    }
    out.push_str("</tr>\n</tbody>\n</table>\n");
    let names: Vec<&str> = std::iter::once(y.rule.as_str())
        .chain(others.iter().map(|r| r.name))
        .collect();
    let _ = writeln!(
        out,
        "<p class=\"note\">Rules as named in the crate: {}.</p>",
        escape(&names.join(", "))
    );
    adjustments(out, y);
}

/// A cycle of several budget parts: each part's money, ballots and outcome.
fn parts_table(out: &mut String, y: &YearPart) {
    let parts = &y.metrics.parts;
    if parts.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Budget parts</h3>\n<p>Each part was counted alone, on its own ballots and within \
         its own money.</p>\n<table>\n<thead><tr><th>Part</th><th>Budget</th><th>Ballots</th>\
         <th>Funded / on ballot</th><th>Cost</th></tr></thead>\n<tbody>\n",
    );
    for p in parts {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} / {}</td><td class=\"num\">{}</td></tr>",
            escape(&p.name),
            escape(&money(p.budget)),
            escape(&int(i128::from(p.ballots))),
            p.funded,
            p.projects_on_ballot,
            escape(&money(p.cost))
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The council's adjustments of the counted outcome, each with its decision.
fn adjustments(out: &mut String, y: &YearPart) {
    if y.adjustments.is_empty() {
        return;
    }
    let title = |id: &crate::ids::ProjectId| {
        y.projects
            .iter()
            .find(|p| p.id == Some(*id))
            .map_or_else(|| id.to_string(), |p| format!("“{}”", p.title))
    };
    let list =
        |ids: &[crate::ids::ProjectId]| ids.iter().map(&title).collect::<Vec<_>>().join(", ");
    out.push_str("<h3>The council's adjustments</h3>\n<p>The count stands as counted; the council changed what is funded, on the record:</p>\n<ul>\n");
    for a in &y.adjustments {
        let mut what = Vec::new();
        if !a.add.is_empty() {
            what.push(format!("added {}", list(&a.add)));
        }
        if !a.remove.is_empty() {
            what.push(format!("removed {}", list(&a.remove)));
        }
        if let Some(raise) = a.raises_budget_by {
            what.push(format!("raised the budget by {}", money(raise)));
        }
        let _ = writeln!(
            out,
            "<li><strong>{} {}</strong> ({}): {}. {}</li>",
            escape(&a.decision.body),
            escape(&a.decision.reference),
            a.decision.decided_on,
            escape(&what.join("; ")),
            escape(&a.reason)
        );
    }
    out.push_str("</ul>\n");
}
