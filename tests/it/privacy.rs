//! Ballots cannot be linked to residents without the voter key: the linkage
//! attack of issue 9, run on a stored simulated programme.
//!
//! The attacker reads every stored event (the database file, no key) and joins
//! ballot records to the residents named in the open (idea authors and
//! co-authors, residents who worked on or co-created projects) on
//! quasi-identifiers: birth date, residence and groups. Before ballots were
//! recorded without their voter's record, this linked 753 of 1,647 pseudonyms
//! of the default simulation to resident ids. The attack must find nothing now;
//! it is also run on a log in the old format, where it must find the link, so
//! that the test can fail.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use medborgarbudget::process::Participation;
use medborgarbudget::sim::{Scenario, Simulation};
use medborgarbudget::store::memory::MemoryStore;
use medborgarbudget::store::{Store, StoreExt, VoterKey};
use serde_json::Value;

/// A resident record's quasi-identifiers, as text.
type Quasi = String;

fn quasi(record: &serde_json::Map<String, Value>) -> Option<Quasi> {
    let born = record.get("born")?;
    let residence = record.get("residence")?;
    let groups = record.get("groups").cloned().unwrap_or(Value::Null);
    Some(format!("{born}|{residence}|{groups}"))
}

/// Every object in `v` that looks like a resident's record (an id with a birth
/// date and a residence), anywhere in the event.
fn records<'a>(v: &'a Value, out: &mut Vec<&'a serde_json::Map<String, Value>>) {
    match v {
        Value::Object(map) => {
            if map.contains_key("id") && map.contains_key("born") && map.contains_key("residence") {
                out.push(map);
            }
            for x in map.values() {
                records(x, out);
            }
        }
        Value::Array(items) => {
            for x in items {
                records(x, out);
            }
        }
        _ => {}
    }
}

/// Whether an event holds a ballot (old or new format).
fn is_ballot(event: &Value) -> bool {
    let Value::Object(map) = event else {
        return false;
    };
    if map.contains_key("ballot_cast") {
        return true;
    }
    map.get("accepted")
        .and_then(Value::as_object)
        .is_some_and(|c| c.contains_key("cast_ballot") || c.contains_key("enter_paper_ballots"))
}

/// The cycle event inside a programme event, or the event itself.
fn cycle_event(event: &Value) -> &Value {
    event
        .get("cycle")
        .and_then(|c| c.get("event"))
        .unwrap_or(event)
}

/// What the attack found: ballot records carrying quasi-identifiers, and the
/// pseudonyms it linked to exactly one named resident.
#[derive(Debug, Default)]
struct Attack {
    ballots: usize,
    ballots_with_records: usize,
    linked: HashMap<String, String>,
}

fn attack(events: &[Value]) -> Attack {
    let mut named: HashMap<Quasi, BTreeSet<String>> = HashMap::new();
    let mut ballot_quasi: HashMap<String, Quasi> = HashMap::new();
    let mut result = Attack::default();
    for event in events {
        let inner = cycle_event(event);
        let mut found = Vec::new();
        records(inner, &mut found);
        if is_ballot(inner) {
            result.ballots += 1;
            for r in found {
                if let (Some(q), Some(id)) = (quasi(r), r.get("id").and_then(Value::as_str)) {
                    result.ballots_with_records += 1;
                    ballot_quasi.insert(id.to_owned(), q);
                }
            }
        } else {
            for r in found {
                if let (Some(q), Some(id)) = (quasi(r), r.get("id").and_then(Value::as_str)) {
                    named.entry(q).or_default().insert(id.to_owned());
                }
            }
        }
    }
    for (pseudonym, q) in ballot_quasi {
        if let Some(ids) = named.get(&q).filter(|ids| ids.len() == 1)
            && let Some(id) = ids.first()
        {
            result.linked.insert(pseudonym, id.clone());
        }
    }
    result
}

/// Every event of every stream, as JSON, the way someone holding the file
/// reads them.
fn all_events(store: &dyn Store) -> Vec<Value> {
    let mut out = Vec::new();
    for info in store.streams().unwrap() {
        for e in store.read_all(&info.stream, 0).unwrap() {
            out.push(serde_json::from_str(&e.payload).unwrap());
        }
    }
    out
}

#[test]
fn the_linkage_attack_finds_nothing_in_a_stored_programme() {
    let scenario = Scenario::default();
    let sim = Simulation::new(&scenario, 1).unwrap();
    let store = Arc::new(MemoryStore::new());
    sim.run(store.clone(), VoterKey::new(vec![42; 32]).unwrap())
        .unwrap();
    let events = all_events(store.as_ref());
    let found = attack(&events);
    assert!(found.ballots > 1_000, "the programme has ballots to attack");
    assert_eq!(found.ballots_with_records, 0, "no ballot carries a record");
    assert!(found.linked.is_empty(), "linked: {:?}", found.linked);

    // Every stored ballot holds exactly what counting and audit need.
    let allowed: HashSet<&str> = [
        "id",
        "voter",
        "cast_at",
        "choices",
        "channel",
        "eligibility",
    ]
    .into_iter()
    .collect();
    let mut voters = HashSet::new();
    for event in &events {
        if let Some(ballot) = cycle_event(event).get("ballot_cast") {
            let keys: HashSet<&str> = ballot
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert!(keys.is_subset(&allowed), "ballot fields {keys:?}");
            voters.insert(ballot["voter"].as_str().unwrap().to_owned());
        }
    }
    // Pseudonyms appear nowhere but in ballots: not next to a record, not in
    // the participation counts.
    for event in &events {
        let inner = cycle_event(event);
        if inner.get("ballot_cast").is_none() {
            let text = inner.to_string();
            assert!(!voters.iter().any(|v| text.contains(v.as_str())));
        }
    }
    // Participation by group is there, as suppressed counts only.
    let counts: Vec<Participation> = events
        .iter()
        .filter_map(|e| cycle_event(e).get("participation_counted"))
        .map(|p| serde_json::from_value(p.clone()).unwrap())
        .collect();
    assert_eq!(counts.len(), scenario.years as usize);
    for p in &counts {
        assert!(p.groups.iter().all(|g| {
            g.voters
                .is_none_or(|v| v == 0 || v >= u64::from(p.min_cell))
        }));
        assert!(p.groups.iter().any(|g| g.voters.is_some()));
    }
}

#[test]
fn the_attack_finds_the_link_in_the_old_format() {
    // An idea author and, in the old format, a ballot carrying the same record
    // under a pseudonym: the join links them.
    let record = serde_json::json!({
        "born": "1961-04-02",
        "residence": {"area": "00000000-0000-0000-0000-00000000000a", "since": "2003-05-01"},
        "groups": {"age": "65+", "language": "somaliska"},
    });
    let with_id = |id: &str| {
        let mut r = record.clone();
        r["id"] = Value::from(id);
        r
    };
    let events = vec![
        serde_json::json!({"accepted": {"submit_idea": {"id": "i", "author": with_id("real-id"), "title": "t"}}}),
        serde_json::json!({"accepted": {"cast_ballot": {"id": "b", "voter": with_id("pseudonym"), "choices": {"approval": []}}}}),
    ];
    let found = attack(&events);
    assert_eq!(found.ballots_with_records, 1);
    assert_eq!(
        found.linked.get("pseudonym").map(String::as_str),
        Some("real-id")
    );
}
