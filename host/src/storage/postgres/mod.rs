//! The PostgreSQL implementation of [`Storage`], for several nodes on one
//! database (`weft serve --store postgres://…`). It keeps the same records
//! as sled (the versioned JSON envelopes of [`records`](super::records))
//! in one table per record kind, laid out by the migrations in
//! [`schema`]. Every call commits before it returns, so
//! [`Storage::durable`] has nothing left to wait for.
//!
//! The traits are synchronous; calls run on the connection threads of
//! [`pool`]. Compiled artifacts stay node-local, as with sled. Nodes hear
//! of each other's responses and ends through `LISTEN`/`NOTIFY`
//! ([`listen`]).

mod access;
mod claim;
mod executions;
mod leases;
mod listen;
mod pool;
mod queue;
mod records;
mod schema;
mod state;

pub use schema::PG_SCHEMA_VERSION;

use std::str::FromStr as _;
use std::sync::{Arc, OnceLock};

use listen::Listener;
use pool::{Failure, Pool};

use super::{Result, Storage, StorageError};

/// Connection threads per node unless the URL says otherwise
/// (`?weft_pool=N` is not passed on to the server).
pub const DEFAULT_POOL: usize = 8;

/// Storage in a PostgreSQL database.
#[derive(Debug)]
pub struct PostgresStore {
    pool: Pool,
    /// Where the listener connects.
    config: Arc<postgres::Config>,
    /// Started by the first [`Storage::progress_events`].
    listener: OnceLock<Option<Listener>>,
}

/// Whether `url` names a PostgreSQL database (`postgres://` or
/// `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `user@host:port/db` of `config`, for messages (never the password).
fn label(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("?");
    let db = config.get_dbname().unwrap_or(user);
    format!("{user}@{host}:{port}/{db}")
}

/// Splits `weft_pool=N` off the URL's query.
fn split_pool(url: &str) -> Result<(String, usize)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), DEFAULT_POOL));
    };
    let mut size = DEFAULT_POOL;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("weft_pool=") {
            Some(n) => {
                size = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .ok_or_else(|| {
                        StorageError::Backend(format!(
                            "weft_pool={n} in the store url is not a number from 1 to 256"
                        ))
                    })?;
            }
            None => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, size))
}

impl PostgresStore {
    /// Connects to the database at `url`, applies the missing migrations
    /// and refuses a schema newer than [`PG_SCHEMA_VERSION`]. An
    /// unreachable database is an error naming it (without the password).
    pub fn open(url: &str) -> Result<Self> {
        let (url, size) = split_pool(url)?;
        let mut config = postgres::Config::from_str(&url).map_err(|e| {
            StorageError::Backend(format!("the store url is not a valid postgresql url: {e}"))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(pool::CONNECT_TIMEOUT);
        }
        config.application_name("weft");
        let label = label(&config);
        let pool = Pool::new(config.clone(), &label, size)?;
        let migrate_label = label;
        pool.try_run(move |client| schema::migrate(client, &migrate_label))?;
        Ok(Self {
            pool,
            config: Arc::new(config),
            listener: OnceLock::new(),
        })
    }

    /// The database, as `user@host:port/db`.
    pub fn label(&self) -> &str {
        self.pool.label()
    }
}

impl Storage for PostgresStore {
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn durable(&self) -> futures::future::BoxFuture<'_, Result<()>> {
        // Every write committed before it returned.
        Box::pin(std::future::ready(Ok(())))
    }

    fn check(&self) -> Result<()> {
        self.pool
            .run(|client| client.simple_query("SELECT 1").map(drop))
    }

    fn shared(&self) -> bool {
        true
    }

    fn progress_events(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        let listener = self.listener.get_or_init(|| {
            Listener::start(self.config.clone(), Arc::from(self.label()))
                .inspect_err(|e| tracing::error!(error = %e, "waiters on other nodes' executions will only poll"))
                .ok()
        });
        listener.as_ref().map(Listener::subscribe)
    }
}

/// A corrupt-record error for a row of `kind` keyed `key`.
fn decode_row<T: serde::de::DeserializeOwned>(
    kind: &'static str,
    key: &str,
    bytes: &[u8],
) -> Result<T, Failure> {
    Ok(super::records::decode(kind, key.as_bytes(), bytes)?)
}
