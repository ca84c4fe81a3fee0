//! Integration versions: upload (parse, validate against a [`Catalog`] of
//! the registered components, store immutably) and look-up by
//! [`IntegrationRef`].

use crate::integration::{Catalog, ValidationErrors, parse, validate};
use crate::model::IntegrationRef;
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

/// Parses and validates `text` (YAML or JSON) against `catalog` and stores
/// it as a new integration version. The caller holds the component
/// registry's change lock from building `catalog` until this returns, so
/// no component the version calls can be deleted in between (see
/// `server::integrations::push`).
pub fn push(catalog: &Catalog, store: &dyn Storage, text: String) -> Result<Pushed, PushError> {
    let model = parse(&text).map_err(PushError::Invalid)?;
    validate(&model, catalog).map_err(PushError::Invalid)?;
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
    let Ok(reference) = reference.parse::<IntegrationRef>() else {
        return Ok(None);
    };
    match reference.version {
        Some(version) => store.get_integration(&reference.name, version),
        None => store.latest_integration(&reference.name),
    }
}
