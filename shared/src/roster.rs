//! Reading a roster upload: the county's list of micro-grid leaders.
//!
//! [`parse_roster`] takes the bytes of an uploaded file (CSV in UTF-8, GBK or UTF-16, or an Excel
//! workbook) and returns every data row either as a validated [`RosterRow`] or as a [`BadRow`]
//! with the reason, in file order. It is pure: no database, no file system.
//!
//! XLSX and XLSB sheets are read cell by cell (never into a grid as large as the cells' extent:
//! a 1.5 KB file with cells at A1 and XFD1048576 would ask for rows × columns); a sheet with
//! cells beyond [`MAX_SHEET_ROWS`], [`MAX_SHEET_COLUMNS`] or [`MAX_SHEET_CELLS`] is refused
//! ([`RosterError::TooLarge`]).
//!
//! Row numbers are the ones a clerk sees in Excel: the header is row 1 (when it is on the first
//! line) and blank lines count, so "row 5" is the fifth line of the sheet.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader, Xls, Xlsb, Xlsx, open_workbook_auto_from_rs, open_workbook_from_rs};
use serde::Serialize;

use crate::domain::phone::{Phone, PhoneError};

/// The role given to a person when the file has no role column (or the cell is empty).
pub const DEFAULT_ROLE: &str = "微网格长";

/// Most rows a roster spreadsheet may reach (a county roster has a few thousand).
pub const MAX_SHEET_ROWS: usize = 100_000;
/// Most columns a roster spreadsheet may reach.
pub const MAX_SHEET_COLUMNS: usize = 100;
/// Most non-empty cells read from a roster spreadsheet.
pub const MAX_SHEET_CELLS: usize = 1_000_000;

/// How many non-blank rows from the top are searched for the header (to allow a title row).
const HEADER_SCAN_ROWS: usize = 10;

/// What kind of file the roster came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum RosterFormat {
    /// CSV (comma or tab separated) in UTF-8, with or without a BOM.
    CsvUtf8,
    /// CSV (comma or tab separated) in GBK / GB18030, as Excel on Chinese Windows saves it.
    CsvGbk,
    /// Text in UTF-16 with a byte-order mark, as Excel's "Unicode text" (tab separated) saves it.
    CsvUtf16,
    /// A spreadsheet read with calamine: XLSX (also legacy XLS, XLSB or ODS).
    Xlsx,
}

/// One of the four area columns, from the top of the tree down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AreaColumn {
    Town,
    Community,
    Grid,
    MicroGrid,
}

impl AreaColumn {
    /// The column's name for a person reading `locale`.
    pub fn label(self, locale: &str) -> String {
        Field::from(self).label(locale)
    }
}

/// A valid roster line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RosterRow {
    /// 1-based row number in the sheet (the header is row 1, the first data row row 2).
    pub row: usize,
    pub town: String,
    pub community: String,
    pub grid: String,
    pub micro_grid: String,
    pub name: String,
    pub phone: Phone,
    /// [`DEFAULT_ROLE`] when the file has no role column or the cell is empty.
    pub role: String,
    /// Split on `、 , ， ; ； /` and whitespace; no empties, no repeats, file order.
    pub tags: Vec<String>,
}

/// Why a line was rejected. Only the first problem of a line is reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum BadRowReason {
    MissingName,
    MissingPhone,
    /// `value` is the cell as written (trimmed).
    MalformedPhone {
        value: String,
    },
    /// The same number appeared on an earlier accepted row, `first_row`, which stays good.
    DuplicatePhone {
        first_row: usize,
    },
    EmptyArea {
        column: AreaColumn,
    },
    /// CSV only: the line does not have as many fields as the header (often a stray comma).
    WrongFieldCount {
        expected: usize,
        found: usize,
    },
}

/// A rejected line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadRow {
    /// 1-based row number in the sheet, as in [`RosterRow::row`].
    pub row: usize,
    pub reason: BadRowReason,
}

impl BadRow {
    /// One line for a clerk, e.g. `第5行：手机号格式不正确（12345）` or
    /// `row 5: malformed phone number (12345)`.
    pub fn message(&self, locale: &str) -> String {
        let row = self.row;
        match &self.reason {
            BadRowReason::MissingName => {
                rust_i18n::t!("roster.bad.missing_name", locale = locale, row = row)
            }
            BadRowReason::MissingPhone => {
                rust_i18n::t!("roster.bad.missing_phone", locale = locale, row = row)
            }
            BadRowReason::MalformedPhone { value } => rust_i18n::t!(
                "roster.bad.malformed_phone",
                locale = locale,
                row = row,
                value = shorten(value, 40)
            ),
            BadRowReason::DuplicatePhone { first_row } => rust_i18n::t!(
                "roster.bad.duplicate_phone",
                locale = locale,
                row = row,
                first_row = first_row
            ),
            BadRowReason::EmptyArea { column } => rust_i18n::t!(
                "roster.bad.empty_area",
                locale = locale,
                row = row,
                column = column.label(locale)
            ),
            BadRowReason::WrongFieldCount { expected, found } => rust_i18n::t!(
                "roster.bad.wrong_field_count",
                locale = locale,
                row = row,
                expected = expected,
                found = found
            ),
        }
        .into_owned()
    }
}

/// The outcome of reading a roster whose header was understood.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParsedRoster {
    pub format: RosterFormat,
    /// Accepted rows, in file order.
    pub rows: Vec<RosterRow>,
    /// Rejected rows, in file order.
    pub bad: Vec<BadRow>,
}

/// Why a file could not be read as a roster at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    #[error("the file is empty")]
    Empty,
    /// Binary, undecodable, or neither CSV nor a spreadsheet.
    #[error("the file is not a CSV or spreadsheet roster")]
    NotARoster,
    /// The workbook is encrypted with a password.
    #[error("the workbook is password protected")]
    PasswordProtected,
    /// `found`: the non-empty cells of the row taken for the header; `missing`: the required
    /// columns not found, by their Chinese header names (`镇街`, `村社区`, `网格`, `微网格`,
    /// `微网格长`, `手机号`).
    #[error("unknown header: found {found:?}, missing {missing:?}")]
    UnknownHeader {
        found: Vec<String>,
        missing: Vec<String>,
    },
    /// The spreadsheet was recognised but could not be read.
    #[error("could not read the spreadsheet: {0}")]
    Spreadsheet(String),
    #[error("the header is there but no data rows follow")]
    NoDataRows,
    /// A spreadsheet with cells beyond [`MAX_SHEET_ROWS`] rows, [`MAX_SHEET_COLUMNS`] columns
    /// or [`MAX_SHEET_CELLS`] cells (read cell by cell: the size is never allocated).
    #[error("the spreadsheet is too large")]
    TooLarge,
}

