//! The residents' web page: server-rendered HTML in Swedish (default) and
//! English, plain forms that work without JavaScript, every form protected by
//! a token tied to a session cookie (a cross-site post has neither).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Service;
use super::api::{ResidentOutcome, as_resident, ballot_command, idea_command, programme_ids};
use crate::ballot::{BallotError, BallotKind, BallotRules, Choices};
use crate::ids::{BallotId, IdeaId, ProgrammeId, ProjectId};
use crate::money::Money;
use crate::process::{AnyCycle, CycleError, Programme, ProgrammeError, Step};
use crate::project::{DeliveryStatus, Project};
use crate::report::svg::escape;
use crate::text::{Lang, LocalText};

/// The page's language: Swedish unless `?lang=en`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L {
    Sv,
    En,
}

impl L {
    fn t<'a>(self, sv: &'a str, en: &'a str) -> &'a str {
        match self {
            L::Sv => sv,
            L::En => en,
        }
    }
    fn code(self) -> &'static str {
        self.t("sv", "en")
    }
    fn lang(self) -> Lang {
        match self {
            L::Sv => Lang::swedish(),
            L::En => Lang::english(),
        }
    }
    fn text(self, text: &LocalText) -> String {
        escape(text.in_or_swedish(&self.lang()))
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    lang: Option<String>,
    part: Option<String>,
}

impl PageQuery {
    fn l(&self) -> L {
        if self.lang.as_deref() == Some("en") {
            L::En
        } else {
            L::Sv
        }
    }
}

const SESSION: &str = "mb_session";

/// The session cookie's value, if the browser sent one.
fn session(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, v)| *k == SESSION && v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(_, v)| v.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The form token of `session`: HMAC of the session under the server's key.
fn form_token(s: &Service, session: &str) -> String {
    hex(&crate::store::privacy::mac(
        &s.inner.csrf_key,
        &[b"form", session.as_bytes()],
    ))
}

/// The session (new if the browser had none) and the cookie to set for it.
fn ensure_session(s: &Service, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(existing) = session(headers) {
        return (existing, None);
    }
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let value = hex(&bytes);
    let secure = if s.inner.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{SESSION}={value}; Path=/; HttpOnly; SameSite=Strict{secure}");
    (value, HeaderValue::from_str(&cookie).ok())
}

fn with_cookie(mut r: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// Whether a posted form carries the token of the browser's session.
fn form_is_ours(s: &Service, headers: &HeaderMap, form: &Form) -> bool {
    let Some(session) = session(headers) else {
        return false;
    };
    let expected = form_token(s, &session);
    let sent = form.one("csrf").unwrap_or_default();
    // Compared in constant time.
    sent.len() == expected.len()
        && sent
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |d, (a, b)| d | (a ^ b))
            == 0
}

/// A posted form's fields (a name may repeat: checkboxes).
struct Form(Vec<(String, String)>);

/// The most fields a posted form may have.
const MAX_FIELDS: usize = 1_000;

