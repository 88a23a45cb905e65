//! Exports of the reports an inbox filter selects: one row per report, its number first, as
//! CSV or XLSX. Scoped like everything else (a report outside the scope is never read), and
//! residents' contacts masked unless the caller asks and may see them.
//!
//! Rows are read in batches by report number (keyset), so a CSV export of any size runs in
//! bounded memory: the panel streams it a batch at a time ([`CsvExport`]). An XLSX export is
//! refused above a row cap (the panel's `xlsx_max_rows`, at most [`MAX_XLSX_ROWS`]) before
//! anything is read, and its sheet is written in rust_xlsxwriter's constant-memory mode (rows
//! go to a temporary file; only the finished, compressed file is held).

use std::collections::HashMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use rust_i18n::t;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::areas;
use crate::audit::{self, AuditAction};
use crate::calendar::Light;
use crate::db::Db;
use crate::domain::{Phone, StaffRole};
use crate::entity::{category, report};
use crate::error::{CoreError, CoreResult};
use crate::holidays::local_time;
use crate::inbox::{self, InboxFilter};
use crate::lifecycle::StaffActor;
use crate::problem::Problem;
use crate::scope::Scope;

/// Reports read per query.
const BATCH: u64 = 1000;
/// Most rows an XLSX export may ever hold (a sheet has 1,048,576).
pub const MAX_XLSX_ROWS: u64 = 1_000_000;
/// Most rows an XLSX export holds unless configured otherwise.
pub const DEFAULT_XLSX_ROWS: u64 = 100_000;

/// Whether a role may see residents' contacts unmasked in an export (a viewer never may).
pub fn may_unmask(role: StaffRole) -> bool {
    matches!(
        role,
        StaffRole::CountyAdmin | StaffRole::TownAdmin | StaffRole::Secretary
    )
}

/// Who exports: a staff user (their role decides about unmasking) or the command line (an
/// operator with the database in hand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exporter {
    Staff(StaffRole),
    CommandLine,
}

/// What to export and how.
#[derive(Clone, Debug)]
pub struct ExportRequest<'a> {
    pub scope: &'a Scope,
    pub filter: &'a InboxFilter,
    /// Show residents' names and phones in full (refused unless the exporter may).
    pub unmask: bool,
    /// Language of the header and of the labels (kind, state…).
    pub locale: &'a str,
    /// For the deadline light.
    pub now: DateTime<Utc>,
}

/// One exported line. Everything is text as shown to a person, except the number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRow {
    /// The report number (`#123` on the receipt).
    pub number: i64,
    pub kind: String,
    pub state: String,
    pub category: String,
    pub urgency: String,
    /// Where it comes from: names below the county (`晋原街道/长乐社区/…`).
    pub area: String,
    /// County-local `YYYY-MM-DD HH:MM`.
    pub created: String,
    pub due: String,
    pub light: String,
    pub description: String,
    pub address: String,
    pub resident_name: String,
    pub resident_phone: String,
    /// `模拟` / `Simulated` for a report filed in the chat simulator, else empty.
    pub simulated: String,
}

impl ExportRow {
    fn cells(&self) -> [&str; 13] {
        [
            &self.kind,
            &self.state,
            &self.category,
            &self.urgency,
            &self.area,
            &self.created,
            &self.due,
            &self.light,
            &self.description,
            &self.address,
            &self.resident_name,
            &self.resident_phone,
            &self.simulated,
        ]
    }
}

/// Column keys in order (the number first); `export.column.<key>` holds the header text.
pub const COLUMNS: [&str; 14] = [
    "number",
    "kind",
    "state",
    "category",
    "urgency",
    "area",
    "created",
    "due",
    "light",
    "description",
    "address",
    "resident_name",
    "resident_phone",
    "simulated",
];

/// The header row in `locale`.
pub fn header(locale: &str) -> Vec<String> {
    COLUMNS
        .iter()
        .map(|c| t!(format!("export.column.{c}"), locale = locale).into_owned())
        .collect()
}

/// Receives rows as they are read.
pub trait RowSink {
    fn row(&mut self, row: &ExportRow) -> CoreResult<()>;
}

