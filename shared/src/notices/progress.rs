//! Progress of a notice: delivery counts per notice and per batch, the recipient list and its
//! CSV.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_i18n::t;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{BatchProgress, DeliveryCounts, INSERT_CHUNK, RecipientRow, get};
use crate::areas;
use crate::db;
use crate::entity::{notice, notice_batch};
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::text::spreadsheet_safe;

const STATUS_EXPR: &str =
    "CASE WHEN r.reachable = $R THEN COALESCE(o.status, 'cancelled') ELSE 'unreachable' END";

/// Recipients counted per `key` (`r.notice_id` or `r.batch_id`) and delivery status, for the
/// recipients `filter` selects.
fn counts_query(backend: DbBackend, key: &str, filter: &str) -> String {
    format!(
        "SELECT {key} AS k, {st} AS st, COUNT(*) AS n, \
         SUM(CASE WHEN r.acknowledged_at IS NULL THEN 0 ELSE 1 END) AS acked \
         FROM notice_recipients r \
         LEFT JOIN outbox o ON o.notice_id = r.notice_id AND o.member_id = r.member_id AND o.kind = 'notice' \
         WHERE {filter} GROUP BY {key}, {st}",
        st = status_expr(backend)
    )
}

fn status_expr(backend: DbBackend) -> String {
    STATUS_EXPR.replace(
        "$R",
        if backend == DbBackend::Postgres {
            "TRUE"
        } else {
            "1"
        },
    )
}

/// Delivery counts per notice, for the notices of `notice_ids` visible in `scope` (others are
/// left out). The JSON API and the notice list read these.
pub async fn delivery_counts(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    notice_ids: &[i64],
) -> CoreResult<HashMap<i64, DeliveryCounts>> {
    let mut out = HashMap::new();
    if notice_ids.is_empty() {
        return Ok(out);
    }
    let visible: Vec<i64> = notice::Entity::find()
        .select_only()
        .column(notice::Column::Id)
        .filter(notice::Column::Id.is_in(notice_ids.iter().copied()))
        .filter(scope.condition(notice::Column::AreaPath))
        .into_tuple()
        .all(conn)
        .await?;
    let backend = conn.get_database_backend();
    for chunk in visible.chunks(INSERT_CHUNK) {
        for id in chunk {
            out.insert(*id, DeliveryCounts::default());
        }
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let filter = format!("r.notice_id IN ({list})");
        let rows = db::query_all(conn, &counts_query(backend, "r.notice_id", &filter), []).await?;
        for row in rows {
            let (k, st, n, acked) = count_row(&row)?;
            out.entry(k).or_default().add(&st, n, acked);
        }
    }
    Ok(out)
}

fn count_row(row: &sea_orm::QueryResult) -> CoreResult<(i64, String, i64, i64)> {
    let k: i64 = row.try_get("", "k")?;
    let st: String = row.try_get("", "st")?;
    let n: i64 = row.try_get("", "n")?;
    let acked: i64 = match row.try_get::<Option<i64>>("", "acked") {
        Ok(v) => v.unwrap_or(0),
        // PostgreSQL sums bigints into numeric on some versions.
        Err(_) => row
            .try_get::<Option<f64>>("", "acked")
            .ok()
            .flatten()
            .unwrap_or(0.0) as i64,
    };
    Ok((k, st, n, acked))
}

/// Progress of each batch of a notice: queued / sent / failed / blocked / acknowledged.
pub async fn batch_progress(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    notice_id: i64,
) -> CoreResult<Vec<BatchProgress>> {
    get(conn, scope, notice_id).await?;
    let batches = notice_batch::Entity::find()
        .filter(notice_batch::Column::NoticeId.eq(notice_id))
        .order_by_asc(notice_batch::Column::Seq)
        .all(conn)
        .await?;
    let backend = conn.get_database_backend();
    let query = counts_query(backend, "r.batch_id", "r.notice_id = $1");
    let rows = db::query_all(conn, &query, [notice_id.into()]).await?;
    let mut counts: HashMap<i64, DeliveryCounts> = HashMap::new();
    for row in rows {
        let (k, st, n, acked) = count_row(&row)?;
        counts.entry(k).or_default().add(&st, n, acked);
    }
    Ok(batches
        .into_iter()
        .map(|b| BatchProgress {
            counts: counts.get(&b.id).copied().unwrap_or_default(),
            batch: b,
        })
        .collect())
}

