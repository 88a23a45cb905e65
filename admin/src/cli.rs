//! The command line: one binary for every role (`serve`, `migrate`, `import`, `user`, `codes`).
//! Tables (CSV) go to standard output or `--out FILE`; logs and progress go to standard error.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use gridline_shared::domain::{AreaLevel, StaffRole};
use gridline_shared::{CoreError, Db, areas, import, members, roster, staff};
use rust_i18n::t;

use crate::app::Application;
use crate::config::Settings;
use crate::tr;

/// Exit code when an import skipped bad rows (the good ones were imported).
pub const EXIT_BAD_ROWS: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "gridline",
    version,
    about = "Gridline: micro-grid governance — Telegram bot and web panel"
)]
pub struct Cli {
    /// Settings file (TOML). Default: gridline.toml in the working directory, if present.
    #[arg(long, global = true, env = "GRIDLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Language of messages: zh-CN or en.
    #[arg(long, global = true, env = "GRIDLINE_LANG", default_value = "zh-CN")]
    pub lang: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the panel, the bot and the delivery worker (all by default).
    Serve(ServeArgs),
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Import data.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Manage staff users.
    #[command(subcommand)]
    User(UserCommand),
    /// Print the bind codes (CSV: name, phone, area, code, deep link, bound).
    Codes(CodesArgs),
    /// Export data (CSV or XLSX).
    #[command(subcommand)]
    Export(crate::cli_export::ExportCommand),
    /// Recompute the report counters (per community, kind and state) from the reports table:
    /// a repair after reports were loaded or edited outside Gridline.
    RebuildCounters,
    /// Write a consistent copy of the database while Gridline runs (SQLite); on PostgreSQL,
    /// print the pg_dump command to use (exit code 4: nothing written).
    Backup(BackupArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write (must not exist).
    #[arg(long)]
    pub out: PathBuf,
}

/// Exit code of `gridline backup` on PostgreSQL: the pg_dump command was printed, nothing written.
pub const EXIT_NOT_WRITTEN: u8 = 4;

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Do not serve the web panel.
    #[arg(long)]
    pub no_panel: bool,
    /// Do not run the Telegram bot.
    #[arg(long)]
    pub no_bot: bool,
    /// Do not run the delivery worker.
    #[arg(long)]
    pub no_worker: bool,
    /// Do not run the deadline scheduler (escalation of overdue reports, session clean-up).
    #[arg(long)]
    pub no_scheduler: bool,
    /// Demo mode: fill a demo county (roster, reports in every state, notices) on the first
    /// start, and print the demo logins. Uses gridline-demo.db unless a database is configured.
    #[arg(long)]
    pub demo: bool,
}