/// Reads the selected reports in number order and hands each row to `sink`; returns how many.
pub async fn export_reports(
    db: &impl ConnectionTrait,
    exporter: Exporter,
    req: &ExportRequest<'_>,
    sink: &mut impl RowSink,
) -> CoreResult<u64> {
    if req.unmask
        && let Exporter::Staff(role) = exporter
        && !may_unmask(role)
    {
        return Err(CoreError::Forbidden(Problem::MayNotUnmask));
    }
    let cond = filter_condition(db, req.scope, req.filter, req.now).await?;
    let categories: HashMap<i64, category::Model> = category::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut after: Option<i64> = None;
    let mut count = 0u64;
    loop {
        let mut q = report::Entity::find().filter(cond.clone());
        if let Some(id) = after {
            q = q.filter(report::Column::Id.gt(id));
        }
        let batch = q
            .order_by_asc(report::Column::Id)
            .limit(BATCH)
            .all(db)
            .await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        let names =
            areas::area_names(db, batch.iter().map(|r| r.origin_area_path.as_str())).await?;
        let style = RowStyle {
            unmask: req.unmask,
            locale: req.locale,
            now: req.now,
        };
        for r in &batch {
            let row = to_row(r, style, &categories, &names);
            sink.row(&row)?;
            count += 1;
        }
        if (batch.len() as u64) < BATCH {
            break;
        }
    }
    Ok(count)
}

/// How rows are said: contacts in full or masked, the language, the time for the light.
#[derive(Clone, Copy)]
struct RowStyle<'a> {
    unmask: bool,
    locale: &'a str,
    now: DateTime<Utc>,
}

fn to_row(
    r: &report::Model,
    req: RowStyle<'_>,
    categories: &HashMap<i64, category::Model>,
    names: &HashMap<i64, crate::entity::area::Model>,
) -> ExportRow {
    let locale = req.locale;
    let category = r
        .category_id
        .and_then(|id| categories.get(&id))
        .map(|c| {
            let parent = c.parent_id.and_then(|p| categories.get(&p));
            match parent {
                Some(p) => format!("{}/{}", p.label(locale), c.label(locale)),
                None => c.label(locale).to_owned(),
            }
        })
        .unwrap_or_default();
    let light = inbox::light_of(r, req.now)
        .map(|l| light_label(l, locale))
        .unwrap_or_default();
    let (resident_name, resident_phone) = if req.unmask {
        (
            r.resident_name.clone().unwrap_or_default(),
            r.resident_phone.clone().unwrap_or_default(),
        )
    } else {
        (
            r.resident_name
                .as_deref()
                .map(mask_name)
                .unwrap_or_default(),
            r.resident_phone
                .as_deref()
                .map(mask_phone)
                .unwrap_or_default(),
        )
    };
    ExportRow {
        number: r.id,
        kind: t!(format!("report.kind.{}", r.kind.code()), locale = locale).into_owned(),
        state: t!(r.state.i18n_key(), locale = locale).into_owned(),
        category,
        urgency: t!(
            format!("report.urgency.{}", r.urgency.code()),
            locale = locale
        )
        .into_owned(),
        area: areas::display_path(&r.origin_area_path, names),
        created: local_time(r.created_at),
        due: r.due_at.map(local_time).unwrap_or_default(),
        light,
        description: r.description.clone(),
        address: r.address.clone().unwrap_or_default(),
        resident_name,
        resident_phone,
        simulated: if r.simulated {
            t!("export.simulated", locale = locale).into_owned()
        } else {
            String::new()
        },
    }
}

pub fn light_label(light: Light, locale: &str) -> String {
    t!(format!("export.light.{}", light.as_str()), locale = locale).into_owned()
}

/// `199****0563` for a mobile number; anything else keeps at most its first 3 and last 2
/// characters.
pub fn mask_phone(raw: &str) -> String {
    if let Ok(p) = Phone::parse(raw) {
        return p.masked();
    }
    let chars: Vec<char> = raw.trim().chars().collect();
    if chars.len() <= 5 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 5))
}