impl RosterError {
    /// A message for a clerk, in `locale`.
    pub fn message(&self, locale: &str) -> String {
        match self {
            RosterError::Empty => rust_i18n::t!("roster.error.empty", locale = locale).into_owned(),
            RosterError::NotARoster => {
                rust_i18n::t!("roster.error.not_a_roster", locale = locale).into_owned()
            }
            RosterError::PasswordProtected => {
                rust_i18n::t!("roster.error.password_protected", locale = locale).into_owned()
            }
            RosterError::UnknownHeader { found, missing } => {
                let sep = list_separator(locale);
                let missing = missing
                    .iter()
                    .map(|m| {
                        Field::from_canonical(m).map_or_else(|| m.clone(), |f| f.label(locale))
                    })
                    .collect::<Vec<_>>()
                    .join(sep);
                let shown = found
                    .iter()
                    .take(20)
                    .map(|f| shorten(f, 40))
                    .collect::<Vec<_>>()
                    .join(sep);
                let mut msg = rust_i18n::t!(
                    "roster.error.unknown_header",
                    locale = locale,
                    missing = missing,
                    found = shown
                )
                .into_owned();
                if found.iter().any(|f| f.contains('，')) {
                    msg.push_str(&rust_i18n::t!(
                        "roster.error.full_width_comma_hint",
                        locale = locale
                    ));
                }
                msg
            }
            RosterError::Spreadsheet(detail) => rust_i18n::t!(
                "roster.error.spreadsheet",
                locale = locale,
                detail = shorten(detail, 200)
            )
            .into_owned(),
            RosterError::NoDataRows => {
                rust_i18n::t!("roster.error.no_data_rows", locale = locale).into_owned()
            }
            RosterError::TooLarge => crate::problem::Problem::SpreadsheetTooLarge {
                max_rows: MAX_SHEET_ROWS,
                max_columns: MAX_SHEET_COLUMNS,
            }
            .message(locale),
        }
    }
}

/// Reads a roster upload. See the module docs.
pub fn parse_roster(bytes: &[u8]) -> Result<ParsedRoster, RosterError> {
    let (format, sheet) = read_sheet(bytes)?;
    build(format, &sheet)
}

// ---------------------------------------------------------------------------------------------
// Columns

/// Every column the roster knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Town,
    Community,
    Grid,
    MicroGrid,
    Name,
    Phone,
    Tags,
    Role,
}

const REQUIRED: [Field; 6] = [
    Field::Town,
    Field::Community,
    Field::Grid,
    Field::MicroGrid,
    Field::Name,
    Field::Phone,
];

impl From<AreaColumn> for Field {
    fn from(c: AreaColumn) -> Field {
        match c {
            AreaColumn::Town => Field::Town,
            AreaColumn::Community => Field::Community,
            AreaColumn::Grid => Field::Grid,
            AreaColumn::MicroGrid => Field::MicroGrid,
        }
    }
}

impl Field {
    /// The header the county's own roster uses.
    fn canonical(self) -> &'static str {
        match self {
            Field::Town => "镇街",
            Field::Community => "村社区",
            Field::Grid => "网格",
            Field::MicroGrid => "微网格",
            Field::Name => "微网格长",
            Field::Phone => "手机号",
            Field::Tags => "标签",
            Field::Role => "角色",
        }
    }

    fn from_canonical(s: &str) -> Option<Field> {
        [
            Field::Town,
            Field::Community,
            Field::Grid,
            Field::MicroGrid,
            Field::Name,
            Field::Phone,
            Field::Tags,
            Field::Role,
        ]
        .into_iter()
        .find(|f| f.canonical() == s)
    }

    fn label(self, locale: &str) -> String {
        match self {
            Field::Town => rust_i18n::t!("roster.column.town", locale = locale),
            Field::Community => rust_i18n::t!("roster.column.community", locale = locale),
            Field::Grid => rust_i18n::t!("roster.column.grid", locale = locale),
            Field::MicroGrid => rust_i18n::t!("roster.column.micro_grid", locale = locale),
            Field::Name => rust_i18n::t!("roster.column.name", locale = locale),
            Field::Phone => rust_i18n::t!("roster.column.phone", locale = locale),
            Field::Tags => rust_i18n::t!("roster.column.tags", locale = locale),
            Field::Role => rust_i18n::t!("roster.column.role", locale = locale),
        }
        .into_owned()
    }

    /// Recognises a header cell. Case, whitespace, brackets, `*` (the "required" mark of many
    /// templates) and `_ - /` are ignored, so `镇（街道）`, `*姓名`, `Micro-Grid` all match.
    fn from_header(cell: &str) -> Option<Field> {
        let key: String = cell
            .chars()
            .filter(|c| {
                !c.is_whitespace()
                    && !matches!(
                        c,
                        '*' | '＊' | '(' | ')' | '（' | '）' | ':' | '：' | '_' | '-' | '/' | '／'
                    )
            })
            .flat_map(char::to_lowercase)
            .collect();
        Some(match key.as_str() {
            "镇街" | "镇" | "街道" | "乡镇" | "镇街道" | "乡镇街道" | "街镇" | "town"
            | "township" => Field::Town,
            "村社区" | "村" | "社区" | "社区村" | "村居" | "community" | "village" => {
                Field::Community
            }
            "网格" | "grid" => Field::Grid,
            "微网格" | "microgrid" => Field::MicroGrid,
            "微网格长" | "姓名" | "微网格长姓名" | "name" => Field::Name,
            "手机号" | "手机" | "电话" | "联系电话" | "手机号码" | "电话号码" | "联系方式"
            | "phone" | "mobile" | "phonenumber" => Field::Phone,
            "标签" | "tags" | "tag" => Field::Tags,
            "角色" | "职务" | "role" => Field::Role,
            _ => return None,
        })
    }
}

