//! Importing a roster into the database: the areas it names and the members in it.
//!
//! Idempotent: a member is keyed by phone number, so a second import of the same file creates
//! and changes nothing, and a corrected file updates people in place. Rows that failed
//! validation are reported and leave nothing behind (not even their areas). The whole import
//! is one transaction.
//!
//! Only members inside the importer's scope are matched by phone. A row whose phone belongs to
//! a member outside it is refused ([`Problem::RosterPhoneUnavailable`], worded so it does not
//! say the number exists) and that member is not touched: not renamed, moved or shown.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
};

use crate::areas;
use crate::audit::{self, AuditAction};
use crate::db::Db;
use crate::domain::{AreaLevel, Lang, MemberStatus};
use crate::entity::{area, member};
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::members::{generate_bind_code, tags_to_column};
use crate::problem::Problem;
use crate::roster::{BadRow, ParsedRoster, RosterError, RosterRow, parse_roster};
use crate::scope::Scope;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub rows: usize,
    pub members_new: usize,
    pub members_updated: usize,
    pub members_unchanged: usize,
    /// New areas by level (towns, communities, grids, micro-grids).
    pub areas_new: HashMap<AreaLevel, usize>,
    /// Rows refused because they lie outside the importer's scope, with their row numbers.
    pub out_of_scope_rows: Vec<usize>,
    /// Rows that failed validation (from the parser).
    pub bad: Vec<BadRow>,
    /// Rows inside the scope refused by the import, with why: a phone number that belongs to
    /// a member outside the importer's scope ([`Problem::RosterPhoneUnavailable`], worded so
    /// it does not say the number exists elsewhere).
    pub refused: Vec<Problem>,
}

impl ImportSummary {
    pub fn new_at(&self, level: AreaLevel) -> usize {
        self.areas_new.get(&level).copied().unwrap_or(0)
    }
    /// Whether any row was refused (the CLI exits non-zero then).
    pub fn has_bad_rows(&self) -> bool {
        !self.bad.is_empty() || !self.out_of_scope_rows.is_empty() || !self.refused.is_empty()
    }
    /// How many rows were refused, for whatever reason.
    pub fn refused_count(&self) -> usize {
        self.bad.len() + self.out_of_scope_rows.len() + self.refused.len()
    }
}

/// Imports parsed rows into the subtree of `scope` (the county for the CLI).
/// `progress(done, total)` is called now and then.
pub async fn import_roster(
    db: &Db,
    scope: &Scope,
    parsed: ParsedRoster,
    mut progress: impl FnMut(usize, usize),
) -> CoreResult<ImportSummary> {
    let total = parsed.rows.len();
    let txn = db.write().await?;
    let summary = import_in(&txn, scope, parsed, &mut progress).await?;
    txn.commit().await?;
    progress(total, total);
    Ok(summary)
}

/// What a roster upload did: the file was a roster and was imported, or it was not one (and
/// nothing changed).
pub type Upload = Result<ImportSummary, RosterError>;

/// Staff command: reads an uploaded roster file (CSV or XLSX) and imports it into the actor's
/// scope, with the audit line of the import (counts, or why the file was refused) in the same
/// transaction. County and town admins only.
pub async fn upload_roster(
    db: &Db,
    actor: &StaffActor,
    bytes: &[u8],
    ip: Option<&str>,
) -> CoreResult<Upload> {
    crate::staff::require_admin(actor)?;
    // Read before the write transaction: a large spreadsheet takes a while.
    let parsed = parse_roster(bytes);
    let txn = db.write().await?;
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            let detail = e.to_string();
            let action = AuditAction::RosterImportFailed;
            audit::log(&*txn, Some(actor.id), action, None, Some(&detail), ip).await?;
            txn.commit().await?;
            return Ok(Err(e));
        }
    };
    let summary = import_in(&txn, &actor.scope, parsed, &mut |_, _| {}).await?;
    let detail = format!(
        "rows {}, new {}, updated {}, unchanged {}, refused {}",
        summary.rows,
        summary.members_new,
        summary.members_updated,
        summary.members_unchanged,
        summary.refused_count()
    );
    let action = AuditAction::RosterImport;
    audit::log(&*txn, Some(actor.id), action, None, Some(&detail), ip).await?;
    txn.commit().await?;
    Ok(Ok(summary))
}

