//! Integration versions: upload (parse, validate against the registered
//! components, store immutably) and look-up.

use crate::integration::{ValidationErrors, parse, validate};
use crate::registry::ComponentRegistry;
use crate::storage::{Inserted, IntegrationRecord, Storage, StorageError};

/// Why an integration upload failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The file does not parse or does not validate; every problem with
    /// its path.
    #[error("integration is invalid")]
    Invalid(ValidationErrors),
    /// `name@version` exists with a different text.
    #[error(
        "integration {0} already exists with different content; integration versions are immutable, bump the version"
    )]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The outcome of [`push`].
#[derive(Clone, Debug)]
pub struct Pushed {
    /// The stored version.
    pub record: IntegrationRecord,
    /// `false` when the same text was already stored (a no-op).
    pub created: bool,
}

/// Parses and validates `text` (YAML or JSON) against the registry's
/// components and stores it as a new integration version.
///
/// `brokers` are the broker names of the server's `weft.toml`: a queue
/// trigger naming another is refused (`None` leaves them unchecked).
pub async fn push(
    registry: &ComponentRegistry,
    store: &dyn Storage,
    brokers: Option<std::collections::BTreeSet<String>>,
    text: String,
) -> Result<Pushed, PushError> {
    let model = parse(&text).map_err(PushError::Invalid)?;
    // Hold the change lock from validation to insert, so no component this
    // version calls can be deleted in between.
    let _guard = registry.lock_changes().await;
    let mut catalog = registry.catalog();
    catalog.brokers = brokers;
    validate(&model, &catalog).map_err(PushError::Invalid)?;
    let reference = format!("{}@{}", model.name, model.version);
    let mut components: Vec<String> = model.components().into_iter().map(str::to_owned).collect();
    components.sort();
    let record = IntegrationRecord {
        name: model.name.clone(),
        version: model.version,
        text,
        model,
        components,
        created_at: chrono::Utc::now(),
    };
    match store.insert_integration(&record)? {
        Inserted::Created => {
            tracing::info!(integration = %reference, "integration stored");
            Ok(Pushed {
                record,
                created: true,
            })
        }
        Inserted::Exists(existing) if existing.text == record.text => Ok(Pushed {
            record: existing,
            created: false,
        }),
        Inserted::Exists(_) => Err(PushError::Conflict(reference)),
    }
}

/// Finds `name@version`, or the latest version for a bare `name`.
pub fn find(
    store: &dyn Storage,
    reference: &str,
) -> Result<Option<IntegrationRecord>, StorageError> {
    match reference.split_once('@') {
        Some((name, version)) => match version.parse::<u32>() {
            Ok(version) => store.get_integration(name, version),
            Err(_) => Ok(None),
        },
        None => store.latest_integration(reference),
    }
}