/// Where each column is. Required ones are `Some` once the header is accepted.
#[derive(Default)]
struct Columns {
    town: Option<usize>,
    community: Option<usize>,
    grid: Option<usize>,
    micro_grid: Option<usize>,
    name: Option<usize>,
    phone: Option<usize>,
    tags: Option<usize>,
    role: Option<usize>,
}

impl Columns {
    fn from_header(cells: &[String]) -> Columns {
        let mut cols = Columns::default();
        for (i, cell) in cells.iter().enumerate() {
            if let Some(field) = Field::from_header(cell) {
                let slot = cols.slot(field);
                // The first column of a kind wins; later duplicates are ignored.
                if slot.is_none() {
                    *slot = Some(i);
                }
            }
        }
        cols
    }

    fn slot(&mut self, field: Field) -> &mut Option<usize> {
        match field {
            Field::Town => &mut self.town,
            Field::Community => &mut self.community,
            Field::Grid => &mut self.grid,
            Field::MicroGrid => &mut self.micro_grid,
            Field::Name => &mut self.name,
            Field::Phone => &mut self.phone,
            Field::Tags => &mut self.tags,
            Field::Role => &mut self.role,
        }
    }

    fn get(&self, field: Field) -> Option<usize> {
        match field {
            Field::Town => self.town,
            Field::Community => self.community,
            Field::Grid => self.grid,
            Field::MicroGrid => self.micro_grid,
            Field::Name => self.name,
            Field::Phone => self.phone,
            Field::Tags => self.tags,
            Field::Role => self.role,
        }
    }

    fn missing(&self) -> Vec<Field> {
        REQUIRED
            .into_iter()
            .filter(|f| self.get(*f).is_none())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the sheet

/// A non-blank line of the file, cells cleaned.
struct SheetRow {
    /// 1-based row number in the sheet.
    row: usize,
    cells: Vec<String>,
}

struct Sheet {
    rows: Vec<SheetRow>,
    /// CSV only: whether field counts are meaningful (a spreadsheet is always rectangular).
    check_width: bool,
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

fn read_sheet(bytes: &[u8]) -> Result<(RosterFormat, Sheet), RosterError> {
    if bytes.starts_with(ZIP_MAGIC) || bytes.starts_with(OLE_MAGIC) {
        let rows = read_spreadsheet(bytes)?;
        return Ok((
            RosterFormat::Xlsx,
            Sheet {
                rows,
                check_width: false,
            },
        ));
    }
    let utf16 = if bytes.starts_with(b"\xFF\xFE") {
        Some(encoding_rs::UTF_16LE)
    } else if bytes.starts_with(b"\xFE\xFF") {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    };
    if let Some(encoding) = utf16 {
        let (text, had_errors) = encoding.decode_with_bom_removal(bytes);
        if had_errors || looks_binary(&text) || text.contains('\0') {
            return Err(RosterError::NotARoster);
        }
        if text.chars().all(char::is_whitespace) {
            return Err(RosterError::Empty);
        }
        let rows = read_csv(&text)?;
        return Ok((
            RosterFormat::CsvUtf16,
            Sheet {
                rows,
                check_width: true,
            },
        ));
    }
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(RosterError::Empty);
    }
    if bytes.contains(&0) {
        return Err(RosterError::NotARoster);
    }
    let (format, text) = match std::str::from_utf8(bytes) {
        Ok(text) => (RosterFormat::CsvUtf8, std::borrow::Cow::Borrowed(text)),
        Err(_) => {
            match encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes) {
                Some(text) => (RosterFormat::CsvGbk, text),
                None => return Err(RosterError::NotARoster),
            }
        }
    };
    if looks_binary(&text) {
        return Err(RosterError::NotARoster);
    }
    let rows = read_csv(&text)?;
    Ok((
        format,
        Sheet {
            rows,
            check_width: true,
        },
    ))
}

/// More than 5% control characters (other than tab and line breaks) means this is not text.
fn looks_binary(text: &str) -> bool {
    let mut total = 0usize;
    let mut control = 0usize;
    for c in text.chars() {
        total += 1;
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            control += 1;
        }
    }
    control * 20 > total
}

/// Comma unless the first non-blank line has more tabs than commas. The full-width `，` is
/// never a delimiter.
fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().find(|l| !clean(l).is_empty()).unwrap_or("");
    let tabs = first.matches('\t').count();
    let commas = first.matches(',').count();
    if tabs > commas { b'\t' } else { b',' }
}

fn read_csv(text: &str) -> Result<Vec<SheetRow>, RosterError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(text))
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut rows = Vec::new();
    // The csv reader skips empty lines without a record, but they are rows in Excel. Count the
    // line breaks between the end of the previous record (the reader stops just after the first
    // byte of a record's terminator) and the start of this one.
    let bytes = text.as_bytes();
    let mut prev_end: usize = 0;
    let mut sheet_row: usize = 0;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => return Err(RosterError::NotARoster),
        }
        sheet_row += 1 + blank_lines_between(bytes, prev_end);
        prev_end = usize::try_from(reader.position().byte()).unwrap_or(bytes.len());

        let cells: Vec<String> = record.iter().map(clean).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        rows.push(SheetRow {
            row: sheet_row,
            cells,
        });
    }
    if rows.is_empty() {
        return Err(RosterError::Empty);
    }
    Ok(rows)
}

/// How many empty lines start at `from`, the end of the previous record (or 0).
fn blank_lines_between(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    // The rest of the previous record's CRLF terminator.
    if i > 0 && bytes.get(i - 1) == Some(&b'\r') && bytes.get(i) == Some(&b'\n') {
        i += 1;
    }
    let mut count = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'\r' | b'\n' => i += 1,
            _ => break,
        }
        count += 1;
    }
    count
}

