//! County-wide settings that staff change in the panel (「县级设置」): one row per setting that
//! differs from its default, the value as text. What each setting means, its default and its
//! bounds live in the core (`gridline_shared::county_settings`), not here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CountySettings::Table)
                    .if_not_exists()
                    .col(string(CountySettings::Key).primary_key())
                    .col(string(CountySettings::Value))
                    .col(timestamp_with_time_zone(CountySettings::UpdatedAt))
                    .col(big_integer_null(CountySettings::UpdatedBy))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CountySettings::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum CountySettings {
    Table,
    Key,
    Value,
    UpdatedAt,
    UpdatedBy,
}
