//! The reference service over HTTP on 127.0.0.1, as officials, residents and
//! attackers use it: tokens, roles and scopes; voting codes, once each;
//! forged forms; guessed codes; the OpenAPI document; and ballots under load
//! on SQLite and PostgreSQL, with the server killed and restarted midway.

#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use medborgarbudget::ids::ProgrammeId;
use medborgarbudget::process::Programme;
use medborgarbudget::server::{Config, Role, Service, demo, openapi};
use medborgarbudget::store::memory::MemoryStore;
use medborgarbudget::store::{Repository, Store, VoterKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A runtime for one test.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `MEDBORGARBUDGET_PG_URL`, or `None` after saying the test is skipped
/// (failing instead when `CI` is set).
#[cfg(feature = "postgres")]
fn pg_url() -> Option<String> {
    let url = std::env::var("MEDBORGARBUDGET_PG_URL").ok();
    if url.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but MEDBORGARBUDGET_PG_URL is not: the PostgreSQL tests must run"
        );
        println!("skipped: set MEDBORGARBUDGET_PG_URL to run the PostgreSQL tests");
    }
    url
}

/// Serves `service` on a free port of 127.0.0.1.
pub(crate) async fn start(service: &Service) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = service.clone();
    tokio::spawn(async move {
        service
            .serve(listener, std::future::pending())
            .await
            .unwrap();
    });
    address
}

fn memory_service() -> Service {
    Service::new(
        Arc::new(MemoryStore::new()),
        VoterKey::random(),
        Config::default(),
    )
    .unwrap()
}

fn setup(id: ProgrammeId) -> Value {
    json!({
        "id": id,
        "area": { "id": "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10", "name": "Norrby", "population": 10000 },
        "currency": "SEK",
        "first_year": 2027,
        "years": 3,
        "established_at": "2026-12-01T10:00:00Z"
    })
}

/// The approval choices of the demo's first two proposals.
fn demo_choices() -> Value {
    json!({ "approval": [
        medborgarbudget::ids::ProjectId::from_u128(0x9e0),
        medborgarbudget::ids::ProjectId::from_u128(0x9e1)
    ] })
}

