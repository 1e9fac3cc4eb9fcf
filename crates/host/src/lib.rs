//! One running Waymark, whatever door started it: the data directory and database, the agent
//! app with its MCP hub, the worker, the cron scheduler, the webhook receiver, and an ordered
//! shutdown with a time limit. `waymark serve`, `waymark worker`, `waymark run --wait`,
//! `waymark demo` and the desktop app each start a [`Host`] with their options and then speak
//! only to its [`Api`].

mod about;
mod database;
pub mod hooks;
pub mod notices;
pub mod paths;
mod upgrade;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use waymark_agent::app::{AgentApp, AppError};
use waymark_agent::stores::sqlite::CATALOG_SCHEMA_VERSION;
use waymark_agent::triggers::{CronScheduler, EmailWatchOptions, EmailWatcher, FolderStatus};
use waymark_api::{Api, HostFacts};
use waymark_engine::{SystemClock, Worker, WorkerConfig};

/// Whether a `--label` may name a worker (the agents' `worker_label` follows the same rule).
pub use waymark_engine::worker::is_valid_label as is_valid_worker_label;

pub use about::version_text;
pub use database::{chosen_db, read_choice, CHOICE_FILE};
pub use hooks::{HookAnswer, Hooks};
pub use upgrade::{find_cli, BACKUP_DIR};
pub use waymark_api::DatabaseChosenBy;
/// Milliseconds since the Unix epoch: the clock every record's times are on.
pub use waymark_engine::clock::system_now_ms;
/// Whether a host's worker still runs ([`Host::worker_liveness`]).
pub use waymark_engine::WorkerLiveness;
pub use waymark_postgres::{CopyReport, SecretUse, TableCopy};

/// How long [`Host::shutdown`] waits by default for attempts in flight and MCP servers.
pub const DEFAULT_SHUTDOWN_LIMIT: Duration = Duration::from_secs(20);

/// What a door asks of its host.
#[derive(Clone, Debug)]
pub struct HostOptions {
    /// The database: a file or a postgres:// URL (`--db`, `$WAYMARK_DB`, or [`chosen_db`]).
    pub db: PathBuf,
    /// What chose it (Settings show it; only the setting can be changed there).
    pub db_chosen_by: DatabaseChosenBy,
    /// Secrets, tokens and logs live here ([`paths::data_dir`]).
    pub data_dir: PathBuf,
    /// Names the door in the journal's record of each decision (`cli`, `desktop`, `api`).
    pub actor: String,
    /// Install the offline demo agent, whose MCP server is this executable (`EXE demo-tools`).
    pub demo_exe: Option<PathBuf>,
    /// Execute runs in this process.
    pub worker: Option<WorkerOptions>,
    /// Run the triggers while the host runs: cron (a tick missed while stopped fires once)
    /// and email (mail that arrived while stopped starts its runs at the start).
    pub cron: bool,
}

impl HostOptions {
    /// A host on `db` in the default data directory: no worker, no cron, no demo.
    pub fn new(db: impl Into<PathBuf>) -> Self {
        HostOptions {
            db: db.into(),
            db_chosen_by: DatabaseChosenBy::Environment,
            data_dir: paths::data_dir(),
            actor: "api".into(),
            demo_exe: None,
            worker: None,
            cron: false,
        }
    }

