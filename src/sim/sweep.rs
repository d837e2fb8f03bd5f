//! Many simulated programmes over a grid of parameters, in parallel.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Scenario, SimError, Simulation, Trust};
use crate::tally::Rule;

/// A grid of programmes: every combination of counting rule, outreach (the
/// scenario's activities, or none), turnout model (trust and feedback) and
/// seed. An empty list means the base scenario's value (seed 1 for seeds). A
/// grid holds at most [`Sweep::MAX_PROGRAMMES`] programmes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sweep {
    /// The scenario the grid varies.
    pub base: Scenario,
    /// Counting rules.
    pub rules: Vec<Rule>,
    /// With the base scenario's outreach (`true`) or without any (`false`).
    pub outreach: Vec<bool>,
    /// Trust levels.
    pub trust: Vec<Trust>,
    /// Feedback strengths.
    pub feedback: Vec<f64>,
    /// Seeds: one programme per seed at every point of the grid.
    pub seeds: Vec<u64>,
}

impl Default for Sweep {
    fn default() -> Sweep {
        Sweep {
            base: Scenario::default(),
            rules: vec![Rule::Greedy, Rule::Mes],
            outreach: vec![true, false],
            trust: Vec::new(),
            feedback: Vec::new(),
            seeds: (1..=10).collect(),
        }
    }
}

/// One programme of a sweep: its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Counting rule.
    pub rule: Rule,
    /// With outreach.
    pub outreach: bool,
    /// Trust.
    pub trust: Trust,
    /// Feedback.
    pub feedback: f64,
    /// Seed.
    pub seed: u64,
}

/// One year of one programme of a sweep: its parameters and measures, flat for
/// CSV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// Counting rule.
    pub rule: Rule,
    /// With outreach.
    pub outreach: bool,
    /// Trust.
    pub trust: Trust,
    /// Feedback.
    pub feedback: f64,
    /// Seed.
    pub seed: u64,
    /// Year.
    pub year: i32,
    /// Voters.
    pub voters: u64,
    /// Turnout (voters over residents).
    pub turnout: f64,
    /// The lowest representation ratio of any group with at least one voter
    /// (1 is proportional; groups without voters, such as children below the
    /// voting age, are left out).
    pub min_representation: f64,
    /// Ideas submitted.
    pub ideas: u64,
    /// Projects on the ballot.
    pub on_ballot: u64,
    /// Projects funded.
    pub funded: u64,
    /// Money spent, in minor units (öre).
    pub spent: i64,
    /// Share of voters with a funded project they supported.
    pub voters_with_funded: f64,
    /// Mean satisfaction by cost (share of the budget).
    pub satisfaction: f64,
    /// Gini coefficient of satisfaction by cost.
    pub satisfaction_gini: f64,
    /// Funded projects delivered.
    pub delivered: u64,
    /// Distinct co-creating residents.
    pub co_creators: u64,
}

impl Sweep {
    /// The most programmes one sweep runs, all points of the grid times all
    /// seeds: 100,000. A sweep keeps one row per programme and year until it
    /// returns them (about 200 bytes each: at most 1 GB for 100,000 programmes
    /// of 50 years); 100,000 programmes of the default scenario take about
    /// three hours on two cores.
    pub const MAX_PROGRAMMES: u64 = 100_000;

    /// The most threads a sweep may be asked for: 1,024. Fewer than that but
    /// more than the machine's cores are capped at the cores
    /// ([`Sweep::threads`]).
    pub const MAX_THREADS: usize = 1_024;

    /// Programmes in the grid (the number of [`Sweep::points`]), counted
    /// without listing them; `u64::MAX` if the count does not fit.
    pub fn size(&self) -> u64 {
        [
            self.rules.len(),
            self.outreach.len(),
            self.trust.len(),
            self.feedback.len(),
            self.seeds.len(),
        ]
        .iter()
        .try_fold(1u64, |n, &len| n.checked_mul(len.max(1) as u64))
        .unwrap_or(u64::MAX)
    }

    /// `count` consecutive seeds from `first`: the seeds of `count` programmes
    /// at every point of the grid.
    ///
    /// # Errors
    /// [`SimError::Limit`] if `count` is 0, more than
    /// [`Sweep::MAX_PROGRAMMES`], or runs past the last seed (`u64::MAX`).
    pub fn seeds_from(first: u64, count: u64) -> Result<Vec<u64>, SimError> {
        let room = (u64::MAX - first).saturating_add(1);
        let max = Sweep::MAX_PROGRAMMES.min(room);
        if !(1..=max).contains(&count) {
            return Err(SimError::Limit {
                what: format!("programmes per point of the grid (seeds from {first})"),
                value: count,
                min: 1,
                max,
            });
        }
        Ok((0..count).map(|k| first + k).collect())
    }

