//! The rule a file's officials used, from its META `rule`, with the tie-breaking
//! those officials use.

use crate::tally::{
    Greedy, GreedyNoSkip, GreedyThreshold, Mes, MesAdd1, MesAdd1Comparison, Tally, TieBreak,
    TieBreaking,
};

use super::PbFile;

/// Why a file's official rule cannot be recomputed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OfficialError {
    /// META has no `rule`.
    #[error("the file's META has no rule")]
    NoRule,
    /// A rule whose outcome depends on facts the file does not hold.
    #[error("the official rule {rule:?} cannot be recomputed from the file ({why})")]
    NotRecomputable {
        /// The rule.
        rule: String,
        /// Why.
        why: &'static str,
    },
    /// A rule this crate does not know.
    #[error("unknown official rule {rule:?}")]
    UnknownRule {
        /// The rule.
        rule: String,
    },
    /// `greedy-threshold` without a usable `min_project_score_threshold`.
    #[error(
        "rule greedy-threshold needs META min_project_score_threshold as a number, found {found:?}"
    )]
    NoThreshold {
        /// The value found, if any.
        found: Option<String>,
    },
}

/// The official rule of a file and the tie-breaking its officials use.
pub struct OfficialRule {
    /// The rule.
    pub rule: Box<dyn Tally + Send + Sync>,
    /// Tie-breaking: file order for greedy rules; lowest cost, then most votes,
    /// for equal shares.
    pub tie_breaking: TieBreaking,
}

impl std::fmt::Debug for OfficialRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficialRule")
            .field("rule", &self.rule.name())
            .field("tie_breaking", &self.tie_breaking)
            .finish()
    }
}

/// Reads a threshold such as `106` or `10.5` as the least whole support at or
/// above it.
fn threshold(text: &str) -> Option<u64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole: u64 = whole.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(if fraction.bytes().any(|b| b != b'0') {
        whole + 1
    } else {
        whole
    })
}

/// The official rule named by META `rule`.
///
/// | META `rule` | rule | ties |
/// |---|---|---|
/// | `greedy` | [`Greedy`] (with META `min_project_score_threshold`, if any) | file order |
/// | `greedy-no-skip` | [`GreedyNoSkip`] (idem) | file order |
/// | `greedy-threshold` | [`GreedyThreshold`] at `min_project_score_threshold` | file order |
/// | `equalshares` | [`Mes`] | lowest cost, most votes |
/// | `equalshares/add1` | [`MesAdd1`] | lowest cost, most votes |
/// | `equalshares/add1-comparison` | [`MesAdd1Comparison`] | lowest cost, most votes |
///
/// # Errors
/// No rule, `greedy-custom` or `unknown` (not recomputable), or an unknown rule.
pub fn official_rule(file: &PbFile) -> Result<OfficialRule, OfficialError> {
    let rule = file.rule().map(str::trim).ok_or(OfficialError::NoRule)?;
    let file_order = TieBreaking::new(vec![TieBreak::FileOrder]);
    let shares = TieBreaking::new(vec![
        TieBreak::LowestCost,
        TieBreak::MostVotes,
        TieBreak::FileOrder,
    ]);
    let found = file.meta("min_project_score_threshold");
    let meta_threshold = found.and_then(threshold);
    let (tally, ties): (Box<dyn Tally + Send + Sync>, _) = match rule {
        "greedy" => match meta_threshold {
            Some(threshold) => (Box::new(GreedyThreshold { threshold }), file_order),
            None => (Box::new(Greedy), file_order),
        },
        "greedy-no-skip" => (
            Box::new(GreedyNoSkip {
                threshold: meta_threshold.unwrap_or(0),
            }),
            file_order,
        ),
        "greedy-threshold" => {
            let threshold = meta_threshold.ok_or_else(|| OfficialError::NoThreshold {
                found: found.map(str::to_owned),
            })?;
            (Box::new(GreedyThreshold { threshold }), file_order)
        }
        "equalshares" => (Box::new(Mes), shares),
        "equalshares/add1" => (Box::new(MesAdd1::default()), shares),
        "equalshares/add1-comparison" => (Box::new(MesAdd1Comparison), shares),
        "greedy-custom" => {
            return Err(OfficialError::NotRecomputable {
                rule: rule.to_owned(),
                why: "the municipality applied rules of its own beyond the votes",
            });
        }
        "unknown" => {
            return Err(OfficialError::NotRecomputable {
                rule: rule.to_owned(),
                why: "the rule used is not known",
            });
        }
        other => {
            return Err(OfficialError::UnknownRule {
                rule: other.to_owned(),
            });
        }
    };
    Ok(OfficialRule {
        rule: tally,
        // Both chains are valid by construction (non-empty, no refuse).
        tie_breaking: ties.unwrap_or_else(|_| TieBreaking::by_project_id()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_round_up_to_whole_support() {
        assert_eq!(threshold("106"), Some(106));
        assert_eq!(threshold("10.0"), Some(10));
        assert_eq!(threshold("10.5"), Some(11));
        assert_eq!(threshold("ten"), None);
        assert_eq!(threshold("1.x"), None);
    }
}
