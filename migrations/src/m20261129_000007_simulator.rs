//! The chat simulator's transcript: every message of a simulated chat (a chat id in the range
//! Telegram never uses, see `gridline_shared::simulator`), what the user sent and what the bot
//! answered or queued, with its buttons, so the panel can show the chat as a phone would and
//! a press on an older message can edit it. A photo the user uploaded keeps its bytes here
//! until the report it belongs to is filed (then they are copied into `attachments`).

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
                    .table(SimulatorMessages::Table)
                    .col(big_pk_auto(SimulatorMessages::Id))
                    .col(big_integer(SimulatorMessages::ChatId))
                    .col(big_integer_null(SimulatorMessages::MemberId))
                    // `user` or `bot`.
                    .col(string(SimulatorMessages::Sender))
                    // `text`, `photo`, `location`, `contact`, `press`, `toast`.
                    .col(string(SimulatorMessages::Kind))
                    .col(text(SimulatorMessages::Body))
                    // JSON of `conversation::Keyboard`.
                    .col(text(SimulatorMessages::Keyboard))
                    .col(big_integer_null(SimulatorMessages::ReportId))
                    .col(big_integer_null(SimulatorMessages::OutboxId))
                    .col(string_null(SimulatorMessages::Mime))
                    .col(blob_null(SimulatorMessages::Data))
                    // The staff user who typed it (user messages).
                    .col(big_integer_null(SimulatorMessages::StaffUserId))
                    .col(timestamp_with_time_zone(SimulatorMessages::CreatedAt))
                    .col(timestamp_with_time_zone(SimulatorMessages::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_simulator_messages_chat",
            SimulatorMessages::Table,
            &["chat_id", "id"],
            false,
        )
        .await?;
        // An outbox row is shown once.
        index(
            manager,
            "ux_simulator_messages_outbox",
            SimulatorMessages::Table,
            &["outbox_id"],
            true,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SimulatorMessages::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SimulatorMessages {
    Table,
    Id,
    ChatId,
    MemberId,
    Sender,
    Kind,
    Body,
    Keyboard,
    ReportId,
    OutboxId,
    Mime,
    Data,
    StaffUserId,
    CreatedAt,
    UpdatedAt,
}
