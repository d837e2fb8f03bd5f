//! Reports: one self-contained HTML file per cycle or programme. Structural
//! checks on the HTML, and a browser test that renders it with headless Chromium
//! and checks the picture is not blank.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use medborgarbudget::process::AnyCycle;
use medborgarbudget::report::{Report, ReportError};

const TRICKY: &str = r#"Skate ramp <b>&" lights</b> 'now'"#;

fn programme_html() -> (Report, String) {
    let programme = report_programme(Some(TRICKY));
    let report = Report::programme(&programme).unwrap();
    let html = report.to_html();
    (report, html)
}

#[test]
fn a_programme_report_is_one_self_contained_file() {
    let (report, html) = programme_html();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    let lower = html.to_lowercase();
    for banned in [
        "<script",
        "http://",
        "https://",
        "<link",
        "<img",
        "<iframe",
        "@import",
        "url(",
        " onload=",
        " onclick=",
        "javascript:",
    ] {
        assert!(!lower.contains(banned), "the report contains {banned:?}");
    }
    // Fonts are local only.
    assert!(!lower.contains("@font-face"));
    assert_eq!(report.area(), "Hjällbo");
    assert_eq!(report.years(), [2027, 2028, 2029]);
    assert!(report.is_programme());
    assert!(html.contains("<h1>Hjällbo 2027–2029</h1>"));
}

#[test]
fn resident_text_is_escaped() {
    let (_, html) = programme_html();
    assert!(!html.contains("<b>&\""), "raw title in the HTML");
    assert!(!html.contains("<b>&amp;"));
    assert!(html.contains("Skate ramp &lt;b&gt;&amp;&quot; lights&lt;/b&gt; &#39;now&#39;"));
    // The only bold elements are the report's own.
    assert_eq!(html.matches("<b>").count(), 3, "one per year's rule note");
}

#[test]
fn one_svg_per_chart() {
    let (report, html) = programme_html();
    // Turnout and representation, then three charts a year.
    assert_eq!(report.charts(), 2 + 3 * 3);
    assert_eq!(html.matches("<svg").count(), report.charts());
    assert_eq!(html.matches("</svg>").count(), report.charts());
    // Every chart is labelled for screen readers.
    assert_eq!(
        html.matches(r#"role="img" aria-label=""#).count(),
        report.charts()
    );
    for chart in [
        "Line chart: turnout by population group",
        "Grouped bar chart: representation",
        "Bar chart: votes and cost of each project on the ballot in 2028",
        "Stacked bar chart: the budget of 2029",
        "under greedy and equal shares in 2027",
    ] {
        assert!(html.contains(chart), "missing chart {chart:?}");
    }
}

#[test]
fn money_is_exact_to_the_ore_and_rules_are_compared() {
    let (_, html) = programme_html();
    // 310 500.50 SEK, with grouped thousands.
    assert!(html.contains("310\u{202F}500.50\u{A0}SEK"));
    assert!(html.contains("85\u{202F}000.75\u{A0}SEK"));
    assert!(html.contains("Greedy") && html.contains("Equal shares"));
    assert!(html.contains("Voters with a funded project"));
    assert!(html.contains("Counted by <b>greedy</b>"));
    // The group table and the measures table.
    assert!(html.contains("age 12-17") && html.contains("age 65+"));
    assert!(html.contains("Delivered / cancelled / in progress"));
    // Changes from the year before are shown from the second year on.
    assert!(html.contains("\u{A0}pp"));
}

#[test]
fn a_cycle_report_needs_a_counted_cycle() {
    let cycle = AnyCycle::from(closed_cycle());
    let report = Report::cycle(&cycle).unwrap();
    assert!(!report.is_programme());
    assert_eq!(report.years(), [2026]);
    let html = report.to_html();
    assert_eq!(html.matches("<svg").count(), 3);
    assert_eq!(report.charts(), 3);
    assert!(html.contains("<h1>Hjällbo 2026</h1>"));
    // 390 000 + 480 000 spent of 1 000 000.
    assert!(html.contains("Spent 870\u{202F}000.00\u{A0}SEK"));
    let mut bytes = Vec::new();
    report.write_html(&mut bytes).unwrap();
    assert_eq!(bytes, html.as_bytes());

    for early in [AnyCycle::from(idea_cycle()), AnyCycle::from(voted_cycle())] {
        let step = early.step();
        match Report::cycle(&early) {
            Err(ReportError::NotCounted { year, step: s }) => {
                assert_eq!((year, s), (2026, step));
            }
            other => panic!("expected NotCounted, got {other:?}"),
        }
    }
    // A cycle still in implementation is reported, spending at estimates.
    let running = AnyCycle::from(implementation_cycle());
    let html = Report::cycle(&running).unwrap().to_html();
    assert!(html.contains("Spent or committed"));
}

#[test]
fn a_programme_with_no_counted_year_has_nothing_to_report() {
    use medborgarbudget::ids::ProgrammeId;
    use medborgarbudget::process::{Programme, ProgrammeSetup};
    let programme = Programme::new(ProgrammeSetup {
        id: ProgrammeId::from_u128(9),
        area: area(),
        currency: medborgarbudget::money::Currency::SEK,
        first_year: 2027,
        years: 3,
        carry_over: None,
        established_at: day(-10),
    })
    .unwrap();
    match Report::programme(&programme) {
        Err(ReportError::NothingCounted { programme: id }) => {
            assert_eq!(id, ProgrammeId::from_u128(9));
        }
        other => panic!("expected NothingCounted, got {other:?}"),
    }
}

#[test]
fn write_errors_are_reported() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let report = Report::cycle(&AnyCycle::from(closed_cycle())).unwrap();
    let err = report.write_html(&mut Broken).unwrap_err();
    assert!(matches!(err, ReportError::Write { .. }));
    assert!(err.to_string().contains("disk full"));
}

