//! The status a check-in is kept with. Its own file, as routes, walks and the review read it as
//! well as the check-in desk that writes it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::stored::{self, Corrupt};

/// Whether a check-in was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckinStatus {
    /// Paid (what the day's cap allowed).
    Paid,
    /// Failed a plausibility check: waiting for a coordinator, not paid.
    Held,
    /// A coordinator refused a held check-in.
    Rejected,
}

impl CheckinStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckinStatus::Paid => "paid",
            CheckinStatus::Held => "held",
            CheckinStatus::Rejected => "rejected",
        }
    }

    /// A stored status; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup(
            "check-in status",
            &[
                CheckinStatus::Paid,
                CheckinStatus::Held,
                CheckinStatus::Rejected,
            ],
            Self::as_str,
            s,
        )
    }
}
