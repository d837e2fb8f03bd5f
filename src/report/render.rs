//! Writing a [`Report`] as HTML: the page, its tables and its charts.

use std::fmt::Write as _;

use super::svg::{
    self, Anchor, BLUE, DASHES, GREEN, GREY, GROUP_COLOURS, INK, Key, ORANGE, PURPLE, SKY, Svg,
    WIDTH, escape, int, money, money_change, percent, points_change, signed, text_width, truncate,
};
use super::{Explained, Language, Needed, ProgrammePart, ProjectRow, Report, RuleRun, YearPart};
use crate::followup::{CycleMetrics, Proportionality, YearChange};
use crate::money::{Currency, Money};
use crate::process::Step;
use crate::tally::{Fraction, Measure};
use crate::text::LocalText;

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
.other { color: #5b6470; font-size: 0.92em; margin-inline-start: 0.4em; unicode-bidi: isolate; }
@media print { body { background: #fff; } main { padding: 0; } section.year { break-before: page; } }
"#;

/// The whole document.
pub(super) fn html(report: &Report) -> String {
    let l = report.lang;
    let mut out = String::with_capacity(64 * 1024);
    let title = page_title(report);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"medborgarbudget {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>",
        l.tag(),
        env!("CARGO_PKG_VERSION"),
        escape(&title)
    );
    header(&mut out, report);
    if let Some(p) = &report.programme {
        programme(&mut out, report, p);
    }
    for y in &report.years {
        year(&mut out, l, y, report.programme.is_some());
    }
    if let Some((stream, verified)) = report.head() {
        record(&mut out, l, stream, verified);
    }
    let footer = match l {
        Language::Swedish => {
            "Gjord av medborgarbudget {v} ur cykelns registrerade händelser. Antal och belopp är exakta \
             (pengar på öret); procent är avrundade till en decimal. Valdeltagande är röstande delat med \
             områdets befolkning; representation är en grupps andel av de röstande delat med dess andel av \
             befolkningen (1 är proportionellt). Lika andelar är Method of Equal Shares utan komplettering, \
             räknad på samma röster med samma lottning."
        }
        _ => {
            "Made by medborgarbudget {v} from the cycle's recorded events. Counts and amounts are exact \
             (money to the öre); percentages are rounded to one decimal. Turnout is voters over the district's \
             population; representation is a group's share of voters over its share of the population (1 is \
             proportional). Equal shares is the Method of Equal Shares without completion, counted on the same \
             ballots with the same tie-breaking."
        }
    };
    let _ = writeln!(
        out,
        "<footer>{}</footer>\n</main>\n</body>\n</html>",
        footer.replace("{v}", env!("CARGO_PKG_VERSION"))
    );
    out
}

/// The published head of the stream the report was made from.
fn record(
    out: &mut String,
    l: Language,
    stream: &crate::store::StreamId,
    v: &crate::store::Verified,
) {
    let seal = match (v.sealed, v.seal) {
        (true, _) => l.t(
            "its seal was verified with the log key",
            "dess sigill kontrollerades med loggnyckeln",
        ),
        (false, Some(_)) => l.t(
            "it is sealed, but the seal was not checked: the log key was not at hand",
            "den är förseglad, men sigillet kontrollerades inte: loggnyckeln fanns inte till hands",
        ),
        (false, None) => l.t(
            "it carries no seal: the store was written without a log key",
            "den saknar sigill: lagret skrevs utan loggnyckel",
        ),
    };
    let text = l.t(
        "<section class=\"record\" id=\"record\">\n<h2>The record</h2>\n\
         <p>This report was made from the event log <code>{stream}</code>: {events} events, every link of its hash \
         chain checked, ending at the head below; {seal}. Keep the head: a copy of the log exported later \
         (its last line) must end at the same head, or the log was changed after this report.</p>\n\
         <p class=\"head\">Head: event {events}, <code>{head}</code>{sealtext}</p>\n</section>",
        "<section class=\"record\" id=\"record\">\n<h2>Registret</h2>\n\
         <p>Rapporten gjordes ur händelseloggen <code>{stream}</code>: {events} händelser, varje länk i dess \
         hashkedja kontrollerad, med huvudet nedan sist; {seal}. Spara huvudet: en kopia av loggen som exporteras \
         senare (dess sista rad) måste sluta i samma huvud, annars har loggen ändrats efter rapporten.</p>\n\
         <p class=\"head\">Huvud: händelse {events}, <code>{head}</code>{sealtext}</p>\n</section>",
    );
    let _ = writeln!(
        out,
        "{}",
        text.replace("{stream}", &escape(stream.as_str()))
            .replace("{events}", &v.events.to_string())
            .replace("{seal}", seal)
            .replace("{head}", &v.head.to_string())
            .replace(
                "{sealtext}",
                &v.seal
                    .map(|s| format!("<br>{}: <code>{s}</code>", l.t("Seal", "Sigill")))
                    .unwrap_or_default()
            )
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
    let l = report.lang;
    format!(
        "Medborgarbudget {} {} — {}",
        report.area,
        years_text(report),
        l.t("report", "rapport")
    )
}

fn header(out: &mut String, report: &Report) {
    let l = report.lang;
    let kind = if report.programme.is_some() {
        l.t("Programme report", "Programrapport")
    } else {
        l.t("Cycle report", "Cykelrapport")
    };
    let _ = writeln!(
        out,
        "<header>\n<p class=\"kicker\">Medborgarbudget · {}{kind}</p>\n<h1>{} {}</h1>",
        l.t("participatory budgeting · ", ""),
        escape(&report.area),
        escape(&years_text(report))
    );
    match &report.programme {
        Some(p) => {
            let counted = report.years.len();
            let abandoned = p.abandoned.len();
            let text = match l {
                Language::Swedish => format!(
                    "Ett program på {} år från {}: {counted} räknade hittills, {abandoned} avbrutna; {}.",
                    p.committed,
                    p.first_year,
                    if p.carry_over {
                        "oförbrukade pengar förs över"
                    } else {
                        "ingen överföring"
                    }
                ),
                _ => format!(
                    "A programme of {} committed years from {}: {counted} counted so far, {abandoned} abandoned; {}.",
                    p.committed,
                    p.first_year,
                    if p.carry_over {
                        "unspent money carries over"
                    } else {
                        "no carry-over"
                    }
                ),
            };
            let _ = writeln!(out, "<p class=\"sub\">{text}</p>");
        }
        None => {
            if let Some(y) = report.years.first() {
                let _ = writeln!(
                    out,
                    "<p class=\"sub\">{} {}, {}: {}.</p>",
                    l.t("The cycle of", "Cykeln"),
                    y.metrics.year,
                    l.t("now in step", "nu i steg"),
                    step_text(l, y.step)
                );
            }
        }
    }
    out.push_str("</header>\n");
}

fn step_text(l: Language, step: Step) -> String {
    let label = match l {
        Language::Swedish => step.label_sv().to_owned(),
        _ => format!("{} ({})", step.label_en(), step.label_sv()),
    };
    match step.number() {
        Some(n) => format!("{n}. {label}"),
        None => label,
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
    let l = report.lang;
    let m = &p.metrics;
    out.push_str("<section>\n<div class=\"cards\">");
    card(
        out,
        l.t("Set aside by the council", "Avsatt av fullmäktige"),
        &money(m.set_aside),
    );
    card(out, l.t("Spent", "Använt"), &money(m.spent));
    card(out, l.t("Carried over", "Överfört"), &money(m.carried_over));
    card(
        out,
        l.t("Left at the end", "Kvar vid slutet"),
        &money(m.left_at_end),
    );
    let voters: u64 = m.years.iter().map(|y| y.voters).sum();
    card(
        out,
        l.t("Ballots, all years", "Röster, alla år"),
        &int(i128::from(voters)),
    );
    let co: u64 = m.years.iter().map(|y| y.co_creators).sum();
    card(
        out,
        l.t("Co-creators, all years", "Medskapare, alla år"),
        &int(i128::from(co)),
    );
    out.push_str("</div>\n");
    for (year, step, reason) in &p.abandoned {
        let _ = writeln!(
            out,
            "<p class=\"bad\">{year}: {} {} — {}</p>",
            l.t("abandoned in step", "avbruten i steg"),
            escape(&step_text(l, *step)),
            escape(reason)
        );
    }
    for (year, step) in &p.running {
        let _ = writeln!(
            out,
            "<p class=\"note\">{year}: {} ({} {}).</p>",
            l.t("not counted yet", "inte räknad ännu"),
            l.t("step", "steg"),
            escape(&step_text(l, *step))
        );
    }
    out.push_str("</section>\n");

    let _ = writeln!(
        out,
        "<section>\n<h2>{}</h2>",
        l.t("Who took part, year by year", "Vilka som deltog, år för år")
    );
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>{}</figcaption></figure>",
        turnout_chart(l, &m.years),
        l.t(
            "Turnout: voters as a share of the district's population, overall and by group.",
            "Valdeltagande: röstande som andel av områdets befolkning, totalt och per grupp."
        )
    );
    if m.years.iter().any(|y| !y.groups.is_empty()) {
        let _ = writeln!(
            out,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            representation_chart(l, &m.years),
            l.t(
                "Representation: a group's share of the voters divided by its share of the population. Below 1 the group is under-represented.",
                "Representation: en grupps andel av de röstande delat med dess andel av befolkningen. Under 1 är gruppen underrepresenterad."
            )
        );
    }
    out.push_str("</section>\n");

    let _ = writeln!(
        out,
        "<section>\n<h2>{}</h2>",
        l.t("The main measures per year", "De viktigaste måtten per år")
    );
    measures_table(out, report, &m.years, &m.changes);
    out.push_str("</section>\n");
    deliveries(out, l, p);
}

/// Projects handed over to the programme: the plan as first made and now, the
/// estimate, where each stands and how many updates it has had.
fn deliveries(out: &mut String, l: Language, p: &ProgrammePart) {
    if p.deliveries.is_empty() {
        return;
    }
    out.push_str(l.t(
        "<section>\n<h2>Projects built across years</h2>\n<p>Funded projects still being built when \
         their year ended, handed over to the programme and reported on until completed or \
         cancelled.</p>\n<table>\n<thead><tr><th>Year</th><th>Project</th><th>Planned</th>\
         <th>Estimate</th><th>Status</th><th>Spent</th><th>Updates</th></tr></thead>\n<tbody>\n",
        "<section>\n<h2>Projekt som byggs över flera år</h2>\n<p>Beviljade projekt som fortfarande \
         byggdes när deras år tog slut, överlämnade till programmet och följda tills de är klara eller \
         avbrutna.</p>\n<table>\n<thead><tr><th>År</th><th>Projekt</th><th>Planerat</th>\
         <th>Uppskattning</th><th>Läge</th><th>Använt</th><th>Uppdateringar</th></tr></thead>\n<tbody>\n",
    ));
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
                format!(
                    "{} ({} %)",
                    l.t("being built", "byggs"),
                    d.progress.percent()
                )
            }
            crate::project::DeliveryStatus::Completed { at, .. } => {
                format!("{} {}", l.t("completed", "klart"), at.date_naive())
            }
            crate::project::DeliveryStatus::Cancelled { at, reason, .. } => {
                format!(
                    "{} {}: {reason}",
                    l.t("cancelled", "avbrutet"),
                    at.date_naive()
                )
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

fn turnout_chart(l: Language, years: &[CycleMetrics]) -> String {
    let keys = group_keys(years);
    let mut series: Vec<Series<'_>> = Vec::new();
    series.push((
        l.t("All residents", "Alla invånare").to_owned(),
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
        l.t(
            "Line chart: turnout by population group over the years",
            "Linjediagram: valdeltagande per befolkningsgrupp över åren",
        ),
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

fn representation_chart(l: Language, years: &[CycleMetrics]) -> String {
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
    items.push((
        Key::Rule(INK),
        l.t("1 = proportional", "1 = proportionellt").to_owned(),
    ));
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
        l.t(
            "Grouped bar chart: representation of each population group per year",
            "Grupperat stapeldiagram: representation för varje befolkningsgrupp per år",
        ),
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
                "{}, {}: {} {:.2} ({} {} {} {}, {})",
                group_label(key),
                y.year,
                l.t("representation", "representation"),
                v,
                int(i128::from(voters)),
                l.t("of", "av"),
                int(i128::from(g.population)),
                l.t("voted", "röstade"),
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

fn ejr(l: Language, p: &Proportionality) -> String {
    match p {
        Proportionality::Exact { ejr_up_to_one, .. } => {
            if *ejr_up_to_one {
                l.t("EJR-1 holds", "EJR-1 gäller").to_owned()
            } else {
                l.t("EJR-1 violated", "EJR-1 bryts").to_owned()
            }
        }
        Proportionality::Indicator {
            violations,
            checked,
        } => format!(
            "{violations} {} {checked} {}",
            l.t("of", "av"),
            l.t("sets violate", "grupper bryter")
        ),
        #[allow(unreachable_patterns)]
        _ => l.t("not checked", "inte kontrollerat").to_owned(),
    }
}

fn measures_table(
    out: &mut String,
    report: &Report,
    years: &[CycleMetrics],
    changes: &[YearChange],
) {
    let l = report.lang;
    let _ = write!(
        out,
        "<table>\n<thead><tr><th>{}</th>",
        l.t("Measure", "Mått")
    );
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
            l.t("Voters", "Röstande"),
            Box::new(|m| int(i128::from(m.voters))),
            Box::new(|c| signed(i128::from(c.voters))),
        ),
        (
            l.t("Turnout", "Valdeltagande"),
            Box::new(|m| share(&m.turnout)),
            Box::new(|c| points_change(c.turnout_bp)),
        ),
        (
            // Activities report the people they reached; one resident
            // reached by two activities is counted by both, so the sum counts
            // contacts, not people, and may pass the population.
            l.t("Outreach contacts", "Kontakter i marknadsföringen"),
            Box::new(move |m| {
                format!(
                    "{} ({} {})",
                    int(i128::from(m.outreach_reached)),
                    m.outreach_activities,
                    l.t("activities", "aktiviteter")
                )
            }),
            none(),
        ),
        (
            l.t("Ideas submitted", "Inlämnade idéer"),
            Box::new(|m| int(i128::from(m.ideas))),
            none(),
        ),
        (
            l.t(
                "Projects funded / on the ballot",
                "Beviljade projekt / på röstsedeln",
            ),
            Box::new(|m| format!("{} / {}", m.funded, m.projects_on_ballot)),
            none(),
        ),
        (
            l.t(
                "Voters with a funded project",
                "Röstande med ett beviljat projekt",
            ),
            Box::new(|m| share(&m.voters_with_funded)),
            Box::new(|c| points_change(c.voters_with_funded_bp)),
        ),
        (
            l.t(
                "Mean satisfaction (cost share)",
                "Medelnöjdhet (kostnadsandel)",
            ),
            Box::new(|m| share(&m.satisfaction_by_cost.mean)),
            Box::new(|c| points_change(c.satisfaction_by_cost_bp)),
        ),
        (
            l.t("Inequality (Gini, cost)", "Ojämlikhet (Gini, kostnad)"),
            Box::new(|m| format!("{:.2}", m.satisfaction_by_cost.gini.value())),
            none(),
        ),
        (
            l.t("Proportionality", "Proportionalitet"),
            Box::new(move |m| ejr(l, &m.proportionality)),
            none(),
        ),
        (
            l.t("Budget", "Budget"),
            Box::new(|m| money(m.budget)),
            none(),
        ),
        (
            l.t("of which carried in", "varav överfört"),
            Box::new(|m| money(m.carried_in)),
            none(),
        ),
        (
            l.t("Spent", "Använt"),
            Box::new(|m| money(m.spent)),
            Box::new(|c| money_change(c.spent)),
        ),
        (
            l.t("Left over", "Kvar"),
            Box::new(|m| money(m.left_over)),
            none(),
        ),
        (
            l.t(
                "Delivered / cancelled / in progress",
                "Klara / avbrutna / pågår",
            ),
            Box::new(|m| format!("{} / {} / {}", m.delivered, m.cancelled, m.in_progress)),
            none(),
        ),
        (
            l.t("Co-creators", "Medskapare"),
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
    let note = l.t(
        "Under each value from the second year on: the change from the year before \
         (pp = percentage points). Outreach contacts add up the people each activity reached: a \
         resident reached by two activities counts twice, so they may pass the population. \
         Satisfaction is the cost of the funded projects a voter supported, as a share of the budget. \
         {n} counted year(s).",
        "Under varje värde från andra året: förändringen från året före (pp = procentenheter). \
         Kontakterna i marknadsföringen summerar de personer varje aktivitet nådde: en invånare som \
         nåddes av två aktiviteter räknas två gånger, så de kan bli fler än befolkningen. Nöjdhet är \
         kostnaden för de beviljade projekt en röstande stödde, som andel av budgeten. {n} räknade år.",
    );
    let _ = writeln!(
        out,
        "<p class=\"note\">{}</p>",
        note.replace("{n}", &report.years.len().to_string())
    );
}

// --------------------------------------------------------------------- year

fn year(out: &mut String, l: Language, y: &YearPart, in_programme: bool) {
    let m = &y.metrics;
    let _ = write!(out, "<section class=\"year\">\n<h2>{}", m.year);
    if in_programme {
        let _ = write!(
            out,
            " <span class=\"note\">· {}</span>",
            escape(&step_text(l, y.step))
        );
    }
    out.push_str("</h2>\n<div class=\"cards six\">");
    card(out, l.t("Voters", "Röstande"), &int(i128::from(m.voters)));
    card(out, l.t("Turnout", "Valdeltagande"), &share(&m.turnout));
    card(out, l.t("Ideas", "Idéer"), &int(i128::from(m.ideas)));
    card(
        out,
        l.t("Funded / on ballot", "Beviljade / på röstsedeln"),
        &format!("{} / {}", m.funded, m.projects_on_ballot),
    );
    card(
        out,
        l.t("Delivered", "Genomförda"),
        &format!(
            "{} {} {}",
            m.delivered,
            l.t("of", "av"),
            m.delivered + m.cancelled + m.in_progress
        ),
    );
    card(
        out,
        l.t("Co-creators", "Medskapare"),
        &int(i128::from(m.co_creators)),
    );
    out.push_str("</div>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">{} <b>{}</b>, {} {}.</p>",
        l.t("Counted by", "Räknat med"),
        escape(&y.rule),
        l.t("ties broken by", "lika röstetal avgjorda av"),
        escape(&y.tie_breaking)
    );

    parts_table(out, l, y);
    let unit = score_unit(l, y.score_unit);
    let _ = writeln!(
        out,
        "<h3>{}</h3>",
        l.t("Projects on the ballot", "Projekten på röstsedeln")
    );
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>{}</figcaption></figure>",
        projects_chart(l, y),
        match l {
            Language::Swedish =>
                format!("Varje projekts {unit} och kostnad; de beviljade i blått."),
            _ => format!("Each project's {unit} and cost; the funded ones in blue."),
        }
    );

    let _ = writeln!(out, "<h3>{}</h3>", l.t("The budget", "Budgeten"));
    let _ = writeln!(out, "<figure>{}</figure>", budget_chart(l, y));

    let _ = writeln!(
        out,
        "<h3>{}</h3>",
        l.t(
            "Greedy and equal shares on the same ballots",
            "Girig metod och lika andelar på samma röster"
        )
    );
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>{}</figcaption></figure>",
        rules_chart(l, y),
        match l {
            Language::Swedish => format!(
                "Den giriga metoden beviljar projekten med flest {unit} först; lika andelar ger varje \
                 röstande en lika stor del av budgeten att lägga på de projekt hen stöder."
            ),
            _ => format!(
                "Greedy funds the projects with most {unit} first; equal shares gives each \
                 voter an equal part of the budget to spend on the projects they support."
            ),
        }
    );
    rules_table(out, l, y);
    satisfaction_table(out, l, y);
    needed_list(out, l, y);

    if !m.groups.is_empty() {
        out.push_str(l.t(
            "<h3>Who took part</h3>\n<table>\n<thead><tr><th>Group</th><th>Population</th><th>Outreach contacts aimed at it</th><th>Ideas</th><th>Voters</th><th>Turnout</th><th>Representation</th></tr></thead>\n<tbody>\n",
            "<h3>Vilka som deltog</h3>\n<table>\n<thead><tr><th>Grupp</th><th>Befolkning</th><th>Kontakter riktade till gruppen</th><th>Idéer</th><th>Röstande</th><th>Valdeltagande</th><th>Representation</th></tr></thead>\n<tbody>\n",
        ));
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
        out.push_str(l.t(
            "<p class=\"note\">From outreach to the vote, by group: the contacts made by the outreach activities aimed at the group (those aimed at everyone are not counted here; one aimed at several groups counts its whole reach for each), the ideas its residents submitted, and its voters against its share of the population.</p>\n",
            "<p class=\"note\">Från marknadsföring till röstning, per grupp: kontakterna från de aktiviteter som riktades till gruppen (de som riktades till alla räknas inte här; en som riktades till flera grupper räknas fullt för var och en), idéerna dess invånare lämnade in och dess röstande mot dess andel av befolkningen.</p>\n",
        ));
        if suppressed {
            out.push_str(l.t(
                "<p class=\"note\">– : too few voters to publish (the count is suppressed to protect who voted).</p>\n",
                "<p class=\"note\">– : för få röstande för att publicera (antalet döljs för att skydda vem som röstade).</p>\n",
            ));
        }
    }

    if let Some((summary, lessons)) = &y.evaluation {
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<p>{}</p>",
            l.t("Evaluation", "Utvärdering"),
            local(l, summary)
        );
        if !lessons.is_empty() {
            out.push_str("<ul class=\"lessons\">");
            for lesson in lessons {
                let _ = write!(out, "<li>{}</li>", local(l, lesson));
            }
            out.push_str("</ul>\n");
        }
    }
    out.push_str("</section>\n");
}

/// A compared rule's name, in the report's language.
fn rule_label(l: Language, label: &'static str) -> &'static str {
    match (l, label) {
        (Language::Swedish, "Greedy") => "Girig",
        (Language::Swedish, "Equal shares") => "Lika andelar",
        _ => label,
    }
}

/// What scores count, in the report's language.
fn score_unit(l: Language, unit: &'static str) -> &'static str {
    match (l, unit) {
        (Language::Swedish, "votes") => "röster",
        (Language::Swedish, "points") => "poäng",
        (Language::Swedish, "Borda points") => "Bordapoäng",
        _ => unit,
    }
}

/// A resident's text in the report's language (in Swedish where it has
/// none), then each other language it was written in, marked with its
/// language and direction so that right-to-left text shows correctly inside
/// the left-to-right page.
fn local(l: Language, text: &LocalText) -> String {
    let shown = l.text(text);
    let mut out = format!("<span dir=\"auto\">{}</span>", escape(shown));
    if shown != text.swedish() {
        let _ = write!(
            out,
            " <span class=\"other\" lang=\"sv\" dir=\"ltr\">{}</span>",
            escape(text.swedish())
        );
    }
    for (lang, other) in text.others() {
        if lang.as_str() == l.tag() {
            continue;
        }
        let dir = if lang.is_right_to_left() {
            "rtl"
        } else {
            "ltr"
        };
        let _ = write!(
            out,
            " <span class=\"other\" lang=\"{}\" dir=\"{dir}\">{}</span>",
            escape(lang.as_str()),
            escape(other)
        );
    }
    out
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

fn projects_chart(l: Language, y: &YearPart) -> String {
    let mut order: Vec<usize> = (0..y.projects.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (&y.projects[a], &y.projects[b]);
        pb.score
            .cmp(&pa.score)
            .then_with(|| l.text(&pa.title).cmp(l.text(&pb.title)))
    });
    let row = 26.0;
    let top = 58.0;
    let height = top + row * order.len() as f64 + 36.0;
    let mut s = Svg::new(
        WIDTH,
        height,
        &match l {
            Language::Swedish => format!(
                "Stapeldiagram: {} och kostnad för varje projekt på röstsedeln {}, beviljade projekt markerade",
                score_unit(l, y.score_unit),
                y.metrics.year
            ),
            _ => format!(
                "Bar chart: {} and cost of each project on the ballot in {}, funded projects highlighted",
                y.score_unit, y.metrics.year
            ),
        },
    );
    let (funded_word, not_funded_word) = (
        l.t("funded", "beviljat"),
        l.t("not funded", "inte beviljat"),
    );
    s.legend(
        10.0,
        6.0,
        WIDTH,
        &[
            (Key::Swatch(BLUE), funded_word.to_owned()),
            (Key::Swatch(GREY), not_funded_word.to_owned()),
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
    let unit = capitalised(score_unit(l, y.score_unit));
    s.text(score_x0, head, &unit, Anchor::Start, "head");
    s.text(
        cost_x0,
        head,
        &format!("{} ({})", l.t("Cost", "Kostnad"), y.currency),
        Anchor::Start,
        "head",
    );
    s.text(
        title_x,
        head,
        l.t("Project", "Projekt"),
        Anchor::End,
        "head",
    );
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
        let title = l.text(&p.title);
        let shown = truncate(title, title_x - 8.0, 12.5);
        s.text_tip(title_x, yy + 17.0, &shown, title, Anchor::End, class);
        let status = if p.funded {
            funded_word
        } else {
            not_funded_word
        };
        let tip = format!(
            "{}: {} {}, {}, {status}",
            title,
            int(i128::from(p.score)),
            score_unit(l, y.score_unit),
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

fn budget_chart(l: Language, y: &YearPart) -> String {
    let m = &y.metrics;
    let (x0, x1) = (150.0, WIDTH - 20.0);
    let budget = major(m.budget);
    let spent = major(m.spent);
    let total = budget.max(spent).max(f64::MIN_POSITIVE);
    let scale = (x1 - x0) / total;
    let overrun = m.left_over.is_negative();
    let spent_label = if m.in_progress > 0 {
        l.t("Spent or committed", "Använt eller bundet")
    } else {
        l.t("Spent", "Använt")
    };
    let (set_aside_word, carried_word, over_word, left_word) = (
        l.t("Set aside", "Avsatt"),
        l.t("Carried in", "Överfört"),
        l.t("Over budget", "Över budget"),
        l.t("Left", "Kvar"),
    );
    let mut items = vec![
        (
            Key::Swatch(SKY),
            format!(
                "{} {}",
                l.t("Set aside this year", "Avsatt i år"),
                money(y.set_aside)
            ),
        ),
        (
            Key::Swatch(PURPLE),
            format!("{carried_word} {}", money(m.carried_in)),
        ),
        (
            Key::Swatch(BLUE),
            format!("{spent_label} {}", money(m.spent)),
        ),
    ];
    if overrun {
        items.push((
            Key::Swatch(svg::PALETTE[4]),
            format!("{over_word} {}", money(m.left_over)),
        ));
    } else {
        items.push((
            Key::Swatch(ORANGE),
            format!("{left_word} {}", money(m.left_over)),
        ));
    }
    let bar_h = 26.0;
    let (r1, r2) = (12.0, 50.0);
    let height = r2 + bar_h + 14.0 + 2.0 * 20.0 + 4.0;
    let mut s = Svg::new(
        WIDTH,
        height,
        &match l {
            Language::Swedish => format!(
                "Staplat stapeldiagram: budgeten {} och hur mycket av den som användes",
                m.year
            ),
            _ => format!(
                "Stacked bar chart: the budget of {} and how much of it was spent",
                m.year
            ),
        },
    );
    let segment = |s: &mut Svg, y: f64, from: f64, amount: f64, colour: &str, tip: &str| {
        let w = amount.max(0.0) * scale;
        s.rect(x0 + from * scale, y, w, bar_h, colour, Some(tip));
        from + amount.max(0.0)
    };
    s.text(
        x0 - 10.0,
        r1 + 17.5,
        l.t("Budget", "Budget"),
        Anchor::End,
        "strong",
    );
    s.text(
        x0 - 10.0,
        r2 + 17.5,
        l.t("Use", "Användning"),
        Anchor::End,
        "strong",
    );
    let at = segment(
        &mut s,
        r1,
        0.0,
        major(y.set_aside),
        SKY,
        &format!("{set_aside_word} {}", money(y.set_aside)),
    );
    segment(
        &mut s,
        r1,
        at,
        major(m.carried_in),
        PURPLE,
        &format!("{carried_word} {}", money(m.carried_in)),
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
            &format!("{over_word} {}", money(m.left_over)),
        );
    } else {
        segment(
            &mut s,
            r2,
            at,
            major(m.left_over),
            ORANGE,
            &format!("{left_word} {}", money(m.left_over)),
        );
    }
    // Shares inside the bars where they fit.
    if budget > 0.0 {
        let pct = spent / budget;
        let label = format!("{} {}", percent(pct), l.t("of the budget", "av budgeten"));
        let w = within * scale;
        if text_width(&label, 11.0) + 12.0 < w {
            s.text(x0 + 8.0, r2 + 17.5, &label, Anchor::Start, "inv");
        }
    }
    s.text(
        x1,
        r1 - 2.0,
        &format!("{} {}", l.t("total", "totalt"), money(m.budget)),
        Anchor::End,
        "note",
    );
    let (money_in, money_out) = items.split_at(2);
    s.legend(x0, r2 + bar_h + 14.0, x1, money_in);
    s.legend(x0, r2 + bar_h + 34.0, x1, money_out);
    s.finish()
}

fn rules_chart(l: Language, y: &YearPart) -> String {
    let budget = major(y.metrics.budget).max(f64::MIN_POSITIVE);
    let colours = [ORANGE, GREEN];
    let row = 30.0;
    let top = 40.0;
    let panel_h = row * y.rules.len() as f64;
    let height = top + panel_h + 36.0;
    let mut s = Svg::new(
        WIDTH,
        height,
        &match l {
            Language::Swedish => format!(
                "Stapeldiagram: använd budget och röstande med ett beviljat projekt med girig metod och lika andelar {}",
                y.metrics.year
            ),
            _ => format!(
                "Bar chart: budget used and voters with a funded project under greedy and equal shares in {}",
                y.metrics.year
            ),
        },
    );
    let (label_x, a0, aw, b0, bw) = (118.0, 130.0, 250.0, 560.0, 190.0);
    s.text(
        a0,
        top - 14.0,
        l.t("Budget used", "Använd budget"),
        Anchor::Start,
        "head",
    );
    s.text(
        b0,
        top - 14.0,
        l.t(
            "Voters with a funded project",
            "Röstande med ett beviljat projekt",
        ),
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
        let label = rule_label(l, run.label);
        s.text(label_x, yy + 19.0, label, Anchor::End, "strong");
        match &run.result {
            Ok(r) => {
                let used = major(r.cost) / budget;
                let w = used.clamp(0.0, 1.0) * aw;
                let tip = format!(
                    "{label}: {} {} {}",
                    money(r.cost),
                    l.t("of", "av"),
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
                    "{label}: {} {} {} {}",
                    int(i128::from(r.voters_with_funded())),
                    l.t("of", "av"),
                    int(i128::from(r.satisfaction.voters)),
                    l.t("voters", "röstande")
                );
                s.rect(b0, yy + 6.0, w, 18.0, colour, Some(&tip));
                s.text(
                    b0 + w + 5.0,
                    yy + 19.0,
                    &format!(
                        "{} ({} {} {})",
                        percent(sh),
                        int(i128::from(r.voters_with_funded())),
                        l.t("of", "av"),
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
                        &format!("{}: {e}", l.t("could not be counted", "kunde inte räknas")),
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
fn satisfaction_table(out: &mut String, l: Language, y: &YearPart) {
    const SHOWN: usize = 4;
    let rows: Vec<(&str, &crate::tally::Satisfaction)> = y
        .rules
        .iter()
        .filter_map(|run| Some((run.label, &run.result.as_ref().ok()?.satisfaction)))
        .collect();
    if rows.is_empty() {
        return;
    }
    out.push_str(l.t(
        "<table>\n<caption>Voters by how many of the projects they voted for are funded</caption>\n\
         <thead><tr><th>Rule</th>",
        "<table>\n<caption>Röstande efter hur många av de projekt de röstade på som beviljas</caption>\n\
         <thead><tr><th>Metod</th>",
    ));
    for k in 0..SHOWN {
        let _ = write!(out, "<th>{k}</th>");
    }
    let _ = write!(
        out,
        "<th>{SHOWN} {}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>\n",
        l.t("or more", "eller fler"),
        l.t("On average", "I genomsnitt"),
        l.t("Their cost, on average", "Deras kostnad i genomsnitt")
    );
    for (label, s) in rows {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th>",
            escape(rule_label(l, label))
        );
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
    out.push_str(l.t(
        "</tbody>\n</table>\n<p class=\"note\">Satisfaction as in Faliszewski et al., <i>Participatory \
         Budgeting: Data, Tools, and Analysis</i> (IJCAI 2023): how many of a voter's projects are \
         funded, and what they cost.</p>\n",
        "</tbody>\n</table>\n<p class=\"note\">Nöjdhet som hos Faliszewski m.fl., <i>Participatory \
         Budgeting: Data, Tools, and Analysis</i> (IJCAI 2023): hur många av en röstandes projekt som \
         beviljas, och vad de kostar.</p>\n",
    ));
}

/// In plain words, for each project not funded, what it would have needed.
fn needed_list(out: &mut String, l: Language, y: &YearPart) {
    if y.projects.iter().all(|p| p.funded) {
        return;
    }
    let why_not = match y.explained {
        Explained::Yes => None,
        Explained::NotForRule => Some(match l {
            Language::Swedish => format!(
                "Rapporten räknar inte ut vad projekten som inte beviljades hade behövt med {}: \
                 att räkna om med den många gånger tar för lång tid. \
                 <code>medborgarbudget tally --explain</code> gör det, på årets röster som .pb-fil.",
                escape(&y.rule)
            ),
            _ => format!(
                "The report does not work out what the projects not funded would have needed \
                 under {}: recounting by it many times takes too long. \
                 <code>medborgarbudget tally --explain</code> does, on the year's votes as a .pb file.",
                escape(&y.rule)
            ),
        }),
        Explained::TooCostly => Some(
            l.t(
                "What the projects not funded would have needed is left out: recounting this \
                 year took more work than the report allows.",
                "Vad projekten som inte beviljades hade behövt är utelämnat: att räkna om året \
                 krävde mer arbete än rapporten tillåter.",
            )
            .to_owned(),
        ),
        Explained::Parts => Some(
            l.t(
                "What the projects not funded would have needed is not worked out for a cycle of \
                 several budget parts yet: each part was counted alone.",
                "Vad projekten som inte beviljades hade behövt räknas ännu inte ut för en cykel \
                 med flera budgetdelar: varje del räknades för sig.",
            )
            .to_owned(),
        ),
        Explained::SetAside => Some(
            l.t(
                "What the projects not funded would have needed is not worked out: the count \
                 left projects out (too few votes, or a project of the same exclusion group \
                 chosen first), and a recount of the whole ballot would not.",
                "Vad projekten som inte beviljades hade behövt räknas inte ut: räkningen lämnade \
                 projekt utanför (för få röster, eller ett projekt i samma uteslutningsgrupp valt \
                 först), och en omräkning av hela röstsedeln skulle inte göra det.",
            )
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
        "{}",
        l.t(
            "<h3>What the projects not funded would have needed</h3>\n<p>Counted again by the same rule \
             ({rule}), with everything else as it was.</p>\n<ul class=\"needed\">",
            "<h3>Vad projekten som inte beviljades hade behövt</h3>\n<p>Omräknat med samma metod \
             ({rule}), med allt annat som det var.</p>\n<ul class=\"needed\">",
        )
        .replace("{rule}", &escape(&y.rule))
    );
    for i in order {
        let p = &y.projects[i];
        let Some(needed) = p.needed else { continue };
        let _ = writeln!(
            out,
            "<li><strong>{}</strong> ({}, {} {}): {}</li>",
            local(l, &p.title),
            escape(&money(p.cost)),
            escape(&int(i128::from(p.score))),
            escape(score_unit(l, y.score_unit)),
            escape(&needed_words(l, needed, y.currency))
        );
    }
    out.push_str("</ul>\n");
}

/// One sentence: the cost at which, or the voters with whom, a project would
/// have been funded.
fn needed_words(l: Language, needed: Needed, currency: Currency) -> String {
    let amount = |v: u64| money(Money::new(i64::try_from(v).unwrap_or(i64::MAX), currency));
    let fill = |template: &str, value: String| template.replacen("{}", &value, 1);
    let cost = match needed.max_cost {
        Measure::Exact(v) => Some(fill(
            l.t("had it cost {} or less", "om det kostat {} eller mindre"),
            amount(v),
        )),
        Measure::Threshold(v) => Some(fill(
            l.t("had it cost about {}", "om det kostat omkring {}"),
            amount(v),
        )),
        _ => None,
    };
    let voters = match needed.extra_voters {
        Measure::Exact(1) => Some(
            l.t(
                "had one more resident voted for it",
                "om en invånare till röstat på det",
            )
            .to_owned(),
        ),
        Measure::Exact(k) => Some(fill(
            l.t(
                "had {} more residents voted for it",
                "om {} invånare till röstat på det",
            ),
            int(i128::from(k)),
        )),
        Measure::Threshold(k) => Some(fill(
            l.t(
                "had about {} more residents voted for it",
                "om omkring {} invånare till röstat på det",
            ),
            int(i128::from(k)),
        )),
        _ => None,
    };
    let funded = l.t("It would have been funded", "Det hade beviljats");
    match (cost, voters) {
        (Some(c), Some(v)) => format!("{funded} {c}, {} {v}.", l.t("or", "eller")),
        (Some(c), None) => format!(
            "{funded} {c}; {}",
            l.t(
                "more votes alone would not have been enough.",
                "fler röster ensamt hade inte räckt."
            )
        ),
        (None, Some(v)) => format!(
            "{funded} {v}; {}",
            l.t(
                "a lower cost alone would not have been enough.",
                "en lägre kostnad ensam hade inte räckt."
            )
        ),
        (None, None) => l
            .t(
                "No lower cost and no number of extra votes would have funded it under this rule.",
                "Ingen lägre kostnad och inget antal extra röster hade gett det pengar med den \
                 här metoden.",
            )
            .to_owned(),
    }
}

fn rules_table(out: &mut String, l: Language, y: &YearPart) {
    // The year's own rule has its column already ("Funded (greedy)"): the
    // compared rules are the others.
    let others: Vec<&RuleRun> = y.rules.iter().filter(|r| r.name != y.rule).collect();
    let _ = write!(
        out,
        "<table>\n<thead><tr><th>{}</th><th>{}</th>",
        l.t("Project", "Projekt"),
        l.t("Cost", "Kostnad")
    );
    let _ = write!(
        out,
        "<th>{}</th>",
        escape(&capitalised(score_unit(l, y.score_unit)))
    );
    let adjusted = !y.adjustments.is_empty();
    if adjusted {
        let _ = write!(
            out,
            "<th>{} ({})</th><th>{}</th>",
            l.t("Counted", "Räknat"),
            escape(&y.rule),
            l.t("Funded after the council", "Beviljat efter nämndens beslut")
        );
    } else {
        let _ = write!(
            out,
            "<th>{} ({})</th>",
            l.t("Funded", "Beviljat"),
            escape(&y.rule)
        );
    }
    for run in &others {
        let _ = write!(out, "<th>{}</th>", escape(rule_label(l, run.label)));
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
            local(l, &p.title),
            escape(&money(p.cost)),
            escape(&int(i128::from(p.score))),
            mark(p.counted)
        );
        if let Some((en, sv)) = &p.set_aside {
            let why = if l == Language::Swedish { sv } else { en };
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
        "<tr><th scope=\"row\">{}</th><td></td><td></td><td class=\"num\">{}</td>",
        l.t("Total funded", "Totalt beviljat"),
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
        "<p class=\"note\">{}: {}.</p>",
        l.t(
            "Rules as named in the crate",
            "Metoderna som de heter i biblioteket"
        ),
        escape(&names.join(", "))
    );
    adjustments(out, l, y);
}

/// A cycle of several budget parts: each part's money, ballots and outcome.
fn parts_table(out: &mut String, l: Language, y: &YearPart) {
    let parts = &y.metrics.parts;
    if parts.is_empty() {
        return;
    }
    out.push_str(l.t("<h3>Budget parts</h3>\n", "<h3>Budgetdelar</h3>\n"));
    out.push_str(if y.parts_together {
        l.t(
            "<p>The parts were counted together by equal shares: each voter started with their \
             share of the money of each part that is theirs (the part's money divided by the \
             voters who live in it), so a part may receive more or less than its amount.</p>\n",
            "<p>Delarna räknades tillsammans med lika andelar: varje röstande började med sin \
             andel av pengarna i varje del som är deras (delens pengar delat med de röstande \
             som bor där), så en del kan få mer eller mindre än sitt belopp.</p>\n",
        )
    } else {
        l.t(
            "<p>Each part was counted alone, on its own ballots and within its own money.</p>\n",
            "<p>Varje del räknades för sig, på sina egna röster och inom sina egna pengar.</p>\n",
        )
    });
    out.push_str(l.t(
        "<table>\n<thead><tr><th>Part</th><th>Budget</th><th>Ballots</th>\
         <th>Funded / on ballot</th><th>Cost</th></tr></thead>\n<tbody>\n",
        "<table>\n<thead><tr><th>Del</th><th>Budget</th><th>Röster</th>\
         <th>Beviljade / på röstsedeln</th><th>Kostnad</th></tr></thead>\n<tbody>\n",
    ));
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
fn adjustments(out: &mut String, l: Language, y: &YearPart) {
    if y.adjustments.is_empty() {
        return;
    }
    let title = |id: &crate::ids::ProjectId| {
        y.projects
            .iter()
            .find(|p| p.id == Some(*id))
            .map_or_else(|| id.to_string(), |p| format!("“{}”", l.text(&p.title)))
    };
    let list =
        |ids: &[crate::ids::ProjectId]| ids.iter().map(&title).collect::<Vec<_>>().join(", ");
    out.push_str(l.t(
        "<h3>The council's adjustments</h3>\n<p>The count stands as counted; the council changed what is funded, on the record:</p>\n<ul>\n",
        "<h3>Nämndens ändringar</h3>\n<p>Räkningen står som den räknades; nämnden ändrade vad som beviljas, med beslut:</p>\n<ul>\n",
    ));
    for a in &y.adjustments {
        let mut what = Vec::new();
        if !a.add.is_empty() {
            what.push(format!("{} {}", l.t("added", "lade till"), list(&a.add)));
        }
        if !a.remove.is_empty() {
            what.push(format!(
                "{} {}",
                l.t("removed", "tog bort"),
                list(&a.remove)
            ));
        }
        if let Some(raise) = a.raises_budget_by {
            what.push(format!(
                "{} {}",
                l.t("raised the budget by", "höjde budgeten med"),
                money(raise)
            ));
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