/// `张**`: the first character, then one star per hidden character.
pub fn mask_name(raw: &str) -> String {
    let mut chars = raw.trim().chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// The filter (the inbox's, applied the same way)

/// The WHERE clause of an inbox filter inside `scope`: the inbox's own, so an export holds
/// exactly the rows the inbox lists.
pub use crate::inbox::filter_condition;

// ---------------------------------------------------------------------------------------------
// Writers

/// Writes CSV: the header, then one line per row.
pub struct CsvSink<W: Write> {
    writer: csv::Writer<W>,
    /// Prefix text cells that a spreadsheet would take for a formula (`=`, `+`, `-`, `@`).
    defuse_formulas: bool,
}

impl<W: Write> CsvSink<W> {
    /// `excel`: start with a UTF-8 byte order mark (so Excel on Chinese Windows reads the
    /// file right) and defuse formula-like cells. Leave it off for machines.
    pub fn new(mut out: W, locale: &str, excel: bool) -> CoreResult<CsvSink<W>> {
        if excel {
            out.write_all("\u{FEFF}".as_bytes()).map_err(io_err)?;
        }
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(header(locale)).map_err(csv_err)?;
        Ok(CsvSink {
            writer,
            defuse_formulas: excel,
        })
    }

    /// Rows only (no byte-order mark, no header; formulas defused): a later part of a file
    /// started by [`CsvSink::new`] with `excel`.
    pub fn rows_only(out: W) -> CsvSink<W> {
        CsvSink {
            writer: csv::Writer::from_writer(out),
            defuse_formulas: true,
        }
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(self) -> CoreResult<W> {
        self.writer
            .into_inner()
            .map_err(|e| CoreError::Internal(format!("csv: {}", e.error())))
    }
}

impl<W: Write> RowSink for CsvSink<W> {
    fn row(&mut self, row: &ExportRow) -> CoreResult<()> {
        let number = row.number.to_string();
        let mut record: Vec<std::borrow::Cow<'_, str>> = Vec::with_capacity(COLUMNS.len());
        record.push(number.as_str().into());
        for cell in row.cells() {
            record.push(if self.defuse_formulas {
                crate::text::spreadsheet_safe(cell)
            } else {
                cell.into()
            });
        }
        self.writer
            .write_record(record.iter().map(|c| c.as_ref()))
            .map_err(csv_err)
    }
}

fn io_err(e: std::io::Error) -> CoreError {
    CoreError::Internal(format!("write: {e}"))
}

fn csv_err(e: csv::Error) -> CoreError {
    CoreError::Internal(format!("csv: {e}"))
}

/// Builds an XLSX workbook: one sheet, a bold frozen header, the number as a number.
pub struct XlsxSink {
    workbook: rust_xlsxwriter::Workbook,
    next_row: u32,
    max_rows: u64,
}

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> CoreError {
    CoreError::Internal(format!("xlsx: {e}"))
}

impl XlsxSink {
    /// A workbook of at most [`MAX_XLSX_ROWS`] rows.
    pub fn new(locale: &str) -> CoreResult<XlsxSink> {
        XlsxSink::with_max_rows(locale, MAX_XLSX_ROWS)
    }

    /// A workbook of at most `max_rows` rows (a further row is refused with
    /// [`Problem::TooManyRowsForXlsx`]). Rows go to a temporary file as they come.
    pub fn with_max_rows(locale: &str, max_rows: u64) -> CoreResult<XlsxSink> {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook
            .add_worksheet_with_constant_memory()
            .map_err(xlsx_err)?;
        sheet
            .set_name(t!("export.sheet_name", locale = locale))
            .map_err(xlsx_err)?;
        let bold = rust_xlsxwriter::Format::new().set_bold();
        for (col, title) in header(locale).iter().enumerate() {
            sheet
                .write_string_with_format(0, col as u16, title, &bold)
                .map_err(xlsx_err)?;
        }
        sheet.set_freeze_panes(1, 0).map_err(xlsx_err)?;
        for (col, width) in [8, 6, 8, 18, 6, 36, 17, 17, 6, 50, 30, 10, 14]
            .into_iter()
            .enumerate()
        {
            sheet
                .set_column_width(col as u16, f64::from(width))
                .map_err(xlsx_err)?;
        }
        Ok(XlsxSink {
            workbook,
            next_row: 1,
            max_rows: max_rows.min(MAX_XLSX_ROWS),
        })
    }

    /// The workbook's bytes.
    pub fn finish(mut self) -> CoreResult<Vec<u8>> {
        self.workbook.save_to_buffer().map_err(xlsx_err)
    }
}

impl RowSink for XlsxSink {
    fn row(&mut self, row: &ExportRow) -> CoreResult<()> {
        if u64::from(self.next_row) > self.max_rows {
            return Err(CoreError::Invalid(Problem::TooManyRowsForXlsx {
                max: self.max_rows,
            }));
        }
        let r = self.next_row;
        let sheet = self.workbook.worksheet_from_index(0).map_err(xlsx_err)?;
        sheet
            .write_number(r, 0, row.number as f64)
            .map_err(xlsx_err)?;
        for (i, cell) in row.cells().iter().enumerate() {
            if !cell.is_empty() {
                // Strings, never formulas: text from the field cannot run in the sheet.
                sheet
                    .write_string(r, i as u16 + 1, *cell)
                    .map_err(xlsx_err)?;
            }
        }
        self.next_row += 1;
        Ok(())
    }
}

/// Collects rows in memory (tests, small API answers).
#[derive(Default)]
pub struct VecSink(pub Vec<ExportRow>);

impl RowSink for VecSink {
    fn row(&mut self, row: &ExportRow) -> CoreResult<()> {
        self.0.push(row.clone());
        Ok(())
    }
}

/// The file format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// UTF-8 with a byte-order mark (Excel opens it as such).
    Csv,
    Xlsx,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }
}