    /// Where the database came from, when the door resolved it with [`chosen_db`].
    pub fn chosen_by(mut self, chosen_by: DatabaseChosenBy) -> Self {
        self.db_chosen_by = chosen_by;
        self
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// Runs and cron in this process, and the demo agent served by this executable: what a
    /// long-lived door (`waymark serve`, the desktop app) wants.
    pub fn serving(mut self) -> Result<Self, HostError> {
        self.demo_exe = Some(std::env::current_exe().map_err(|e| HostError::Exe(e.to_string()))?);
        self.worker = Some(WorkerOptions::default());
        self.cron = true;
        Ok(self)
    }
}

/// The worker's knobs a door may set (`waymark worker --max-runs --lease-secs`).
#[derive(Clone, Debug, Default)]
pub struct WorkerOptions {
    /// Runs held at once.
    pub max_runs: Option<usize>,
    /// How long a lease lasts before another worker may take the run.
    pub lease: Option<Duration>,
    /// Runs of agents that ask for one of these (`worker_label`) run here too.
    pub labels: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The store's and catalog's errors already name the file and say what to do.
    #[error(transparent)]
    Open(#[from] AppError),
    #[error("cannot locate this executable (the demo's tool server): {0}")]
    Exe(String),
    #[error("cannot install the demo agent: {0}")]
    Demo(String),
    #[error("cannot start the worker: {0}")]
    Worker(String),
    #[error("cannot start the triggers: {0}")]
    Triggers(String),
    #[error("opening the database was interrupted: {0}")]
    Interrupted(String),
    #[error("{0}")]
    Password(String),
    #[error("{0}")]
    Copy(String),
    #[error("{0}")]
    Choice(String),
    #[error("{0}")]
    Upgrade(String),
}

/// Keeps the team database's password in this machine's secret store (the OS keychain, or the
/// owner-only secrets file in `data_dir`), for the database `url` names; every door then finds
/// it there. Returns where it went: `"keyring"` or `"file"`.
pub fn remember_database_password(
    data_dir: &Path,
    url: &str,
    password: &str,
) -> Result<&'static str, HostError> {
    let secrets = database_secrets(data_dir, url)?;
    let secret = waymark_agent::Secret::new(password);
    waymark_postgres::remember_password(&secrets, url, &secret)
        .map_err(|e| HostError::Password(e.to_string()))
}

/// Removes the password [`remember_database_password`] kept; whether there was one.
pub fn forget_database_password(data_dir: &Path, url: &str) -> Result<bool, HostError> {
    let secrets = database_secrets(data_dir, url)?;
    waymark_postgres::forget_password(&secrets, url).map_err(|e| HostError::Password(e.to_string()))
}

/// Copies the local database `from` into the empty team database `to` (a postgres:// URL),
/// verified table by table before it commits (see [`CopyReport`]). `from` is brought to this
/// build's schema first; it is read in one snapshot and never written.
pub async fn copy_database(
    from: &Path,
    data_dir: &Path,
    to: &str,
) -> Result<CopyReport, HostError> {
    let copy_err = |detail: String| HostError::Copy(detail);
    if from.to_str().is_some_and(waymark_postgres::is_postgres_url) {
        return Err(copy_err(
            "the copy reads a local database: give its file with --db (or leave --db out for this machine's)".into(),
        ));
    }
    if !waymark_postgres::is_postgres_url(to) {
        return Err(copy_err(format!(
            "--to {to:?} is not a team database: give a postgres://user@host:port/database URL"
        )));
    }
    if !from.is_file() {
        return Err(copy_err(format!(
            "there is no database at {}",
            from.display()
        )));
    }
    let (from, data_dir, to) = (from.to_path_buf(), data_dir.to_path_buf(), to.to_string());
    tokio::task::spawn_blocking(move || {
        // Opening migrates it, so both sides have this build's columns.
        let app = AgentApp::open(&from, &data_dir, waymark_engine::examples::registry())?;
        let secrets = app.catalog.secrets().clone();
        drop(app);
        let config = waymark_postgres::PgConfig {
            secrets: Some(secrets),
            ..waymark_postgres::PgConfig::default()
        };
        waymark_postgres::copy_sqlite_to_postgres(&from, &to, &config, system_now_ms())
            .map_err(|e| HostError::Copy(e.to_string()))
    })
    .await
    .map_err(|e| HostError::Interrupted(e.to_string()))?
}

fn database_secrets(data_dir: &Path, url: &str) -> Result<waymark_agent::SecretStore, HostError> {
    if !waymark_postgres::is_postgres_url(url) {
        return Err(HostError::Password(
            "a password is kept for a team database only: give its postgres:// URL with --db or $WAYMARK_DB".into(),
        ));
    }
    waymark_agent::SecretStore::open(data_dir).map_err(|e| HostError::Password(e.to_string()))
}

/// A running Waymark. Dropping it without [`Host::shutdown`] leaves runs leased until their
/// leases expire (another worker then takes them).
pub struct Host {
    api: Api,
    app: AgentApp,
    worker: Option<Worker>,
    cron: Option<CronScheduler>,
    mail: Option<Arc<MailWatch>>,
    hooks: Arc<Hooks>,
    /// The database it was started on: a file, or a PostgreSQL URL (without a password).
    db: PathBuf,
    /// The upgrade this start made to an older database.
    upgrade: Option<waymark_api::DatabaseUpgrade>,
}

impl Host {
    pub async fn start(options: HostOptions) -> Result<Host, HostError> {
        let (db, data_dir) = (options.db.clone(), options.data_dir.clone());
        let db_path = db.clone();
        // The engine's example functions too, so a run one door started on the shared
        // database runs the same way when another door's worker leases it.
        let registry = waymark_engine::examples::registry();
        let team_url = db
            .to_str()
            .filter(|d| waymark_postgres::is_postgres_url(d))
            .map(str::to_owned);
        let local = team_url.is_none();
        let (app, upgrade) = match team_url.as_deref() {
            Some(url) => {
                let app =
                    waymark_postgres::open_app(url, &data_dir, registry, Arc::new(SystemClock))
                        .await?;
                (app, None)
            }
            // Opening may probe the OS keychain and wait on SQLite locks: off the async threads.
            // An older file is copied before it is upgraded.
            None => tokio::task::spawn_blocking(move || {
                let upgrade = match upgrade::pending(&db)? {
                    Some(pending) => Some(upgrade::back_up(&db, pending)?),
                    None => None,
                };
                let app = AgentApp::open(&db, &data_dir, registry)?;
                Ok::<_, HostError>((app, upgrade))
            })
            .await
            .map_err(|e| HostError::Interrupted(e.to_string()))??,
        };
        if let Some(exe) = &options.demo_exe {
            waymark_agent::demo::install(&app, exe).map_err(|e| HostError::Demo(e.to_string()))?;
        }
        let worker = match &options.worker {
            Some(w) => Some(start_worker(&app, w).await?),
            None => None,
        };
        let cron = if options.cron {
            Some(
                CronScheduler::spawn(app.clone())
                    .map_err(|e| HostError::Triggers(e.to_string()))?,
            )
        } else {
            None
        };
        let mail = options.cron.then(|| {
            Arc::new(MailWatch(EmailWatcher::spawn(
                app.clone(),
                EmailWatchOptions::default(),
            )))
        });
        let hooks =
            Arc::new(Hooks::new(app.clone()).map_err(|e| HostError::Triggers(e.to_string()))?);
        let choice = database::HostDatabaseChoice {
            data_dir: options.data_dir.clone(),
            in_use: options.db.clone(),
            chosen_by: options.db_chosen_by,
        };
        if let Some(upgrade) = &upgrade {
            tracing::info!("{}", upgrade.notice());
        }
        let facts = HostFacts {
            data_dir: options.data_dir.display().to_string(),
            catalog_schema_version: local.then_some(CATALOG_SCHEMA_VERSION),
            upgrade: upgrade.clone(),
            cli_path: find_cli().map(|p| p.display().to_string()),
        };
        let mut api = Api::new(app.clone())
            .with_actor(options.actor)
            .with_host_facts(facts)
            .with_hooks_status(hooks.clone())
            .with_database_choice(Arc::new(choice));
        if let Some(mail) = &mail {
            api = api.with_mail_status(mail.clone());
        }
        Ok(Host {
            api,
            app,
            worker,
            cron,
            mail,
            hooks,
            db: db_path,
            upgrade,
        })
    }

