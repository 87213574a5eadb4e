//! Persistence for the Agora market: one [`Store`] over sqlx, with versioned migrations,
//! one transaction per change, and a feed of [`MarketEvent`]s sent after each commit.
//!
//! Every public method is async and takes, where it matters, the [`Actor`] asking: the store
//! decides what that account may see and do (another account's private hub, device or
//! purchase looks like [`StoreError::NotFound`]), and calls the rules of `agora-market`
//! before every write, so no caller can skip a check.
//!
//! The database is SQLite by default (a file with WAL, foreign keys and a busy timeout). All
//! SQL lives in this crate and is kept portable (see `migrations/0001_init.sql`): adding
//! PostgreSQL means a second pool type behind [`Store`] and a copy of the migrations, not a
//! change to the domain or to callers.
//!
//! Writes are serialised in-process by one async mutex and open with `BEGIN IMMEDIATE`, so
//! SQLite never has to upgrade a read lock (the source of "database is locked" errors), and
//! events leave in commit order. Another process (e.g. `agora admin`) waits on the busy
//! timeout.
//!
//! Modules: [`activity`] (product liveness), [`accounts`] (accounts, passwords, API tokens), [`hubs`], [`devices`],
//! [`products`] (including search), [`purchases`] (buying, transitions, usage, expiry),
//! [`access_keys`], [`notifications`], [`ratings`], [`audit`], [`entitlements`] (the bulk view
//! for the broker), [`page`] (cursor pagination).

pub mod access_keys;
pub mod accounts;
pub mod activity;
pub mod audit;
pub mod devices;
pub mod entitlements;
pub mod error;
pub mod hubs;
pub mod notifications;
pub mod page;
pub mod products;
pub mod purchases;
pub mod ratings;
mod rows;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use agora_market::{Actor, MarketEvent};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use tokio::sync::{Mutex, MutexGuard, Semaphore, broadcast};

pub use activity::{ActivityReport, ProductActivity};
pub use audit::MarketStats;
pub use devices::NewCredential;
pub use entitlements::Entitlements;
pub use error::StoreError;
pub use hubs::HubPatch;
pub use page::{Page, PageRequest};
pub use products::{ProductPatch, ProductQuery, ProductSort};
pub use purchases::SalesTotals;

/// Results of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How many events a slow subscriber may fall behind before it sees `Lagged` (and should
/// reload [`Store::entitlements`]).
const EVENT_BUFFER: usize = 4096;

/// Concurrent password hashes at most.
const HASH_CONCURRENCY: usize = 4;

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The market's persistent state. Cheap to clone (all clones share the pool and the feed).
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    events: broadcast::Sender<MarketEvent>,
    write_lock: Arc<Mutex<()>>,
    /// Bounds concurrent argon2 runs: each takes ~19 MiB and a core for ~10 ms, so a burst
    /// of logins must queue rather than exhaust memory or the blocking pool.
    hash_permits: Arc<Semaphore>,
    /// Seconds in one plan day (see [`Store::set_period_day`]); shared by all clones.
    plan_day_secs: Arc<AtomicI64>,
    /// Awaited after each committed write that emitted events (see
    /// [`Store::set_commit_hook`]); a std lock, never held across an await.
    commit_hook: Arc<std::sync::RwLock<Option<CommitHook>>>,
}