fn read_spreadsheet(bytes: &[u8]) -> Result<Vec<SheetRow>, RosterError> {
    // An encrypted XLSX is an OLE container: tell the clerk about the password.
    if bytes.starts_with(OLE_MAGIC) {
        match open_workbook_from_rs::<Xlsx<_>, _>(Cursor::new(bytes)) {
            Err(calamine::XlsxError::Password) => return Err(RosterError::PasswordProtected),
            _ => {
                if let Err(calamine::XlsError::Password) =
                    open_workbook_from_rs::<Xls<_>, _>(Cursor::new(bytes))
                {
                    return Err(RosterError::PasswordProtected);
                }
            }
        }
    }
    // XLSX and XLSB are read cell by cell, never into a grid as large as the cells' extent:
    // two cells at A1 and XFD1048576 would otherwise allocate rows × columns.
    if bytes.starts_with(ZIP_MAGIC) {
        if let Ok(mut book) = open_workbook_from_rs::<Xlsx<_>, _>(Cursor::new(bytes)) {
            let name = first_sheet(book.sheet_names())?;
            let mut reader = book
                .worksheet_cells_reader(&name)
                .map_err(spreadsheet_err)?;
            let mut sheet = SparseSheet::default();
            while let Some(cell) = reader.next_cell().map_err(spreadsheet_err)? {
                sheet.add(cell.get_position(), cell.get_value().clone().into())?;
            }
            return sheet.into_rows();
        }
        if let Ok(mut book) = open_workbook_from_rs::<Xlsb<_>, _>(Cursor::new(bytes)) {
            let name = first_sheet(book.sheet_names())?;
            let mut reader = book
                .worksheet_cells_reader(&name)
                .map_err(spreadsheet_err)?;
            let mut sheet = SparseSheet::default();
            while let Some(cell) = reader.next_cell().map_err(spreadsheet_err)? {
                sheet.add(cell.get_position(), cell.get_value().clone().into())?;
            }
            return sheet.into_rows();
        }
    }
    // Legacy XLS (at most 65,536 × 256 by its format) and ODS: calamine reads them whole.
    // A zip or OLE file that no reader accepts is something else (a Word file, an archive).
    let mut workbook =
        open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|_| RosterError::NotARoster)?;
    let range = match workbook.worksheet_range_at(0) {
        Some(Ok(range)) => range,
        Some(Err(e)) => return Err(RosterError::Spreadsheet(e.to_string())),
        None => {
            return Err(RosterError::Spreadsheet(
                "the workbook has no worksheet".into(),
            ));
        }
    };
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let mut sheet = SparseSheet::default();
    for (row, col, cell) in range.used_cells() {
        let (Ok(row), Ok(col)) = (u32::try_from(row), u32::try_from(col)) else {
            return Err(RosterError::TooLarge);
        };
        sheet.add((row0 + row, col0 + col), cell.clone())?;
    }
    sheet.into_rows()
}

fn first_sheet(names: Vec<String>) -> Result<String, RosterError> {
    names
        .into_iter()
        .next()
        .ok_or_else(|| RosterError::Spreadsheet("the workbook has no worksheet".into()))
}

fn spreadsheet_err(e: impl std::fmt::Display) -> RosterError {
    RosterError::Spreadsheet(e.to_string())
}

/// The non-empty cells of a sheet by row, bounded by [`MAX_SHEET_ROWS`],
/// [`MAX_SHEET_COLUMNS`] and [`MAX_SHEET_CELLS`].
#[derive(Default)]
struct SparseSheet {
    rows: std::collections::BTreeMap<u32, Vec<(u32, String)>>,
    cells: usize,
}

impl SparseSheet {
    /// Adds a cell at its 0-based (row, column); empty cells are skipped wherever they are.
    fn add(&mut self, (row, col): (u32, u32), value: Data) -> Result<(), RosterError> {
        let text = cell_text(&value);
        if text.is_empty() {
            return Ok(());
        }
        self.cells += 1;
        if row as usize >= MAX_SHEET_ROWS
            || col as usize >= MAX_SHEET_COLUMNS
            || self.cells > MAX_SHEET_CELLS
        {
            return Err(RosterError::TooLarge);
        }
        self.rows.entry(row).or_default().push((col, text));
        Ok(())
    }

    /// The rows in order (row numbers as Excel shows them), each as wide as its last cell.
    fn into_rows(self) -> Result<Vec<SheetRow>, RosterError> {
        let mut rows = Vec::with_capacity(self.rows.len());
        for (row, cells) in self.rows {
            let width = cells
                .iter()
                .map(|(c, _)| *c as usize + 1)
                .max()
                .unwrap_or(0);
            let mut dense = vec![String::new(); width];
            for (col, text) in cells {
                dense[col as usize] = text;
            }
            rows.push(SheetRow {
                row: row as usize + 1,
                cells: dense,
            });
        }
        if rows.is_empty() {
            return Err(RosterError::Empty);
        }
        Ok(rows)
    }
}

/// A spreadsheet cell as text. Whole numbers lose their `.0`, so a phone typed into a number
/// cell (`19900000563.0`) reads `19900000563`.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => clean(s),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 => {
            format!("{f:.0}")
        }
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::Error(_) => String::new(),
        other => clean(&other.to_string()),
    }
}