// ------------------------------------------------------------------ browser

fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
            && out.status.success()
        {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !path.is_empty() {
                return Some(PathBuf::from(path));
            }
        }
    }
    None
}

/// Renders `html` with headless Chromium into a PNG of `width` × `height`.
fn screenshot(browser: &Path, html: &str, dir: &Path, width: u32, height: u32) -> PathBuf {
    let page = dir.join("report.html");
    let png = dir.join("report.png");
    std::fs::write(&page, html).unwrap();
    let started = Instant::now();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", dir.join("profile").display()),
            &format!("--window-size={width},{height}"),
            &format!("--screenshot={}", png.display()),
        ])
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A browser that hangs must not hang the test suite.
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    eprintln!(
        "chromium rendered the report in {:.2?} ({status})",
        started.elapsed()
    );
    assert!(png.exists(), "no screenshot; chromium said: {stderr}");
    png
}

/// The RGB(A) pixels of a PNG, as (width, height, pixels).
fn pixels(png: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let px = buf[..info.buffer_size()]
        .chunks_exact(step)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, px)
}

#[test]
fn the_report_renders_in_a_browser() {
    let Some(browser) = chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is not installed, and CI is set: .ci/run installs it");
        }
        eprintln!("NOTICE: chromium is not installed; skipping the browser test");
        return;
    };
    let (_, html) = programme_html();
    let dir = std::env::temp_dir().join(format!("medborgarbudget-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = screenshot(&browser, &html, &dir, 1000, 2400);
    let (w, h, px) = pixels(&png);
    assert_eq!((w, h), (1000, 2400));

    // The page background (#f6f7f9) and the main column (#fff) are background.
    let background = |p: &[u8; 3]| *p == [255, 255, 255] || *p == [0xf6, 0xf7, 0xf9];
    let ink = px.iter().filter(|p| !background(p)).count();
    let share = ink as f64 / px.len() as f64;
    assert!(
        share > 0.04,
        "only {:.1} % of the picture is not background",
        share * 100.0
    );
    let distinct: HashSet<[u8; 3]> = px.iter().copied().collect();
    assert!(distinct.len() > 50, "only {} colours", distinct.len());
    // The charts' colours are on screen: funded blue, unfunded grey, and the
    // header rule.
    for (name, colour) in [("blue", [0x00, 0x72, 0xB2]), ("grey", [0xBD, 0xBD, 0xBD])] {
        let n = px.iter().filter(|p| **p == colour).count();
        assert!(n > 500, "{name} bars: only {n} pixels");
    }
    // Something is drawn in each third of the page: the report fills it.
    for third in 0..3 {
        let rows = (h / 3) as usize;
        let slice = &px[third * rows * w as usize..(third + 1) * rows * w as usize];
        let n = slice.iter().filter(|p| !background(p)).count();
        assert!(
            n > slice.len() / 50,
            "third {third} of the page is almost blank"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Regenerates `docs/report.png`, the picture in the README:
/// `cargo test --test report -- --ignored docs_screenshot`.
#[test]
#[ignore = "writes docs/report.png"]
fn docs_screenshot() {
    let browser = chromium().expect("chromium");
    let html = Report::programme(&report_programme(None))
        .unwrap()
        .to_html();
    let dir = std::env::temp_dir().join(format!("medborgarbudget-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The summary, the programme's charts and table, and the first year's charts.
    let png = screenshot(&browser, &html, &dir, 1000, 3010);
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::copy(&png, docs.join("report.png")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_year_says_what_the_projects_not_funded_would_have_needed() {
    let (_, html) = programme_html();
    assert_eq!(
        html.matches("<h3>What the projects not funded would have needed</h3>")
            .count(),
        3,
        "one list a year"
    );
    let start = html.find("<ul class=\"needed\">").unwrap();
    let list = &html[start..start + html[start..].find("</ul>").unwrap()];
    let items: Vec<&str> = list.split("<li>").skip(1).collect();
    assert!(!items.is_empty());
    for item in &items {
        assert!(
            item.contains("It would have been funded") || item.contains("No lower cost"),
            "{item}"
        );
    }
    assert_eq!(
        html.matches(
            "<caption>Voters by how many of the projects they voted for are funded</caption>"
        )
        .count(),
        3,
        "a satisfaction table a year"
    );
    // Greedy is monotone: the figures are exact, never "about".
    assert!(!list.contains("about"), "{list}");
    assert!(list.contains("SEK or less"), "{list}");
}

/// A year counted by add1 says the report does not work out what the projects
/// not funded would have needed (recounting add1 many times is slow), instead
/// of taking seconds a year; greedy years list it.
#[test]
fn a_year_counted_by_add1_says_why_it_has_no_needed_list() {
    use medborgarbudget::sim::{Scenario, Simulation};
    let scenario = Scenario {
        rule: medborgarbudget::tally::Rule::MesAdd1,
        ..Scenario::default()
    };
    let run = Simulation::new(&scenario, 1)
        .unwrap()
        .run_in_memory()
        .unwrap();
    let html = Report::programme(&run.programme).unwrap().to_html();
    assert!(!html.contains("<h3>What the projects not funded would have needed</h3>"));
    assert_eq!(
        html.matches("The report does not work out what the projects not funded would have needed under mes-add1")
            .count(),
        3,
        "one note a year"
    );
}

/// What newcomers tripped over: the year's own rule is not a second column
/// beside "Funded (greedy)", outreach is counted as contacts, and the
/// population groups each have a colour of their own.
#[test]
fn the_rules_table_has_no_column_twice_and_groups_no_colour_twice() {
    let (_, html) = programme_html();
    assert!(html.contains("<th>Funded (greedy)</th>"));
    assert!(!html.contains("<th>Greedy</th>"), "greedy twice");
    assert!(html.contains("<th>Equal shares</th>"));
    assert!(html.contains("Outreach contacts") && !html.contains("Reached by outreach"));
    assert!(html.contains("a resident reached by two activities counts twice"));
    // The funnel by group: outreach aimed at it, ideas, voters.
    assert!(html.contains("<th>Outreach contacts aimed at it</th><th>Ideas</th><th>Voters</th>"));
    // Each group's legend swatch (12 × 12) in the representation chart.
    let swatches = legend_swatches(&html);
    assert_eq!(swatches.len(), 3, "{swatches:?}");
    assert_eq!(swatches.iter().collect::<HashSet<_>>().len(), 3);
}

/// The fills of the legend swatches of the representation chart.
fn legend_swatches(html: &str) -> Vec<String> {
    let chart = html
        .split("<svg")
        .find(|svg| svg.contains("1 = proportional"))
        .unwrap();
    chart
        .split("<rect")
        .filter(|r| r.contains(r#"width="12" height="12""#))
        .filter_map(|r| r.split("fill=\"").nth(1))
        .filter_map(|r| r.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The default simulated district has nine population groups (five age
/// bands, four languages): each gets a colour of its own (with six colours,
/// the seventh group took the first one's).
#[test]
#[cfg(feature = "sim")]
fn nine_groups_get_nine_colours() {
    use medborgarbudget::sim::{Scenario, Simulation};
    use medborgarbudget::store::VoterKey;
    use medborgarbudget::store::memory::MemoryStore;
    let run = Simulation::new(&Scenario::default(), 1)
        .unwrap()
        .run(std::sync::Arc::new(MemoryStore::new()), VoterKey::random())
        .unwrap();
    let html = Report::programme(&run.programme).unwrap().to_html();
    let swatches = legend_swatches(&html);
    assert_eq!(swatches.len(), 9, "{swatches:?}");
    assert_eq!(
        swatches.iter().collect::<HashSet<_>>().len(),
        9,
        "{swatches:?}"
    );
}

#[test]
fn a_report_in_swedish_with_texts_in_other_languages_marked_by_direction() {
    use medborgarbudget::process::Command;
    use medborgarbudget::report::Language;
    use medborgarbudget::text::{Lang, LocalText};
    // The fixture year, with project 1's title also in Arabic and English.
    let mut cycle = AnyCycle::from(medborgarbudget::process::Cycle::new(setup()));
    for command in year_commands(approval_rules()) {
        let command = match command {
            Command::ProposeProject(mut p) if p.id == project_id(1) => {
                p.title = LocalText::from("Utegym")
                    .with(Lang::new("ar").unwrap(), "صالة رياضية")
                    .unwrap()
                    .with(Lang::english(), "Outdoor gym")
                    .unwrap();
                Command::ProposeProject(p)
            }
            other => other,
        };
        cycle.apply(command).unwrap();
    }
    let report = Report::cycle(&cycle).unwrap();
    let english = report.clone().to_html();
    assert!(english.contains("<html lang=\"en\">"));
    assert!(english.contains("<span dir=\"auto\">Outdoor gym</span> <span class=\"other\" lang=\"sv\" dir=\"ltr\">Utegym</span>"));
    let swedish = report.in_language(Language::Swedish).to_html();
    assert!(swedish.contains("<html lang=\"sv\">"));
    for heading in [
        "Projekten på röstsedeln",
        "Budgeten",
        "Utvärdering",
        "Totalt beviljat",
        "Röstande",
    ] {
        assert!(
            swedish.contains(heading),
            "no {heading:?} in the Swedish report"
        );
    }
    for english_only in [
        "Projects on the ballot",
        "The budget",
        "Evaluation",
        "Total funded",
        "Voters",
        "Spent",
        "Greedy",
        "Funded (",
        "Equal shares",
    ] {
        assert!(
            !swedish.contains(english_only),
            "{english_only:?} left in English: …{}…",
            swedish.find(english_only).map_or("", |i| &swedish
                [i.saturating_sub(120)..(i + 60).min(swedish.len())])
        );
    }
    // The Arabic title is marked right to left; the Swedish one is shown first.
    assert!(swedish.contains("<span dir=\"auto\">Utegym</span>"));
    assert!(swedish.contains("<span class=\"other\" lang=\"ar\" dir=\"rtl\">صالة رياضية</span>"));
    assert!("fr".parse::<Language>().is_err());
}
