//! `gridline export reports`: the reports of a scope (and optional filters) as CSV or XLSX, one
//! row per report with its number first. The table goes to standard output or `--out FILE`;
//! messages go to standard error. Residents' contacts are masked unless `--unmask` is given.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use gridline_shared::domain::{ReportKind, ReportState};
use gridline_shared::export::{self, CsvSink, ExportRequest, Exporter, XlsxSink};
use gridline_shared::inbox::InboxFilter;
use gridline_shared::{CoreError, Scope, areas};
use rust_i18n::t;

use crate::cli::{CliError, open};
use crate::config::Settings;
use crate::tr;

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Reports as CSV or XLSX: one row per report, its number first.
    Reports(ExportReportsArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Xlsx,
}

#[derive(Debug, Args)]
pub struct ExportReportsArgs {
    /// csv or xlsx (default: xlsx when --out ends in .xlsx, else csv).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only reports from this area (names below the county joined by '/').
    #[arg(long)]
    pub area: Option<String>,
    /// Show residents' names and phone numbers in full.
    #[arg(long)]
    pub unmask: bool,
    /// Only these states (repeatable): submitted, accepted, assigned, in_progress, resolved,
    /// closed, returned, rejected.
    #[arg(long = "state", value_parser = parse_state)]
    pub states: Vec<ReportState>,
    /// Only this kind: visit, incident or request.
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<ReportKind>,
    /// Filed on or after this day (YYYY-MM-DD, county time).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Filed on or before this day (YYYY-MM-DD, county time).
    #[arg(long)]
    pub to: Option<NaiveDate>,
}

fn parse_state(s: &str) -> Result<ReportState, String> {
    ReportState::parse(s.trim()).ok_or_else(|| format!("unknown state {s:?}"))
}

fn parse_kind(s: &str) -> Result<ReportKind, String> {
    ReportKind::parse(s.trim()).ok_or_else(|| format!("unknown kind {s:?}"))
}

pub async fn run(
    settings: &Settings,
    cmd: ExportCommand,
    locale: &str,
) -> Result<ExitCode, CliError> {
    let ExportCommand::Reports(args) = cmd;
    let format = args.format.unwrap_or_else(|| match &args.out {
        Some(p)
            if p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xlsx")) =>
        {
            Format::Xlsx
        }
        _ => Format::Csv,
    });
    if format == Format::Xlsx
        && args.out.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        return Err(CliError::Message(tr(locale, "cli.export.xlsx_terminal")));
    }
    let db = open(settings).await?;
    let scope = match args.area.as_deref() {
        Some(names) => Scope::of_area(&areas::resolve_names(db.conn(), names).await?),
        None => areas::root_scope(db.conn()).await?,
    };
    let filter = InboxFilter {
        states: args.states.clone(),
        kind: args.kind,
        from: args.from,
        to: args.to,
        ..Default::default()
    };
    let req = ExportRequest {
        scope: &scope,
        filter: &filter,
        unmask: args.unmask,
        locale,
        now: Utc::now(),
    };
    let sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let count = match format {
        Format::Csv => {
            let mut csv = CsvSink::new(sink, locale, false)?;
            let n =
                export::export_reports(db.conn(), Exporter::CommandLine, &req, &mut csv).await?;
            csv.finish()?.flush()?;
            n
        }
        Format::Xlsx => {
            let mut xlsx = XlsxSink::new(locale)?;
            let n =
                export::export_reports(db.conn(), Exporter::CommandLine, &req, &mut xlsx).await?;
            let bytes = xlsx.finish()?;
            let mut sink = sink;
            sink.write_all(&bytes)?;
            sink.flush()?;
            n
        }
    };
    eprintln!(
        "{}",
        t!("cli.export.written", locale = locale, count = count)
    );
    db.close().await.map_err(CoreError::Db)?;
    Ok(ExitCode::SUCCESS)
}
