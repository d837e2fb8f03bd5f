//! The residents' pages in headless Chromium, driven through WebDriver
//! (chromedriver, from Debian's `chromium-driver`): a resident sends in an
//! idea and casts a ballot by filling in the real forms, with the keyboard
//! where a resident would; a second ballot with the same code meets a clear
//! page; every page's screenshot has content, and every page passes axe-core's
//! WCAG 2.1 A and AA checks (axe-core from npm, `MEDBORGARBUDGET_AXE` naming
//! its `axe.min.js`; `.ci/run` fetches it).
//!
//! Without chromedriver or axe-core the test says it was skipped, unless `CI`
//! is set: then it fails. Screenshots are written to `target/screenshots/`.

#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use medborgarbudget::process::Programme;
use medborgarbudget::server::demo::{self, DemoStage};
use medborgarbudget::server::{Config, Service};
use medborgarbudget::store::memory::MemoryStore;
use medborgarbudget::store::{Repository, VoterKey};
use serde_json::{Value, json};

/// What the test needs from the machine, or why it is skipped.
fn tools() -> Option<(PathBuf, Option<String>)> {
    let ci = std::env::var_os("CI").is_some();
    let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let Some(driver) = driver else {
        assert!(
            !ci,
            "CI is set but chromedriver is missing (apt-get install chromium-driver)"
        );
        println!("skipped: install chromium and chromium-driver to run the browser test");
        return None;
    };
    let axe = std::env::var("MEDBORGARBUDGET_AXE")
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok());
    if axe.is_none() {
        assert!(
            !ci,
            "CI is set but MEDBORGARBUDGET_AXE does not name axe.min.js"
        );
        println!("note: set MEDBORGARBUDGET_AXE to axe-core's axe.min.js to check accessibility");
    }
    Some((driver, axe))
}

/// A WebDriver session.
struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
}

impl Driver {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Does `act` (a click or a key that sends a form), then waits until a
    /// new document has replaced this one and has loaded (the form posts to
    /// the page's own address, so the address does not tell).
    async fn navigating<F: std::future::Future<Output = ()>>(&self, act: F) {
        self.script("window.__before = true; return true;").await;
        act.await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let state = self
                .script(
                    "return (window.__before === undefined) && document.readyState === 'complete';",
                )
                .await;
            if state == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "the page did not change");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn heading(&self) -> String {
        self.script("return document.querySelector('h1').textContent")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn screenshot(&self, name: &str) {
        let png = base64_decode(
            self.call(reqwest::Method::GET, "/screenshot", None)
                .await
                .as_str()
                .unwrap(),
        );
        // Not blank: many pixels differ from the first.
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let step = info.color_type.samples();
        let first = &pixels[..step];
        let differing = pixels[..info.buffer_size()]
            .chunks(step)
            .filter(|p| *p != first)
            .count();
        assert!(
            differing > 5_000,
            "{name}: the screenshot is nearly blank ({differing} pixels differ)"
        );
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    }

    /// Checks that the page has no WCAG 2.1 A or AA violation axe-core finds.
    async fn accessibility(&self, axe: &str, name: &str) {
        let violations = self.violations(axe).await;
        assert_eq!(violations, json!([]), "{name}: accessibility violations");
    }

    /// axe-core's WCAG 2.1 A and AA violations of the page.
    async fn violations(&self, axe: &str) -> Value {
        self.script(&format!("{axe}\nreturn true;")).await;
        self
            .call(
                reqwest::Method::POST,
                "/execute/async",
                Some(json!({ "script": "const done = arguments[arguments.length - 1];\
                    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })\
                      .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,\
                        nodes: v.nodes.map(n => n.target.join(' ')) }))))\
                      .catch(e => done([{ id: 'axe-error', help: String(e) }]));",
                    "args": [] })),
            )
            .await
    }
}

/// Decodes standard base64 (WebDriver's screenshots).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'=' && !b.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c) << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

/// Kills chromedriver at the end, whatever happens.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_resident_sends_an_idea_and_votes_in_chromium_and_every_page_is_accessible() {
    let Some((driver_path, axe)) = tools() else {
        return;
    };
    let store = Arc::new(MemoryStore::new());
    let service = Service::new(store.clone(), VoterKey::random(), Config::default()).unwrap();
    let ideas = demo::setup_at(&service, 2, DemoStage::Ideas).unwrap();
    let voting = demo::setup_at(&service, 3, DemoStage::Voting).unwrap();
    let results = demo::setup_at(&service, 0, DemoStage::Results).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _chromedriver = Child(
        std::process::Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let at = crate::server::start(&service).await;
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({ "capabilities": { "alwaysMatch": { "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,1400"]
            } } } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        let d = Driver { http, base, session };
        let check = |name: &'static str| {
            let d = &d;
            let axe = axe.clone();
            async move {
                d.screenshot(name).await;
                if let Some(axe) = &axe {
                    d.accessibility(axe, name).await;
                }
            }
        };

