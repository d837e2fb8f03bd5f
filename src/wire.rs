//! Errors as a front end receives them: a stable machine code, the error's
//! fields, and its English message — and reading JSON input with syntax
//! errors told apart from refused commands.
//!
//! Every error of the process, the ballots, the money, the areas and the
//! tallies serialises adjacently tagged: the variant's name in snake_case
//! under `code` and its fields under `details` (an error inside another keeps
//! its own code there). [`Problem`] adds the message:
//!
//! ```
//! use medborgarbudget::wire::Problem;
//! use medborgarbudget::process::{CycleError, Step};
//!
//! let refused = CycleError::NotInThisStep { operation: "cast_ballot", step: Step::Outreach };
//! let problem = Problem::of(&refused);
//! assert_eq!(problem.code, "not_in_this_step");
//! assert_eq!(problem.details["step"], "outreach");
//! assert_eq!(serde_json::to_value(&problem)?["message"], refused.to_string());
//!
//! // Input that is not a command at all is a problem of its own kind,
//! // naming where it went wrong.
//! let typo = Problem::read::<medborgarbudget::process::Command>(r#"{"close_votign":{}}"#);
//! let problem = typo.unwrap_err();
//! assert_eq!(problem.code, "invalid_json");
//! assert_eq!(problem.details["line"], 1);
//! assert!(problem.message.contains("close_votign"));
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use serde_json::Value;

thread_local! {
    /// The rule a value broke while being read on this thread, if any.
    static REFUSED: RefCell<Option<Problem>> = const { RefCell::new(None) };
}

/// Serialises an error that is a struct as the enums do:
/// `{"code": code, "details": details}`.
pub(crate) fn serialize_error<S: serde::Serializer, D: Serialize>(
    s: S,
    code: &'static str,
    details: D,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Wire<D> {
        code: &'static str,
        details: D,
    }
    Wire { code, details }.serialize(s)
}

/// Notes that a value read from outside broke a rule (the ballot rules, a
/// score, an area…), so that [`Problem::read`] reports the rule's own
/// problem rather than unreadable JSON; returns the error to give serde.
pub(crate) fn refused<E: Serialize + std::fmt::Display>(error: E) -> E {
    REFUSED.with(|r| *r.borrow_mut() = Some(Problem::of(&error)));
    error
}

/// An error for the wire: `{"code":…,"details":{…},"message":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Problem {
    /// The machine code: the error variant's name in snake_case
    /// (`already_voted`), or `invalid_json` for input that does not read.
    pub code: String,
    /// The error's fields (an object; empty when it has none).
    #[serde(default)]
    pub details: Value,
    /// The error's message, in English.
    pub message: String,
    /// Where in the input the problem is, for input read from JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Position>,
}

/// A place in JSON input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

impl Problem {
    /// The problem of `error`: its code and fields as it serialises, and its
    /// message.
    pub fn of<E: Serialize + std::fmt::Display>(error: &E) -> Problem {
        let message = error.to_string();
        match serde_json::to_value(error) {
            Ok(Value::Object(mut map)) => {
                let code = match map.remove("code") {
                    Some(Value::String(code)) => code,
                    _ => "error".to_owned(),
                };
                Problem {
                    code,
                    details: map
                        .remove("details")
                        .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
                    message,
                    at: None,
                }
            }
            // A unit variant serialises as its code alone.
            Ok(Value::String(code)) => Problem {
                code,
                details: Value::Object(serde_json::Map::new()),
                message,
                at: None,
            },
            _ => Problem {
                code: "error".to_owned(),
                details: Value::Object(serde_json::Map::new()),
                message,
                at: None,
            },
        }
    }