    /// The threads a sweep runs on when asked for `requested`: one per core
    /// for 0, otherwise `requested` capped at the machine's cores (its
    /// available parallelism; 1 if unknown).
    ///
    /// # Errors
    /// [`SimError::Limit`] past [`Sweep::MAX_THREADS`].
    pub fn threads(requested: usize) -> Result<usize, SimError> {
        if requested > Sweep::MAX_THREADS {
            return Err(SimError::Limit {
                what: "threads".into(),
                value: requested as u64,
                min: 0,
                max: Sweep::MAX_THREADS as u64,
            });
        }
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Ok(if requested == 0 {
            cores
        } else {
            requested.min(cores)
        })
    }

    /// Checks the grid: at most [`Sweep::MAX_PROGRAMMES`] programmes, and the
    /// scenario of every point ([`Scenario::check`]).
    ///
    /// # Errors
    /// [`SimError::Limit`] for a grid too large; the first point's scenario
    /// error, in grid order.
    pub fn check(&self) -> Result<(), SimError> {
        let size = self.size();
        if size > Sweep::MAX_PROGRAMMES {
            return Err(SimError::Limit {
                what: "programmes in the sweep (points of the grid × seeds)".into(),
                value: size,
                min: 1,
                max: Sweep::MAX_PROGRAMMES,
            });
        }
        for p in self.points() {
            self.scenario(&p).check()?;
        }
        Ok(())
    }

    /// Every point of the grid, in a fixed order (rule, outreach, trust,
    /// feedback, seed). There are [`Sweep::size`] of them: call
    /// [`Sweep::check`] first for a grid from outside.
    pub fn points(&self) -> Vec<SweepPoint> {
        fn or<T: Clone>(values: &[T], default: T) -> Vec<T> {
            if values.is_empty() {
                vec![default]
            } else {
                values.to_vec()
            }
        }
        let rules = or(&self.rules, self.base.rule.clone());
        let outreach = or(&self.outreach, true);
        let trust = or(&self.trust, self.base.trust);
        let feedback = or(&self.feedback, self.base.feedback);
        let seeds = or(&self.seeds, 1);
        let mut points = Vec::new();
        for rule in &rules {
            for &o in &outreach {
                for &t in &trust {
                    for &f in &feedback {
                        for &seed in &seeds {
                            points.push(SweepPoint {
                                rule: rule.clone(),
                                outreach: o,
                                trust: t,
                                feedback: f,
                                seed,
                            });
                        }
                    }
                }
            }
        }
        points
    }

    /// The scenario of one point.
    pub fn scenario(&self, point: &SweepPoint) -> Scenario {
        let mut s = self.base.clone();
        s.rule.clone_from(&point.rule);
        if !point.outreach {
            s.outreach.clear();
        }
        if point.trust != s.trust {
            s.trust = point.trust;
            s.propensity = None;
        }
        s.feedback = point.feedback;
        s
    }
}

/// Runs every programme of `grid` in memory on `threads` threads (as
/// [`Sweep::threads`]: 0 is one per core, more than the cores is the cores,
/// and never more than the grid's programmes), calling `progress(done, total)`
/// after each. Rows come in the grid's order, whatever the threads; the same
/// grid gives the same rows.
///
/// # Errors
/// [`SimError::Limit`] for a grid of more than [`Sweep::MAX_PROGRAMMES`]
/// programmes or more than [`Sweep::MAX_THREADS`] threads, a scenario that
/// does not check or a programme that cannot run (the first, in grid order),
/// or a thread pool that cannot start.
pub fn sweep(
    grid: &Sweep,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<SweepRow>, SimError> {
    grid.check()?;
    let threads = Sweep::threads(threads)?;
    let points = grid.points();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.min(points.len()).max(1))
        .build()
        .map_err(|e| SimError::Scenario {
            reason: format!("thread pool: {e}"),
        })?;
    let done = AtomicUsize::new(0);
    let total = points.len();
    let results: Vec<Result<Vec<SweepRow>, SimError>> = pool.install(|| {
        points
            .par_iter()
            .map(|p| {
                let scenario = grid.scenario(p);
                let rows = Simulation::new(&scenario, p.seed)
                    .and_then(|sim| sim.run_in_memory())
                    .map(|run| rows_of(p, &run));
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                rows
            })
            .collect()
    });
    let mut rows = Vec::with_capacity(total * grid.base.years as usize);
    for r in results {
        rows.extend(r?);
    }
    Ok(rows)
}