        // Step 3, in Swedish: the start page, then the idea form, sent with
        // the keyboard (Enter in the title field).
        let p = ideas.programme;
        d.goto(&format!("http://{at}/p/{p}")).await;
        assert!(d.heading().await.contains("Norrby"));
        check("start-ideas-sv").await;
        d.navigating(d.click(&format!("a[href^='/p/{p}/idea']")))
            .await;
        assert_eq!(d.heading().await, "Lämna en idé");
        check("idea-form-sv").await;
        d.type_into("#code", &ideas.codes[0].1).await;
        d.type_into("#description", "Bänkar och ett bord vid lekplatsen, så att föräldrar kan sitta och prata.").await;
        d.navigating(d.type_into("#title", "Bänkar vid lekplatsen\u{E007}"))
            .await;
        assert_eq!(d.heading().await, "Tack för din idé!");
        check("idea-thanks-sv").await;

        // Step 5, in English: the ballot; too many choices are shown beside
        // the choices; then a valid ballot; then the same code again.
        let p = voting.programme;
        d.goto(&format!("http://{at}/p/{p}?lang=en")).await;
        check("start-voting-en").await;
        d.goto(&format!("http://{at}/p/{p}/vote?lang=en")).await;
        assert_eq!(d.heading().await, "Vote");
        check("ballot-en").await;
        for k in 0..4u128 {
            let id = medborgarbudget::ids::ProjectId::from_u128(0x9e0 + k);
            d.click(&format!("label[for='p-{id}']")).await;
        }
        d.type_into("#code", &voting.codes[0].1).await;
        d.navigating(d.click("button[type=submit]")).await;
        let error = d
            .script("return document.getElementById('ballot-error').textContent")
            .await;
        assert!(error.as_str().unwrap().contains("Choose at most 3"), "{error}");
        check("ballot-error-en").await;
        // The ticks are kept; untick the fourth and send.
        let fourth = medborgarbudget::ids::ProjectId::from_u128(0x9e3);
        d.click(&format!("label[for='p-{fourth}']")).await;
        d.type_into("#code", &voting.codes[0].1).await;
        d.navigating(d.click("button[type=submit]")).await;
        assert_eq!(d.heading().await, "Thank you, your vote is recorded!");
        check("ballot-thanks-en").await;
        d.goto(&format!("http://{at}/p/{p}/vote?lang=en")).await;
        d.click(&format!("label[for='p-{fourth}']")).await;
        d.type_into("#code", &voting.codes[0].1).await;
        d.navigating(d.click("button[type=submit]")).await;
        assert_eq!(d.heading().await, "You have already voted");
        check("ballot-again-en").await;

        // Step 6, in Swedish: the result, why each proposal won or lost, and
        // the delivery under way.
        let p = results.programme;
        d.goto(&format!("http://{at}/p/{p}")).await;
        let text = d.script("return document.body.innerText").await;
        let text = text.as_str().unwrap();
        assert!(text.contains("Får pengar."), "{text}");
        assert!(text.contains("Får inte pengar."), "{text}");
        assert!(text.contains("40"), "{text}");
        check("results-sv").await;

        // The check sees what it is for: a field without a label, and grey
        // text on white, are violations.
        if let Some(axe) = &axe {
            d.script("const i = document.createElement('input'); document.querySelector('main').append(i);\
                      const p = document.createElement('p'); p.textContent = 'low contrast';\
                      p.style.color = '#bbbbbb'; document.querySelector('main').append(p); return true;")
                .await;
            let found = d.violations(axe).await.to_string();
            assert!(found.contains("label") && found.contains("color-contrast"), "{found}");
        }

        d.call(reqwest::Method::DELETE, "", None).await;
    });
    drop(rt);
    // What the forms sent is stored: one idea, one ballot.
    let mut repo = Repository::<Programme>::reader(store);
    let idea_year = repo.load(ideas.programme).unwrap().cycles()[0]
        .ideas()
        .len();
    assert_eq!(idea_year, 1);
    let ballots = repo.load(voting.programme).unwrap().cycles()[0]
        .ballots()
        .len();
    assert_eq!(ballots, 1);
}
