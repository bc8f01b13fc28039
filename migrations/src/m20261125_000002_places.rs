//! Places: the area tree with its polygons and overlays, teams, and the building registry with
//! units, residents, shops and enterprises, and the visit history of every profile change.

use sea_orm_migration::prelude::*;

use crate::columns::{cascade, id, index, string, string_null, ts, ts_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000002_places"
    }
}

#[derive(DeriveIden)]
enum Areas {
    Table,
    Id,
    Code,
    Name,
    Level,
    ParentCode,
    StreetCode,
    Geometry,
    HealthColour,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Teams {
    Table,
    Id,
    Code,
    Name,
    Kind,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TeamAreas {
    Table,
    TeamId,
    AreaCode,
}

#[derive(DeriveIden)]
enum TeamCategories {
    Table,
    TeamId,
    Category,
}

#[derive(DeriveIden)]
enum Buildings {
    Table,
    Id,
    Code,
    Name,
    Address,
    Lng,
    Lat,
    MicroGridCode,
    GridCode,
    Floors,
    Notes,
    VerifiedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BuildingUnits {
    Table,
    Id,
    BuildingId,
    Number,
    Floor,
    Notes,
    VerifiedAt,
}

#[derive(DeriveIden)]
enum Residents {
    Table,
    Id,
    UnitId,
    Name,
    Phone,
    IdNumber,
    Relation,
}

#[derive(DeriveIden)]
enum Businesses {
    Table,
    Id,
    BuildingId,
    Kind,
    Name,
    CreditCode,
    Contact,
    Phone,
    UnitNumber,
}

#[derive(DeriveIden)]
enum BuildingVisits {
    Table,
    Id,
    BuildingId,
    UnitNumber,
    ActorId,
    At,
    Changes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Geometry is kept as GeoJSON text: both databases store it the same way, and lookups run
        // on the in-memory index, never in SQL.
        m.create_table(
            Table::create()
                .table(Areas::Table)
                .col(id(Areas::Id))
                .col(string(Areas::Code, 64).unique_key().take())
                .col(ColumnDef::new(Areas::Name).string_len(100).not_null())
                .col(ColumnDef::new(Areas::Level).string_len(16).not_null())
                .col(string_null(Areas::ParentCode, 64))
                .col(string(Areas::StreetCode, 64))
                .col(ColumnDef::new(Areas::Geometry).text().null())
                .col(string_null(Areas::HealthColour, 16))
                .col(ts(Areas::CreatedAt))
                .col(ts(Areas::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_areas_street",
            Areas::Table,
            [Areas::StreetCode, Areas::Level],
        ))
        .await?;
        m.create_index(index("idx_areas_parent", Areas::Table, [Areas::ParentCode]))
            .await?;

        m.create_table(
            Table::create()
                .table(Teams::Table)
                .col(id(Teams::Id))
                .col(string(Teams::Code, 64).unique_key().take())
                .col(ColumnDef::new(Teams::Name).string_len(100).not_null())
                .col(ColumnDef::new(Teams::Kind).string_len(32).not_null())
                .col(ts(Teams::CreatedAt))
                .col(ts(Teams::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(TeamAreas::Table)
                .col(ColumnDef::new(TeamAreas::TeamId).uuid().not_null())
                .col(string(TeamAreas::AreaCode, 64))
                .primary_key(
                    Index::create()
                        .col(TeamAreas::TeamId)
                        .col(TeamAreas::AreaCode),
                )
                .foreign_key(&mut cascade(
                    (TeamAreas::Table, TeamAreas::TeamId),
                    (Teams::Table, Teams::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_team_areas_area",
            TeamAreas::Table,
            [TeamAreas::AreaCode],
        ))
        .await?;
        m.create_table(
            Table::create()
                .table(TeamCategories::Table)
                .col(ColumnDef::new(TeamCategories::TeamId).uuid().not_null())
                .col(string(TeamCategories::Category, 64))
                .primary_key(
                    Index::create()
                        .col(TeamCategories::TeamId)
                        .col(TeamCategories::Category),
                )
                .foreign_key(&mut cascade(
                    (TeamCategories::Table, TeamCategories::TeamId),
                    (Teams::Table, Teams::Id),
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Buildings::Table)
                .col(id(Buildings::Id))
                .col(string(Buildings::Code, 64).unique_key().take())
                .col(ColumnDef::new(Buildings::Name).string_len(100).not_null())
                .col(
                    ColumnDef::new(Buildings::Address)
                        .string_len(200)
                        .not_null(),
                )
                .col(ColumnDef::new(Buildings::Lng).double().not_null())
                .col(ColumnDef::new(Buildings::Lat).double().not_null())
                .col(string_null(Buildings::MicroGridCode, 64))
                .col(string_null(Buildings::GridCode, 64))
                .col(ColumnDef::new(Buildings::Floors).integer().null())
                .col(string_null(Buildings::Notes, 1000))
                .col(ts_null(Buildings::VerifiedAt))
                .col(ts(Buildings::CreatedAt))
                .col(ts(Buildings::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_buildings_grid",
            Buildings::Table,
            [Buildings::GridCode, Buildings::Id],
        ))
        .await?;
        m.create_index(index(
            "idx_buildings_micro_grid",
            Buildings::Table,
            [Buildings::MicroGridCode],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(BuildingUnits::Table)
                .col(id(BuildingUnits::Id))
                .col(ColumnDef::new(BuildingUnits::BuildingId).uuid().not_null())
                .col(
                    ColumnDef::new(BuildingUnits::Number)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(BuildingUnits::Floor).integer().null())
                .col(string_null(BuildingUnits::Notes, 1000))
                .col(ts_null(BuildingUnits::VerifiedAt))
                .foreign_key(&mut cascade(
                    (BuildingUnits::Table, BuildingUnits::BuildingId),
                    (Buildings::Table, Buildings::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "idx_units_building_number",
                BuildingUnits::Table,
                [BuildingUnits::BuildingId, BuildingUnits::Number],
            )
            .unique()
            .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Residents::Table)
                .col(id(Residents::Id))
                .col(ColumnDef::new(Residents::UnitId).uuid().not_null())
                .col(ColumnDef::new(Residents::Name).string_len(64).not_null())
                .col(string_null(Residents::Phone, 20))
                .col(string_null(Residents::IdNumber, 18))
                .col(string_null(Residents::Relation, 16))
                .foreign_key(&mut cascade(
                    (Residents::Table, Residents::UnitId),
                    (BuildingUnits::Table, BuildingUnits::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_residents_unit",
            Residents::Table,
            [Residents::UnitId],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Businesses::Table)
                .col(id(Businesses::Id))
                .col(ColumnDef::new(Businesses::BuildingId).uuid().not_null())
                .col(ColumnDef::new(Businesses::Kind).string_len(16).not_null())
                .col(ColumnDef::new(Businesses::Name).string_len(100).not_null())
                .col(string_null(Businesses::CreditCode, 18))
                .col(string_null(Businesses::Contact, 64))
                .col(string_null(Businesses::Phone, 20))
                .col(string_null(Businesses::UnitNumber, 32))
                .foreign_key(&mut cascade(
                    (Businesses::Table, Businesses::BuildingId),
                    (Buildings::Table, Buildings::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_businesses_building",
            Businesses::Table,
            [Businesses::BuildingId],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(BuildingVisits::Table)
                .col(id(BuildingVisits::Id))
                .col(ColumnDef::new(BuildingVisits::BuildingId).uuid().not_null())
                .col(string_null(BuildingVisits::UnitNumber, 32))
                .col(ColumnDef::new(BuildingVisits::ActorId).uuid().not_null())
                .col(ts(BuildingVisits::At))
                .col(ColumnDef::new(BuildingVisits::Changes).text().not_null())
                .foreign_key(&mut cascade(
                    (BuildingVisits::Table, BuildingVisits::BuildingId),
                    (Buildings::Table, Buildings::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_visits_building",
            BuildingVisits::Table,
            [BuildingVisits::BuildingId, BuildingVisits::Id],
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            BuildingVisits::Table.into_iden(),
            Businesses::Table.into_iden(),
            Residents::Table.into_iden(),
            BuildingUnits::Table.into_iden(),
            Buildings::Table.into_iden(),
            TeamCategories::Table.into_iden(),
            TeamAreas::Table.into_iden(),
            Teams::Table.into_iden(),
            Areas::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
