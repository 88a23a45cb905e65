//! `report_counts`: reports per (origin community, kind, state), maintained by the core in the
//! same transaction as every report write (see `gridline_shared::counters`), so the inbox's
//! per-state counts at county scope are a range sum over a few thousand rows. Filled here from
//! the reports that already exist (the same fold as `counters::rebuild_counters`). Also the
//! covering index that serves a dashboard period at county scope.

use std::collections::BTreeMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

use crate::helpers::path_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Path components kept in a bucket path (county, town, community); the same as
/// `gridline_shared::counters::BUCKET_DEPTH`.
const BUCKET_DEPTH: usize = 3;

fn bucket_path(origin_path: &str) -> &str {
    let mut seen = 0;
    for (i, b) in origin_path.bytes().enumerate() {
        if b == b'/' && i > 0 {
            seen += 1;
            if seen == BUCKET_DEPTH {
                return &origin_path[..=i];
            }
        }
    }
    origin_path
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReportCounts::Table)
                    .col(path_column(manager, ReportCounts::BucketPath))
                    .col(string(ReportCounts::Kind))
                    .col(string(ReportCounts::State))
                    .col(big_integer(ReportCounts::N))
                    .primary_key(
                        Index::create()
                            .col(ReportCounts::BucketPath)
                            .col(ReportCounts::Kind)
                            .col(ReportCounts::State),
                    )
                    .to_owned(),
            )
            .await?;

        // The dashboard of a period at county scope (no path range): the reports filed in the
        // period are one contiguous stretch of this index, which covers every column the
        // figures read (the older dashboard index leads with the path, so a period at county
        // scope became a skip-scan over every micro-grid).
        manager
            .create_index(
                Index::create()
                    .name("ix_reports_created_dashboard")
                    .table(Reports::Table)
                    .col(Reports::CreatedAt)
                    .col(Reports::OriginAreaPath)
                    .col(Reports::State)
                    .col(Reports::Kind)
                    .col(Reports::CategoryId)
                    .col(Reports::ResolvedOnTime)
                    .col(Reports::DueAt)
                    .col(Reports::ClosedAt)
                    .to_owned(),
            )
            .await?;

        // Existing reports.
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT origin_area_path, kind, state, COUNT(*) AS n FROM reports \
                 GROUP BY origin_area_path, kind, state",
            ))
            .await?;
        let mut counts: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        for row in rows {
            let path: String = row.try_get("", "origin_area_path")?;
            let kind: String = row.try_get("", "kind")?;
            let state: String = row.try_get("", "state")?;
            let n: i64 = row.try_get("", "n")?;
            *counts
                .entry((bucket_path(&path).to_owned(), kind, state))
                .or_default() += n;
        }
        let all: Vec<_> = counts.into_iter().collect();
        for chunk in all.chunks(500) {
            let mut insert = Query::insert();
            insert.into_table(ReportCounts::Table).columns([
                ReportCounts::BucketPath,
                ReportCounts::Kind,
                ReportCounts::State,
                ReportCounts::N,
            ]);
            for ((path, kind, state), n) in chunk {
                insert.values_panic([
                    path.clone().into(),
                    kind.clone().into(),
                    state.clone().into(),
                    (*n).into(),
                ]);
            }
            manager.exec_stmt(insert.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_reports_created_dashboard")
                    .table(Reports::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ReportCounts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ReportCounts {
    Table,
    BucketPath,
    Kind,
    State,
    N,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    CreatedAt,
    OriginAreaPath,
    State,
    Kind,
    CategoryId,
    ResolvedOnTime,
    DueAt,
    ClosedAt,
}
