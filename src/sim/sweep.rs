//! Many simulated programmes over a grid of parameters, in parallel.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Scenario, SimError, Simulation, Trust};

/// A grid of programmes: every combination of counting rule, outreach (the
/// scenario's activities, or none), turnout model (trust and feedback) and
/// seed. An empty list means the base scenario's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sweep {
    /// The scenario the grid varies.
    pub base: Scenario,
    /// Counting rules.
    pub rules: Vec<String>,
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
            rules: vec!["greedy".into(), "mes".into()],
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
    pub rule: String,
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
    pub rule: String,
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
    /// Every point of the grid, in a fixed order (rule, outreach, trust,
    /// feedback, seed).
    pub fn points(&self) -> Vec<SweepPoint> {
        let or = |v: &Vec<String>, d: &String| {
            if v.is_empty() {
                vec![d.clone()]
            } else {
                v.clone()
            }
        };
        let rules = or(&self.rules, &self.base.rule);
        let outreach = if self.outreach.is_empty() {
            vec![true]
        } else {
            self.outreach.clone()
        };
        let trust = if self.trust.is_empty() {
            vec![self.base.trust]
        } else {
            self.trust.clone()
        };
        let feedback = if self.feedback.is_empty() {
            vec![self.base.feedback]
        } else {
            self.feedback.clone()
        };
        let seeds = if self.seeds.is_empty() {
            vec![1]
        } else {
            self.seeds.clone()
        };
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

/// Runs every programme of `grid` in memory on `threads` threads (0: one per
/// core), calling `progress(done, total)` after each. Rows come in the grid's
/// order, whatever the threads; the same grid gives the same rows.
///
/// # Errors
/// A scenario that does not check or a programme that cannot run (the first,
/// in grid order), or a thread pool that cannot start.
pub fn sweep(
    grid: &Sweep,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<SweepRow>, SimError> {
    let points = grid.points();
    for p in &points {
        grid.scenario(p).check()?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
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
