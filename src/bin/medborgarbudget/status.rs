//! `status`: what each programme and each of its years is doing, and what
//! the current step still needs before it can move on.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use medborgarbudget::ids::{CycleId, ProgrammeId};
use medborgarbudget::process::{AnyCycle, Programme, ProgrammeCommand, Step};
use medborgarbudget::store::{Repository, Store};

use super::BadInput;
use super::output;
use super::programmes::{StoreArg, bad, open_existing, programme_arg};

/// The programmes and cycles whose streams `store` holds.
fn ids(store: &dyn Store) -> Result<(Vec<ProgrammeId>, Vec<CycleId>), BadInput> {
    let streams = store.streams().map_err(bad)?;
    Ok((
        streams
            .iter()
            .filter_map(|i| i.stream.programme_id())
            .collect(),
        streams.iter().filter_map(|i| i.stream.cycle_id()).collect(),
    ))
}

/// The lines for one cycle: its step and what it still needs at `at`.
fn cycle_lines(cycle: &AnyCycle, at: DateTime<Utc>) -> Vec<String> {
    let step = cycle.step();
    let label = match step.number() {
        Some(n) => format!("step {n}, {step} ({})", step.label_sv()),
        None => format!("{step} ({})", step.label_sv()),
    };
    let Some(way_out) = step.way_out() else {
        return vec![label];
    };
    let unmet = cycle.unmet(at);
    let mut lines = Vec::with_capacity(unmet.len() + 1);
    if unmet.is_empty() && step == Step::FollowUp {
        lines.push(format!(
            "{label}: ready for `{way_out}` with an evaluation recording at least one lesson"
        ));
    } else if unmet.is_empty() {
        lines.push(format!("{label}: ready for `{way_out}`"));
    } else {
        let things = match unmet.len() {
            1 => "one thing".to_owned(),
            n => format!("{n} things"),
        };
        lines.push(format!("{label}: before `{way_out}` it needs {things}:"));
        lines.extend(unmet.iter().map(|u| format!("  - {u}")));
    }
    if step == Step::Voting {
        // The numbers `ballots import` takes for the projects.
        for (k, p) in cycle.shortlist().enumerate() {
            lines.push(format!(
                "  on the ballot: {} {} ({})",
                k + 1,
                p.title(),
                p.id()
            ));
        }
    }
    lines
}

/// Prints [`cycle_lines`], the first after `first`, the others after `rest`.
fn print_cycle(
    first: &str,
    rest: &str,
    cycle: &AnyCycle,
    at: DateTime<Utc>,
) -> Result<(), BadInput> {
    for (k, line) in cycle_lines(cycle, at).iter().enumerate() {
        let lead = if k == 0 { first } else { rest };
        output::line(format_args!("{lead}{line}"))?;
    }
    Ok(())
}

/// `status`: every programme in the store (or the one named), each year
/// with its step and what the step still needs at `at`, and whether the
/// programme can be concluded; then cycles kept outside any programme.
pub fn status(
    store: &StoreArg,
    programme: Option<&str>,
    at: Option<DateTime<Utc>>,
) -> Result<(), BadInput> {
    let handle: Arc<dyn Store> = open_existing(store)?;
    let at = at.unwrap_or_else(Utc::now);
    let (mut programmes, cycles) = ids(handle.as_ref())?;
    if let Some(id) = programme {
        let id = programme_arg(id)?;
        if !programmes.contains(&id) {
            return Err(BadInput(format!("the store holds no programme {id}")));
        }
        programmes = vec![id];
    }
    let mut loaded = Vec::with_capacity(programmes.len());
    let mut repo = Repository::<Programme>::reader(Arc::clone(&handle));
    for id in programmes {
        loaded.push(repo.load(id).map_err(bad)?.clone());
    }
    loaded.sort_by_key(|p| (p.setup().established_at, p.id()));
    output::line(format_args!("as of {}", at.to_rfc3339()))?;
    for p in &loaded {
        let setup = p.setup();
        let last = setup.first_year + i32::from(setup.years) - 1;
        output::line(format_args!(
            "programme {} — {}, {}–{} ({} years, {})",
            p.id(),
            setup.area.name(),
            setup.first_year,
            last,
            setup.years,
            setup.currency
        ))?;
        for year in setup.first_year..=last.max(p.next_year() - 1) {
            match p.cycle(year) {
                Some(cycle) => print_cycle(&format!("  {year}  "), "        ", cycle, at)?,
                None if year == p.next_year() => output::line(format_args!(
                    "  {year}  not started: the next `start_cycle`"
                ))?,
                None => output::line(format_args!("  {year}  not started"))?,
            }
        }
        for d in p.deliveries().iter().filter(|d| !d.is_finished()) {
            output::line(format_args!(
                "  delivery of {}: project {} “{}”, {} %, planned for {} (`delivery` updates it)",
                d.year,
                d.project,
                d.title,
                d.progress.percent(),
                d.planned_completion
            ))?;
        }
        let conclusion = if p.report().is_some() {
            "concluded".to_owned()
        } else {
            match p.decide(&ProgrammeCommand::Conclude { at }) {
                Ok(_) => "can be concluded now (`conclude`)".to_owned(),
                Err(e) => format!(
                    "cannot be concluded yet: {}",
                    medborgarbudget::error_chain(&e)
                ),
            }
        };
        output::line(format_args!("  {conclusion}"))?;
    }
    if loaded.is_empty() && cycles.is_empty() {
        return output::line(format_args!("{store}: no programme or cycle"));
    }
    if programme.is_none() {
        let mut repo = Repository::<AnyCycle>::reader(Arc::clone(&handle));
        for id in cycles {
            let cycle = repo.load(id).map_err(bad)?;
            print_cycle(&format!("cycle {id} ({}): ", cycle.year()), "  ", cycle, at)?;
        }
    }
    Ok(())
}
