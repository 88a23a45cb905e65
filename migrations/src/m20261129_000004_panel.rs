//! The panel: database-backed login sessions, the audit log of every staff action, and the
//! response templates offered when replying to a reporter.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use crate::helpers::{fk, index, path_column_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (locale, title, body, sort order)
const TEMPLATES: &[(&str, &str, &str, i32)] = &[
    (
        "zh-CN",
        "已收到",
        "您好，您反映的情况我们已收到，正在安排处理，请耐心等待。",
        10,
    ),
    (
        "zh-CN",
        "已派人处理",
        "您好，我们已安排工作人员前往现场处理，处理结果会及时告知您。",
        20,
    ),
    (
        "zh-CN",
        "请补充信息",
        "您好，为便于处理，请补充具体地点和现场照片，谢谢配合。",
        30,
    ),
    (
        "zh-CN",
        "已处理完毕",
        "您好，您反映的问题已处理完毕，感谢您对社区工作的支持！",
        40,
    ),
    (
        "en",
        "Received",
        "Hello, we have received your report and are arranging for it to be handled. Thank you for your patience.",
        10,
    ),
    (
        "en",
        "Staff sent",
        "Hello, we have sent staff to the site. We will tell you the result as soon as possible.",
        20,
    ),
    (
        "en",
        "Need more details",
        "Hello, to handle this please add the exact location and a photo of the site. Thank you.",
        30,
    ),
    (
        "en",
        "Done",
        "Hello, the problem you reported has been dealt with. Thank you for supporting the community!",
        40,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PanelSessions::Table)
                    // SHA-256 (hex) of the cookie value: the database never holds a usable id.
                    .col(string(PanelSessions::Id).primary_key())
                    .col(big_integer_null(PanelSessions::StaffId))
                    .col(string(PanelSessions::CsrfToken))
                    .col(timestamp_with_time_zone(PanelSessions::CreatedAt))
                    .col(timestamp_with_time_zone(PanelSessions::LastSeenAt))
                    .col(timestamp_with_time_zone(PanelSessions::ExpiresAt))
                    .col(string_null(PanelSessions::Ip))
                    .foreign_key(&mut fk(
                        "fk_panel_sessions_staff",
                        (PanelSessions::Table, PanelSessions::StaffId),
                        (StaffUsers::Table, StaffUsers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_panel_sessions_staff",
            PanelSessions::Table,
            &["staff_id"],
            false,
        )
        .await?;
        index(
            manager,
            "ix_panel_sessions_expires",
            PanelSessions::Table,
            &["expires_at"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_pk_auto(AuditLog::Id))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(big_integer_null(AuditLog::StaffId))
                    // Snapshot of the actor's scope path, so the log itself can be scoped.
                    .col(path_column_null(manager, AuditLog::AreaPath))
                    .col(string(AuditLog::Action))
                    .col(string_null(AuditLog::Target))
                    .col(text_null(AuditLog::Detail))
                    .col(string_null(AuditLog::Ip))
                    .foreign_key(&mut fk(
                        "fk_audit_staff",
                        (AuditLog::Table, AuditLog::StaffId),
                        (StaffUsers::Table, StaffUsers::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_audit_area_path",
            AuditLog::Table,
            &["area_path", "id"],
            false,
        )
        .await?;
        index(
            manager,
            "ix_audit_staff",
            AuditLog::Table,
            &["staff_id", "id"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ResponseTemplates::Table)
                    .col(big_pk_auto(ResponseTemplates::Id))
                    .col(string(ResponseTemplates::Locale))
                    .col(string(ResponseTemplates::Title))
                    .col(text(ResponseTemplates::Body))
                    .col(integer(ResponseTemplates::SortOrder))
                    .col(boolean(ResponseTemplates::Active))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "INSERT INTO response_templates (locale, title, body, sort_order, active) \
                 VALUES ($1, $2, $3, $4, TRUE)"
            }
            _ => {
                "INSERT INTO response_templates (locale, title, body, sort_order, active) \
                 VALUES (?, ?, ?, ?, 1)"
            }
        };
        for (locale, title, body, order) in TEMPLATES {
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [
                    Value::from(*locale),
                    Value::from(*title),
                    Value::from(*body),
                    Value::from(*order),
                ],
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ResponseTemplates::Table.into_iden(),
            AuditLog::Table.into_iden(),
            PanelSessions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum StaffUsers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PanelSessions {
    Table,
    Id,
    StaffId,
    CsrfToken,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    Ip,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    StaffId,
    AreaPath,
    Action,
    Target,
    Detail,
    Ip,
}

#[derive(DeriveIden)]
enum ResponseTemplates {
    Table,
    Id,
    Locale,
    Title,
    Body,
    SortOrder,
    Active,
}