/// Removes zero-width and control characters (other than tab and line breaks) anywhere and
/// whitespace (including `\r`, full-width and no-break spaces) at both ends.
fn clean(s: &str) -> String {
    let s: String = s
        .chars()
        .filter(|c| {
            !matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
                && (!c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        })
        .collect();
    s.trim().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Validating

fn build(format: RosterFormat, sheet: &Sheet) -> Result<ParsedRoster, RosterError> {
    let (header_at, cols) = find_header(&sheet.rows)?;
    let header = &sheet.rows[header_at];
    // The header as written may end with empty cells (a trailing comma); lines must reach the
    // last named column and may not have text beyond the header's width.
    let width = header.cells.len();
    let used = header
        .cells
        .iter()
        .rposition(|c| !c.is_empty())
        .map_or(0, |i| i + 1);

    let data = &sheet.rows[header_at + 1..];
    if data.is_empty() {
        return Err(RosterError::NoDataRows);
    }

    let mut rows = Vec::new();
    let mut bad = Vec::new();
    let mut seen: HashMap<Phone, usize> = HashMap::new();
    for line in data {
        match check_row(
            line,
            &cols,
            sheet.check_width.then_some((width, used)),
            &seen,
        ) {
            Ok(row) => {
                seen.insert(row.phone.clone(), row.row);
                rows.push(row);
            }
            Err(reason) => bad.push(BadRow {
                row: line.row,
                reason,
            }),
        }
    }
    Ok(ParsedRoster { format, rows, bad })
}

/// The header is the first of the top rows that names every required column. When none does,
/// the error shows the row that came closest.
fn find_header(rows: &[SheetRow]) -> Result<(usize, Columns), RosterError> {
    let mut best: Option<(usize, usize)> = None; // (index, columns recognised)
    for (i, row) in rows.iter().enumerate().take(HEADER_SCAN_ROWS) {
        let cols = Columns::from_header(&row.cells);
        let missing = cols.missing();
        if missing.is_empty() {
            return Ok((i, cols));
        }
        let score = REQUIRED.len() - missing.len();
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((i, score));
        }
    }
    let at = best.map_or(0, |(i, _)| i);
    let row = rows.get(at).map_or(&[][..], |r| &r.cells[..]);
    Err(RosterError::UnknownHeader {
        found: row.iter().filter(|c| !c.is_empty()).cloned().collect(),
        missing: Columns::from_header(row)
            .missing()
            .into_iter()
            .map(|f| f.canonical().to_owned())
            .collect(),
    })
}

fn check_row(
    line: &SheetRow,
    cols: &Columns,
    width: Option<(usize, usize)>,
    seen: &HashMap<Phone, usize>,
) -> Result<RosterRow, BadRowReason> {
    let found = line.cells.len();
    if let Some((width, used)) = width {
        let extra_text = line.cells.iter().skip(width).any(|c| !c.is_empty());
        if found < used || extra_text {
            return Err(BadRowReason::WrongFieldCount {
                expected: width,
                found,
            });
        }
    }
    let cell = |field: Field| -> &str {
        cols.get(field)
            .and_then(|i| line.cells.get(i))
            .map_or("", String::as_str)
    };
    for column in [
        AreaColumn::Town,
        AreaColumn::Community,
        AreaColumn::Grid,
        AreaColumn::MicroGrid,
    ] {
        if cell(column.into()).is_empty() {
            return Err(BadRowReason::EmptyArea { column });
        }
    }
    let name = cell(Field::Name);
    if name.is_empty() {
        return Err(BadRowReason::MissingName);
    }
    let raw_phone = cell(Field::Phone);
    let phone = match Phone::parse(raw_phone) {
        Ok(p) => p,
        Err(PhoneError::Empty) => return Err(BadRowReason::MissingPhone),
        Err(PhoneError::Malformed) => {
            return Err(BadRowReason::MalformedPhone {
                value: raw_phone.to_owned(),
            });
        }
    };
    if let Some(&first_row) = seen.get(&phone) {
        return Err(BadRowReason::DuplicatePhone { first_row });
    }
    let role = match cell(Field::Role) {
        "" => DEFAULT_ROLE,
        r => r,
    };
    Ok(RosterRow {
        row: line.row,
        town: cell(Field::Town).to_owned(),
        community: cell(Field::Community).to_owned(),
        grid: cell(Field::Grid).to_owned(),
        micro_grid: cell(Field::MicroGrid).to_owned(),
        name: name.to_owned(),
        phone,
        role: role.to_owned(),
        tags: split_tags(cell(Field::Tags)),
    })
}

/// Splits a tag cell on `、 , ， ; ； /` and whitespace, dropping empties and repeats.
pub fn split_tags(cell: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in cell.split(|c: char| {
        c.is_whitespace() || matches!(c, '、' | ',' | '，' | ';' | '；' | '/' | '／')
    }) {
        let tag = clean(tag);
        if !tag.is_empty() && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags
}

fn list_separator(locale: &str) -> &'static str {
    if locale.starts_with("zh") {
        "、"
    } else {
        ", "
    }
}

/// At most `max` characters, with `…` when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ZH_HEADER: &str = "镇街,村社区,网格,微网格,微网格长,手机号,标签";

    fn csv(lines: &[&str]) -> Vec<u8> {
        lines.join("\r\n").into_bytes()
    }

    fn ok(bytes: &[u8]) -> ParsedRoster {
        parse_roster(bytes).unwrap()
    }

    fn reasons(p: &ParsedRoster) -> Vec<(usize, BadRowReason)> {
        p.bad.iter().map(|b| (b.row, b.reason.clone())).collect()
    }

    #[test]
    fn chinese_header() {
        let p = ok(&csv(&[
            ZH_HEADER,
            "晋原街道,长乐社区,第1网格,第1网格-1号微网格,何刚华,19900000563,党员、新任",
            "晋原街道,长乐社区,第2网格,第2网格-1号微网格,方秀海,19900000767,",
        ]));
        assert_eq!(p.format, RosterFormat::CsvUtf8);
        assert!(p.bad.is_empty(), "{:?}", p.bad);
        assert_eq!(p.rows.len(), 2);
        let r = &p.rows[0];
        assert_eq!(r.row, 2);
        assert_eq!(r.town, "晋原街道");
        assert_eq!(r.community, "长乐社区");
        assert_eq!(r.grid, "第1网格");
        assert_eq!(r.micro_grid, "第1网格-1号微网格");
        assert_eq!(r.name, "何刚华");
        assert_eq!(r.phone.as_str(), "19900000563");
        assert_eq!(r.role, DEFAULT_ROLE);
        assert_eq!(r.tags, ["党员", "新任"]);
        assert_eq!(p.rows[1].row, 3);
        assert!(p.rows[1].tags.is_empty());
    }

    #[test]
    fn chinese_header_aliases_any_order_extra_columns_and_role() {
        let p = ok(&csv(&[
            "序号,姓名,联系电话,乡镇,社区,网格,微网格,备注,职务",
            "1,何刚华,199 0000 0563,晋原街道,长乐社区,第1网格,第1网格-1号微网格,无,楼栋长",
            "2,方秀海,19900000767,晋原街道,长乐社区,第2网格,第2网格-1号微网格,,",
        ]));
        assert!(p.bad.is_empty(), "{:?}", p.bad);
        assert_eq!(p.rows[0].name, "何刚华");
        assert_eq!(p.rows[0].phone.as_str(), "19900000563");
        assert_eq!(p.rows[0].town, "晋原街道");
        assert_eq!(p.rows[0].role, "楼栋长");
        assert!(p.rows[0].tags.is_empty());
        assert_eq!(p.rows[1].role, DEFAULT_ROLE);
    }

    #[test]
    fn decorated_chinese_headers() {
        let p = ok(&csv(&[
            "*镇（街道）, 村(社区) ,网格,微网格,*姓名,手机号码",
            "晋原街道,长乐社区,第1网格,第1网格-1号微网格,何刚华,19900000563",
        ]));
        assert_eq!(p.rows.len(), 1);
    }

    #[test]
    fn english_header_case_insensitive() {
        let p = ok(&csv(&[
            "Town, Community ,GRID,Micro-Grid,Name,Phone,Tags,Role",
            "Jinyuan,Changle,Grid 1,Micro 1,He Ganghua,+86 199 0000 0563,party; new,leader",
        ]));
        assert!(p.bad.is_empty(), "{:?}", p.bad);
        let r = &p.rows[0];
        assert_eq!(r.town, "Jinyuan");
        assert_eq!(r.micro_grid, "Micro 1");
        assert_eq!(r.phone.as_str(), "19900000563");
        assert_eq!(r.tags, ["party", "new"]);
        assert_eq!(r.role, "leader");
        for micro in ["micro_grid", "microgrid", "MicroGrid"] {
            let header = format!("town,community,grid,{micro},name,phone");
            let p = ok(&csv(&[&header, "a,b,c,d,e,19900000563"]));
            assert_eq!(p.rows[0].micro_grid, "d");
        }
    }

    #[test]
    fn utf8_bom_is_stripped() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(csv(&[ZH_HEADER, "镇,村,格,微,张三,19900000563,"]));
        let p = ok(&bytes);
        assert_eq!(p.format, RosterFormat::CsvUtf8);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].town, "镇");
    }

    #[test]
    fn gbk_encoded_csv() {
        let text = [
            ZH_HEADER,
            "晋原街道,长乐社区,第1网格,第1网格-1号微网格,何刚华,19900000563,党员、新任",
            "羊马镇,永兴村,第3网格,第3网格-2号微网格,孟波玉,19900001562,退役军人",
        ]
        .join("\r\n");
        let (bytes, _, had_errors) = encoding_rs::GBK.encode(&text);
        assert!(!had_errors);
        assert!(std::str::from_utf8(&bytes).is_err());
        let p = ok(&bytes);
        assert_eq!(p.format, RosterFormat::CsvGbk);
        assert!(p.bad.is_empty(), "{:?}", p.bad);
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[0].name, "何刚华");
        assert_eq!(p.rows[0].tags, ["党员", "新任"]);
        assert_eq!(p.rows[1].town, "羊马镇");
        assert_eq!(p.rows[1].tags, ["退役军人"]);
    }

    fn xlsx(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        build(wb.add_worksheet());
        wb.save_to_buffer().unwrap()
    }

    #[test]
    fn xlsx_with_numeric_phone() {
        let bytes = xlsx(|ws| {
            for (c, h) in ZH_HEADER.split(',').enumerate() {
                ws.write_string(0, c as u16, h).unwrap();
            }
            let cells = [
                "晋原街道",
                "长乐社区",
                "第1网格",
                "第1网格-1号微网格",
                "何刚华",
            ];
            for (c, v) in cells.iter().enumerate() {
                ws.write_string(1, c as u16, *v).unwrap();
            }
            ws.write_number(1, 5, 19900000563.0).unwrap();
            ws.write_string(1, 6, "党员、新任").unwrap();
            // Row 3 is left blank; row 4 has a phone stored as text with spaces.
            for (c, v) in ["羊马镇", "永兴村", "第3网格", "第3网格-2号微网格", "孟波玉"]
                .iter()
                .enumerate()
            {
                ws.write_string(3, c as u16, *v).unwrap();
            }
            ws.write_string(3, 5, " 199 0000 1562 ").unwrap();
            // Row 5: a malformed numeric phone.
            for (c, v) in cells.iter().enumerate() {
                ws.write_string(4, c as u16, *v).unwrap();
            }
            ws.write_number(4, 5, 12345.0).unwrap();
        });
        assert!(bytes.starts_with(b"PK\x03\x04"));
        let p = ok(&bytes);
        assert_eq!(p.format, RosterFormat::Xlsx);
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[0].row, 2);
        assert_eq!(p.rows[0].phone.as_str(), "19900000563");
        assert_eq!(p.rows[0].tags, ["党员", "新任"]);
        assert_eq!(p.rows[1].row, 4);
        assert_eq!(p.rows[1].phone.as_str(), "19900001562");
        assert!(p.rows[1].tags.is_empty());
        assert_eq!(
            reasons(&p),
            [(
                5,
                BadRowReason::MalformedPhone {
                    value: "12345".into()
                }
            )]
        );
    }

    #[test]
    fn xlsx_with_title_row_above_header() {
        let bytes = xlsx(|ws| {
            ws.write_string(0, 0, "某县微网格长花名册").unwrap();
            for (c, h) in ZH_HEADER.split(',').enumerate() {
                ws.write_string(1, c as u16, h).unwrap();
            }
            for (c, v) in ["镇", "村", "格", "微", "张三"].iter().enumerate() {
                ws.write_string(2, c as u16, *v).unwrap();
            }
            ws.write_number(2, 5, 19900000563.0).unwrap();
        });
        let p = ok(&bytes);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].row, 3);
    }

    #[test]
    fn xlsx_header_only_and_empty_sheet() {
        let header_only = xlsx(|ws| {
            for (c, h) in ZH_HEADER.split(',').enumerate() {
                ws.write_string(0, c as u16, h).unwrap();
            }
        });
        assert_eq!(parse_roster(&header_only), Err(RosterError::NoDataRows));
        let empty = xlsx(|_| {});
        assert_eq!(parse_roster(&empty), Err(RosterError::Empty));
    }

    #[test]
    fn zip_or_ole_that_is_not_a_spreadsheet() {
        let mut bytes = b"PK\x03\x04".to_vec();
        bytes.extend([0u8; 64]);
        assert_eq!(parse_roster(&bytes), Err(RosterError::NotARoster));
        // Nor is an OLE container that is not a workbook.
        let mut ole = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
        ole.extend([0u8; 600]);
        assert_eq!(parse_roster(&ole), Err(RosterError::NotARoster));
    }

    #[test]
    fn empty_file() {
        assert_eq!(parse_roster(b""), Err(RosterError::Empty));
        assert_eq!(parse_roster(b"  \r\n\r\n\t "), Err(RosterError::Empty));
        assert_eq!(parse_roster(b"\xEF\xBB\xBF"), Err(RosterError::Empty));
        assert_eq!(parse_roster(b",,,\r\n , ,\r\n"), Err(RosterError::Empty));
        assert_eq!(
            parse_roster("\u{200B}\r\n\u{3000}".as_bytes()),
            Err(RosterError::Empty)
        );
    }

    #[test]
    fn binary_garbage() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend([0u8; 32]);
        assert_eq!(parse_roster(&png), Err(RosterError::NotARoster));
        // Not UTF-8 and not GB18030 either.
        assert_eq!(
            parse_roster(b"\xFF\xD8\xFF\xE0 JFIF \xFF\xFF"),
            Err(RosterError::NotARoster)
        );
        // Valid UTF-8 but mostly control characters.
        assert_eq!(
            parse_roster(b"\x01\x02\x03\x04\x05a\x06\x07\x08\x0b\x0c"),
            Err(RosterError::NotARoster)
        );
        // UTF-16 text (NUL bytes) is refused too.
        let utf16: Vec<u8> = "镇街,村社区"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(parse_roster(&utf16), Err(RosterError::NotARoster));
    }

    #[test]
    fn unknown_header() {
        let err = parse_roster(&csv(&["姓名,电话,地址", "张三,19900000563,某地"])).unwrap_err();
        assert_eq!(
            err,
            RosterError::UnknownHeader {
                found: vec!["姓名".into(), "电话".into(), "地址".into()],
                missing: vec![
                    "镇街".into(),
                    "村社区".into(),
                    "网格".into(),
                    "微网格".into()
                ],
            }
        );
        let zh = err.message("zh-CN");
        assert!(zh.contains("镇街、村社区、网格、微网格"), "{zh}");
        assert!(zh.contains("姓名、电话、地址"), "{zh}");
        let en = err.message("en");
        assert!(en.contains("town (镇街), community (村社区)"), "{en}");
    }

    #[test]
    fn full_width_comma_is_not_a_delimiter() {
        let err = parse_roster(
            "镇街，村社区，网格，微网格，微网格长，手机号\r\n镇，村，格，微，张三，19900000563"
                .as_bytes(),
        )
        .unwrap_err();
        let RosterError::UnknownHeader { found, missing } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(found.len(), 1);
        assert_eq!(missing.len(), 6);
        assert!(err.message("zh-CN").contains("不能用中文逗号"));
    }

    #[test]
    fn tab_separated() {
        let text = format!(
            "{}\r\n镇\t村\t格\t微\t张三\t19900000563\t党员,新任\r\n",
            ZH_HEADER.replace(',', "\t")
        );
        let p = ok(text.as_bytes());
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].tags, ["党员", "新任"]);
    }

    #[test]
    fn header_but_no_data_rows() {
        assert_eq!(
            parse_roster(ZH_HEADER.as_bytes()),
            Err(RosterError::NoDataRows)
        );
        assert_eq!(
            parse_roster(csv(&[ZH_HEADER, "", ",,,,,,", "  "]).as_slice()),
            Err(RosterError::NoDataRows)
        );
    }

    #[test]
    fn each_bad_row_reason_with_its_row_number() {
        let p = ok(&csv(&[
            ZH_HEADER,                                // 1
            "镇,村,格,微,张三,19900000563,党员",      // 2 good
            ",村,格,微,李四,19900000564,",            // 3 town empty
            "镇,,格,微,李四,19900000564,",            // 4 community empty
            "镇,村, ,微,李四,19900000564,",           // 5 grid empty
            "镇,村,格,\u{200B},李四,19900000564,",    // 6 micro-grid empty
            "镇,村,格,微,,19900000564,",              // 7 name missing
            "镇,村,格,微,李四,,",                     // 8 phone missing
            "镇,村,格,微,李四,12345,",                // 9 malformed
            "镇,村,格,微,王五,199-0000-0563,",        // 10 duplicate of row 2
            "镇,村,格,微,赵六,19900000565",           // 11 one field short
            "镇,村,格,微,赵六,19900000565,党员,多余", // 12 one field too many
            ",,格,微,,bad,",                          // 13 first problem: town
            "镇,村,格,微,李四,19900000564,",          // 14 good (earlier bad rows don't count)
        ]));
        assert_eq!(p.rows.iter().map(|r| r.row).collect::<Vec<_>>(), [2, 14]);
        use BadRowReason::*;
        assert_eq!(
            reasons(&p),
            [
                (
                    3,
                    EmptyArea {
                        column: AreaColumn::Town
                    }
                ),
                (
                    4,
                    EmptyArea {
                        column: AreaColumn::Community
                    }
                ),
                (
                    5,
                    EmptyArea {
                        column: AreaColumn::Grid
                    }
                ),
                (
                    6,
                    EmptyArea {
                        column: AreaColumn::MicroGrid
                    }
                ),
                (7, MissingName),
                (8, MissingPhone),
                (
                    9,
                    MalformedPhone {
                        value: "12345".into()
                    }
                ),
                (10, DuplicatePhone { first_row: 2 }),
                (
                    11,
                    WrongFieldCount {
                        expected: 7,
                        found: 6
                    }
                ),
                (
                    12,
                    WrongFieldCount {
                        expected: 7,
                        found: 8
                    }
                ),
                (
                    13,
                    EmptyArea {
                        column: AreaColumn::Town
                    }
                ),
            ]
        );
    }

    #[test]
    fn field_count_tolerates_trailing_empty_cells() {
        let p = ok(&csv(&[
            "镇街,村社区,网格,微网格,微网格长,手机号,标签,",
            "镇,村,格,微,张三,19900000563,党员",
            "镇,村,格,微,李四,19900000564,,,",
            "镇,村,格,微,王五,19900000565,,,x",
        ]));
        assert_eq!(p.rows.len(), 2);
        assert_eq!(
            reasons(&p),
            [(
                4,
                BadRowReason::WrongFieldCount {
                    expected: 8,
                    found: 9
                }
            )]
        );
    }

    #[test]
    fn bad_row_messages() {
        let bad = |row, reason| BadRow { row, reason };
        let m = bad(
            5,
            BadRowReason::MalformedPhone {
                value: "12345".into(),
            },
        );
        assert_eq!(m.message("zh-CN"), "第5行：手机号格式不正确（12345）");
        assert_eq!(m.message("en"), "row 5: malformed phone number (12345)");
        let d = bad(9, BadRowReason::DuplicatePhone { first_row: 3 });
        assert_eq!(d.message("zh-CN"), "第9行：手机号与第3行重复");
        assert_eq!(d.message("en"), "row 9: same phone number as row 3");
        let a = bad(
            4,
            BadRowReason::EmptyArea {
                column: AreaColumn::Grid,
            },
        );
        assert_eq!(a.message("zh-CN"), "第4行：“网格”一栏是空的");
        assert_eq!(a.message("en"), "row 4: grid (网格) is empty");
        let w = bad(
            7,
            BadRowReason::WrongFieldCount {
                expected: 7,
                found: 8,
            },
        );
        assert!(
            w.message("zh-CN")
                .starts_with("第7行：列数不对（表头有7列，这一行有8列）")
        );
        for reason in [BadRowReason::MissingName, BadRowReason::MissingPhone] {
            let b = bad(2, reason);
            assert!(b.message("zh-CN").starts_with("第2行："));
            assert!(b.message("en").starts_with("row 2: "));
        }
    }

    #[test]
    fn error_messages_are_localised() {
        let all = [
            RosterError::Empty,
            RosterError::NotARoster,
            RosterError::PasswordProtected,
            RosterError::UnknownHeader {
                found: vec!["a".into()],
                missing: vec!["镇街".into()],
            },
            RosterError::Spreadsheet("boom".into()),
            RosterError::NoDataRows,
        ];
        for e in all {
            let zh = e.message("zh-CN");
            let en = e.message("en");
            assert!(!zh.starts_with("roster."), "{zh}");
            assert!(!en.starts_with("roster."), "{en}");
            assert_ne!(zh, en);
            assert!(!zh.contains("%{"), "{zh}");
            assert!(!en.contains("%{"), "{en}");
        }
        assert_eq!(
            RosterError::Empty.message("zh-CN"),
            "文件是空的。请选择填好的花名册（Excel 表格或 CSV 文件）。"
        );
        assert!(
            RosterError::Spreadsheet("boom".into())
                .message("en")
                .contains("(boom)")
        );
    }

    #[test]
    fn crlf_lf_and_cr_line_endings() {
        for eol in ["\r\n", "\n", "\r"] {
            let text = [
                ZH_HEADER,
                "镇,村,格,微,张三,19900000563,党员\u{3000}",
                "镇,村,格,微,李四,19900000564,",
            ]
            .join(eol);
            let p = ok(text.as_bytes());
            assert!(p.bad.is_empty(), "{eol:?}: {:?}", p.bad);
            assert_eq!(p.rows.len(), 2, "{eol:?}");
            assert_eq!(p.rows[1].row, 3);
            assert_eq!(p.rows[0].tags, ["党员"]);
            assert!(p.rows.iter().all(|r| !r.phone.as_str().contains('\r')));
        }
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        let p = ok(&csv(&[
            "",
            ZH_HEADER,                                 // 2
            "镇,村,格,微,张三,19900000563,",           // 3
            "",                                        // 4
            "   ",                                     // 5
            ",,,,,,",                                  // 6
            "镇,村,格,微,李四,,",                      // 7 bad
            "\"镇\",村,格,微,\"王\n五\",19900000565,", // 8 (a line break inside quotes is still one row)
            "镇,村,格,微,赵六,19900000566,",           // 9
            "",
        ]));
        assert_eq!(p.rows.iter().map(|r| r.row).collect::<Vec<_>>(), [3, 8, 9]);
        assert_eq!(p.rows[1].name, "王\n五");
        assert_eq!(reasons(&p), [(7, BadRowReason::MissingPhone)]);
    }

    #[test]
    fn cells_are_trimmed_including_zero_width() {
        let p = ok(&csv(&[
            ZH_HEADER,
            " 镇\u{200B} ,\u{FEFF}村,\t格 ,微\u{3000},\u{00A0}张\u{200B}三 ,\u{200B}19900000563\u{200B}, 党员 ",
        ]));
        let r = &p.rows[0];
        assert_eq!(
            [&r.town, &r.community, &r.grid, &r.micro_grid, &r.name],
            ["镇", "村", "格", "微", "张三"]
        );
        assert_eq!(r.phone.as_str(), "19900000563");
        assert_eq!(r.tags, ["党员"]);
    }

    #[test]
    fn tags_splitting() {
        assert_eq!(
            split_tags("党员、新任,楼栋长，志愿者;退役军人；网格员/信息员 骨干\u{3000}党员  ,,、"),
            [
                "党员",
                "新任",
                "楼栋长",
                "志愿者",
                "退役军人",
                "网格员",
                "信息员",
                "骨干"
            ]
        );
        assert!(split_tags("").is_empty());
        assert!(split_tags(" 、 ,， ").is_empty());
        // Quoted CSV cells may contain commas.
        let p = ok(&csv(&[
            ZH_HEADER,
            "镇,村,格,微,张三,19900000563,\"党员,新任, 党员\"",
        ]));
        assert_eq!(p.rows[0].tags, ["党员", "新任"]);
    }

    #[test]
    fn small_county_roster_fixture() {
        let bytes = include_bytes!("../../tests/fixtures/county-roster-small.csv");
        let p = ok(bytes);
        assert_eq!(p.format, RosterFormat::CsvUtf8);
        assert_eq!(p.rows.len(), 60);
        assert!(p.bad.is_empty(), "{:?}", p.bad);
        let first = &p.rows[0];
        assert_eq!(first.row, 2);
        assert_eq!(first.name, "何刚华");
        assert_eq!(first.phone.as_str(), "19900000563");
        assert_eq!(first.tags, ["党员", "新任"]);
        assert_eq!(p.rows[59].row, 61);
        assert!(p.rows.iter().all(|r| r.role == DEFAULT_ROLE));
        // The same file as Excel on Chinese Windows would save it.
        let text = std::str::from_utf8(bytes).unwrap();
        let (gbk, _, had_errors) = encoding_rs::GBK.encode(text);
        assert!(!had_errors);
        let g = ok(&gbk);
        assert_eq!(g.format, RosterFormat::CsvGbk);
        assert_eq!(g.rows, p.rows);
    }
}
