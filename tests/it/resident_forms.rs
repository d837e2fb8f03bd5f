//! The residents' forms for every kind of ballot and for a budget in parts,
//! filled in over HTTP as a browser without JavaScript sends them, and a
//! municipality's own authenticator in place of voting codes.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use medborgarbudget::area::Resident;
use medborgarbudget::ballot::{BallotKind, Choices};
use medborgarbudget::ids::{ProgrammeId, ProjectId};
use medborgarbudget::process::Programme;
use medborgarbudget::server::demo::{self, DemoStage, DemoYear};
use medborgarbudget::server::{Access, AccessError, Authenticator, Config, Service};
use medborgarbudget::store::memory::MemoryStore;
use medborgarbudget::store::{Repository, Store, VoterKey};
use reqwest::StatusCode;
use serde_json::json;

use crate::server::{form, runtime, start};

fn project(n: u128) -> ProjectId {
    ProjectId::from_u128(0x9e0 + n)
}

/// A demo in voting with `ballot` and `parts`, served; its service, address,
/// programme, year and codes.
async fn voting(ballot: BallotKind, parts: bool) -> (Service, std::net::SocketAddr, demo::Demo) {
    let service = Service::new(
        Arc::new(MemoryStore::new()),
        VoterKey::random(),
        Config::default(),
    )
    .unwrap();
    let plan = DemoYear {
        stage: DemoStage::Voting,
        ballot,
        parts,
    };
    let made = demo::setup_year(&service, 4, plan).unwrap();
    let at = start(&service).await;
    (service, at, made)
}

/// The stored ballots of the demo year: part and choices, in order.
fn stored(service: &Service, made: &demo::Demo) -> Vec<(Option<String>, Choices)> {
    let mut repo = Repository::<Programme>::reader(service.store().clone());
    let p = repo.load(made.programme).unwrap();
    p.cycle(made.year)
        .unwrap()
        .ballots()
        .iter()
        .map(|b| {
            (
                b.part.as_ref().map(|p| p.as_str().to_owned()),
                b.choices().clone(),
            )
        })
        .collect()
}