/// Awaited after a write that emitted events has committed and sent them (and after the
/// write lock is released), before the write method returns to its caller. The broker's
/// access layer uses it to enforce a revocation before the API answers.
pub type CommitHook = Arc<
    dyn Fn(&[MarketEvent]) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed, with its folder) the SQLite database at `path` and runs
    /// pending migrations. A new file is created readable by its owner only (it holds
    /// password and credential hashes); SQLite gives its WAL files the same mode.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        create_private(path).map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode and avoids an fsync
            // per commit; only a power loss can drop the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Self::with_pool(pool).await
    }

    /// Opens the database named by a `database.url`: `sqlite://PATH` (or a bare path).
    /// PostgreSQL URLs are refused with a clear message until that backend exists.
    pub async fn connect(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Err(agora_market::ValidationError::new(
                "database.url",
                "PostgreSQL is not supported yet; use sqlite://PATH (the default)",
            )
            .into());
        }
        if url == "sqlite::memory:" {
            return Self::open_in_memory().await;
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err(agora_market::ValidationError::new(
                "database.url",
                "names no database file",
            )
            .into());
        }
        Self::open(path).await
    }

    /// Opens a private in-memory database (tests, `--demo` without a data folder).
    pub async fn open_in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection that never closes: every connection to ":memory:" is a separate,
        // empty database, and closing the last one discards it.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::with_pool(pool).await
    }

    async fn with_pool(pool: SqlitePool) -> Result<Self> {
        sqlx::migrate!("./migrations").run(&pool).await?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Ok(Self {
            pool,
            events,
            write_lock: Arc::new(Mutex::new(())),
            hash_permits: Arc::new(Semaphore::new(HASH_CONCURRENCY)),
            commit_hook: Arc::new(std::sync::RwLock::new(None)),
            plan_day_secs: Arc::new(AtomicI64::new(
                agora_market::purchase::PLAN_DAY.whole_seconds(),
            )),
        })
    }

    /// A receiver of every [`MarketEvent`] committed from now on, in commit order. On
    /// `RecvError::Lagged`, reload [`Store::entitlements`].
    #[must_use]
    pub fn subscribe_events(&self) -> broadcast::Receiver<MarketEvent> {
        self.events.subscribe()
    }

    /// Sets how long one plan day lasts for purchases activated or extended from now on
    /// (1 s to 1 day; default 1 day). A demo and end-to-end-test knob
    /// (`market.period_day`): with `2s`, a 30-day plan ends after a minute.
    pub fn set_period_day(&self, day: Duration) -> Result<(), agora_market::ValidationError> {
        let secs = i64::try_from(day.as_secs()).unwrap_or(i64::MAX);
        if day.subsec_nanos() != 0 || !(1..=86_400).contains(&secs) {
            return Err(agora_market::ValidationError::new(
                "market.period_day",
                "must be whole seconds from 1s to 1d",
            ));
        }
        self.plan_day_secs.store(secs, Ordering::Relaxed);
        Ok(())
    }

    /// The length of one plan day now in force.
    #[must_use]
    pub fn plan_day(&self) -> time::Duration {
        time::Duration::seconds(self.plan_day_secs.load(Ordering::Relaxed))
    }

    /// Sets the hook awaited after every committed write that emitted events (replacing any
    /// previous one); shared by all clones. The hook must not wait for a write of its own
    /// caller: it runs after the write lock is released, but inside the caller's method.
    pub fn set_commit_hook(&self, hook: CommitHook) {
        if let Ok(mut h) = self.commit_hook.write() {
            *h = Some(hook);
        }
    }

    /// Removes the commit hook.
    pub fn clear_commit_hook(&self) {
        if let Ok(mut h) = self.commit_hook.write() {
            *h = None;
        }
    }

    /// One cheap round trip to the database (for health checks).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool (at shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction: takes the write lock, then `BEGIN IMMEDIATE`.
    pub(crate) async fn write(&self) -> Result<WriteTx<'_>> {
        let guard = self.write_lock.lock().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx {
            tx,
            events: Vec::new(),
            sender: &self.events,
            plan_day: self.plan_day(),
            hook: &self.commit_hook,
            _guard: guard,
        })
    }

    /// Starts a write transaction for `actor`, refusing a suspended (or vanished) account
    /// inside the transaction, so an `Actor` held since before a suspension cannot act.
    pub(crate) async fn write_as(&self, actor: &Actor) -> Result<WriteTx<'_>> {
        let mut w = self.write().await?;
        if actor.is_operator() {
            // Not an account: nothing to be suspended. Methods that would make it own
            // something fail on the foreign key to accounts.
            return Ok(w);
        }
        let suspended: Option<bool> =
            sqlx::query_scalar("SELECT suspended FROM accounts WHERE id = ?")
                .bind(actor.id.to_string())
                .fetch_optional(w.conn())
                .await?;
        match suspended {
            None => Err(StoreError::Unauthenticated),
            Some(true) => Err(StoreError::Suspended),
            Some(false) => Ok(w),
        }
    }

    /// Starts a read transaction, for reads that must see one consistent snapshot.
    pub(crate) async fn read(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin().await?)
    }
}

/// A write in progress: the transaction, the events to send once it commits, and the write
/// lock (released on drop; dropping without commit rolls back and sends nothing).
pub(crate) struct WriteTx<'a> {
    tx: Transaction<'static, Sqlite>,
    events: Vec<MarketEvent>,
    sender: &'a broadcast::Sender<MarketEvent>,
    /// The plan day in force when the write began.
    pub(crate) plan_day: time::Duration,
    hook: &'a std::sync::RwLock<Option<CommitHook>>,
    _guard: MutexGuard<'a, ()>,
}

impl WriteTx<'_> {
    /// The connection to run statements on.
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }

    /// Queues an event for after the commit.
    pub(crate) fn emit(&mut self, event: MarketEvent) {
        self.events.push(event);
    }

    /// Commits, then sends the queued events (while still holding the lock, so that events
    /// of consecutive writes never interleave).
    ///
    /// Then, with the lock released, awaits the commit hook (if one is set and there were
    /// events), so that the caller returns only once the broker has enforced the change.
    pub(crate) async fn commit(self) -> Result<()> {
        let WriteTx {
            tx,
            events,
            sender,
            hook,
            _guard: guard,
            ..
        } = self;
        tx.commit().await?;
        for e in &events {
            // No receiver is not an error: the broker may not be running (CLI, tests).
            let _ = sender.send(e.clone());
        }
        // Released before the hook: the hook's side (the broker's sync task) may write too.
        drop(guard);
        if !events.is_empty() {
            // Cloned out so that no lock is held across the await.
            let hook = hook.read().map(|h| h.clone()).unwrap_or(None);
            if let Some(hook) = hook {
                hook(&events).await;
            }
        }
        Ok(())
    }
}

/// Creates `path` (and its folder) as an empty owner-only file if it does not exist yet.
fn create_private(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The current time, truncated to whole seconds as stored.
pub(crate) fn now() -> time::OffsetDateTime {
    let n = time::OffsetDateTime::now_utc();
    n.replace_nanosecond(0).unwrap_or(n)
}

impl Store {
    /// Runs a password hash or check off the async threads, at most
    /// `HASH_CONCURRENCY` at a time.
    pub(crate) async fn hash_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .hash_permits
            .acquire()
            .await
            .map_err(|e| StoreError::Hash(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| StoreError::Hash(e.to_string()))
    }
}

/// Refuses an actor that is not an administrator.
pub(crate) fn require_admin(actor: &Actor) -> Result<()> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(StoreError::Forbidden {
            message: "administrators only".into(),
        })
    }
}