/// Staff command: the selected reports of the actor's scope as a file, and the audit line of
/// the export (its format and row count, never its content). Asking to unmask residents'
/// contacts without a role that may is refused and audited as such. The whole file in memory:
/// the panel streams CSV with [`staff_export_stream`] instead.
#[allow(clippy::too_many_arguments)]
pub async fn staff_export(
    db: &Db,
    actor: &StaffActor,
    filter: &InboxFilter,
    unmask: bool,
    format: ExportFormat,
    locale: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<Vec<u8>> {
    let opts = ExportOptions {
        unmask,
        format,
        locale,
        xlsx_max_rows: DEFAULT_XLSX_ROWS,
    };
    match staff_export_stream(db, actor, filter, opts, ip, now).await? {
        ExportBody::Whole(bytes) => Ok(bytes),
        ExportBody::Csv(mut csv) => {
            let mut out = Vec::new();
            while let Some(chunk) = csv.next_chunk().await? {
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        }
    }
}

/// How a staff export is asked for.
#[derive(Clone, Copy, Debug)]
pub struct ExportOptions<'a> {
    /// Residents' contacts in full (refused unless the role may).
    pub unmask: bool,
    pub format: ExportFormat,
    pub locale: &'a str,
    /// An XLSX export of more rows is refused (at most [`MAX_XLSX_ROWS`]).
    pub xlsx_max_rows: u64,
}

/// An export ready to send: CSV comes batch by batch, XLSX whole (bounded by its row cap).
pub enum ExportBody {
    Csv(CsvExport),
    Whole(Vec<u8>),
}

/// Staff command: checks the actor may export what they ask, writes the audit line (format,
/// row count at the start, masked or not) and returns the export — a CSV to be read batch by
/// batch ([`CsvExport::next_chunk`]), or an XLSX file, refused with
/// [`Problem::TooManyRowsForXlsx`] before anything is built when the selection holds more
/// rows than `xlsx_max_rows`.
pub async fn staff_export_stream(
    db: &Db,
    actor: &StaffActor,
    filter: &InboxFilter,
    opts: ExportOptions<'_>,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<ExportBody> {
    let ExportOptions {
        unmask,
        format,
        locale,
        xlsx_max_rows,
    } = opts;
    if unmask && !may_unmask(actor.role) {
        let action = AuditAction::ExportRefused;
        audit::log_alone(db, Some(actor.id), action, None, Some("unmask"), ip).await?;
        return Err(CoreError::Forbidden(Problem::MayNotUnmask));
    }
    let cond = filter_condition(db.conn(), &actor.scope, filter, now).await?;
    let count = report::Entity::find()
        .filter(cond.clone())
        .count(db.conn())
        .await?;
    let max = xlsx_max_rows.min(MAX_XLSX_ROWS);
    if format == ExportFormat::Xlsx && count > max {
        let action = AuditAction::ExportRefused;
        let detail = format!("xlsx, {count} rows over {max}");
        audit::log_alone(db, Some(actor.id), action, None, Some(&detail), ip).await?;
        return Err(CoreError::Invalid(Problem::TooManyRowsForXlsx { max }));
    }
    let detail = format!(
        "{}, {count} rows, contacts {}",
        format.extension(),
        if unmask { "unmasked" } else { "masked" }
    );
    audit::log_alone(
        db,
        Some(actor.id),
        AuditAction::ExportReports,
        None,
        Some(&detail),
        ip,
    )
    .await?;
    let req = ExportRequest {
        scope: &actor.scope,
        filter,
        unmask,
        locale,
        now,
    };
    let exporter = Exporter::Staff(actor.role);
    match format {
        ExportFormat::Csv => Ok(ExportBody::Csv(CsvExport {
            db: db.clone(),
            cond,
            categories: None,
            after: None,
            header: true,
            done: false,
            unmask,
            locale: locale.to_owned(),
            now,
        })),
        ExportFormat::Xlsx => {
            let mut sink = XlsxSink::with_max_rows(locale, max)?;
            export_reports(db.conn(), exporter, &req, &mut sink).await?;
            Ok(ExportBody::Whole(sink.finish()?))
        }
    }
}

/// A CSV export read one batch of reports at a time (UTF-8 with a byte-order mark, formulas
/// defused, as [`CsvSink`] writes for Excel): the whole file is never in memory.
pub struct CsvExport {
    db: Db,
    cond: Condition,
    categories: Option<HashMap<i64, category::Model>>,
    after: Option<i64>,
    header: bool,
    done: bool,
    unmask: bool,
    locale: String,
    now: DateTime<Utc>,
}

impl CsvExport {
    /// The next part of the file (the header first), `None` at the end.
    pub async fn next_chunk(&mut self) -> CoreResult<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let conn = self.db.conn();
        if self.categories.is_none() {
            self.categories = Some(
                category::Entity::find()
                    .all(conn)
                    .await?
                    .into_iter()
                    .map(|c| (c.id, c))
                    .collect(),
            );
        }
        let mut q = report::Entity::find().filter(self.cond.clone());
        if let Some(id) = self.after {
            q = q.filter(report::Column::Id.gt(id));
        }
        let batch = q
            .order_by_asc(report::Column::Id)
            .limit(BATCH)
            .all(conn)
            .await?;
        if (batch.len() as u64) < BATCH {
            self.done = true;
        }
        let names =
            areas::area_names(conn, batch.iter().map(|r| r.origin_area_path.as_str())).await?;
        let mut sink = if self.header {
            self.header = false;
            CsvSink::new(Vec::new(), &self.locale, true)?
        } else {
            CsvSink::rows_only(Vec::new())
        };
        let style = RowStyle {
            unmask: self.unmask,
            locale: &self.locale,
            now: self.now,
        };
        let categories = self.categories.as_ref().ok_or(CoreError::NotFound)?;
        for r in &batch {
            sink.row(&to_row(r, style, categories, &names))?;
        }
        if let Some(last) = batch.last() {
            self.after = Some(last.id);
        }
        let bytes = sink.finish()?;
        if bytes.is_empty() {
            return Ok(None);
        }
        Ok(Some(bytes))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn masking() {
        assert_eq!(mask_phone("19900000563"), "199****0563");
        assert_eq!(mask_phone("+86 199 0000 0563"), "199****0563");
        assert_eq!(mask_phone("028-8888888"), "028******88");
        assert_eq!(mask_phone("123"), "***");
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("李"), "李*");
        assert_eq!(mask_name(" "), "");
        assert!(!may_unmask(StaffRole::Viewer));
        assert!(may_unmask(StaffRole::Secretary));
    }

    #[test]
    fn csv_with_formula_defused() {
        let mut sink = CsvSink::new(Vec::new(), "en", true).unwrap();
        let row = ExportRow {
            number: 7,
            kind: "Incident".into(),
            state: "Submitted".into(),
            category: String::new(),
            urgency: "Normal".into(),
            area: "A/B".into(),
            created: "2026-03-02 10:00".into(),
            due: String::new(),
            light: String::new(),
            description: "=HYPERLINK(\"x\")".into(),
            address: "3栋, 2单元".into(),
            resident_name: String::new(),
            resident_phone: String::new(),
            simulated: String::new(),
        };
        sink.row(&row).unwrap();
        let text = String::from_utf8(sink.finish().unwrap()).unwrap();
        let text = text.strip_prefix('\u{FEFF}').unwrap();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("number,"));
        let line = lines.next().unwrap();
        assert!(line.starts_with("7,Incident,"), "{line}");
        assert!(line.contains("'=HYPERLINK"), "{line}");
        assert!(line.contains("\"3栋, 2单元\""), "{line}");
    }
}