fn rows_of(p: &SweepPoint, run: &super::SimRun) -> Vec<SweepRow> {
    run.metrics
        .years
        .iter()
        .map(|m| SweepRow {
            rule: p.rule.clone(),
            outreach: p.outreach,
            trust: p.trust,
            feedback: p.feedback,
            seed: p.seed,
            year: m.year,
            voters: m.voters,
            turnout: m.turnout.value(),
            min_representation: m
                .groups
                .iter()
                .filter(|g| g.voters.is_some_and(|v| v > 0))
                .filter_map(|g| g.representation.map(|r| r.value()))
                .reduce(f64::min)
                .unwrap_or(0.0),
            ideas: m.ideas,
            on_ballot: m.projects_on_ballot,
            funded: m.funded,
            spent: m.spent.minor(),
            voters_with_funded: m.voters_with_funded.value(),
            satisfaction: m.satisfaction_by_cost.mean.value(),
            satisfaction_gini: m.satisfaction_by_cost.gini.value(),
            delivered: m.delivered,
            co_creators: m.co_creators,
        })
        .collect()
}

/// Writes rows as CSV with a header line.
///
/// # Errors
/// A write error.
pub fn write_csv(rows: &[SweepRow], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "rule,outreach,trust,feedback,seed,year,voters,turnout,min_representation,ideas,on_ballot,funded,spent,voters_with_funded,satisfaction,satisfaction_gini,delivered,co_creators"
    )?;
    for r in rows {
        let trust = match r.trust {
            Trust::Low => "low",
            Trust::Medium => "medium",
            Trust::High => "high",
        };
        writeln!(
            out,
            "{},{},{trust},{},{},{},{},{:.6},{:.6},{},{},{},{},{:.6},{:.6},{:.6},{},{}",
            r.rule,
            r.outreach,
            r.feedback,
            r.seed,
            r.year,
            r.voters,
            r.turnout,
            r.min_representation,
            r.ideas,
            r.on_ballot,
            r.funded,
            r.spent,
            r.voters_with_funded,
            r.satisfaction,
            r.satisfaction_gini,
            r.delivered,
            r.co_creators
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(seeds: Vec<u64>) -> Sweep {
        Sweep {
            base: Scenario {
                population: 1_500,
                ..Scenario::default()
            },
            rules: vec![Rule::Greedy],
            outreach: vec![true],
            trust: Vec::new(),
            feedback: Vec::new(),
            seeds,
        }
    }

    #[test]
    fn a_sweep_runs_on_no_more_threads_than_cores_and_programmes() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        for (asked, seeds) in [(Sweep::MAX_THREADS, vec![1, 2, 3]), (0, vec![4])] {
            let most = AtomicUsize::new(0);
            let rows = sweep(&grid(seeds.clone()), asked, &|_, _| {
                most.fetch_max(rayon::current_num_threads(), Ordering::Relaxed);
            })
            .unwrap();
            assert_eq!(rows.len(), seeds.len() * 3);
            let most = most.into_inner();
            assert!(
                most >= 1 && most <= cores.min(seeds.len()),
                "asked for {asked}: {most} threads on {cores} cores"
            );
        }
        assert_eq!(Sweep::threads(0).unwrap(), cores);
        assert_eq!(Sweep::threads(Sweep::MAX_THREADS).unwrap(), cores);
        assert_eq!(Sweep::threads(1).unwrap(), 1);
    }

    #[test]
    fn absurd_threads_are_refused_before_anything_runs() {
        let ran = AtomicUsize::new(0);
        for asked in [Sweep::MAX_THREADS + 1, 100_000, usize::MAX] {
            let e = sweep(&grid(vec![1]), asked, &|_, _| {
                ran.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap_err();
            assert!(
                matches!(e, SimError::Limit { ref what, max, .. } if what == "threads" && max == Sweep::MAX_THREADS as u64),
                "{e}"
            );
        }
        assert_eq!(ran.into_inner(), 0);
    }
}