async fn import_in(
    txn: &DatabaseTransaction,
    scope: &Scope,
    parsed: ParsedRoster,
    progress: &mut impl FnMut(usize, usize),
) -> CoreResult<ImportSummary> {
    let root = areas::find_root(txn).await?.ok_or(CoreError::NotFound)?;

    // Every area known so far, by (parent, name).
    let mut by_parent_name: HashMap<(i64, String), area::Model> = HashMap::new();
    for a in area::Entity::find().all(txn).await? {
        if let Some(parent) = a.parent_id {
            by_parent_name.insert((parent, a.name.clone()), a);
        }
    }
    // Only members inside the scope are matched by phone: a row never reaches (renames, moves
    // or shows) a member outside it.
    let mut existing: HashMap<String, member::Model> = member::Entity::find()
        .filter(scope.condition(member::Column::AreaPath))
        .all(txn)
        .await?
        .into_iter()
        .map(|m| (m.phone.clone(), m))
        .collect();
    // Phones of the file held by members outside the scope (phones are unique county-wide):
    // those rows are refused.
    let phones: Vec<String> = parsed
        .rows
        .iter()
        .map(|r| r.phone.as_str().to_owned())
        .filter(|p| !existing.contains_key(p))
        .collect();
    let mut elsewhere: HashSet<String> = HashSet::new();
    for chunk in phones.chunks(500) {
        let found: Vec<String> = member::Entity::find()
            .select_only()
            .column(member::Column::Phone)
            .filter(member::Column::Phone.is_in(chunk.iter().cloned()))
            .filter(ExprTrait::not(scope.condition(member::Column::AreaPath)))
            .into_tuple()
            .all(txn)
            .await?;
        elsewhere.extend(found);
    }
    let mut codes: HashSet<String> = member::Entity::find()
        .select_only()
        .column(member::Column::BindCode)
        .into_tuple::<String>()
        .all(txn)
        .await?
        .into_iter()
        .collect();

    let mut summary = ImportSummary {
        rows: parsed.rows.len() + parsed.bad.len(),
        bad: parsed.bad,
        ..Default::default()
    };
    let total = parsed.rows.len();
    let now = Utc::now();
    let mut inserts: Vec<member::ActiveModel> = Vec::new();

    for (i, row) in parsed.rows.into_iter().enumerate() {
        if i % 250 == 0 {
            progress(i, total);
        }
        if elsewhere.contains(row.phone.as_str()) {
            // Said the same way whatever the number's owner; nothing is created for the row.
            if row_in_scope(root.clone(), scope, &row, &by_parent_name) {
                let problem = Problem::RosterPhoneUnavailable { row: row.row };
                summary.refused.push(problem);
            } else {
                summary.out_of_scope_rows.push(row.row);
            }
            continue;
        }
        let Some(micro) =
            resolve_row_area(txn, &root, scope, &row, &mut by_parent_name, &mut summary).await?
        else {
            summary.out_of_scope_rows.push(row.row);
            continue;
        };
        let tags = tags_to_column(&row.tags);
        match existing.get(row.phone.as_str()) {
            Some(m) => {
                if m.name == row.name
                    && m.role == row.role
                    && m.tags == tags
                    && m.area_id == micro.id
                {
                    summary.members_unchanged += 1;
                    continue;
                }
                let mut active: member::ActiveModel = m.clone().into();
                active.name = Set(row.name.clone());
                active.role = Set(row.role.clone());
                active.tags = Set(tags);
                active.area_id = Set(micro.id);
                active.area_path = Set(micro.path.clone());
                active.updated_at = Set(now);
                let updated = active.update(txn).await?;
                existing.insert(updated.phone.clone(), updated);
                summary.members_updated += 1;
            }
            None => {
                let code = loop {
                    let c = generate_bind_code();
                    if codes.insert(c.clone()) {
                        break c;
                    }
                };
                inserts.push(member::ActiveModel {
                    name: Set(row.name.clone()),
                    phone: Set(row.phone.as_str().to_owned()),
                    role: Set(row.role.clone()),
                    tags: Set(tags),
                    area_id: Set(micro.id),
                    area_path: Set(micro.path.clone()),
                    bind_code: Set(code),
                    telegram_user_id: Set(None),
                    telegram_chat_id: Set(None),
                    language: Set(Lang::Zh),
                    status: Set(MemberStatus::Active),
                    bound_at: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                });
                summary.members_new += 1;
            }
        }
    }
    // Batched inserts: 17 columns × 500 rows stays well under both backends' parameter limits.
    for chunk in inserts.chunks(500) {
        member::Entity::insert_many(chunk.to_vec())
            .exec(txn)
            .await?;
    }
    Ok(summary)
}

/// Whether the row's area chain lies inside `scope` (or would, once created), without creating
/// anything: the same decision as [`resolve_row_area`].
fn row_in_scope(
    root: area::Model,
    scope: &Scope,
    row: &RosterRow,
    known: &HashMap<(i64, String), area::Model>,
) -> bool {
    let mut current = root;
    for name in [&row.town, &row.community, &row.grid, &row.micro_grid] {
        match known.get(&(current.id, name.clone())) {
            Some(a) => current = a.clone(),
            // The rest would be created below `current`.
            None => return scope.contains(&current.path),
        }
    }
    scope.contains(&current.path)
}

/// Finds or creates the town → community → grid → micro-grid chain of a row; `None` when the
/// chain leaves the importer's scope (nothing is created then).
async fn resolve_row_area(
    txn: &DatabaseTransaction,
    root: &area::Model,
    scope: &Scope,
    row: &RosterRow,
    known: &mut HashMap<(i64, String), area::Model>,
    summary: &mut ImportSummary,
) -> CoreResult<Option<area::Model>> {
    let names = [&row.town, &row.community, &row.grid, &row.micro_grid];
    let mut current = root.clone();
    let mut level = AreaLevel::County;
    for name in names {
        level = level.child().unwrap_or(AreaLevel::MicroGrid);
        let key = (current.id, name.clone());
        current = match known.get(&key) {
            Some(a) => a.clone(),
            None => {
                // Creating below an area the importer may not touch would leak out of scope.
                if !scope.contains(&current.path) {
                    return Ok(None);
                }
                let created = areas::insert_child(txn, Some(&current), level, name).await?;
                *summary.areas_new.entry(level).or_default() += 1;
                known.insert(key, created.clone());
                created
            }
        };
    }
    if !scope.contains(&current.path) {
        return Ok(None);
    }
    Ok(Some(current))
}