    /// The problem of JSON input that does not read as the type asked for:
    /// code `invalid_json`, with the line, the column and what kind of
    /// failure (`syntax`, `data` — a field unknown, missing or of the wrong
    /// shape, or a value the type refuses — or `eof`).
    pub fn from_json(error: &serde_json::Error) -> Problem {
        let kind = match error.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        };
        Problem {
            code: "invalid_json".to_owned(),
            details: serde_json::json!({
                "line": error.line(),
                "column": error.column(),
                "kind": kind,
            }),
            message: error.to_string(),
            at: (error.line() > 0).then(|| Position {
                line: error.line(),
                column: error.column(),
            }),
        }
    }

    /// Reads `json` as a `T`, or the [`Problem`] of why it does not read:
    /// the broken rule's own problem (`min_above_max`, `bad_part_id`, …) where
    /// the JSON is well formed but a value breaks a rule of the crate, with
    /// where it is; otherwise [`Problem::from_json`].
    ///
    /// # Errors
    /// As above.
    pub fn read<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Problem> {
        REFUSED.with(|r| r.borrow_mut().take());
        serde_json::from_str(json).map_err(|e| {
            let refused = REFUSED.with(|r| r.borrow_mut().take());
            match refused {
                // The rule's refusal is what serde reports (its message
                // leads the error), not one met and passed over earlier.
                Some(mut rule)
                    if e.classify() == serde_json::error::Category::Data
                        && e.to_string().starts_with(&rule.message) =>
                {
                    // serde_json knows the place only for some errors.
                    rule.at = (e.line() > 0).then(|| Position {
                        line: e.line(),
                        column: e.column(),
                    });
                    rule
                }
                _ => Problem::from_json(&e),
            }
        })
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::RulesError;
    use crate::ids::ResidentId;
    use crate::process::{CycleError, GateError, Step};

    #[test]
    fn a_refusal_keeps_its_code_its_fields_and_the_errors_inside_it() {
        let voter = ResidentId::from_u128(7);
        let p = Problem::of(&CycleError::AlreadyVoted {
            voter,
            existing: crate::ids::BallotId::from_u128(3),
        });
        assert_eq!(p.code, "already_voted");
        assert_eq!(p.details["voter"], voter.to_string());
        let gate = CycleError::Gate {
            step: Step::Criteria,
            source: GateError::RulesDoNotFitBudget(RulesError::ZeroMax),
        };
        let p = Problem::of(&gate);
        assert_eq!(p.code, "gate");
        assert_eq!(p.details["source"]["code"], "rules_do_not_fit_budget");
        assert_eq!(p.details["source"]["details"]["code"], "zero_max");
        assert_eq!(p.message, gate.to_string());
        // A unit variant: a code and no fields.
        let p = Problem::of(&GateError::NoBudget);
        assert_eq!(p.code, "no_budget");
        assert_eq!(p.details, serde_json::json!({}));
        // It reads back, and refuses fields it does not know.
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Problem>(&json).unwrap(), p);
        assert!(
            serde_json::from_str::<Problem>(r#"{"code":"x","message":"y","extra":1}"#).is_err()
        );
    }

    #[test]
    fn input_that_does_not_read_names_its_line_and_column() {
        let p = Problem::read::<crate::process::Command>("{\n  \"close_voting\": {\"at\": 5}\n}")
            .unwrap_err();
        assert_eq!(p.code, "invalid_json");
        assert_eq!(p.details["line"], 2);
        assert_eq!(p.details["kind"], "data");
        let p = Problem::read::<crate::process::Command>("{\"close_voting\":").unwrap_err();
        assert_eq!(p.details["kind"], "eof");
        assert_eq!(p.at.map(|a| a.line), Some(1));
    }

    #[test]
    fn a_rule_broken_while_reading_is_reported_as_the_rule() {
        // Well-formed JSON whose ballot rules ask for more than they allow.
        let json = r#"{"set_ballot_rules":{"kind":"approval","min_projects":3,"max_projects":2}}"#;
        let p = Problem::read::<crate::process::Command>(json).unwrap_err();
        assert_eq!(p.code, "min_above_max");
        assert_eq!(p.details, serde_json::json!({"min": 3, "max": 2}));
        assert!(
            p.message
                .contains("minimum 3 projects exceeds the maximum 2"),
            "{p}"
        );
        // A bad part id, deep in a command.
        let json = r#"{"set_parts":{"parts":[{"id":"Norr","name":"x","amount":{"minor":1,"currency":"SEK"}}]}}"#;
        let p = Problem::read::<crate::process::Command>(json).unwrap_err();
        assert_eq!(p.code, "bad_part_id");
        assert_eq!(p.details["given"], "Norr");
        // The first problem in the input is the one reported: a syntax
        // error before the rules are complete is unreadable JSON...
        let json = r#"{"set_ballot_rules":{"kind":"approval","min_projects":3,,"max_projects":2}}"#;
        let p = Problem::read::<crate::process::Command>(json).unwrap_err();
        assert_eq!(p.code, "invalid_json");
        assert_eq!(p.details["kind"], "syntax");
        // ...and a rule that reads well after a refused one is not blamed.
        let ok = r#"{"set_ballot_rules":{"kind":"approval","min_projects":1,"max_projects":2}}"#;
        assert!(Problem::read::<crate::process::Command>(ok).is_ok());
        let typo = r#"{"set_ballot_rules":{"kind":"approval","min_projects":1,"max_project":2}}"#;
        let p = Problem::read::<crate::process::Command>(typo).unwrap_err();
        assert_eq!(p.code, "invalid_json");
        assert!(p.message.contains("max_project"), "{p}");
    }
}