/// The database of `serve --demo` when none is configured: never the real `gridline.db`.
pub const DEMO_DATABASE_URL: &str = "sqlite://gridline-demo.db";

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a roster (CSV in UTF-8 or GBK, or XLSX; Chinese or English headers). Idempotent:
    /// members are keyed by phone number.
    Roster {
        file: PathBuf,
        /// Only accept rows inside this area (names below the county joined by '/').
        #[arg(long)]
        area: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a staff user; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        /// county-admin, town-admin, secretary or viewer.
        #[arg(long, value_parser = parse_role)]
        role: StaffRole,
        /// Scope: area names below the county joined by '/', e.g. 晋原街道/长乐社区. None: the whole county.
        #[arg(long)]
        area: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct CodesArgs {
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only this area (names below the county joined by '/').
    #[arg(long)]
    pub area: Option<String>,
}

fn parse_role(s: &str) -> Result<StaffRole, String> {
    StaffRole::parse(s.trim()).ok_or_else(|| {
        format!("unknown role {s:?}; use one of: county-admin, town-admin, secretary, viewer")
    })
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Core(#[from] gridline_shared::CoreError),
    #[error("{0}")]
    Message(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Demo(#[from] crate::demo::DemoError),
}

impl CliError {
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            CliError::Io(e) => Some(e),
            CliError::Csv(e) => match e.kind() {
                csv::ErrorKind::Io(e) => Some(e),
                _ => None,
            },
            _ => None,
        };
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let locale = if cli.lang.starts_with("en") {
        "en"
    } else {
        "zh-CN"
    };
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Command::Serve(args) = &cli.command
        && args.demo
    {
        if settings.database_url == gridline_shared::db::DEFAULT_DATABASE_URL {
            settings.database_url = DEMO_DATABASE_URL.to_owned();
        }
        // The demo is for trying the bot: its simulator is on unless the settings said no.
        settings.simulator.get_or_insert(true);
    }
    let settings = Arc::new(settings);
    match cli.command {
        Command::Serve(args) => serve(settings, args, locale).await,
        Command::Migrate => {
            let db = open(&settings).await?;
            eprintln!(
                "{}",
                t!(
                    "cli.migrated",
                    locale = locale,
                    url = gridline_shared::db::redact(&settings.database_url)
                )
            );
            db.close().await.map_err(CoreError::Db)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(ImportCommand::Roster { file, area }) => {
            import_roster(&settings, &file, area.as_deref(), locale).await
        }
        Command::User(UserCommand::Add {
            username,
            role,
            area,
        }) => user_add(&settings, &username, role, area.as_deref(), locale).await,
        Command::Codes(args) => codes(&settings, args, locale).await,
        Command::Export(cmd) => crate::cli_export::run(&settings, cmd, locale).await,
        Command::Backup(args) => backup(&settings, &args.out, locale).await,
        Command::RebuildCounters => {
            let db = open(&settings).await?;
            let n = gridline_shared::counters::rebuild_counters(&db).await?;
            eprintln!("{}", t!("cli.counters_rebuilt", locale = locale, count = n));
            db.close().await.map_err(CoreError::Db)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Connects, migrates, and makes sure the county root and default categories exist.
pub async fn open(settings: &Settings) -> Result<Db, CliError> {
    let db = Db::connect(&settings.database_url)
        .await
        .map_err(CoreError::Db)?;
    gridline_shared::prepare(&db, &settings.county_name).await?;
    Ok(db)
}

async fn serve(
    settings: Arc<Settings>,
    args: ServeArgs,
    locale: &str,
) -> Result<ExitCode, CliError> {
    let db = open(&settings).await?;
    let demo_logins = if args.demo {
        Some(crate::demo::start(&settings, &db, locale).await?)
    } else {
        ensure_first_admin(&db, locale).await?;
        None
    };
    let bot = start_bot(&settings, &db, &args)?;
    let worker = start_worker(&settings, &db, &args)?;
    if args.no_panel {
        // Without the panel (and its scheduler) only the bot and the worker run, if configured:
        // wait for a signal so the process can be supervised.
        shutdown_signal().await;
        stop_worker(worker).await;
        stop_bot(bot).await;
        return Ok(ExitCode::SUCCESS);
    }
    let scheduler = (!args.no_scheduler).then(|| crate::scheduler::spawn(db.clone()));
    let daily_backup = if args.no_scheduler {
        None
    } else {
        start_daily_backup(&settings, &db, locale)?
    };
    let mut app = Application::build(settings.clone(), db.clone()).await?;
    if let Some(webhook) = bot.as_ref().and_then(|b| b.webhook.clone()) {
        app = app.merge(webhook);
    }
    let addr = app.local_addr()?;
    warn_unsafe_settings(&settings, &addr, args.demo, locale);
    eprintln!("{}", t!("cli.listening", locale = locale, addr = addr));
    if let Some(logins) = demo_logins {
        crate::demo::print_logins(&settings, logins, &addr.to_string(), locale);
    }
    app.run_until(shutdown_signal()).await?;
    stop_worker(worker).await;
    stop_bot(bot).await;
    for task in [scheduler, daily_backup].into_iter().flatten() {
        task.abort();
    }
    db.close().await.map_err(CoreError::Db)?;
    Ok(ExitCode::SUCCESS)
}

type WorkerHandle = (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
);

/// The delivery worker (when a bot token is set and not `--no-worker`): drains the outbox
/// through Telegram at `send_rate` messages per second, in step with other workers on the
/// same database.
fn start_worker(
    settings: &Settings,
    db: &Db,
    args: &ServeArgs,
) -> Result<Option<WorkerHandle>, CliError> {
    let Some(token) = settings.telegram_token.as_deref() else {
        return Ok(None);
    };
    if args.no_worker {
        return Ok(None);
    }
    let bot = gridline_bot::make_bot(token, settings.telegram_api_url.as_deref())
        .map_err(|e| CliError::Message(e.to_string()))?;
    let transport = gridline_bot::transport::TelegramTransport::new(bot);
    let name = format!(
        "{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "gridline".into()),
        std::process::id()
    );
    let worker = gridline_shared::delivery::Worker::with_config(
        db.clone(),
        transport,
        name,
        gridline_shared::delivery::WorkerConfig::with_rate(settings.send_rate),
    );
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(async move {
        // Told to stop, or the sender is gone: stop either way.
        let _stopped = rx.wait_for(|stop| *stop).await;
    }));
    Ok(Some((tx, handle)))
}

/// Stops the worker: rows it has not sent yet go back to the queue.
/// The running bot: its task (long polling, or the webhook's start-up calls) and, in webhook
/// mode, the route the panel serves.
struct BotHandle {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    webhook: Option<axum::Router>,
}

/// The Telegram bot (when a bot token is set and not `--no-bot`): long polling by default, or
/// a webhook route at `/telegram/webhook` when `webhook_url` is set. Start-up failures of
/// Telegram (getMe, deleteWebhook) are retried with backoff in the background, never fatal.
fn start_bot(
    settings: &Settings,
    db: &Db,
    args: &ServeArgs,
) -> Result<Option<BotHandle>, CliError> {
    let Some(token) = settings.telegram_token.as_deref() else {
        return Ok(None);
    };
    if args.no_bot {
        return Ok(None);
    }
    let bot = gridline_bot::make_bot(token, settings.telegram_api_url.as_deref())
        .map_err(|e| CliError::Message(e.to_string()))?;
    let config = gridline_bot::BotConfig {
        max_file_bytes: settings.max_file_bytes,
        ..Default::default()
    };
    let rt = gridline_bot::BotRuntime::new(db.clone(), bot, config);
    let (stop, mut rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        // Told to stop, or the sender is gone: stop either way.
        let _stopped = rx.wait_for(|s| *s).await;
    };
    match (&settings.webhook_url, &settings.webhook_secret) {
        (Some(url), Some(secret)) => {
            if args.no_panel {
                tracing::warn!(
                    "webhook mode needs the HTTP server; --no-panel leaves it unreachable"
                );
            }
            let webhook = gridline_bot::webhook::router(
                rt.clone(),
                secret,
                gridline_bot::webhook::DEFAULT_PATH,
            );
            let (url, secret) = (url.clone(), secret.clone());
            let task = tokio::spawn(async move {
                let mut shutdown = Box::pin(shutdown);
                if !gridline_bot::polling::start(&rt, &mut shutdown).await {
                    return;
                }
                let mut backoff = gridline_bot::polling::Backoff::default();
                loop {
                    match gridline_bot::webhook::register(&rt, &url, &secret).await {
                        Ok(()) => break,
                        Err(e) => {
                            let wait = backoff.next_pause();
                            tracing::warn!(error = %e, retry_in = ?wait, "setWebhook failed; retrying");
                            tokio::select! {
                                _ = &mut shutdown => return,
                                _ = tokio::time::sleep(wait) => {}
                            }
                        }
                    }
                }
                rt.fetch_pending_files().await;
            });
            Ok(Some(BotHandle {
                stop,
                task,
                webhook: Some(webhook),
            }))
        }
        _ => {
            let task = tokio::spawn(gridline_bot::polling::run(rt, shutdown));
            Ok(Some(BotHandle {
                stop,
                task,
                webhook: None,
            }))
        }
    }
}

async fn stop_bot(bot: Option<BotHandle>) {
    if let Some(b) = bot {
        // A send fails only when the bot's task already ended.
        let _ended = b.stop.send(true);
        match tokio::time::timeout(std::time::Duration::from_secs(30), b.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the bot's task failed"),
            Err(_) => tracing::warn!("the bot did not stop within 30 s"),
        }
    }
}

async fn stop_worker(worker: Option<WorkerHandle>) {
    if let Some((tx, handle)) = worker {
        // A send fails only when the worker's task already ended.
        let _ended = tx.send(true);
        if let Err(e) = handle.await {
            tracing::error!(error = %e, "the delivery worker's task failed");
        }
    }
}

/// On an empty database, creates `admin` (county admin) and prints its password once.
async fn ensure_first_admin(db: &Db, locale: &str) -> Result<(), CliError> {
    if let Some(password) = staff::ensure_first_admin(db).await? {
        eprintln!(
            "\n{}\n",
            t!("cli.first_admin", locale = locale, password = password)
        );
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C: stopping");
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

async fn import_roster(
    settings: &Settings,
    file: &Path,
    area: Option<&str>,
    locale: &str,
) -> Result<ExitCode, CliError> {
    let bytes = std::fs::read(file).map_err(|e| {
        CliError::Message(
            t!(
                "cli.read_failed",
                locale = locale,
                path = file.display(),
                reason = e
            )
            .into_owned(),
        )
    })?;
    // Parse before touching the database: a file that is not a roster changes nothing.
    let parsed = roster::parse_roster(&bytes).map_err(|e| {
        CliError::Message(
            t!(
                "cli.import.failed",
                locale = locale,
                reason = e.message(locale)
            )
            .into_owned(),
        )
    })?;
    let db = open(settings).await?;
    let scope = match area {
        Some(names) => {
            gridline_shared::Scope::of_area(&areas::resolve_names(db.conn(), names).await?)
        }
        None => areas::root_scope(db.conn()).await?,
    };
    let bar = progress_bar(parsed.rows.len() as u64, locale);
    let summary =
        import::import_roster(&db, &scope, parsed, |done, _| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();

    let levels = areas::count_by_level(db.conn(), &scope).await?;
    let at = |l| levels.get(&l).copied().unwrap_or(0);
    let members_total = members::count_in_scope(db.conn(), &scope).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        t!("cli.import.done", locale = locale, rows = summary.rows)
    )?;
    writeln!(
        out,
        "{}",
        t!(
            "cli.import.members",
            locale = locale,
            new = summary.members_new,
            updated = summary.members_updated,
            unchanged = summary.members_unchanged
        )
    )?;
    writeln!(
        out,
        "{}",
        t!(
            "cli.import.areas_new",
            locale = locale,
            towns = summary.new_at(AreaLevel::Town),
            communities = summary.new_at(AreaLevel::Community),
            grids = summary.new_at(AreaLevel::Grid),
            micro = summary.new_at(AreaLevel::MicroGrid)
        )
    )?;
    writeln!(
        out,
        "{}",
        t!(
            "cli.import.totals",
            locale = locale,
            members = members_total,
            towns = at(AreaLevel::Town),
            communities = at(AreaLevel::Community),
            grids = at(AreaLevel::Grid),
            micro = at(AreaLevel::MicroGrid)
        )
    )?;
    db.close().await.map_err(CoreError::Db)?;
    if summary.has_bad_rows() {
        let count = summary.refused_count();
        eprintln!(
            "{}",
            t!("cli.import.bad_rows", locale = locale, count = count)
        );
        for bad in &summary.bad {
            eprintln!("  {}", bad.message(locale));
        }
        for row in &summary.out_of_scope_rows {
            eprintln!(
                "  {}",
                t!("cli.import.out_of_scope", locale = locale, row = row)
            );
        }
        for problem in &summary.refused {
            eprintln!("  {}", problem.message(locale));
        }
        return Ok(ExitCode::from(EXIT_BAD_ROWS));
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(len: u64, locale: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len}") {
        bar.set_style(style);
    }
    bar.set_message(tr(locale, "cli.import.progress"));
    bar
}

async fn user_add(
    settings: &Settings,
    username: &str,
    role: StaffRole,
    area: Option<&str>,
    locale: &str,
) -> Result<ExitCode, CliError> {
    let mut input = String::new();
    std::io::stdin().take(4096).read_to_string(&mut input)?;
    let password = input.lines().next().unwrap_or("").to_owned();
    if password.is_empty() {
        return Err(CliError::Message(tr(locale, "cli.user.no_password")));
    }
    let db = open(settings).await?;
    let (user, scope_area) =
        staff::create_at(&db, username, &password, role, area.unwrap_or("")).await?;
    eprintln!(
        "{}",
        t!(
            "cli.user.created",
            locale = locale,
            username = user.username,
            role = role.code(),
            area = scope_area.name
        )
    );
    db.close().await.map_err(CoreError::Db)?;
    Ok(ExitCode::SUCCESS)
}

async fn codes(settings: &Settings, args: CodesArgs, locale: &str) -> Result<ExitCode, CliError> {
    let db = open(settings).await?;
    let scope_area = areas::resolve_names(db.conn(), args.area.as_deref().unwrap_or("")).await?;
    let rows = members::bind_code_sheet(
        db.conn(),
        &gridline_shared::Scope::of_area(&scope_area),
        &settings.bot_username,
    )
    .await?;
    let sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::fs::File::create(path)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = csv::Writer::from_writer(sink);
    w.write_record(["name", "phone", "area", "code", "deep_link", "bound"])?;
    for r in &rows {
        w.write_record([
            r.name.as_str(),
            r.phone.as_str(),
            r.area.as_str(),
            r.code.as_str(),
            r.deep_link.as_str(),
            if r.bound { "yes" } else { "no" },
        ])?;
    }
    w.flush()?;
    eprintln!(
        "{}",
        t!("cli.codes.written", locale = locale, count = rows.len())
    );
    db.close().await.map_err(CoreError::Db)?;
    Ok(ExitCode::SUCCESS)
}

/// Loud warnings at start about settings a county server should not run with: the panel
/// reachable from the network while its cookies may travel without HTTPS; the chat simulator
/// on outside the demo.
fn warn_unsafe_settings(
    settings: &Settings,
    addr: &std::net::SocketAddr,
    demo: bool,
    locale: &str,
) {
    if !addr.ip().is_loopback() && !settings.cookie_secure {
        let line = "!".repeat(72);
        eprintln!(
            "\n{line}\n{}\n{line}\n",
            t!("cli.warn.cookie_insecure", locale = locale, addr = addr)
        );
        tracing::warn!(%addr, "the panel listens beyond loopback without GRIDLINE_COOKIE_SECURE");
    }
    if settings.simulator_on() && !demo {
        eprintln!("{}", tr(locale, "cli.warn.simulator_on"));
    }
}

/// The daily backup task, when `backup_dir` is set: SQLite only (on PostgreSQL a loud warning
/// says to schedule pg_dump instead).
fn start_daily_backup(
    settings: &Settings,
    db: &Db,
    locale: &str,
) -> Result<Option<tokio::task::JoinHandle<()>>, CliError> {
    let Some(dir) = settings.backup_dir.clone() else {
        return Ok(None);
    };
    if !gridline_shared::backup::in_process(db) {
        eprintln!("{}", tr(locale, "cli.backup.daily_postgres"));
        return Ok(None);
    }
    let at = settings.backup_time()?;
    eprintln!(
        "{}",
        t!(
            "cli.backup.daily_on",
            locale = locale,
            dir = dir.display(),
            time = at.format("%H:%M"),
            keep = settings.backup_keep
        )
    );
    Ok(Some(crate::scheduler::spawn_daily_backup(
        db.clone(),
        dir,
        settings.backup_keep,
        at,
    )))
}

/// `gridline backup --out FILE`: a consistent copy of a SQLite database (also while `serve`
/// runs; the schema is not migrated, so a backup before an upgrade is of the old version); on
/// PostgreSQL the pg_dump command to use.
async fn backup(settings: &Settings, out: &Path, locale: &str) -> Result<ExitCode, CliError> {
    use gridline_shared::backup::{self, BackupError};
    let url = settings.database_url.trim();
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let Some(cmd) = backup::pg_dump_command(url, out) else {
            return Err(CliError::Message(tr(locale, "cli.backup.bad_url")));
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{cmd}")?;
        eprintln!("{}", tr(locale, "cli.backup.postgres"));
        if let Some(restore) = backup::pg_restore_command(url, out) {
            eprintln!(
                "{}",
                t!(
                    "cli.backup.postgres_restore",
                    locale = locale,
                    command = restore
                )
            );
        }
        return Ok(ExitCode::from(EXIT_NOT_WRITTEN));
    }
    match backup::sqlite_file(url) {
        Some(file) if file.exists() => {}
        _ => {
            return Err(CliError::Message(
                t!(
                    "cli.backup.no_database",
                    locale = locale,
                    url = gridline_shared::db::redact(url)
                )
                .into_owned(),
            ));
        }
    }
    let db = Db::connect(url).await.map_err(CoreError::Db)?;
    let result = backup::sqlite_to(&db, out).await;
    db.close().await.map_err(CoreError::Db)?;
    match result {
        Ok(w) => {
            eprintln!(
                "{}",
                t!(
                    "cli.backup.written",
                    locale = locale,
                    path = w.path.display(),
                    bytes = w.bytes
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(BackupError::Exists(path)) => Err(CliError::Message(
            t!("cli.backup.exists", locale = locale, path = path.display()).into_owned(),
        )),
        Err(e) => Err(CliError::Message(
            t!("cli.backup.failed", locale = locale, reason = e).into_owned(),
        )),
    }
}