#[test]
fn the_openapi_document_is_checked_in_served_and_names_every_route() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let text = serde_json::to_string_pretty(&openapi::document()).unwrap() + "\n";
    if std::env::var_os("MEDBORGARBUDGET_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        text,
        "docs/openapi.json is out of date: run the tests with MEDBORGARBUDGET_BLESS=1 and read the difference"
    );
    let rt = runtime();
    rt.block_on(async {
        let service = memory_service();
        let at = start(&service).await;
        let client = reqwest::Client::new();
        let served: Value = client
            .get(format!("http://{at}/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(served, openapi::document());
        // Every path answers something other than "no such route", and every
        // schema document it refers to is served.
        let pid = ProgrammeId::new();
        let mut refs = Vec::new();
        collect_refs(&served, &mut refs);
        for (path, item) in served["paths"].as_object().unwrap() {
            let url = path
                .replace("{programme}", &pid.to_string())
                .replace("{year}", "2027")
                .replace("{token}", &uuid::Uuid::new_v4().to_string())
                .replace("{name}", "command.json");
            for method in ["get", "post", "delete"] {
                if item.get(method).is_none() {
                    continue;
                }
                let response = client
                    .request(method.parse().unwrap(), format!("http://{at}{url}"))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body = response.text().await.unwrap();
                assert!(
                    !body.contains("no such route"),
                    "{method} {path}: {status} {body}"
                );
            }
        }
        assert!(refs.iter().any(|r| r == "/schema/programme_command.json"));
        for r in refs.iter().filter(|r| r.starts_with("/schema/")) {
            let status = client
                .get(format!("http://{at}{r}"))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, StatusCode::OK, "{r}");
        }
    });
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn officials_act_only_with_a_token_of_the_right_role_and_programme() {
    let rt = runtime();
    rt.block_on(async {
        let service = memory_service();
        let (admin, _) = service
            .access()
            .issue_token(Role::Administrator, None, "admin")
            .unwrap();
        let at = start(&service).await;
        let client = reqwest::Client::new();
        let post = |path: &str, token: Option<&str>, body: Value| {
            let mut r = client.post(format!("http://{at}{path}")).json(&body);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send()
        };
        let a = ProgrammeId::new();
        let b = ProgrammeId::new();
        // No token, a made-up one: 401.
        let r = post("/api/programmes", None, setup(a)).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "unauthorized");
        let r = post("/api/programmes", Some("mbt_0000"), setup(a)).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // The administrator creates two; a retry is harmless; another setup
        // under a taken id is a conflict; a broken setup names its rule.
        let r = post("/api/programmes", Some(&admin), setup(a)).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = post("/api/programmes", Some(&admin), setup(a)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let mut other = setup(a);
        other["years"] = json!(4);
        let r = post("/api/programmes", Some(&admin), other).await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let mut short = setup(ProgrammeId::new());
        short["years"] = json!(2);
        let r = post("/api/programmes", Some(&admin), short).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            r.json::<Value>().await.unwrap()["code"],
            "commitment_too_short"
        );
        let mut typo = setup(ProgrammeId::new());
        typo["yeers"] = json!(3);
        let r = post("/api/programmes", Some(&admin), typo).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("yeers"));
        let r = post("/api/programmes", Some(&admin), setup(b)).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        // Tokens for programme a.
        let token = |role: &'static str| {
            let post = &post;
            let admin = admin.clone();
            async move {
                let r = post(
                    &format!("/api/programmes/{a}/tokens"),
                    Some(&admin),
                    json!({ "role": role, "label": role }),
                )
                .await
                .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                r.json::<Value>().await.unwrap()["token"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let official = token("official").await;
        let paper = token("paper_entry").await;
        let scoped_admin = token("administrator").await;
        // A programme's administrator cannot create programmes.
        let r = post("/api/programmes", Some(&scoped_admin), setup(ProgrammeId::new()))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // The official runs a; cannot touch b, nor make tokens.
        let start_cycle = json!({ "start_cycle": {
            "id": medborgarbudget::ids::CycleId::new(), "year": 2027, "at": "2027-01-10T09:00:00Z" } });
        let r = post(&format!("/api/programmes/{b}/commands"), Some(&official), start_cycle.clone())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = post(&format!("/api/programmes/{a}/tokens"), Some(&official), json!({ "role": "official" }))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // Paper entry may not start a year.
        let r = post(&format!("/api/programmes/{a}/commands"), Some(&paper), start_cycle.clone())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = post(&format!("/api/programmes/{a}/commands"), Some(&official), start_cycle.clone())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let events = r.json::<Value>().await.unwrap();
        assert_eq!(events["events"].as_array().unwrap().len(), 1);
        // The retry is refused by the rules (the year exists), not applied twice.
        let r = post(&format!("/api/programmes/{a}/commands"), Some(&official), start_cycle)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // A command the step does not accept: its code, and the step.
        let r = post(
            &format!("/api/programmes/{a}/commands"),
            Some(&official),
            json!({ "cycle": { "year": 2027, "command": { "close_voting": { "at": "2027-01-11T00:00:00Z" } } } }),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem = r.json::<Value>().await.unwrap();
        assert_eq!(problem["code"], "cycle", "{problem}");
        assert_eq!(problem["details"]["source"]["code"], "not_in_this_step");
        // Reads: the year, what it can do, the list (a token lists its own).
        let get = |path: String, token: &str| client.get(format!("http://{at}{path}")).bearer_auth(token).send();
        let r = get(format!("/api/programmes/{a}/years/2027/available"), &paper).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let available = r.json::<Value>().await.unwrap();
        assert_eq!(available["step"], "criteria");
        assert!(!available["unmet"].as_array().unwrap().is_empty());
        let r = get(format!("/api/programmes/{a}/years/2031"), &official).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = get(format!("/api/programmes/{b}"), &official).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = get("/api/programmes".into(), &official).await.unwrap();
        let listed = r.json::<Value>().await.unwrap();
        assert_eq!(listed["programmes"].as_array().unwrap().len(), 1);
        let r = get("/api/programmes".into(), &admin).await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["programmes"].as_array().unwrap().len(), 2);
        // Voting codes for 2027: one per resident; a second for the same
        // resident is refused unless it replaces the first, which then stops
        // working.
        let anna = json!({ "id": "00000000-0000-0000-0000-00000000a11a", "born": "1990-02-03",
            "residence": { "area": "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10", "since": "2020-01-01" } });
        let codes = |body: Value| {
            client
                .post(format!("http://{at}/api/programmes/{a}/codes"))
                .bearer_auth(&official)
                .json(&body)
                .send()
        };
        let r = codes(json!({ "year": 2027, "residents": [anna.clone()] })).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let first = r.json::<Value>().await.unwrap()["codes"][0]["code"].as_str().unwrap().to_owned();
        let r = codes(json!({ "year": 2027, "residents": [anna.clone()] })).await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "duplicate_resident");
        let r = codes(json!({ "year": 2027, "residents": [anna.clone()], "replace": true })).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let second = r.json::<Value>().await.unwrap()["codes"][0]["code"].as_str().unwrap().to_owned();
        use medborgarbudget::server::Authenticator;
        assert!(service.access().resident(a, 2027, &first).unwrap().is_none());
        assert!(service.access().resident(a, 2027, &second).unwrap().is_some());
        let r = codes(json!({ "year": 2031, "residents": [anna] })).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        // Revoking: the programme's administrator lists a's tokens (no
        // secrets) and revokes the official's; an official may not revoke,
        // nor may b's administrator touch a's tokens.
        let r = get(format!("/api/programmes/{a}/tokens"), &official).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = get(format!("/api/programmes/{a}/tokens"), &scoped_admin).await.unwrap();
        let listed = r.json::<Value>().await.unwrap();
        let listed = listed["tokens"].as_array().unwrap();
        assert_eq!(listed.len(), 3);
        assert!(!listed.iter().any(|t| t.to_string().contains(&official)));
        let official_id = listed.iter().find(|t| t["label"] == "official").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let revoke = |id: String, token: String| {
            client
                .delete(format!("http://{at}/api/tokens/{id}"))
                .bearer_auth(token)
                .send()
        };
        let r = revoke(official_id.clone(), paper.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let b_admin = client
            .post(format!("http://{at}/api/programmes/{b}/tokens"))
            .bearer_auth(&admin)
            .json(&json!({ "role": "administrator" }))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = revoke(official_id.clone(), b_admin).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = revoke(official_id.clone(), scoped_admin.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = get(format!("/api/programmes/{a}"), &official).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = revoke(official_id, scoped_admin).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    });
}

/// `add_funds` is not refused when sent twice, so an official's retry
/// (a lost answer) would count the money twice: with an `Idempotency-Key`
/// it counts once, across concurrent retries, a restart and a second
/// server on the same store.
#[test]
fn an_idempotency_key_makes_a_retried_command_count_once() {
    let rt = runtime();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let key = VoterKey::random();
    let service = Service::new(store.clone(), key.clone(), Config::default()).unwrap();
    let (admin, _) = service
        .access()
        .issue_token(Role::Administrator, None, "admin")
        .unwrap();
    let a = ProgrammeId::new();
    rt.block_on(async {
        let at = start(&service).await;
        let client = reqwest::Client::new();
        let send = |at: SocketAddr, body: Value, key: Option<&str>| {
            let mut r = client
                .post(format!("http://{at}/api/programmes/{a}/commands"))
                .bearer_auth(&admin)
                .json(&body);
            if let Some(k) = key {
                r = r.header("Idempotency-Key", k);
            }
            r.send()
        };
        let r = client
            .post(format!("http://{at}/api/programmes"))
            .bearer_auth(&admin)
            .json(&setup(a))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let start_cycle = json!({ "start_cycle": {
            "id": medborgarbudget::ids::CycleId::new(), "year": 2027, "at": "2027-01-10T09:00:00Z" } });
        assert_eq!(send(at, start_cycle, Some("start-2027")).await.unwrap().status(), StatusCode::OK);
        let funds = |minor: i64| json!({ "cycle": { "year": 2027, "command": { "add_funds": {
            "amount": { "minor": minor, "currency": "SEK" },
            "decision": { "body": "Kommunfullmäktige", "reference": "KF § 12/2026", "decided_on": "2026-01-10" },
            "source": { "kind": "council" } } } } });
        let r = send(at, funds(5_000_000), Some("funds-1")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("idempotent-replayed").is_none());
        let first: Value = r.json().await.unwrap();
        // Eight retries at once, some in the writer's same batch: each is
        // answered with the first answer's events.
        let mut retries = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let request = client
                .post(format!("http://{at}/api/programmes/{a}/commands"))
                .bearer_auth(&admin)
                .header("Idempotency-Key", "funds-1")
                .json(&funds(5_000_000));
            retries.spawn(async move {
                let r = request.send().await.unwrap();
                let replayed = r.headers().get("idempotent-replayed").cloned();
                (r.status(), replayed, r.json::<Value>().await.unwrap())
            });
        }
        for (status, replayed, body) in retries.join_all().await {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(replayed.unwrap(), "true");
            assert_eq!(body, first);
        }
        // The key with another command: refused, nothing stored.
        let r = send(at, funds(1), Some("funds-1")).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "idempotency_key_reused");
        // Keys that cannot be one.
        for bad in ["x".repeat(256), String::new()] {
            let r = send(at, funds(1), Some(&bad)).await.unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(r.json::<Value>().await.unwrap()["code"], "bad_idempotency_key");
        }
        // A second server on the same store (a restart, or one beside it)
        // knows the key too; a new key is a new command.
        let second = Service::new(store.clone(), key.clone(), Config::default()).unwrap();
        let other = start(&second).await;
        let r = send(other, funds(5_000_000), Some("funds-1")).await.unwrap();
        assert_eq!(r.headers()["idempotent-replayed"], "true");
        assert_eq!(r.json::<Value>().await.unwrap(), first);
        let r = send(other, funds(250_000), Some("funds-2")).await.unwrap();
        assert!(r.headers().get("idempotent-replayed").is_none());
        // Without a key a retry is decided again: the documented hazard.
        assert_eq!(send(at, funds(1), None).await.unwrap().status(), StatusCode::OK);
    });
    let mut repo = Repository::<Programme>::new(store, key);
    let budget = repo.load(a).unwrap().cycle(2027).unwrap().budget().unwrap();
    assert_eq!(budget.minor(), 5_000_000 + 250_000 + 1);
}

