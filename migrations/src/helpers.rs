//! Small helpers shared by the migrations (one definition of how a path column, a foreign key
//! and an index are declared).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Materialised paths (`/1/5/23/`) are compared with `>=`/`<` ranges, which must follow byte
/// order. SQLite's default BINARY collation does; on PostgreSQL we ask for the "C" collation.
pub(crate) fn path_column(manager: &SchemaManager<'_>, col: impl IntoIden) -> ColumnDef {
    byte_order(manager, string(col))
}

pub(crate) fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}

pub(crate) async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    if unique {
        stmt.unique();
    }
    manager.create_index(stmt.to_owned()).await
}

/// A nullable path column (see [`path_column`]).
pub(crate) fn path_column_null(manager: &SchemaManager<'_>, col: impl IntoIden) -> ColumnDef {
    byte_order(manager, string_null(col))
}

/// `def` with the "C" collation on PostgreSQL (see [`path_column`]).
fn byte_order(manager: &SchemaManager<'_>, mut def: ColumnDef) -> ColumnDef {
    if manager.get_database_backend() == DbBackend::Postgres {
        def.extra("COLLATE \"C\"");
    }
    def
}
