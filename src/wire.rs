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

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
                }
            }
            // A unit variant serialises as its code alone.
            Ok(Value::String(code)) => Problem {
                code,
                details: Value::Object(serde_json::Map::new()),
                message,
            },
            _ => Problem {
                code: "error".to_owned(),
                details: Value::Object(serde_json::Map::new()),
                message,
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
        }
    }

    /// Reads `json` as a `T`, or the [`Problem`] of why it does not read.
    ///
    /// # Errors
    /// [`Problem::from_json`].
    pub fn read<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Problem> {
        serde_json::from_str(json).map_err(|e| Problem::from_json(&e))
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
    }
}