/// The recipients of a notice with their status, in batch then roster order. `status`
/// filters (e.g. `unacknowledged`, `failed`); `after` and `limit` page (by recipient id).
pub async fn recipients(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    notice_id: i64,
    status: Option<&str>,
    after: Option<i64>,
    limit: u64,
) -> CoreResult<Vec<(i64, RecipientRow)>> {
    get(conn, scope, notice_id).await?;
    let backend = conn.get_database_backend();
    let st = status_expr(backend);
    let mut where_extra = String::new();
    match status {
        Some("acknowledged") => where_extra.push_str(" AND r.acknowledged_at IS NOT NULL"),
        Some("unacknowledged") => where_extra.push_str(" AND r.acknowledged_at IS NULL"),
        Some(
            s @ ("queued" | "sent" | "failed" | "blocked" | "uncertain" | "cancelled"
            | "unreachable"),
        ) => {
            if s == "queued" {
                where_extra.push_str(&format!(" AND {st} IN ('pending','sending','held')"));
            } else {
                where_extra.push_str(&format!(" AND {st} = '{s}'"));
            }
        }
        _ => {}
    }
    let rows = db::query_all(
        conn,
        &format!(
                    "SELECT r.id AS rid, m.id AS member_id, m.name AS name, m.area_path AS area_path, \
                     m.role AS role, b.seq AS seq, {st} AS st, o.last_error AS error, o.sent_at AS sent_at, \
                     r.acknowledged_at AS acknowledged_at \
                     FROM notice_recipients r \
                     JOIN members m ON m.id = r.member_id \
                     JOIN notice_batches b ON b.id = r.batch_id \
                     LEFT JOIN outbox o ON o.notice_id = r.notice_id AND o.member_id = r.member_id AND o.kind = 'notice' \
                     WHERE r.notice_id = $1 AND r.id > $2{where_extra} \
                     ORDER BY r.id LIMIT $3"
        ),
        [
            notice_id.into(),
            after.unwrap_or(0).into(),
            (limit.min(i64::MAX as u64) as i64).into(),
        ],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let raw: String = row.try_get("", "st")?;
        let status = match raw.as_str() {
            "pending" | "sending" | "held" => "queued".to_owned(),
            _ => raw,
        };
        out.push((
            row.try_get("", "rid")?,
            RecipientRow {
                member_id: row.try_get("", "member_id")?,
                name: row.try_get("", "name")?,
                area_path: row.try_get("", "area_path")?,
                role: row.try_get("", "role")?,
                batch_seq: row.try_get("", "seq")?,
                status,
                error: row.try_get("", "error")?,
                sent_at: row.try_get("", "sent_at")?,
                acknowledged_at: row.try_get("", "acknowledged_at")?,
            },
        ));
    }
    Ok(out)
}

/// Staff command: the recipient list of a notice in scope as CSV (see [`recipients_csv`]), with
/// the audit line of the export.
pub async fn export_recipients(
    db: &crate::db::Db,
    actor: &crate::lifecycle::StaffActor,
    notice_id: i64,
    locale: &str,
    ip: Option<&str>,
) -> CoreResult<Vec<u8>> {
    use crate::audit::{AuditAction, AuditTarget};
    let bytes = recipients_csv(db.conn(), &actor.scope, notice_id, locale).await?;
    let target = Some(AuditTarget::Notice(notice_id));
    crate::audit::log_alone(
        db,
        Some(actor.id),
        AuditAction::NoticeExport,
        target,
        None,
        ip,
    )
    .await?;
    Ok(bytes)
}

/// The recipient list as CSV (UTF-8 with a BOM so spreadsheet programs read the Chinese):
/// name, area, role, batch, status, sent at, acknowledged at, error. No phone numbers.
pub async fn recipients_csv(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    notice_id: i64,
    locale: &str,
) -> CoreResult<Vec<u8>> {
    let names = areas::names_in_scope(conn, scope).await?;
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let header = [
        "name",
        "area",
        "role",
        "batch",
        "status",
        "sent_at",
        "acknowledged_at",
        "error",
    ]
    .map(|k| t!(format!("notice.csv.{k}"), locale = locale).into_owned());
    let csv_err = |e: csv::Error| CoreError::Internal(format!("csv: {e}"));
    w.write_record(&header).map_err(csv_err)?;
    let mut after = None;
    loop {
        let page = recipients(conn, scope, notice_id, None, after, 2000).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        for (_, r) in &page {
            let fmt = |t: Option<DateTime<Utc>>| {
                t.map(|t| {
                    t.with_timezone(&crate::holidays::county_offset())
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or_default()
            };
            w.write_record([
                spreadsheet_safe(&r.name).as_ref(),
                spreadsheet_safe(&areas::display_path(&r.area_path, &names)).as_ref(),
                spreadsheet_safe(&r.role).as_ref(),
                &r.batch_seq.to_string(),
                &t!(format!("notice.status.{}", r.status), locale = locale),
                &fmt(r.sent_at),
                &fmt(r.acknowledged_at),
                r.error.as_deref().unwrap_or(""),
            ])
            .map_err(csv_err)?;
        }
    }
    w.into_inner()
        .map_err(|e| CoreError::Internal(format!("csv: {e}")))
}