impl Form {
    fn parse(body: &Bytes) -> Option<Form> {
        let fields: Vec<(String, String)> = form_urlencoded::parse(body)
            .take(MAX_FIELDS + 1)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        (fields.len() <= MAX_FIELDS).then_some(Form(fields))
    }
    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#1a1a1a;background:#fff;line-height:1.5;font-size:1.0625rem}\
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:1}\
header{background:#0b3d6e;color:#fff;padding:1rem 1.25rem}header a{color:#fff}\
header p{margin:.25rem 0 0}\
main{max-width:46rem;margin:0 auto;padding:1rem 1.25rem 3rem}\
a{color:#0b4f9c}a:focus,button:focus,input:focus,textarea:focus{outline:3px solid #c25e00;outline-offset:2px}\
.steps{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.25rem}\
.steps li{border:1px solid #5b6470;border-radius:4px;padding:.15rem .5rem;font-size:.9rem}\
.steps li[aria-current]{background:#0b3d6e;color:#fff;border-color:#0b3d6e;font-weight:600}\
.card{border:1px solid #c9ced6;border-radius:6px;padding:.75rem 1rem;margin:.75rem 0}\
.card h3{margin:.1rem 0 .3rem;font-size:1.1rem}\
.muted{color:#4a5260}\
.error{color:#a4000f;font-weight:600}\
.ok{border-left:6px solid #0a6b2b;padding:.5rem 1rem;background:#eef7f1}\
.problem{border-left:6px solid #a4000f;padding:.5rem 1rem;background:#fdf0f1}\
label{display:block;font-weight:600;margin:.75rem 0 .25rem}\
input[type=text],input[type=number],textarea{width:100%;padding:.5rem;border:2px solid #5b6470;border-radius:4px;font:inherit}\
fieldset{border:1px solid #c9ced6;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}\
legend{font-weight:700;padding:0 .25rem}\
.choice{display:flex;gap:.75rem;align-items:flex-start;padding:.5rem 0;border-bottom:1px solid #e4e7eb}\
.choice label{margin:0;font-weight:400}.choice input[type=checkbox]{width:1.4rem;height:1.4rem;margin-top:.2rem}\
.choice input[type=number]{width:6rem}\
button{background:#0b4f9c;color:#fff;border:0;border-radius:4px;padding:.7rem 1.4rem;font:inherit;font-weight:600;cursor:pointer;margin-top:1rem}\
.lang{float:right}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e4e7eb}\
.bar{background:#e4e7eb;height:.8rem;border-radius:4px;overflow:hidden}.bar span{display:block;height:100%;background:#0a6b2b}";

/// A whole page.
fn page(l: L, title: &str, here: &str, area: Option<&str>, body: &str) -> String {
    let other = match l {
        L::Sv => format!("<a class=\"lang\" href=\"{here}?lang=en\" lang=\"en\">English</a>"),
        L::En => format!("<a class=\"lang\" href=\"{here}?lang=sv\" lang=\"sv\">Svenska</a>"),
    };
    let area = area.map_or_else(String::new, |a| {
        format!(
            "<p>{}</p>",
            escape(&format!(
                "{} {a}",
                l.t("Medborgarbudget i", "Participatory budget in")
            ))
        )
    });
    format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>{STYLE}</style></head><body>\
<a class=\"skip\" href=\"#main\">{skip}</a>\
<header>{other}<strong>{brand}</strong>{area}</header>\
<main id=\"main\"><h1>{title}</h1>{body}</main></body></html>",
        lang = l.code(),
        title = escape(title),
        skip = l.t("Till innehållet", "Skip to content"),
        brand = l.t("Medborgarbudget", "Participatory budgeting"),
    )
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, Html(body)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn message_page(l: L, status: StatusCode, title: &str, text: &str, back: &str) -> Response {
    let class = if status.is_success() { "ok" } else { "problem" };
    html(
        status,
        page(
            l,
            title,
            back,
            None,
            &format!(
                "<div class=\"{class}\" role=\"{role}\"><p>{}</p></div><p><a href=\"{back}?lang={}\">{}</a></p>",
                escape(text),
                l.code(),
                l.t(
                    "Tillbaka till medborgarbudgeten",
                    "Back to the participatory budget"
                ),
                role = if status.is_success() {
                    "status"
                } else {
                    "alert"
                },
            ),
        ),
    )
}

/// Money for people: `1 200 000 kr`, `12 345,50 €`.
fn money(l: L, m: &Money) -> String {
    let per = m.currency().minor_per_major().max(1);
    let major = m.minor() / per;
    let rest = (m.minor() % per).abs();
    let digits = major.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    let sign = if m.minor() < 0 { "-" } else { "" };
    let unit = match m.currency().code() {
        "SEK" => "kr".to_owned(),
        other => other.to_owned(),
    };
    let sep = l.t(",", ".");
    if rest == 0 {
        format!("{sign}{grouped}\u{a0}{unit}")
    } else {
        let width = usize::from(m.currency().minor_digits());
        format!("{sign}{grouped}{sep}{rest:0width$}\u{a0}{unit}")
    }
}

fn step_name(l: L, step: Step) -> String {
    match step.number() {
        Some(n) => format!(
            "{} {n} {}: {}",
            l.t("Steg", "Step"),
            l.t("av 7", "of 7"),
            l.t(step.label_sv(), step.label_en())
        ),
        None => l.t(step.label_sv(), step.label_en()).to_owned(),
    }
}

/// What happens in a step and after it, in plain words.
fn what_now(l: L, step: Step) -> &'static str {
    match step {
        Step::Criteria => l.t(
            "Kommunen bestämmer hur mycket pengar som finns och vilka kriterier idéerna ska uppfylla. Snart kan du lämna idéer.",
            "The municipality decides how much money there is and what the ideas must meet. Soon you can send in ideas.",
        ),
        Step::Outreach => l.t(
            "Kommunen berättar om medborgarbudgeten i området. Snart kan du lämna idéer.",
            "The municipality tells the district about the participatory budget. Soon you can send in ideas.",
        ),
        Step::IdeaGeneration => l.t(
            "Nu kan du lämna idéer om vad pengarna ska användas till. Efter det arbetar vi fram förslag tillsammans med invånare.",
            "Now you can send in ideas for what the money should be spent on. After that, residents and the municipality turn them into proposals together.",
        ),
        Step::Shortlisting => l.t(
            "Idéerna bearbetas till förslag tillsammans med invånare. Sedan får alla rösta.",
            "The ideas are worked into proposals together with residents. Then everyone can vote.",
        ),
        Step::Voting => l.t(
            "Nu kan du rösta på förslagen. Förslagen med stöd genomförs med pengarna.",
            "Now you can vote on the proposals. The proposals with support are carried out with the money.",
        ),
        Step::Implementation => l.t(
            "Rösterna är räknade. De vinnande förslagen genomförs nu tillsammans med invånare.",
            "The votes are counted. The winning proposals are being carried out together with residents.",
        ),
        Step::FollowUp => l.t(
            "Året följs upp: vad blev gjort, vem deltog och vad vi lär oss till nästa år.",
            "The year is followed up: what was done, who took part and what we learn for next year.",
        ),
        Step::Closed => l.t("Året är avslutat.", "The year is closed."),
        Step::Abandoned => l.t("Året avbröts.", "The year was stopped."),
    }
}

/// `GET /`: the one programme's page, or a list of them.
pub(super) async fn start(State(s): State<Service>, Query(q): Query<PageQuery>) -> Response {
    let l = q.l();
    let ids = match programme_ids(&s).await {
        Ok(ids) => ids,
        Err(_) => return failed_page(l),
    };
    if let [only] = ids.as_slice() {
        return Redirect::to(&format!("/p/{only}?lang={}", l.code())).into_response();
    }
    let mut items = String::new();
    for id in ids {
        if let Ok((area, first, years)) = s
            .with_programme(id, |p| {
                (
                    p.setup().area.name().to_owned(),
                    p.setup().first_year,
                    p.setup().years,
                )
            })
            .await
        {
            let _ = write!(
                items,
                "<li><a href=\"/p/{id}?lang={}\">{}</a> ({first}–{})</li>",
                l.code(),
                escape(&area),
                first + i32::from(years) - 1
            );
        }
    }
    let body = if items.is_empty() {
        format!(
            "<p>{}</p>",
            l.t(
                "Det finns ingen medborgarbudget här ännu.",
                "There is no participatory budget here yet."
            )
        )
    } else {
        format!("<ul>{items}</ul>")
    };
    html(
        StatusCode::OK,
        page(
            l,
            l.t("Medborgarbudgetar", "Participatory budgets"),
            "/",
            None,
            &body,
        ),
    )
}

fn failed_page(l: L) -> Response {
    message_page(
        l,
        StatusCode::INTERNAL_SERVER_ERROR,
        l.t("Något gick fel", "Something went wrong"),
        l.t(
            "Tjänsten kunde inte läsa medborgarbudgeten. Försök igen om en stund.",
            "The service could not read the participatory budget. Please try again in a while.",
        ),
        "/",
    )
}

fn no_programme(l: L) -> Response {
    message_page(
        l,
        StatusCode::NOT_FOUND,
        l.t("Hittades inte", "Not found"),
        l.t(
            "Det finns ingen sådan medborgarbudget.",
            "There is no such participatory budget.",
        ),
        "/",
    )
}

/// Loads the programme and renders with it, or answers 404/500.
async fn render(
    s: &Service,
    id: ProgrammeId,
    l: L,
    f: impl FnOnce(&Programme) -> Response + Send + 'static,
) -> Response {
    match s.with_programme(id, f).await {
        Ok(r) => r,
        Err(crate::store::RepositoryError::NotFound { .. }) => no_programme(l),
        Err(_) => failed_page(l),
    }
}

fn steps_list(l: L, now: Step) -> String {
    let mut out = format!(
        "<ol class=\"steps\" aria-label=\"{}\">",
        l.t("Årets steg", "The year's steps")
    );
    for step in Step::ALL.iter().filter(|s| s.number().is_some()) {
        let current = if *step == now {
            " aria-current=\"step\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<li{current}>{} {}</li>",
            step.number().unwrap_or(0),
            l.t(step.label_sv(), step.label_en())
        );
    }
    out.push_str("</ol>");
    out
}

/// `GET /p/{programme}`: where the year stands, what happens next, and what
/// a resident can do now; results and delivery once counted.
pub(super) async fn programme(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    Query(q): Query<PageQuery>,
) -> Response {
    let l = q.l();
    render(&s, id, l, move |p| {
        let area = p.setup().area.name().to_owned();
        let here = format!("/p/{id}");
        let Some(cycle) = p.cycles().last() else {
            let body = format!(
                "<p>{}</p>",
                l.t(
                    "Det första året har inte börjat ännu.",
                    "The first year has not started yet."
                )
            );
            return html(StatusCode::OK, page(l, &area, &here, Some(&area), &body));
        };
        let step = cycle.step();
        let mut body = format!(
            "<h2>{} {}</h2><p><strong>{}</strong></p>{}<p>{}</p>",
            l.t("Året", "The year"),
            cycle.year(),
            escape(&step_name(l, step)),
            steps_list(l, step),
            escape(what_now(l, step)),
        );
        match step {
            Step::IdeaGeneration => {
                let _ = write!(
                    body,
                    "<p><a href=\"{here}/idea?lang={}\">{}</a></p>",
                    l.code(),
                    l.t("Lämna en idé", "Send in an idea")
                );
            }
            Step::Voting => {
                let _ = write!(
                    body,
                    "<p><a href=\"{here}/vote?lang={}\"><strong>{}</strong></a></p>",
                    l.code(),
                    l.t("Rösta nu", "Vote now")
                );
                body.push_str(&shortlist(l, cycle));
            }
            Step::Shortlisting => body.push_str(&shortlist(l, cycle)),
            Step::Implementation | Step::FollowUp | Step::Closed => {
                body.push_str(&results(l, cycle));
            }
            _ => {}
        }
        let _ = write!(
            body,
            "<p><a href=\"{here}/report?lang={}\">{}</a></p>",
            l.code(),
            l.t(
                "Hela rapporten: alla år, rösterna och hur de räknades",
                "The full report: every year, the votes and how they were counted"
            )
        );
        html(StatusCode::OK, page(l, &area, &here, Some(&area), &body))
    })
    .await
}

fn shortlist(l: L, cycle: &AnyCycle) -> String {
    let mut out = format!("<h2>{}</h2>", l.t("Förslagen", "The proposals"));
    for project in cycle.shortlist() {
        out.push_str(&project_card(l, project, ""));
    }
    out
}

fn project_card(l: L, project: &Project, extra: &str) -> String {
    let proposal = project.proposal();
    let cost = project
        .cost()
        .map(|c| {
            format!(
                "<p class=\"muted\">{}: {}</p>",
                l.t("Kostnad", "Cost"),
                money(l, &c)
            )
        })
        .unwrap_or_default();
    format!(
        "<div class=\"card\"><h3>{}</h3><p>{}</p>{cost}{extra}</div>",
        l.text(&proposal.title),
        l.text(&proposal.description)
    )
}

fn results(l: L, cycle: &AnyCycle) -> String {
    use crate::process::SetAsideReason;
    let Some(decision) = cycle.decision() else {
        return String::new();
    };
    let funded = cycle.funded().unwrap_or_default();
    let mut out = format!(
        "<h2>{}</h2><p>{}</p>",
        l.t("Resultatet", "The result"),
        escape(&format!(
            "{} {} {}. {} {} {} {}.",
            decision.ballots_counted,
            l.t(
                "röster räknades med regeln",
                "ballots were counted by the rule"
            ),
            decision.rule,
            funded.len(),
            l.t("förslag fick pengar, för", "proposals were funded, for"),
            money(l, &decision.total_cost),
            l.t("av", "of").to_owned() + " " + &money(l, &decision.budget),
        ))
    );
    let score = |p: ProjectId| {
        decision
            .scores
            .iter()
            .find(|s| s.project == p)
            .map_or(0, |s| s.score)
    };
    for project in cycle.shortlist() {
        let pid = project.id();
        let why = if funded.contains(&pid) {
            let mut why = format!(
                "<p><strong>{}</strong> {} {}.</p>",
                l.t("Får pengar.", "Funded."),
                score(pid),
                l.t("röster", "votes")
            );
            if let Some(d) = project.delivery() {
                let status = match &d.status {
                    DeliveryStatus::InProgress => l.t("Pågår", "In progress"),
                    DeliveryStatus::Completed { .. } => l.t("Klart", "Done"),
                    DeliveryStatus::Cancelled { .. } => l.t("Avbrutet", "Cancelled"),
                };
                let percent = d.progress.percent();
                let _ = write!(
                    why,
                    "<p>{status}: {percent}&nbsp;%</p><div class=\"bar\" role=\"img\" aria-label=\"{percent} %\"><span style=\"width:{percent}%\"></span></div>"
                );
            }
            why
        } else {
            let reason = decision
                .set_aside
                .iter()
                .find(|a| a.project == pid)
                .map(|a| match &a.reason {
                    SetAsideReason::TooFewVotes { votes, minimum } => format!(
                        "{votes} {} {minimum}.",
                        l.t(
                            "röster; reglerna kräver minst",
                            "votes; the rules ask for at least"
                        )
                    ),
                    SetAsideReason::Excluded { chosen } => format!(
                        "{} {}.",
                        l.t(
                            "Det utesluter ett annat förslag som valdes först:",
                            "It excludes another proposal, which was chosen first:"
                        ),
                        cycle
                            .projects()
                            .iter()
                            .find(|p| p.id() == *chosen)
                            .map_or_else(|| chosen.to_string(), |p| l.text(&p.proposal().title))
                    ),
                })
                .unwrap_or_else(|| {
                    format!(
                        "{} {}. {}",
                        score(pid),
                        l.t("röster", "votes"),
                        l.t(
                            "Pengarna räckte inte: förslag med mer stöd per krona valdes först.",
                            "The money did not reach it: proposals with more support for their cost were chosen first."
                        )
                    )
                });
            format!(
                "<p><strong>{}</strong> {}</p>",
                l.t("Får inte pengar.", "Not funded."),
                escape(&reason)
            )
        };
        out.push_str(&project_card(l, project, &why));
    }
    out
}

/// `GET /p/{programme}/report`: the programme's full report, public.
pub(super) async fn report(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    Query(q): Query<PageQuery>,
) -> Response {
    use crate::report::{Language, Report};
    let l = q.l();
    let language = match l {
        L::Sv => Language::Swedish,
        L::En => Language::English,
    };
    render(&s, id, l, move |p| match Report::programme(p) {
        Ok(r) => html(StatusCode::OK, r.in_language(language).to_html()),
        Err(_) => message_page(
            l,
            StatusCode::OK,
            l.t("Ingen rapport ännu", "No report yet"),
            l.t(
                "Rapporten finns när det första året har räknats.",
                "The report is there once the first year has been counted.",
            ),
            &format!("/p/{id}"),
        ),
    })
    .await
}

/// What a form shows again after a refusal.
#[derive(Default, Clone)]
struct Shown {
    /// A message at the top.
    top: Option<String>,
    /// A message beside the code field.
    code: Option<String>,
    /// Messages beside projects.
    beside: HashMap<ProjectId, String>,
    /// Field values to keep.
    values: HashMap<String, String>,
    /// Projects ticked.
    ticked: Vec<ProjectId>,
}

fn code_field(l: L, shown: &Shown) -> String {
    let error = shown.code.as_ref().map_or_else(String::new, |e| {
        format!("<p id=\"code-error\" class=\"error\">{}</p>", escape(e))
    });
    let described = if shown.code.is_some() {
        " aria-describedby=\"code-help code-error\" aria-invalid=\"true\""
    } else {
        " aria-describedby=\"code-help\""
    };
    format!(
        "<label for=\"code\">{}</label><p id=\"code-help\" class=\"muted\">{}</p>{error}\
<input type=\"text\" id=\"code\" name=\"code\" autocomplete=\"off\" required maxlength=\"64\"{described}>",
        l.t("Din kod", "Your code"),
        l.t(
            "Koden står i brevet du fick från kommunen, till exempel ABCD-EFGH-JKMN.",
            "The code is in the letter you got from the municipality, for example ABCD-EFGH-JKMN."
        ),
    )
}

fn top(shown: &Shown) -> String {
    shown.top.as_ref().map_or_else(String::new, |t| {
        format!(
            "<div class=\"problem\" role=\"alert\"><p>{}</p></div>",
            escape(t)
        )
    })
}

/// `GET /p/{programme}/idea`: the idea form (step 3).
pub(super) async fn idea_form(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let l = q.l();
    let (session, cookie) = ensure_session(&s, &headers);
    let token = form_token(&s, &session);
    let r = render(&s, id, l, move |p| {
        idea_page(l, p, &token, &Shown::default())
    })
    .await;
    with_cookie(r, cookie)
}

fn not_now(l: L, p: &Programme, what: Step) -> Response {
    let here = format!("/p/{}", p.id());
    let now = p.cycles().last().map(AnyCycle::step);
    let text = format!(
        "{} {}",
        match what {
            Step::Voting => l.t("Det går inte att rösta nu.", "Voting is not open now."),
            _ => l.t(
                "Det går inte att lämna idéer nu.",
                "Ideas cannot be sent in now."
            ),
        },
        now.map_or_else(String::new, |s| format!(
            "{} {}.",
            l.t("Året är i", "The year is in"),
            step_name(l, s).to_lowercase()
        ))
    );
    message_page(
        l,
        StatusCode::CONFLICT,
        l.t("Inte nu", "Not now"),
        &text,
        &here,
    )
}

fn idea_page(l: L, p: &Programme, token: &str, shown: &Shown) -> Response {
    if p.cycles().last().map(AnyCycle::step) != Some(Step::IdeaGeneration) {
        return not_now(l, p, Step::IdeaGeneration);
    }
    let id = p.id();
    let value = |k: &str| escape(shown.values.get(k).map_or("", String::as_str));
    let body = format!(
        "<p>{intro}</p>{top}<form method=\"post\" action=\"/p/{id}/idea?lang={lang}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
<input type=\"hidden\" name=\"idea_id\" value=\"{idea}\">\
{code}\
<label for=\"title\">{title_label}</label><input type=\"text\" id=\"title\" name=\"title\" required maxlength=\"200\" value=\"{title}\">\
<label for=\"description\">{desc_label}</label><textarea id=\"description\" name=\"description\" rows=\"6\" required maxlength=\"5000\">{description}</textarea>\
<button type=\"submit\">{send}</button></form>",
        intro = l.t(
            "Beskriv din idé med egna ord. Den ska göra området bättre att leva i för många, till exempel en mötesplats eller något för hälsan.",
            "Describe your idea in your own words. It should make the district a better place to live for many, for example a meeting place or something for health."
        ),
        top = top(shown),
        lang = l.code(),
        idea = shown
            .values
            .get("idea_id")
            .cloned()
            .unwrap_or_else(|| IdeaId::new().to_string()),
        code = code_field(l, shown),
        title_label = l.t("Rubrik", "Title"),
        title = value("title"),
        desc_label = l.t("Vad är idén?", "What is the idea?"),
        description = value("description"),
        send = l.t("Skicka idén", "Send the idea"),
    );
    let area = p.setup().area.name().to_owned();
    html(
        if shown.top.is_some() || shown.code.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        page(
            l,
            l.t("Lämna en idé", "Send in an idea"),
            &format!("/p/{id}/idea"),
            Some(&area),
            &body,
        ),
    )
}

fn forged(l: L) -> Response {
    message_page(
        l,
        StatusCode::FORBIDDEN,
        l.t("Formuläret kunde inte tas emot", "The form could not be accepted"),
        l.t(
            "Formuläret kom inte från den här sidan, eller så har sidan legat öppen länge. Ladda om sidan och försök igen.",
            "The form did not come from this page, or the page was open a long time. Reload the page and try again.",
        ),
        "/",
    )
}

/// `POST /p/{programme}/idea`.
pub(super) async fn idea_post(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    Query(q): Query<PageQuery>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let l = q.l();
    let Some(form) = Form::parse(&body) else {
        return forged(l);
    };
    if !form_is_ours(&s, &headers, &form) {
        return forged(l);
    }
    let mut shown = Shown::default();
    for k in ["title", "description", "idea_id"] {
        shown
            .values
            .insert(k.into(), form.one(k).unwrap_or_default().to_owned());
    }
    let title = form.one("title").unwrap_or_default().trim().to_owned();
    let description = form
        .one("description")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let idea_id = form.one("idea_id").and_then(|v| v.parse::<IdeaId>().ok());
    let token = form.one("csrf").unwrap_or_default().to_owned();
    let (Some(idea_id), false, false) = (idea_id, title.is_empty(), description.is_empty()) else {
        shown.top = Some(
            l.t(
                "Skriv både en rubrik och vad idén är.",
                "Write both a title and what the idea is.",
            )
            .to_owned(),
        );
        return render(&s, id, l, move |p| idea_page(l, p, &token, &shown)).await;
    };
    let code = form.one("code").unwrap_or_default().to_owned();
    let build = idea_command(
        idea_id,
        LocalText::from(title.chars().take(200).collect::<String>()),
        LocalText::from(description.chars().take(5_000).collect::<String>()),
        None,
    );
    let outcome = as_resident(&s, client.ip(), id, &code, Step::IdeaGeneration, build).await;
    let here = format!("/p/{id}");
    match outcome {
        ResidentOutcome::Stored | ResidentOutcome::StoredBefore => message_page(
            l,
            StatusCode::OK,
            l.t("Tack för din idé!", "Thank you for your idea!"),
            l.t(
                "Idén är mottagen. När idétiden är slut arbetar kommunen och invånare fram förslag av idéerna, och sedan får alla rösta.",
                "Your idea has been received. When the time for ideas is over, the municipality and residents turn the ideas into proposals, and then everyone can vote.",
            ),
            &here,
        ),
        other => {
            resident_refusal(&s, id, l, Step::IdeaGeneration, other, shown, move |p, shown| {
                idea_page(l, p, &token, shown)
            })
            .await
        }
    }
}

/// Shows a refusal of what a resident sent in `step`: a wrong code beside
/// the code field, rules on top, and the form again.
async fn resident_refusal(
    s: &Service,
    id: ProgrammeId,
    l: L,
    step: Step,
    outcome: ResidentOutcome,
    mut shown: Shown,
    again: impl FnOnce(&Programme, &Shown) -> Response + Send + 'static,
) -> Response {
    let here = format!("/p/{id}");
    match outcome {
        ResidentOutcome::UnknownCode => {
            shown.code = Some(
                l.t(
                    "Koden stämmer inte. Kontrollera att du skrivit av den rätt.",
                    "The code is not right. Check that you copied it correctly.",
                )
                .to_owned(),
            );
        }
        ResidentOutcome::Wait(wait) => {
            let mut r = message_page(
                l,
                StatusCode::TOO_MANY_REQUESTS,
                l.t("Vänta en stund", "Please wait a while"),
                &format!(
                    "{} {} {}",
                    l.t(
                        "För många felaktiga koder har skickats. Försök igen om",
                        "Too many wrong codes have been sent. Try again in"
                    ),
                    wait.as_secs().max(1),
                    l.t("sekunder.", "seconds.")
                ),
                &here,
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            return r;
        }
        ResidentOutcome::Refused(ProgrammeError::Cycle {
            source: CycleError::AlreadyVoted { .. },
            ..
        }) => {
            return message_page(
                l,
                StatusCode::CONFLICT,
                l.t("Du har redan röstat", "You have already voted"),
                l.t(
                    "Den här koden har redan använts för att rösta i år. Varje kod gäller för en röst. Din första röst räknas.",
                    "This code has already been used to vote this year. Each code is good for one ballot. Your first ballot counts.",
                ),
                &here,
            );
        }
        ResidentOutcome::Refused(ProgrammeError::Cycle {
            source: CycleError::Ballot { source, .. },
            ..
        }) => {
            set_ballot_error(l, &source, &mut shown);
        }
        ResidentOutcome::Refused(e) => {
            shown.top = Some(format!(
                "{} ({})",
                l.t(
                    "Det gick inte att ta emot det du skickade.",
                    "What you sent could not be accepted."
                ),
                e
            ));
        }
        ResidentOutcome::NotNow(_) => {
            return render(s, id, l, move |p| not_now(l, p, step)).await;
        }
        ResidentOutcome::NoProgramme => return no_programme(l),
        ResidentOutcome::Busy => {
            return message_page(
                l,
                StatusCode::SERVICE_UNAVAILABLE,
                l.t("Många är inne just nu", "Many people are here right now"),
                l.t(
                    "Tjänsten har mycket att göra. Gå tillbaka och skicka igen om en liten stund.",
                    "The service is busy. Go back and send again in a little while.",
                ),
                &here,
            );
        }
        ResidentOutcome::Failed(_) | ResidentOutcome::Stored | ResidentOutcome::StoredBefore => {
            return failed_page(l);
        }
    }
    render(s, id, l, move |p| again(p, &shown)).await
}

/// Puts a ballot rule's message where it belongs: beside the project it
/// names, or above the choices.
fn set_ballot_error(l: L, e: &BallotError, shown: &mut Shown) {
    // "You gave 13 points. You have at most 10."
    let points_given = |given: u64, rule: &str, points: u32| {
        format!(
            "{} {given} {}. {rule} {points}.",
            l.t("Du har gett", "You gave"),
            l.t("poäng", "points")
        )
    };
    let (project, text) = match e {
        BallotError::UnknownProject { project } => (
            Some(*project),
            l.t(
                "Det här förslaget finns inte på röstsedeln.",
                "This proposal is not on the ballot.",
            )
            .to_owned(),
        ),
        BallotError::DuplicateProject { project } => (
            Some(*project),
            l.t(
                "Förslaget är valt två gånger.",
                "The proposal is chosen twice.",
            )
            .to_owned(),
        ),
        BallotError::TooFewProjects { chosen, min } => (
            None,
            format!(
                "{} {chosen}. {} {min}.",
                l.t("Du har valt", "You chose"),
                l.t("Välj minst", "Choose at least")
            ),
        ),
        BallotError::TooManyProjects { chosen, max } => (
            None,
            format!(
                "{} {chosen}. {} {max}.",
                l.t("Du har valt", "You chose"),
                l.t("Välj högst", "Choose at most")
            ),
        ),
        BallotError::OverCostLimit { total, limit } => (
            None,
            format!(
                "{} {}. {} {}.",
                l.t("Dina val kostar tillsammans", "Your choices cost"),
                money(l, total),
                l.t("Det får vara högst", "The most allowed is"),
                money(l, limit)
            ),
        ),
        BallotError::UnderBudgetShare {
            total, required, ..
        } => (
            None,
            format!(
                "{} {}. {} {}.",
                l.t("Dina val kostar tillsammans", "Your choices cost"),
                money(l, total),
                l.t("Välj förslag för minst", "Choose proposals for at least"),
                money(l, required)
            ),
        ),
        BallotError::TooManyPoints { given, allowed } => (
            None,
            points_given(*given, l.t("Du har högst", "You have at most"), *allowed),
        ),
        BallotError::PointsNotAllUsed { given, required } => (
            None,
            points_given(
                *given,
                l.t("Använd alla dina poäng:", "Use all your points:"),
                *required,
            ),
        ),
        BallotError::OverProjectCap { project, cap, .. } => (
            Some(*project),
            format!(
                "{} {cap} {}.",
                l.t("Ett förslag kan få högst", "One proposal can get at most"),
                l.t("poäng", "points"),
            ),
        ),
        other => (None, other.to_string()),
    };
    match project {
        Some(p) => {
            shown.beside.insert(p, text);
        }
        None => shown.top = Some(text),
    }
}

/// The rules of the ballot, in plain words.
fn rules_text(l: L, rules: &BallotRules, budget: &Money) -> String {
    let mut lines = Vec::new();
    match rules.kind() {
        BallotKind::Approval => lines.push(
            l.t(
                "Kryssa för de förslag du vill ska genomföras.",
                "Tick the proposals you want carried out.",
            )
            .to_owned(),
        ),
        BallotKind::Knapsack => lines.push(format!(
            "{} {}.",
            l.t(
                "Kryssa för de förslag du vill ska genomföras. Tillsammans får de kosta högst",
                "Tick the proposals you want carried out. Together they may cost at most"
            ),
            money(l, &rules.max_total_cost().unwrap_or(*budget))
        )),
        BallotKind::Cumulative => {
            if let Some(points) = rules.points() {
                lines.push(format!(
                    "{} {} {}",
                    l.t("Fördela", "Share out"),
                    points.per_voter,
                    l.t(
                        "poäng mellan förslagen: fler poäng till det du tycker är viktigast.",
                        "points among the proposals: more points to what matters most to you."
                    )
                ));
                if let Some(cap) = points.per_project {
                    lines.push(format!(
                        "{} {cap} {}",
                        l.t("Högst", "At most"),
                        l.t("poäng till ett förslag.", "points to one proposal.")
                    ));
                }
                if points.must_use_all {
                    lines.push(l.t("Använd alla poäng.", "Use all the points.").to_owned());
                }
            }
        }
        BallotKind::Ranked => lines.push(
            l.t(
                "Rangordna förslagen: skriv 1 vid det du helst vill ha, 2 vid det näst bästa, och så vidare. Lämna tomt vid det du inte vill rangordna.",
                "Rank the proposals: write 1 by the one you want most, 2 by the next, and so on. Leave blank what you do not want to rank.",
            )
            .to_owned(),
        ),
    }
    if rules.min_projects() > 1 {
        lines.push(format!(
            "{} {} {}",
            l.t("Välj minst", "Choose at least"),
            rules.min_projects(),
            l.t("förslag.", "proposals.")
        ));
    }
    if let Some(max) = rules.max_projects() {
        lines.push(format!(
            "{} {max} {}",
            l.t("Välj högst", "Choose at most"),
            l.t("förslag.", "proposals.")
        ));
    }
    if let Some(share) = rules.min_budget_share() {
        lines.push(format!(
            "{} {} {}",
            l.t(
                "Dina val ska tillsammans kosta minst",
                "Your choices together must cost at least"
            ),
            money(l, &budget.share_ceil(share)),
            "."
        ));
    }
    lines.push(
        l.t(
            "Din röst är hemlig: den sparas utan ditt namn.",
            "Your vote is secret: it is stored without your name.",
        )
        .to_owned(),
    );
    lines
        .iter()
        .map(|t| format!("<li>{}</li>", escape(t)))
        .collect::<String>()
}

/// `GET /p/{programme}/vote`: the ballot (step 5).
pub(super) async fn vote_form(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let l = q.l();
    let (session, cookie) = ensure_session(&s, &headers);
    let token = form_token(&s, &session);
    let part = q.part.clone();
    let r = render(&s, id, l, move |p| {
        vote_page(l, p, &token, part.as_deref(), &Shown::default())
    })
    .await;
    with_cookie(r, cookie)
}

fn vote_page(l: L, p: &Programme, token: &str, part: Option<&str>, shown: &Shown) -> Response {
    let Some(cycle) = p.cycles().last().filter(|c| c.step() == Step::Voting) else {
        return not_now(l, p, Step::Voting);
    };
    let Some(framework) = cycle.framework() else {
        return not_now(l, p, Step::Voting);
    };
    let id = p.id();
    let area = p.setup().area.name().to_owned();
    let rules = &framework.rules;
    let here = format!("/p/{id}/vote");
    // A cycle of several parts: one ballot per part, chosen first.
    let parts = &framework.parts;
    let part = match (parts.is_empty(), part) {
        (true, _) => None,
        (false, Some(chosen)) if parts.iter().any(|b| b.id.as_str() == chosen) => {
            parts.iter().find(|b| b.id.as_str() == chosen)
        }
        (false, _) => {
            let mut body = format!(
                "<p>{}</p><ul>",
                l.t(
                    "Budgeten har flera delar. Välj vilken del du vill rösta om; du kan rösta en gång i varje del som gäller dig.",
                    "The budget has several parts. Choose the part to vote on; you can vote once in each part that is yours."
                )
            );
            for b in parts {
                let _ = write!(
                    body,
                    "<li><a href=\"{here}?lang={}&amp;part={}\">{}</a> ({})</li>",
                    l.code(),
                    escape(b.id.as_str()),
                    escape(&b.name),
                    money(l, &b.amount)
                );
            }
            body.push_str("</ul>");
            return html(
                StatusCode::OK,
                page(l, l.t("Rösta", "Vote"), &here, Some(&area), &body),
            );
        }
    };
    let budget = part.map_or_else(|| cycle.budget().ok(), |b| Some(b.amount));
    let Some(budget) = budget else {
        return failed_page(l);
    };
    let projects: Vec<&Project> = cycle
        .shortlist()
        .filter(|pr| pr.proposal().part.as_ref().map(|x| x.as_str()) == part.map(|b| b.id.as_str()))
        .collect();
    // A message about a proposal not on this page (a form changed by hand,
    // or one of another part) goes on top, where it is seen.
    let mut shown_here;
    let mut shown = shown;
    if let Some(elsewhere) = shown
        .beside
        .iter()
        .find(|(p, _)| !projects.iter().any(|pr| pr.id() == **p))
    {
        shown_here = shown.clone();
        if shown_here.top.is_none() {
            shown_here.top = Some(elsewhere.1.clone());
        }
        shown_here
            .beside
            .retain(|p, _| projects.iter().any(|pr| pr.id() == *p));
        shown = &shown_here;
    }
    let mut choices = String::new();
    for project in &projects {
        let pid = project.id();
        let beside = shown.beside.get(&pid).map_or_else(String::new, |e| {
            format!("<p class=\"error\" id=\"e-{pid}\">{}</p>", escape(e))
        });
        let described = if beside.is_empty() {
            format!(" aria-describedby=\"d-{pid}\"")
        } else {
            format!(" aria-describedby=\"d-{pid} e-{pid}\" aria-invalid=\"true\"")
        };
        let proposal = project.proposal();
        let cost = project.cost().map_or_else(String::new, |c| {
            format!(" {}: {}.", l.t("Kostnad", "Cost"), money(l, &c))
        });
        let about = format!(
            "<span id=\"d-{pid}\" class=\"muted\">{}{}</span>",
            l.text(&proposal.description),
            escape(&cost)
        );
        let value = shown
            .values
            .get(&format!("n-{pid}"))
            .map_or_else(String::new, |v| escape(v));
        let control = match rules.kind() {
            BallotKind::Approval | BallotKind::Knapsack => format!(
                "<input type=\"checkbox\" id=\"p-{pid}\" name=\"project\" value=\"{pid}\"{}{described}><label for=\"p-{pid}\"><strong>{}</strong><br>{about}</label>",
                if shown.ticked.contains(&pid) {
                    " checked"
                } else {
                    ""
                },
                l.text(&proposal.title),
            ),
            BallotKind::Cumulative => format!(
                "<input type=\"number\" min=\"0\" step=\"1\" inputmode=\"numeric\" id=\"p-{pid}\" name=\"n-{pid}\" value=\"{value}\"{described}><label for=\"p-{pid}\"><strong>{}</strong> ({})<br>{about}</label>",
                l.text(&proposal.title),
                l.t("poäng", "points"),
            ),
            BallotKind::Ranked => format!(
                "<input type=\"number\" min=\"1\" step=\"1\" inputmode=\"numeric\" id=\"p-{pid}\" name=\"n-{pid}\" value=\"{value}\"{described}><label for=\"p-{pid}\"><strong>{}</strong> ({})<br>{about}</label>",
                l.text(&proposal.title),
                l.t("plats", "rank"),
            ),
        };
        let _ = write!(choices, "<div class=\"choice\">{control}</div>{beside}");
    }
    let part_field = part.map_or_else(String::new, |b| {
        format!(
            "<input type=\"hidden\" name=\"part\" value=\"{}\">",
            escape(b.id.as_str())
        )
    });
    let window = match cycle {
        AnyCycle::Voting(c) => Some(c.window()),
        _ => None,
    };
    let closes = window
        .map(|w| {
            format!(
                "<p>{} {}.</p>",
                l.t("Röstningen stänger", "Voting closes"),
                w.closes.format("%Y-%m-%d %H:%M UTC")
            )
        })
        .unwrap_or_default();
    let body = format!(
        "{closes}<h2>{how}</h2><ul>{rules}</ul>{top}<form method=\"post\" action=\"{here}?lang={lang}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
<input type=\"hidden\" name=\"ballot_id\" value=\"{ballot}\">{part_field}\
<fieldset><legend>{legend}</legend>{choices}</fieldset>\
{code}<button type=\"submit\">{send}</button></form>",
        how = l.t("Så röstar du", "How to vote"),
        rules = rules_text(l, rules, &budget),
        top = top(shown).replace(
            "<div class=\"problem\"",
            "<div class=\"problem\" id=\"ballot-error\""
        ),
        lang = l.code(),
        ballot = shown
            .values
            .get("ballot_id")
            .cloned()
            .unwrap_or_else(|| BallotId::new().to_string()),
        legend = l.t("Förslagen", "The proposals"),
        code = code_field(l, shown),
        send = l.t("Skicka min röst", "Send my vote"),
    );
    let title = match part {
        Some(b) => format!("{}: {}", l.t("Rösta", "Vote"), b.name),
        None => l.t("Rösta", "Vote").to_owned(),
    };
    html(
        if shown.top.is_some() || shown.code.is_some() || !shown.beside.is_empty() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        page(l, &title, &here, Some(&area), &body),
    )
}

/// `POST /p/{programme}/vote`.
pub(super) async fn vote_post(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    Query(q): Query<PageQuery>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let l = q.l();
    let Some(form) = Form::parse(&body) else {
        return forged(l);
    };
    if !form_is_ours(&s, &headers, &form) {
        return forged(l);
    }
    let token = form.one("csrf").unwrap_or_default().to_owned();
    let part = form.one("part").map(str::to_owned);
    let mut shown = Shown::default();
    shown.values.insert(
        "ballot_id".into(),
        form.one("ballot_id").unwrap_or_default().to_owned(),
    );
    let Some(ballot_id) = form
        .one("ballot_id")
        .and_then(|v| v.parse::<BallotId>().ok())
    else {
        return forged(l);
    };
    // The kind decides how the fields read.
    let kind = s
        .with_programme(id, |p| {
            p.cycles()
                .last()
                .and_then(AnyCycle::framework)
                .map(|f| f.rules.kind())
        })
        .await;
    let Ok(Some(kind)) = kind else {
        return render(&s, id, l, move |p| not_now(l, p, Step::Voting)).await;
    };
    let ticked: Vec<ProjectId> = form.all("project").filter_map(|v| v.parse().ok()).collect();
    shown.ticked.clone_from(&ticked);
    let mut numbered: Vec<(ProjectId, u32)> = Vec::new();
    for (k, v) in &form.0 {
        if let Some(pid) = k
            .strip_prefix("n-")
            .and_then(|p| p.parse::<ProjectId>().ok())
        {
            shown.values.insert(k.clone(), v.clone());
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            match v.parse::<u32>() {
                Ok(n) => numbered.push((pid, n)),
                Err(_) => {
                    shown.beside.insert(
                        pid,
                        l.t(
                            "Skriv ett heltal, eller lämna tomt.",
                            "Write a whole number, or leave it blank.",
                        )
                        .to_owned(),
                    );
                }
            }
        }
    }
    let choices = match kind {
        BallotKind::Approval | BallotKind::Knapsack => Choices::Approval(ticked),
        BallotKind::Cumulative => {
            Choices::Points(numbered.into_iter().filter(|(_, n)| *n > 0).collect())
        }
        BallotKind::Ranked => {
            numbered.sort_by_key(|(_, rank)| *rank);
            for pair in numbered.windows(2) {
                if pair[0].1 == pair[1].1 {
                    shown.beside.insert(
                        pair[1].0,
                        l.t(
                            "Två förslag har samma plats.",
                            "Two proposals have the same rank.",
                        )
                        .to_owned(),
                    );
                }
            }
            Choices::Ranking(numbered.into_iter().map(|(p, _)| p).collect())
        }
    };
    if !shown.beside.is_empty() {
        return render(&s, id, l, move |p| {
            vote_page(l, p, &token, part.as_deref(), &shown)
        })
        .await;
    }
    let part_id = match part.as_deref().map(crate::part::PartId::new) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => return forged(l),
    };
    let code = form.one("code").unwrap_or_default().to_owned();
    let build = ballot_command(ballot_id, choices, part_id);
    let outcome = as_resident(&s, client.ip(), id, &code, Step::Voting, build).await;
    let here = format!("/p/{id}");
    match outcome {
        ResidentOutcome::Stored | ResidentOutcome::StoredBefore => message_page(
            l,
            StatusCode::OK,
            l.t("Tack, din röst är registrerad!", "Thank you, your vote is recorded!"),
            l.t(
                "Din röst är sparad utan ditt namn. När röstningen stänger räknas rösterna, och resultatet visas här.",
                "Your vote is stored without your name. When voting closes the votes are counted, and the result is shown here.",
            ),
            &here,
        ),
        other => {
            resident_refusal(&s, id, l, Step::Voting, other, shown, move |p, shown| {
                vote_page(l, p, &token, part.as_deref(), shown)
            })
            .await
        }
    }
}