#[test]
fn a_code_casts_one_ballot_a_retry_is_harmless_and_a_code_is_no_token() {
    let rt = runtime();
    rt.block_on(async {
        let service = memory_service();
        let made = demo::setup(&service, 3).unwrap();
        let other = demo::setup(&service, 1).unwrap();
        let at = start(&service).await;
        let client = reqwest::Client::new();
        let p = made.programme;
        let code = made.codes[0].1.clone();
        let ballot = |id: medborgarbudget::ids::BallotId, code: &str| {
            client
                .post(format!("http://{at}/api/programmes/{p}/ballots"))
                .json(&json!({ "code": code, "id": id, "choices": demo_choices() }))
                .send()
        };
        let id = medborgarbudget::ids::BallotId::new();
        assert_eq!(
            ballot(id, &code).await.unwrap().status(),
            StatusCode::CREATED
        );
        // The same ballot again (an answer lost): stored, not counted twice.
        let r = ballot(id, &code.to_lowercase()).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["retry"], true);
        // Another ballot with the same code: refused.
        let r = ballot(medborgarbudget::ids::BallotId::new(), &code)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem = r.json::<Value>().await.unwrap();
        assert_eq!(
            problem["details"]["source"]["code"], "already_voted",
            "{problem}"
        );
        // A code of another programme is no code here.
        let r = ballot(medborgarbudget::ids::BallotId::new(), &other.codes[0].1)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // A code is not a token: not as a bearer, not for any official route.
        for path in [
            format!("/api/programmes/{p}"),
            format!("/api/programmes/{p}/years/{}", made.year),
            "/api/programmes".to_owned(),
        ] {
            let r = client
                .get(format!("http://{at}{path}"))
                .bearer_auth(&code)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
        let r = client
            .post(format!("http://{at}/api/programmes/{p}/commands"))
            .bearer_auth(&made.codes[1].1)
            .json(&json!({ "conclude": { "at": "2027-01-01T00:00:00Z" } }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // A resident's ballot with an official's field is refused by name.
        let r = client
            .post(format!("http://{at}/api/programmes/{p}/ballots"))
            .json(
                &json!({ "code": made.codes[1].1, "id": medborgarbudget::ids::BallotId::new(),
                           "choices": demo_choices(), "voter": made.codes[1].0 }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("voter"));
        // The voter's code replaced (say it was lost after voting): the old
        // one is dead and the new one cannot vote again.
        let voter: medborgarbudget::area::Resident = serde_json::from_value(json!({
            "id": made.codes[0].0, "born": "1985-05-01",
            "residence": { "area": "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10", "since": "2015-01-01" } }))
        .unwrap();
        let new = service.access().replace_codes(p, made.year, vec![voter]).unwrap();
        let r = ballot(medborgarbudget::ids::BallotId::new(), &code).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = ballot(medborgarbudget::ids::BallotId::new(), &new[0]).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<Value>().await.unwrap()["details"]["source"]["code"], "already_voted");
        // One ballot is stored.
        assert_eq!(
            stored_ballots(service.store().clone(), p, made.year),
            vec![id]
        );
    });
}

/// The ballots in `year` of `programme`, replayed from `store`.
pub(crate) fn stored_ballots(
    store: Arc<dyn Store>,
    programme: ProgrammeId,
    year: i32,
) -> Vec<medborgarbudget::ids::BallotId> {
    let mut repo = Repository::<Programme>::reader(store);
    let p = repo.load(programme).unwrap();
    p.cycle(year)
        .unwrap()
        .ballots()
        .iter()
        .map(|b| b.id())
        .collect()
}

/// A page's form token and the session cookie, as a browser would hold them.
pub(crate) async fn form(client: &reqwest::Client, url: &str) -> (String, String) {
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    let html = r.text().await.unwrap();
    let field = |name: &str| {
        let start = html
            .find(&format!("name=\"{name}\" value=\""))
            .unwrap_or_else(|| panic!("no {name} in {html}"))
            + name.len()
            + 15;
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    };
    (field("csrf"), field("ballot_id"))
}

#[test]
fn forged_form_posts_are_refused_and_wrong_codes_are_rate_limited() {
    let rt = runtime();
    rt.block_on(async {
        let service = memory_service();
        let made = demo::setup(&service, 2).unwrap();
        let at = start(&service).await;
        let p = made.programme;
        let url = format!("http://{at}/p/{p}/vote?lang=en");
        let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
        let (csrf, ballot) = form(&browser, &url).await;
        let project = medborgarbudget::ids::ProjectId::from_u128(0x9e0).to_string();
        let fields = |csrf: &str, code: &str| {
            vec![
                ("csrf", csrf.to_owned()),
                ("ballot_id", ballot.clone()),
                ("project", project.clone()),
                ("code", code.to_owned()),
            ]
        };
        // Another site's post: no session cookie.
        let stranger = reqwest::Client::new();
        let r = stranger.post(&url).form(&fields(&csrf, &made.codes[0].1)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // A session but no or a wrong token; another session's token.
        let r = browser.post(&url).form(&fields("", &made.codes[0].1)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let other = reqwest::Client::builder().cookie_store(true).build().unwrap();
        let (their_csrf, _) = form(&other, &url).await;
        let r = browser.post(&url).form(&fields(&their_csrf, &made.codes[0].1)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(stored_ballots(service.store().clone(), p, made.year).is_empty());
        // The real form, filled in: stored; again with the same code: a clear page.
        let r = browser.post(&url).form(&fields(&csrf, &made.codes[0].1)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("your vote is recorded"));
        let (csrf2, ballot2) = form(&browser, &url).await;
        let mut again = fields(&csrf2, &made.codes[0].1);
        again[1].1 = ballot2;
        let r = browser.post(&url).form(&again).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(r.text().await.unwrap().contains("You have already voted"));

        // 10,000 wrong codes from one address: all but the first few wait.
        let client = reqwest::Client::new();
        let mut answers = std::collections::BTreeMap::<u16, usize>::new();
        for i in 0..10_000u32 {
            let r = client
                .post(format!("http://{at}/api/programmes/{p}/ballots"))
                .json(&json!({ "code": format!("WRONG-{i:06}"), "id": medborgarbudget::ids::BallotId::new(), "choices": demo_choices() }))
                .send()
                .await
                .unwrap();
            *answers.entry(r.status().as_u16()).or_default() += 1;
        }
        let tried = answers.get(&401).copied().unwrap_or(0);
        let limited = answers.get(&429).copied().unwrap_or(0);
        println!("10,000 wrong codes: {answers:?}");
        assert_eq!(tried + limited, 10_000, "{answers:?}");
        // The burst of 10, and one more per 6 s the loop ran.
        assert!(tried <= 20, "{answers:?}");
        // A right code from the same address still waits its turn...
        let r = client
            .post(format!("http://{at}/api/programmes/{p}/ballots"))
            .json(&json!({ "code": made.codes[1].1, "id": medborgarbudget::ids::BallotId::new(), "choices": demo_choices() }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key("retry-after"));
    });
}

/// Throughput and latency of one load run.
struct Load {
    ballots: usize,
    seconds: f64,
    p50: Duration,
    p99: Duration,
    /// Tries whose answer was lost (the server down) and were sent again.
    retried: usize,
}

/// Casts one ballot per code through `connections` concurrent connections,
/// retrying a ballot whose answer was lost (a connection refused or reset, a
/// busy server) with the same ballot id until `deadline`. Returns the ids
/// of the ballots answered as stored, and the figures.
async fn cast_all(
    at: SocketAddr,
    programme: ProgrammeId,
    codes: &[String],
    connections: usize,
    deadline: Instant,
) -> (Vec<medborgarbudget::ids::BallotId>, Load) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let codes: Arc<Vec<String>> = Arc::new(codes.to_vec());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, next, codes) = (client.clone(), next.clone(), codes.clone());
        tasks.push(tokio::spawn(async move {
            let mut stored = Vec::new();
            let mut latencies = Vec::new();
            let mut retried = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(code) = codes.get(i) else { break };
                let id = medborgarbudget::ids::BallotId::new();
                let body = json!({ "code": code, "id": id, "choices": demo_choices() });
                loop {
                    assert!(Instant::now() < deadline, "the load run took too long");
                    let sent = Instant::now();
                    match client
                        .post(format!("http://{at}/api/programmes/{programme}/ballots"))
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {
                            latencies.push(sent.elapsed());
                            stored.push(id);
                            break;
                        }
                        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Ok(r) => panic!("ballot {i}: {} {}", r.status(), r.text().await.unwrap()),
                        // The server is down (killed): try again shortly.
                        Err(_) => {
                            retried += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
            (stored, latencies, retried)
        }));
    }
    let mut stored = Vec::new();
    let mut latencies = Vec::new();
    let mut retried = 0;
    for t in tasks {
        let (s, l, r) = t.await.unwrap();
        stored.extend(s);
        latencies.extend(l);
        retried += r;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let load = Load {
        ballots: stored.len(),
        seconds,
        p50: at(0.50),
        p99: at(0.99),
        retried,
    };
    (stored, load)
}

fn report(what: &str, load: &Load) {
    println!(
        "{what}: {} ballots in {:.2} s = {:.0} ballots/s; p50 {:.1} ms, p99 {:.1} ms; {} tries sent again",
        load.ballots,
        load.seconds,
        load.ballots as f64 / load.seconds,
        load.p50.as_secs_f64() * 1e3,
        load.p99.as_secs_f64() * 1e3,
        load.retried
    );
}

/// 10,000 residents, one ballot each, through 64 connections: every ballot
/// answered as stored is stored, once.
fn ten_thousand_ballots(what: &str, store: Arc<dyn Store>) {
    // The stores are blocking clients: set up and check outside the runtime.
    let service = Service::new(store.clone(), VoterKey::random(), Config::default()).unwrap();
    let made = demo::setup(&service, 10_000).unwrap();
    let codes: Vec<String> = made.codes.iter().map(|(_, c)| c.clone()).collect();
    let rt = runtime();
    let (mut sent, load) = rt.block_on(async {
        let at = start(&service).await;
        let deadline = Instant::now() + Duration::from_secs(300);
        cast_all(at, made.programme, &codes, 64, deadline).await
    });
    drop(rt);
    report(what, &load);
    assert_eq!(load.retried, 0);
    let mut stored = stored_ballots(store, made.programme, made.year);
    assert_eq!(stored.len(), 10_000);
    sent.sort();
    stored.sort();
    assert_eq!(
        stored, sent,
        "every ballot answered as stored is stored once"
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn ten_thousand_ballots_over_64_connections_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("mb-load-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = medborgarbudget::store::sqlite::SqliteStore::open(dir.join("load.db")).unwrap();
    ten_thousand_ballots("SQLite", Arc::new(store));
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "postgres")]
#[test]
fn ten_thousand_ballots_over_64_connections_on_postgres() {
    use medborgarbudget::store::postgres::PostgresStore;
    let Some(url) = pg_url() else {
        return;
    };
    let schema = format!("mbtest_{}_server_load", std::process::id());
    let store = PostgresStore::connect(&url, &schema).unwrap();
    ten_thousand_ballots("PostgreSQL", Arc::new(store));
    if let Ok(store) = PostgresStore::connect(&url, &schema) {
        let _ = store.drop_schema();
    }
}

/// A free port of 127.0.0.1 (free when asked; the server binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `medborgarbudget serve ARGS`, waited for until it serves.
fn spawn_server(args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_medborgarbudget"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the server ended before serving"))
            .unwrap();
        if line.starts_with("serving on") {
            break;
        }
    }
    // Keep reading so that the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

/// 10,000 ballots through 64 connections to `medborgarbudget serve`, which is
/// killed (SIGKILL) and restarted while they arrive: every ballot answered
/// as stored is stored, and none twice after the clients' retries.
fn killed_and_restarted(
    what: &str,
    store: &str,
    env: &[(&str, &str)],
    open: impl FnOnce() -> Arc<dyn Store>,
) {
    let dir = std::env::temp_dir().join(format!("mb-kill-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let codes_file = dir.join("codes.txt");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = spawn_server(
        &[
            "--demo",
            "--demo-residents",
            "10000",
            "--store",
            store,
            "--listen",
            &listen,
            "--codes-file",
            codes_file.to_str().unwrap(),
        ],
        env,
    );
    let text = std::fs::read_to_string(&codes_file).unwrap();
    let header = text.lines().next().unwrap();
    let programme: ProgrammeId = header
        .split("(programme ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .parse()
        .unwrap();
    let year: i32 = header
        .split("Norrby, ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let codes: Vec<String> = text.lines().skip(1).map(str::to_owned).collect();
    assert_eq!(codes.len(), 10_000);
    let at: SocketAddr = listen.parse().unwrap();
    let client = std::thread::spawn(move || {
        runtime().block_on(cast_all(
            at,
            programme,
            &codes,
            64,
            Instant::now() + Duration::from_secs(300),
        ))
    });
    std::thread::sleep(Duration::from_millis(700));
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let mut server = spawn_server(&["--store", store, "--listen", &listen], env);
    let (mut sent, load) = client.join().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    report(&format!("{what}, killed and restarted"), &load);
    assert!(load.retried > 0, "the kill did not cut into the run");
    let mut stored = stored_ballots(open(), programme, year);
    assert_eq!(sent.len(), 10_000);
    sent.sort();
    stored.sort();
    assert_eq!(
        stored, sent,
        "every ballot answered as stored is stored, once"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "sqlite")]
#[test]
fn ballots_survive_a_killed_server_on_sqlite() {
    use medborgarbudget::store::KeyFiles;
    use medborgarbudget::store::sqlite::SqliteStore;
    let dir = std::env::temp_dir().join(format!("mb-kill-db-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("kill.db");
    let store = format!("sqlite:{}", db.display());
    killed_and_restarted("SQLite", &store, &[], || {
        let sqlite = SqliteStore::open(&db).unwrap();
        let key = KeyFiles::beside(&db).log_key(false).unwrap().unwrap();
        Arc::new(sqlite.with_log_key(key))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "postgres")]
#[test]
fn ballots_survive_a_killed_server_on_postgres() {
    use medborgarbudget::store::LogKey;
    use medborgarbudget::store::postgres::PostgresStore;
    let Some(url) = pg_url() else {
        return;
    };
    let schema = format!("mbtest_{}_server_kill", std::process::id());
    let hex = || {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    };
    let (voter, log) = (hex(), hex());
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = format!("{url}{sep}schema={schema}");
    killed_and_restarted(
        "PostgreSQL",
        &store,
        &[
            ("MEDBORGARBUDGET_VOTER_KEY", &voter),
            ("MEDBORGARBUDGET_LOG_KEY", &log),
        ],
        || {
            let pg = PostgresStore::connect(&url, &schema).unwrap();
            Arc::new(pg.with_log_key(LogKey::from_hex(&log).unwrap()))
        },
    );
    if let Ok(store) = PostgresStore::connect(&url, &schema) {
        let _ = store.drop_schema();
    }
}

/// Two servers on one store (behind a load balancer): a token, a
/// revocation and voting codes made on one are honoured by the other within
/// a few seconds, and a form fetched from one posts to the other.
#[test]
fn servers_on_one_store_share_tokens_revocations_codes_and_forms() {
    let rt = runtime();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let key = VoterKey::random();
    let one = Service::new(store.clone(), key.clone(), Config::default()).unwrap();
    let two = Service::new(store.clone(), key.clone(), Config::default()).unwrap();
    rt.block_on(async {
        let (a, b) = (start(&one).await, start(&two).await);
        let client = reqwest::Client::new();
        // Until `check` holds, for at most 10 s.
        async fn eventually<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !check().await {
                assert!(Instant::now() < deadline, "not seen within 10 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let (token, id) = one
            .access()
            .issue_token(Role::Administrator, None, "made on one")
            .unwrap();
        let status_on_two = || {
            client
                .get(format!("http://{b}/api/programmes"))
                .bearer_auth(&token)
                .send()
        };
        eventually(|| async { status_on_two().await.unwrap().status() == StatusCode::OK }).await;
        // A demo made through one, its codes used on two.
        let made = demo::setup(&one, 2).unwrap();
        let p = made.programme;
        let ballot = json!({ "code": made.codes[0].1, "id": medborgarbudget::ids::BallotId::new(), "choices": demo_choices() });
        // (Asked of two's access data, not by posting: wrong codes would be
        // rate-limited.)
        eventually(|| async {
            medborgarbudget::server::Authenticator::resident(two.access(), p, made.year, &made.codes[0].1)
                .unwrap()
                .is_some()
        })
        .await;
        let r = client
            .post(format!("http://{b}/api/programmes/{p}/ballots"))
            .json(&ballot)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        // A form from one, posted to two.
        let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
        let (csrf, ballot_id) = form(&browser, &format!("http://{a}/p/{p}/vote?lang=en")).await;
        // The cookie is for 127.0.0.1, whatever the port: sent to two too.
        let r = browser
            .post(format!("http://{b}/p/{p}/vote?lang=en"))
            .form(&[
                ("csrf", csrf),
                ("ballot_id", ballot_id),
                ("project", medborgarbudget::ids::ProjectId::from_u128(0x9e0).to_string()),
                ("code", made.codes[1].1.clone()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(stored_ballots(store.clone(), p, made.year).len(), 2);
        // Revoked on two: refused by one too.
        assert!(two.access().revoke_token(id).unwrap());
        eventually(|| async {
            client
                .get(format!("http://{a}/api/programmes"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::UNAUTHORIZED
        })
        .await;
    });
}
