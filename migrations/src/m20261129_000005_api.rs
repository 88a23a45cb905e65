//! Dashboard, exports and the JSON API: bearer tokens for the county's other platforms, whether
//! a resolved report met its deadline (the running deadline is cleared when the clock stops, so
//! the outcome is kept beside it).

use crate::helpers::{fk, index};
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
                    .table(ApiTokens::Table)
                    .col(big_pk_auto(ApiTokens::Id))
                    .col(big_integer(ApiTokens::StaffUserId))
                    .col(string(ApiTokens::Name))
                    // The first characters of the secret, to tell tokens apart in lists.
                    .col(string(ApiTokens::Prefix))
                    // sha256 of the whole secret, hex; the secret itself is never stored.
                    .col(string(ApiTokens::TokenHash))
                    .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .foreign_key(&mut fk(
                        "fk_api_tokens_staff",
                        (ApiTokens::Table, ApiTokens::StaffUserId),
                        (StaffUsers::Table, StaffUsers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_api_tokens_hash",
            ApiTokens::Table,
            &["token_hash"],
            true,
        )
        .await?;
        index(
            manager,
            "ix_api_tokens_staff",
            ApiTokens::Table,
            &["staff_user_id"],
            false,
        )
        .await?;

        // Set when a report is resolved: whether it was resolved by the deadline then running
        // (NULL when no deadline ran). The dashboard's on-time rate counts these.
        manager
            .alter_table(
                Table::alter()
                    .table(Reports::Table)
                    .add_column(boolean_null(Reports::ResolvedOnTime))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Reports::Table)
                    .drop_column(Reports::ResolvedOnTime)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ApiTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    StaffUserId,
    Name,
    Prefix,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum StaffUsers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    ResolvedOnTime,
}
