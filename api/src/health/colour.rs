//! The five health colours (五色) a grid's score turns into, from healthy to the worst: what
//! the rules set thresholds and response levels for, and what scoring gives.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// 五色: a grid's health, from healthy to the worst.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum HealthColour {
    Green,
    Blue,
    Yellow,
    Orange,
    Red,
}

impl HealthColour {
    pub const ALL: [HealthColour; 5] = [
        HealthColour::Green,
        HealthColour::Blue,
        HealthColour::Yellow,
        HealthColour::Orange,
        HealthColour::Red,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HealthColour::Green => "green",
            HealthColour::Blue => "blue",
            HealthColour::Yellow => "yellow",
            HealthColour::Orange => "orange",
            HealthColour::Red => "red",
        }
    }

    /// The colour's Chinese name, as the console and labels show it.
    pub fn name_zh(self) -> &'static str {
        match self {
            HealthColour::Green => "绿色",
            HealthColour::Blue => "蓝色",
            HealthColour::Yellow => "黄色",
            HealthColour::Orange => "橙色",
            HealthColour::Red => "红色",
        }
    }

    /// A stored health colour; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<HealthColour, crate::stored::Corrupt> {
        crate::stored::lookup("health colour", &HealthColour::ALL, HealthColour::as_str, s)
    }
}