    /// Starts executing runs in this process (a no-op when a worker already runs), for a
    /// command that decides to wait for its run only once it has looked at it.
    pub async fn start_worker(&mut self, options: WorkerOptions) -> Result<(), HostError> {
        if self.worker.is_none() {
            self.worker = Some(start_worker(&self.app, &options).await?);
        }
        Ok(())
    }

    /// The one API: everything a door does goes through it.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The webhook receiver (`POST /hooks/{agent}`), for whichever listener serves it.
    pub fn hooks(&self) -> Arc<Hooks> {
        self.hooks.clone()
    }

    /// The upgrade this start made to an older database (its notice: [`DatabaseUpgrade::notice`]).
    ///
    /// [`DatabaseUpgrade::notice`]: waymark_api::DatabaseUpgrade::notice
    pub fn upgrade(&self) -> Option<&waymark_api::DatabaseUpgrade> {
        self.upgrade.as_ref()
    }

    /// Whether this host's worker still runs; `None` without one.
    pub fn worker_liveness(&self) -> Option<WorkerLiveness> {
        self.worker.as_ref().map(Worker::liveness)
    }

    pub fn db_path(&self) -> &Path {
        &self.db
    }

    /// The data directory (secrets, tokens, logs, the demo's outbox).
    pub fn data_dir(&self) -> &Path {
        &self.app.data_dir
    }

    /// The email triggers' watchers, when this host runs triggers.
    pub fn email(&self) -> Option<&EmailWatcher> {
        self.mail.as_deref().map(|m| &m.0)
    }

    /// Stops in order: the triggers first (no new runs), then the worker (attempts in flight
    /// finish, held runs are given back), then the MCP servers the runs started. Whatever is
    /// still running after `limit` is abandoned: its leases expire and another worker takes
    /// its runs.
    pub async fn shutdown(self, limit: Duration) {
        let Host {
            app,
            worker,
            cron,
            mail,
            ..
        } = self;
        let ordered = async move {
            if let Some(cron) = cron {
                cron.stop().await;
            }
            if let Some(mail) = mail {
                mail.0.stop().await;
            }
            if let Some(worker) = worker {
                worker.shutdown().await;
            }
            app.hub().shutdown().await;
        };
        if tokio::time::timeout(limit, ordered).await.is_err() {
            tracing::warn!(
                limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                "shutdown took too long; leaving the rest to lease expiry"
            );
        }
    }
}

/// The email watchers, as the API sees them.
pub struct MailWatch(EmailWatcher);

impl waymark_api::MailStatus for MailWatch {
    fn folders(&self) -> Vec<FolderStatus> {
        self.0.status()
    }

    fn reload(&self) {
        self.0.reload();
    }
}

async fn start_worker(app: &AgentApp, options: &WorkerOptions) -> Result<Worker, HostError> {
    let mut config = WorkerConfig::default();
    if let Some(n) = options.max_runs {
        config.max_runs = n;
    }
    if let Some(lease) = options.lease {
        config.lease = lease;
    }
    config.labels = options.labels.clone();
    app.engine
        .clone()
        .with_worker_config(config)
        .start_worker()
        .await
        .map_err(|e| HostError::Worker(e.to_string()))
}
