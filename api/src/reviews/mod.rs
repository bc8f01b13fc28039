//! Monthly reviews (网格月度研判报告): for every grid, community and street, a month's figures
//! (events by category, colour and source; on-time rates of each task step; lights and
//! escalations; hot spots; ratings; patrols; building freshness; volunteer hours; points; the
//! health colour and its trend; the previous month beside them), the area worker's assessment
//! (研判意见), submission to the street, the command centre's comments and read marks.
//!
//! - [`month`]: an Asia/Shanghai month and the instants it spans.
//! - [`figures`]: the figures of every area of a street over a month, counted in grouped SQL
//!   over the street's events at once and added up the area tree.
//! - [`files`]: a review as a PDF with charts, and its tables as XLSX and CSV.
//! - [`printing`]: a street's month generated and written as PDF files at once.
//! - [`store`]: generating, reading, writing the assessment, submitting (and the mail when a
//!   street's grids are all in), comments, read marks and corrections (the next version).
//! - [`worker`]: the scheduler that generates each street's reviews once a month has ended,
//!   once whatever the number of instances.

pub mod figures;
pub mod files;
pub mod month;
pub mod printing;
pub mod store;
pub mod worker;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::stored::{Corrupt, lookup};

/// Which kind of area a review is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewScope {
    Grid,
    Community,
    Street,
}

impl ReviewScope {
    pub const ALL: [ReviewScope; 3] = [
        ReviewScope::Grid,
        ReviewScope::Community,
        ReviewScope::Street,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewScope::Grid => "grid",
            ReviewScope::Community => "community",
            ReviewScope::Street => "street",
        }
    }

    /// A stored scope; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Self, Corrupt> {
        lookup("review scope", &Self::ALL, Self::as_str, s)
    }

    /// The scope of an area of `level` (`areas.level`); None for levels without reviews.
    pub fn of_level(level: &str) -> Option<Self> {
        match level {
            "grid" => Some(ReviewScope::Grid),
            "community" => Some(ReviewScope::Community),
            "street" => Some(ReviewScope::Street),
            _ => None,
        }
    }
}

/// Where a review stands: a draft takes its assessment; a submitted one never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Draft,
    Submitted,
}

impl ReviewStatus {
    pub const ALL: [ReviewStatus; 2] = [ReviewStatus::Draft, ReviewStatus::Submitted];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Draft => "draft",
            ReviewStatus::Submitted => "submitted",
        }
    }

    /// A stored status; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Self, Corrupt> {
        lookup("review status", &Self::ALL, Self::as_str, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_statuses_round_trip_and_unknown_ones_are_corrupt() {
        for s in ReviewScope::ALL {
            assert_eq!(ReviewScope::parse(s.as_str()).ok(), Some(s));
            assert_eq!(ReviewScope::of_level(s.as_str()), Some(s));
        }
        for s in ReviewStatus::ALL {
            assert_eq!(ReviewStatus::parse(s.as_str()).ok(), Some(s));
        }
        assert!(ReviewScope::parse("Grid").is_err());
        assert!(ReviewStatus::parse("final").is_err());
        assert_eq!(ReviewScope::of_level("micro_grid"), None);
    }
}
