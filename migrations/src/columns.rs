//! Column and index shapes every migration uses, so a timestamp or an id is declared the same way
//! in every table, on SQLite and PostgreSQL alike.

use sea_orm_migration::prelude::*;

/// A UTC timestamp that must be set.
pub fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

/// A UTC timestamp that may be absent.
pub fn ts_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().take()
}

/// A UUID primary key (UUIDv7, so ids sort by creation time).
pub fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().primary_key().take()
}

/// A string of at most `len` characters that must be set.
pub fn string(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).not_null().take()
}

/// A string of at most `len` characters that may be absent.
pub fn string_null(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).null().take()
}

/// An integer that may be absent.
pub fn int_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).integer().null().take()
}

/// A named index over `cols` of `table`.
pub fn index<T: IntoIden, C: IntoIden>(
    name: &str,
    table: T,
    cols: impl IntoIterator<Item = C>,
) -> IndexCreateStatement {
    let mut i = Index::create().name(name).table(table).take();
    for c in cols {
        i.col(c);
    }
    i
}

/// A foreign key whose rows go with the row they point at.
pub fn cascade(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}
