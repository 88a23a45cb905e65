//! Notices (分类、分层、分批): a notice, its batches, its frozen recipient list with
//! acknowledgements, and the bot-wide send pace that several delivery workers share. The
//! outbox learns how often a row was taken again after a lease ran out, and gets the indexes
//! the per-chat pacing and the per-notice progress read.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{fk, index, path_column};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let path = path_column(manager, Notices::AreaPath);
        manager
            .create_table(
                Table::create()
                    .table(Notices::Table)
                    .col(big_pk_auto(Notices::Id))
                    .col(string(Notices::Title))
                    .col(text(Notices::Body))
                    .col(string_null(Notices::AttachmentName))
                    .col(string_null(Notices::AttachmentMime))
                    .col(blob_null(Notices::AttachmentData))
                    .col(text(Notices::Audience))
                    .col(text(Notices::BatchPlan))
                    .col(big_integer(Notices::AreaId))
                    .col(path)
                    .col(big_integer_null(Notices::CreatedBy))
                    .col(string(Notices::Status))
                    .col(timestamp_with_time_zone_null(Notices::RemindAt))
                    .col(integer(Notices::RemindersSent))
                    .col(timestamp_with_time_zone(Notices::CreatedAt))
                    .col(timestamp_with_time_zone(Notices::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Notices::SubmittedAt))
                    .foreign_key(&mut fk(
                        "fk_notices_area",
                        (Notices::Table, Notices::AreaId),
                        (Areas::Table, Areas::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_notices_staff",
                        (Notices::Table, Notices::CreatedBy),
                        (StaffUsers::Table, StaffUsers::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_notices_path",
            Notices::Table,
            &["area_path", "id"],
            false,
        )
        .await?;
        index(
            manager,
            "ix_notices_remind",
            Notices::Table,
            &["remind_at"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(NoticeBatches::Table)
                    .col(big_pk_auto(NoticeBatches::Id))
                    .col(big_integer(NoticeBatches::NoticeId))
                    .col(integer(NoticeBatches::Seq))
                    .col(string(NoticeBatches::Label))
                    .col(timestamp_with_time_zone(NoticeBatches::SendAt))
                    .col(integer(NoticeBatches::Recipients))
                    .foreign_key(&mut fk(
                        "fk_notice_batches_notice",
                        (NoticeBatches::Table, NoticeBatches::NoticeId),
                        (Notices::Table, Notices::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_notice_batches_seq",
            NoticeBatches::Table,
            &["notice_id", "seq"],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(NoticeRecipients::Table)
                    .col(big_pk_auto(NoticeRecipients::Id))
                    .col(big_integer(NoticeRecipients::NoticeId))
                    .col(big_integer(NoticeRecipients::BatchId))
                    .col(big_integer(NoticeRecipients::MemberId))
                    .col(boolean(NoticeRecipients::Reachable))
                    .col(timestamp_with_time_zone_null(
                        NoticeRecipients::AcknowledgedAt,
                    ))
                    .col(integer(NoticeRecipients::Reminders))
                    .foreign_key(&mut fk(
                        "fk_notice_recipients_notice",
                        (NoticeRecipients::Table, NoticeRecipients::NoticeId),
                        (Notices::Table, Notices::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_notice_recipients_batch",
                        (NoticeRecipients::Table, NoticeRecipients::BatchId),
                        (NoticeBatches::Table, NoticeBatches::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_notice_recipients_member",
                        (NoticeRecipients::Table, NoticeRecipients::MemberId),
                        (Members::Table, Members::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_notice_recipients_member",
            NoticeRecipients::Table,
            &["notice_id", "member_id"],
            true,
        )
        .await?;
        index(
            manager,
            "ix_notice_recipients_batch",
            NoticeRecipients::Table,
            &["batch_id", "member_id"],
            false,
        )
        .await?;

        // The bot-wide pace shared by every delivery worker (one row, id 1): the next free send
        // slot and the end of a flood-control pause, in microseconds since the Unix epoch.
        manager
            .create_table(
                Table::create()
                    .table(DeliveryPace::Table)
                    .col(integer(DeliveryPace::Id).primary_key())
                    .col(big_integer(DeliveryPace::NextSlotUs))
                    .col(big_integer(DeliveryPace::PausedUntilUs))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(DeliveryPace::Table)
                    .columns([
                        DeliveryPace::Id,
                        DeliveryPace::NextSlotUs,
                        DeliveryPace::PausedUntilUs,
                    ])
                    .values_panic([1.into(), 0i64.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(integer(Outbox::Retaken).default(0))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_outbox_chat",
            Outbox::Table,
            &["chat_id", "status"],
            false,
        )
        .await?;
        index(
            manager,
            "ix_outbox_notice_member",
            Outbox::Table,
            &["notice_id", "member_id"],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["ix_outbox_chat", "ix_outbox_notice_member"] {
            manager
                .drop_index(Index::drop().name(name).table(Outbox::Table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .drop_column(Outbox::Retaken)
                    .to_owned(),
            )
            .await?;
        for table in [
            DeliveryPace::Table.into_iden(),
            NoticeRecipients::Table.into_iden(),
            NoticeBatches::Table.into_iden(),
            Notices::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Notices {
    Table,
    Id,
    Title,
    Body,
    AttachmentName,
    AttachmentMime,
    AttachmentData,
    Audience,
    BatchPlan,
    AreaId,
    AreaPath,
    CreatedBy,
    Status,
    RemindAt,
    RemindersSent,
    CreatedAt,
    UpdatedAt,
    SubmittedAt,
}

#[derive(DeriveIden)]
enum NoticeBatches {
    Table,
    Id,
    NoticeId,
    Seq,
    Label,
    SendAt,
    Recipients,
}

#[derive(DeriveIden)]
enum NoticeRecipients {
    Table,
    Id,
    NoticeId,
    BatchId,
    MemberId,
    Reachable,
    AcknowledgedAt,
    Reminders,
}

#[derive(DeriveIden)]
enum DeliveryPace {
    Table,
    Id,
    NextSlotUs,
    PausedUntilUs,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Retaken,
}

#[derive(DeriveIden)]
enum Areas {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum StaffUsers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Members {
    Table,
    Id,
}
