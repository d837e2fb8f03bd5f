//! Typed identifiers: one newtype over [`Uuid`] per kind of thing, so an idea's id
//! can never be passed where a project's is expected.
//!
//! ```
//! use medborgarbudget::ids::{IdeaId, ProjectId};
//!
//! let idea = IdeaId::new();
//! let parsed: IdeaId = idea.to_string().parse()?;
//! assert_eq!(idea, parsed);
//! // Deterministic ids for simulations and tests:
//! assert_eq!(ProjectId::from_u128(7).to_string(), "00000000-0000-0000-0000-000000000007");
//! # Ok::<(), uuid::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (version 4) id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// A deterministic id from a number, for simulations and tests.
            pub const fn from_u128(value: u128) -> Self {
                Self(Uuid::from_u128(value))
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            /// Same as [`Self::new`]: a fresh random id.
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

typed_id!(
    /// Identifies a multi-year [`Programme`](crate::process::Programme).
    ProgrammeId
);
typed_id!(
    /// Identifies one annual [`Cycle`](crate::process::Cycle).
    CycleId
);
typed_id!(
    /// Identifies an [`Area`](crate::area::Area), the district a programme serves.
    AreaId
);
typed_id!(
    /// Identifies a [`Resident`](crate::area::Resident).
    ResidentId
);
typed_id!(
    /// Identifies an [`Idea`](crate::idea::Idea).
    IdeaId
);
typed_id!(
    /// Identifies a [`Project`](crate::project::Project) on the shortlist.
    ProjectId
);
typed_id!(
    /// Identifies a [`Ballot`](crate::ballot::Ballot).
    BallotId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_serde() {
        let id = BallotId::from_u128(0xfeed);
        assert_eq!(id.to_string().parse::<BallotId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"00000000-0000-0000-0000-00000000feed\"");
        assert_eq!(serde_json::from_str::<BallotId>(&json).unwrap(), id);
        assert!("not-a-uuid".parse::<BallotId>().is_err());
        assert_ne!(IdeaId::new(), IdeaId::new());
        assert_eq!(
            format!("{:?}", CycleId::from_u128(1)),
            "CycleId(00000000-0000-0000-0000-000000000001)"
        );
    }
}