/// Posts the vote form at `url` with the session's token, its ballot id,
/// `code`, and `fields`; the status and page.
async fn post(
    browser: &reqwest::Client,
    url: &str,
    code: &str,
    fields: &[(String, String)],
) -> (StatusCode, String) {
    let (csrf, ballot) = form(browser, url).await;
    let mut all = vec![
        ("csrf".to_owned(), csrf),
        ("ballot_id".to_owned(), ballot),
        ("code".to_owned(), code.to_owned()),
    ];
    all.extend(fields.iter().cloned());
    let r = browser.post(url).form(&all).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

fn points(n: u128, value: &str) -> (String, String) {
    (format!("n-{}", project(n)), value.to_owned())
}

#[test]
fn a_cumulative_ballot_by_form_explains_its_points_in_swedish() {
    runtime().block_on(async {
        let (service, at, made) = voting(BallotKind::Cumulative, false).await;
        let url = format!("http://{at}/p/{}/vote", made.programme);
        let code = &made.codes[0].1;
        let b = browser();
        let page = b.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Fördela 10 poäng"), "{page}");
        assert!(page.contains(&format!("name=\"n-{}\"", project(0))));
        // Too many points: said in Swedish, on top, the numbers kept.
        let (status, page) = post(&b, &url, code, &[points(0, "8"), points(1, "5")]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            page.contains("Du har gett 13 poäng. Du har högst 10."),
            "{page}"
        );
        assert!(page.contains("value=\"8\""));
        // Not a number: beside that proposal.
        let (status, page) = post(&b, &url, code, &[points(0, "åtta")]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains(&format!("id=\"e-{}\"", project(0))), "{page}");
        assert!(page.contains("Skriv ett heltal"));
        assert!(stored(&service, &made).is_empty());
        // Six and four (and an empty field, which is no points): stored.
        let (status, page) = post(
            &b,
            &url,
            code,
            &[points(0, "6"), points(1, " 4 "), points(2, "")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("din röst är registrerad"));
        let ballots = stored(&service, &made);
        assert_eq!(ballots.len(), 1);
        let Choices::Points(given) = &ballots[0].1 else {
            panic!("{ballots:?}")
        };
        let mut given = given.clone();
        given.sort();
        assert_eq!(given, vec![(project(0), 6), (project(1), 4)]);
    });
}

#[test]
fn a_ranked_ballot_by_form_refuses_a_shared_rank_beside_the_proposal() {
    runtime().block_on(async {
        let (service, at, made) = voting(BallotKind::Ranked, false).await;
        let url = format!("http://{at}/p/{}/vote?lang=en", made.programme);
        let code = &made.codes[1].1;
        let b = browser();
        let page = b.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("(rank)"), "{page}");
        let (status, page) = post(&b, &url, code, &[points(2, "1"), points(0, "1")]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("Two proposals have the same rank."), "{page}");
        // Four ranked where three is the most: on top.
        let four = [
            points(2, "1"),
            points(0, "2"),
            points(5, "3"),
            points(1, "4"),
        ];
        let (status, page) = post(&b, &url, code, &four).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("You chose 4. Choose at most 3."), "{page}");
        assert!(stored(&service, &made).is_empty());
        // Ranks need not be 1, 2, 3: their order is the ranking.
        let (status, page) = post(
            &b,
            &url,
            code,
            &[points(2, "1"), points(0, "5"), points(5, "2")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            stored(&service, &made),
            vec![(
                None,
                Choices::Ranking(vec![project(2), project(5), project(0)])
            )]
        );
    });
}

#[test]
fn a_budget_in_parts_has_a_chooser_and_takes_one_ballot_per_part() {
    runtime().block_on(async {
        let (service, at, made) = voting(BallotKind::Approval, true).await;
        let base = format!("http://{at}/p/{}/vote", made.programme);
        let code = &made.codes[0].1;
        let b = browser();
        let page = b
            .get(format!("{base}?lang=en"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("The budget has several parts"), "{page}");
        for part in ["norrby", "norra", "sodra"] {
            assert!(page.contains(&format!("part={part}\"")), "{part}: {page}");
        }
        // Norra's page lists Norra's two proposals only.
        let norra = format!("{base}?lang=en&part=norra");
        let page = b.get(&norra).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Vote: Norra"));
        assert!(page.contains(&format!("value=\"{}\"", project(1))));
        assert!(page.contains(&format!("value=\"{}\"", project(2))));
        assert!(!page.contains(&format!("value=\"{}\"", project(0))));
        let tick = |n: u128| ("project".to_owned(), project(n).to_string());
        let part = |p: &str| ("part".to_owned(), p.to_owned());
        // A proposal of another part, sent in Norra's form (changed by
        // hand): refused, the message on top where it is seen.
        let (status, page) = post(&b, &norra, code, &[part("norra"), tick(0)]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            page.contains("This proposal is not on the ballot."),
            "{page}"
        );
        // One ballot in Norra and one for all of Norrby, with one code.
        let (status, page) = post(&b, &norra, code, &[part("norra"), tick(2)]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let whole = format!("{base}?lang=en&part=norrby");
        let (status, page) = post(&b, &whole, code, &[part("norrby"), tick(0), tick(5)]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        // A second in Norra: refused with a clear page.
        let (status, page) = post(&b, &norra, code, &[part("norra"), tick(1)]).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(page.contains("You have already voted"), "{page}");
        assert_eq!(
            stored(&service, &made),
            vec![
                (Some("norra".into()), Choices::Approval(vec![project(2)])),
                (
                    Some("norrby".into()),
                    Choices::Approval(vec![project(0), project(5)])
                ),
            ]
        );
    });
}

/// A municipality's e-ID: a session id stands for a resident, in one
/// programme.
#[derive(Debug)]
struct EId {
    sessions: HashMap<(ProgrammeId, String), Resident>,
}

impl Authenticator for EId {
    fn resident(
        &self,
        programme: ProgrammeId,
        _year: i32,
        credential: &str,
    ) -> Result<Option<Resident>, AccessError> {
        Ok(self
            .sessions
            .get(&(programme, credential.to_owned()))
            .cloned())
    }
}

#[test]
fn a_municipalitys_authenticator_replaces_voting_codes() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let key = VoterKey::random();
    let access = Arc::new(Access::open(store.clone()).unwrap());
    // Set up the demo (its codes go to the access stream, unused here) to
    // learn the programme, then plug the e-ID in.
    let plain = Service::new(store.clone(), key.clone(), Config::default()).unwrap();
    let made = demo::setup(&plain, 1).unwrap();
    let anna: Resident = serde_json::from_value(json!({
        "id": "00000000-0000-0000-0000-00000000a11a",
        "born": "1990-02-03",
        "residence": { "area": "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10", "since": "2020-01-01" }
    }))
    .unwrap();
    let eid = EId {
        sessions: HashMap::from([(
            (made.programme, "eid-session-anna".to_owned()),
            anna.clone(),
        )]),
    };
    let service = Service::with_authenticator(
        store.clone(),
        key.clone(),
        Config::default(),
        access,
        Arc::new(eid),
    )
    .unwrap();
    runtime().block_on(async {
        let at = start(&service).await;
        let client = reqwest::Client::new();
        let p = made.programme;
        let ballot = |credential: &str| {
            client
                .post(format!("http://{at}/api/programmes/{p}/ballots"))
                .json(
                    &json!({ "code": credential, "id": medborgarbudget::ids::BallotId::new(),
                               "choices": { "approval": [project(0)] } }),
                )
                .send()
        };
        // A voting code means nothing to this service; the e-ID session does.
        let r = ballot(&made.codes[0].1).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = ballot("eid-session-anna").await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = ballot("eid-session-anna").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // The session is no official's token.
        let r = client
            .get(format!("http://{at}/api/programmes/{p}"))
            .bearer_auth("eid-session-anna")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    });
    // Stored under Anna's pseudonym, not her id.
    let mut repo = Repository::<Programme>::reader(store);
    let programme = repo.load(made.programme).unwrap();
    let ballots = programme.cycle(made.year).unwrap().ballots();
    assert_eq!(ballots.len(), 1);
    assert_eq!(ballots[0].voter(), key.pseudonym(anna.id()));
    assert_ne!(ballots[0].voter(), anna.id());
}
