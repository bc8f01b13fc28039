use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sorting_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub idem_key: String,
    /// `good`, `fair` or `poor`.
    pub result: String,
    /// What the policy paid when the record was posted.
    pub points: i32,
    pub note: Option<String>,
    /// `user` or `station` (an API key).
    pub poster_kind: String,
    pub poster_id: Uuid,
    pub observed_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    /// The Asia/Shanghai day of `observed_at`, `YYYY-MM-DD`: the day the rating counts for.
    pub day: Option<String>,
    /// The record that corrected this one; its points were reversed in the ledger.
    pub superseded_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
