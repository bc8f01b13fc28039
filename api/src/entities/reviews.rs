use sea_orm::entity::prelude::*;

/// One version of an area's monthly review (网格月度研判报告).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reviews")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `grid`, `community` or `street` (`reviews::ReviewScope`).
    pub scope: String,
    pub area_code: String,
    pub street_code: String,
    /// The Asia/Shanghai month, `YYYY-MM`.
    pub month: String,
    /// 1 for the first generation; a correction is the next.
    pub version: i32,
    /// JSON `reviews::figures::Figures`.
    pub figures: String,
    /// The area worker's written assessment (研判意见).
    pub assessment: Option<String>,
    /// `draft` or `submitted` (`reviews::ReviewStatus`).
    pub status: String,
    pub generated_at: DateTimeUtc,
    /// Who asked for it; None for the monthly scheduler.
    pub generated_by: Option<Uuid>,
    pub submitted_by: Option<Uuid>,
    pub submitted_at: Option<DateTimeUtc>,
    pub read_by: Option<Uuid>,
    pub read_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
