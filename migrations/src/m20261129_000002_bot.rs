//! The bot's own storage: dialogue state per chat (a half-written report survives a restart),
//! the updates already handled (so a repeated Telegram update has one effect), the confirmed
//! polling offset, and which of the bot's direct messages are about which report (so a reply
//! to a receipt lands on that report's timeline).

use crate::helpers::index;
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
                    .table(BotDialogues::Table)
                    .col(big_integer(BotDialogues::ChatId).primary_key())
                    .col(big_integer_null(BotDialogues::MemberId))
                    .col(text(BotDialogues::State))
                    .col(timestamp_with_time_zone(BotDialogues::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BotProcessed::Table)
                    .col(string(BotProcessed::Key).primary_key())
                    .col(timestamp_with_time_zone(BotProcessed::ProcessedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_bot_processed_at",
            BotProcessed::Table,
            &["processed_at"],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(BotKv::Table)
                    .col(string(BotKv::Key).primary_key())
                    .col(text(BotKv::Value))
                    .col(timestamp_with_time_zone(BotKv::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BotMessageRefs::Table)
                    .col(big_integer(BotMessageRefs::ChatId))
                    .col(big_integer(BotMessageRefs::MessageId))
                    .col(big_integer(BotMessageRefs::ReportId))
                    .col(timestamp_with_time_zone(BotMessageRefs::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(BotMessageRefs::ChatId)
                            .col(BotMessageRefs::MessageId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            BotMessageRefs::Table.into_iden(),
            BotKv::Table.into_iden(),
            BotProcessed::Table.into_iden(),
            BotDialogues::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum BotDialogues {
    Table,
    ChatId,
    MemberId,
    State,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BotProcessed {
    Table,
    Key,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum BotKv {
    Table,
    Key,
    Value,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BotMessageRefs {
    Table,
    ChatId,
    MessageId,
    ReportId,
    CreatedAt,
}
