//! The foundation: areas, members, staff users, categories, holidays, reports with their
//! timeline and attachments, and the outgoing-message queue.

use crate::helpers::{fk, index, path_column};
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
                    .table(Areas::Table)
                    .col(big_pk_auto(Areas::Id))
                    .col(big_integer_null(Areas::ParentId))
                    .col(small_integer(Areas::Level))
                    .col(string(Areas::Name))
                    .col(path_column(manager, Areas::Path))
                    .col(timestamp_with_time_zone(Areas::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_areas_parent",
                        (Areas::Table, Areas::ParentId),
                        (Areas::Table, Areas::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_areas_parent_name",
            Areas::Table,
            &["parent_id", "name"],
            true,
        )
        .await?;
        index(manager, "ix_areas_path", Areas::Table, &["path"], true).await?;
        index(manager, "ix_areas_level", Areas::Table, &["level"], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(Members::Table)
                    .col(big_pk_auto(Members::Id))
                    .col(string(Members::Name))
                    .col(string(Members::Phone))
                    .col(string(Members::Role))
                    .col(string(Members::Tags))
                    .col(big_integer(Members::AreaId))
                    .col(path_column(manager, Members::AreaPath))
                    .col(string(Members::BindCode))
                    .col(big_integer_null(Members::TelegramUserId))
                    .col(big_integer_null(Members::TelegramChatId))
                    .col(string(Members::Language))
                    .col(string(Members::Status))
                    .col(timestamp_with_time_zone_null(Members::BoundAt))
                    .col(timestamp_with_time_zone(Members::CreatedAt))
                    .col(timestamp_with_time_zone(Members::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_members_area",
                        (Members::Table, Members::AreaId),
                        (Areas::Table, Areas::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_members_phone",
            Members::Table,
            &["phone"],
            true,
        )
        .await?;
        index(
            manager,
            "ux_members_bind_code",
            Members::Table,
            &["bind_code"],
            true,
        )
        .await?;
        index(
            manager,
            "ux_members_telegram_user",
            Members::Table,
            &["telegram_user_id"],
            true,
        )
        .await?;
        index(
            manager,
            "ix_members_area_path",
            Members::Table,
            &["area_path", "id"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(StaffUsers::Table)
                    .col(big_pk_auto(StaffUsers::Id))
                    .col(string(StaffUsers::Username))
                    .col(string(StaffUsers::DisplayName))
                    .col(string(StaffUsers::PasswordHash))
                    .col(string(StaffUsers::Role))
                    .col(big_integer(StaffUsers::AreaId))
                    .col(path_column(manager, StaffUsers::AreaPath))
                    .col(boolean(StaffUsers::Active))
                    .col(boolean(StaffUsers::MustChangePassword))
                    .col(timestamp_with_time_zone(StaffUsers::CreatedAt))
                    .col(timestamp_with_time_zone_null(StaffUsers::LastLoginAt))
                    .foreign_key(&mut fk(
                        "fk_staff_area",
                        (StaffUsers::Table, StaffUsers::AreaId),
                        (Areas::Table, Areas::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_staff_username",
            StaffUsers::Table,
            &["username"],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Categories::Table)
                    .col(big_pk_auto(Categories::Id))
                    .col(big_integer_null(Categories::ParentId))
                    .col(string(Categories::Code))
                    .col(string(Categories::NameZh))
                    .col(string(Categories::NameEn))
                    .col(integer(Categories::SortOrder))
                    .col(string_null(Categories::AcceptNormal))
                    .col(string_null(Categories::AcceptUrgent))
                    .col(string_null(Categories::AcceptCritical))
                    .col(string_null(Categories::HandleNormal))
                    .col(string_null(Categories::HandleUrgent))
                    .col(string_null(Categories::HandleCritical))
                    .col(boolean(Categories::Active))
                    .foreign_key(&mut fk(
                        "fk_categories_parent",
                        (Categories::Table, Categories::ParentId),
                        (Categories::Table, Categories::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_categories_code",
            Categories::Table,
            &["code"],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Holidays::Table)
                    .col(date(Holidays::Day).primary_key())
                    .col(string(Holidays::Kind))
                    .col(string(Holidays::Name))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Reports::Table)
                    .col(big_pk_auto(Reports::Id))
                    .col(string(Reports::Kind))
                    .col(string(Reports::State))
                    .col(big_integer_null(Reports::CategoryId))
                    .col(string(Reports::Urgency))
                    .col(text(Reports::Description))
                    .col(big_integer_null(Reports::ReporterMemberId))
                    .col(big_integer(Reports::OriginAreaId))
                    .col(path_column(manager, Reports::OriginAreaPath))
                    .col(big_integer(Reports::HandlingAreaId))
                    .col(path_column(manager, Reports::HandlingAreaPath))
                    .col(big_integer_null(Reports::AssigneeStaffId))
                    .col(big_integer_null(Reports::AssigneeMemberId))
                    .col(double_null(Reports::Latitude))
                    .col(double_null(Reports::Longitude))
                    .col(text_null(Reports::Address))
                    .col(text_null(Reports::PeopleInvolved))
                    .col(text_null(Reports::Household))
                    .col(integer_null(Reports::HouseholdCount))
                    .col(string_null(Reports::VisitMethod))
                    .col(text_null(Reports::Topics))
                    .col(boolean_null(Reports::ResolvedOnSpot))
                    .col(big_integer_null(Reports::ParentReportId))
                    .col(text_null(Reports::ResidentName))
                    .col(string_null(Reports::ResidentPhone))
                    .col(string_null(Reports::ReturnReason))
                    .col(text_null(Reports::ReasonNote))
                    .col(big_integer_null(Reports::DuplicateOf))
                    .col(small_integer(Reports::EscalationLevel))
                    .col(boolean(Reports::Simulated))
                    .col(string_null(Reports::IdempotencyKey))
                    .col(timestamp_with_time_zone(Reports::CreatedAt))
                    .col(timestamp_with_time_zone(Reports::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Reports::SubmittedAt))
                    .col(timestamp_with_time_zone_null(Reports::AcceptedAt))
                    .col(timestamp_with_time_zone_null(Reports::ResolvedAt))
                    .col(timestamp_with_time_zone_null(Reports::ClosedAt))
                    .col(timestamp_with_time_zone_null(Reports::ClockStartedAt))
                    .col(timestamp_with_time_zone_null(Reports::WarnAt))
                    .col(timestamp_with_time_zone_null(Reports::DueAt))
                    .foreign_key(&mut fk(
                        "fk_reports_category",
                        (Reports::Table, Reports::CategoryId),
                        (Categories::Table, Categories::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_reports_reporter",
                        (Reports::Table, Reports::ReporterMemberId),
                        (Members::Table, Members::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_reports_origin_area",
                        (Reports::Table, Reports::OriginAreaId),
                        (Areas::Table, Areas::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_reports_handling_area",
                        (Reports::Table, Reports::HandlingAreaId),
                        (Areas::Table, Areas::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_reports_assignee_staff",
                        (Reports::Table, Reports::AssigneeStaffId),
                        (StaffUsers::Table, StaffUsers::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_reports_assignee_member",
                        (Reports::Table, Reports::AssigneeMemberId),
                        (Members::Table, Members::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_reports_parent",
                        (Reports::Table, Reports::ParentReportId),
                        (Reports::Table, Reports::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_reports_duplicate_of",
                        (Reports::Table, Reports::DuplicateOf),
                        (Reports::Table, Reports::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_reports_origin_path",
            Reports::Table,
            &["origin_area_path", "id"],
            false,
        )
        .await?;
        index(
            manager,
            "ix_reports_handling_path",
            Reports::Table,
            &["handling_area_path", "id"],
            false,
        )
        .await?;
        index(
            manager,
            "ix_reports_state",
            Reports::Table,
            &["state", "id"],
            false,
        )
        .await?;
        index(
            manager,
            "ix_reports_due",
            Reports::Table,
            &["due_at"],
            false,
        )
        .await?;
        index(
            manager,
            "ix_reports_reporter",
            Reports::Table,
            &["reporter_member_id", "id"],
            false,
        )
        .await?;
        index(
            manager,
            "ix_reports_assignee_member",
            Reports::Table,
            &["assignee_member_id"],
            false,
        )
        .await?;
        index(
            manager,
            "ux_reports_idempotency",
            Reports::Table,
            &["idempotency_key"],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ReportEvents::Table)
                    .col(big_pk_auto(ReportEvents::Id))
                    .col(big_integer(ReportEvents::ReportId))
                    .col(timestamp_with_time_zone(ReportEvents::At))
                    .col(string(ReportEvents::ActorKind))
                    .col(big_integer_null(ReportEvents::ActorStaffId))
                    .col(big_integer_null(ReportEvents::ActorMemberId))
                    .col(string(ReportEvents::Action))
                    .col(string_null(ReportEvents::FromState))
                    .col(string_null(ReportEvents::ToState))
                    .col(text_null(ReportEvents::Note))
                    .col(boolean(ReportEvents::Public))
                    .col(boolean(ReportEvents::Simulated))
                    .foreign_key(&mut fk(
                        "fk_events_report",
                        (ReportEvents::Table, ReportEvents::ReportId),
                        (Reports::Table, Reports::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_events_staff",
                        (ReportEvents::Table, ReportEvents::ActorStaffId),
                        (StaffUsers::Table, StaffUsers::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_events_member",
                        (ReportEvents::Table, ReportEvents::ActorMemberId),
                        (Members::Table, Members::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_events_report",
            ReportEvents::Table,
            &["report_id", "id"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Attachments::Table)
                    .col(big_pk_auto(Attachments::Id))
                    .col(big_integer(Attachments::ReportId))
                    .col(big_integer_null(Attachments::EventId))
                    .col(string(Attachments::Kind))
                    .col(string_null(Attachments::TelegramFileId))
                    .col(string_null(Attachments::TelegramFileUniqueId))
                    .col(string_null(Attachments::Mime))
                    .col(string_null(Attachments::FileName))
                    .col(big_integer_null(Attachments::Size))
                    .col(blob_null(Attachments::Data))
                    .col(timestamp_with_time_zone(Attachments::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_attachments_report",
                        (Attachments::Table, Attachments::ReportId),
                        (Reports::Table, Reports::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_attachments_event",
                        (Attachments::Table, Attachments::EventId),
                        (ReportEvents::Table, ReportEvents::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_attachments_report",
            Attachments::Table,
            &["report_id"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    .col(string(Outbox::Kind))
                    .col(small_integer(Outbox::Priority))
                    .col(big_integer_null(Outbox::MemberId))
                    .col(big_integer(Outbox::ChatId))
                    .col(big_integer_null(Outbox::ReportId))
                    .col(big_integer_null(Outbox::NoticeId))
                    .col(text(Outbox::Payload))
                    .col(string_null(Outbox::DedupeKey))
                    .col(string(Outbox::Status))
                    .col(integer(Outbox::Attempts))
                    .col(timestamp_with_time_zone(Outbox::NotBefore))
                    .col(string_null(Outbox::LeaseOwner))
                    .col(timestamp_with_time_zone_null(Outbox::LeaseUntil))
                    .col(text_null(Outbox::LastError))
                    .col(big_integer_null(Outbox::TelegramMessageId))
                    .col(boolean(Outbox::Simulated))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::SentAt))
                    .foreign_key(&mut fk(
                        "fk_outbox_member",
                        (Outbox::Table, Outbox::MemberId),
                        (Members::Table, Members::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_outbox_report",
                        (Outbox::Table, Outbox::ReportId),
                        (Reports::Table, Reports::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_outbox_ready",
            Outbox::Table,
            &["status", "priority", "not_before", "id"],
            false,
        )
        .await?;
        index(
            manager,
            "ux_outbox_dedupe",
            Outbox::Table,
            &["dedupe_key"],
            true,
        )
        .await?;
        index(
            manager,
            "ix_outbox_notice",
            Outbox::Table,
            &["notice_id", "status"],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Outbox::Table.into_iden(),
            Attachments::Table.into_iden(),
            ReportEvents::Table.into_iden(),
            Reports::Table.into_iden(),
            Holidays::Table.into_iden(),
            Categories::Table.into_iden(),
            StaffUsers::Table.into_iden(),
            Members::Table.into_iden(),
            Areas::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Areas {
    Table,
    Id,
    ParentId,
    Level,
    Name,
    Path,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Members {
    Table,
    Id,
    Name,
    Phone,
    Role,
    Tags,
    AreaId,
    AreaPath,
    BindCode,
    TelegramUserId,
    TelegramChatId,
    Language,
    Status,
    BoundAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StaffUsers {
    Table,
    Id,
    Username,
    DisplayName,
    PasswordHash,
    Role,
    AreaId,
    AreaPath,
    Active,
    MustChangePassword,
    CreatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
    ParentId,
    Code,
    NameZh,
    NameEn,
    SortOrder,
    AcceptNormal,
    AcceptUrgent,
    AcceptCritical,
    HandleNormal,
    HandleUrgent,
    HandleCritical,
    Active,
}

#[derive(DeriveIden)]
enum Holidays {
    Table,
    Day,
    Kind,
    Name,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    Kind,
    State,
    CategoryId,
    Urgency,
    Description,
    ReporterMemberId,
    OriginAreaId,
    OriginAreaPath,
    HandlingAreaId,
    HandlingAreaPath,
    AssigneeStaffId,
    AssigneeMemberId,
    Latitude,
    Longitude,
    Address,
    PeopleInvolved,
    Household,
    HouseholdCount,
    VisitMethod,
    Topics,
    ResolvedOnSpot,
    ParentReportId,
    ResidentName,
    ResidentPhone,
    ReturnReason,
    ReasonNote,
    DuplicateOf,
    EscalationLevel,
    Simulated,
    IdempotencyKey,
    CreatedAt,
    UpdatedAt,
    SubmittedAt,
    AcceptedAt,
    ResolvedAt,
    ClosedAt,
    ClockStartedAt,
    WarnAt,
    DueAt,
}

#[derive(DeriveIden)]
enum ReportEvents {
    Table,
    Id,
    ReportId,
    At,
    ActorKind,
    ActorStaffId,
    ActorMemberId,
    Action,
    FromState,
    ToState,
    Note,
    Public,
    Simulated,
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Id,
    ReportId,
    EventId,
    Kind,
    TelegramFileId,
    TelegramFileUniqueId,
    Mime,
    FileName,
    Size,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Kind,
    Priority,
    MemberId,
    ChatId,
    ReportId,
    NoticeId,
    Payload,
    DedupeKey,
    Status,
    Attempts,
    NotBefore,
    LeaseOwner,
    LeaseUntil,
    LastError,
    TelegramMessageId,
    Simulated,
    CreatedAt,
    SentAt,
}
