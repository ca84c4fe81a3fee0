//! The stored records: plain serde structs, one per kind. Each is stored in
//! an [`Envelope`] carrying its record version, so a field can be added
//! with a serde default, and a record written by a newer binary (higher
//! version) is reported instead of half-read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{StorageError, records};
use crate::integration::Integration;
use crate::model::SealedSecret;
use crate::sandbox::ComponentManifest;

/// The version every record kind is written with today.
pub const RECORD_VERSION: u32 = 1;

/// How a record sits on disk: `{"v": 1, "data": {…}}`.
#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    data: T,
}

#[derive(Serialize)]
struct EnvelopeRef<'a, T> {
    v: u32,
    data: &'a T,
}

/// Encodes a record in its envelope.
pub(crate) fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(&EnvelopeRef {
        v: RECORD_VERSION,
        data: record,
    })
    .map_err(|e| StorageError::Backend(format!("failed to encode a record: {e}")))
}

/// Decodes a record of `kind` stored under `key`.
pub(crate) fn decode<T: DeserializeOwned>(
    kind: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        kind,
        key: String::from_utf8_lossy(key).into_owned(),
        message,
    };
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let newer = |v: u32| {
        corrupt(format!(
            "record version {v} is newer than this weft understands ({})",
            records::RECORD_VERSION
        ))
    };
    // One pass over the bytes: every record is read on the hot path (an
    // execution is read and updated several times per run). Only when
    // that fails is the version read alone, so a record of a newer binary
    // is reported as such rather than as whatever field no longer fits.
    match serde_json::from_slice::<Envelope<T>>(bytes) {
        Ok(envelope) if envelope.v > records::RECORD_VERSION => Err(newer(envelope.v)),
        Ok(envelope) => Ok(envelope.data),
        Err(e) => match serde_json::from_slice::<Version>(bytes) {
            Ok(version) if version.v > records::RECORD_VERSION => Err(newer(version.v)),
            _ => Err(corrupt(e.to_string())),
        },
    }
}

/// An uploaded component (its bytes are stored beside it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentRecord {
    /// Name from `describe()`.
    pub name: String,
    /// Version from `describe()`.
    pub version: String,
    /// Hex SHA-256 of the `.wasm` bytes (same bytes again is a no-op).
    pub sha256: String,
    /// Size of the `.wasm` bytes.
    pub size: u64,
    /// What `describe()` returned.
    pub manifest: ComponentManifest,
    /// Registered from the `--builtins` directory rather than uploaded.
    #[serde(default)]
    pub builtin: bool,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl ComponentRecord {
    /// `name@version`.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// One stored integration version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegrationRecord {
    /// Integration name.
    pub name: String,
    /// Version number.
    pub version: u32,
    /// The file exactly as uploaded (same text again is a no-op).
    pub text: String,
    /// The parsed, validated model.
    pub model: Integration,
    /// Every `name@version` its flows call (for delete checks).
    pub components: Vec<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl IntegrationRecord {
    /// `name@version`.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// A customer of the operator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// Unique slug.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// An API token, stored only as its SHA-256 (the key of the record).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id (UUIDv7), for listing and revoking later.
    pub id: String,
    /// The tenant it acts for; `None` = an operator token.
    pub tenant: Option<String>,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// The first characters of the token, for telling tokens apart when
    /// listing (never enough to use it); absent on records stored before
    /// prefixes were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Where it came from (`env`, `generated`, `api`).
    pub origin: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Lifecycle state of an instance: `created → deploying → active |
/// deploy_failed`, `active | deploy_failed → disabling → disabled`,
/// `disabled | deploy_failed → deploying` again. The two transitional
/// states last while the lifecycle flows run; they are stored before the
/// flows start, so a restarted host picks the transition up again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Created, never enabled.
    Created,
    /// Being enabled: its deploy flows are running.
    Deploying,
    /// Enabled (deploy flows succeeded).
    Active,
    /// Enabling failed in a deploy flow.
    DeployFailed,
    /// Being disabled: its teardown flows are running.
    Disabling,
    /// Disabled (teardown ran).
    Disabled,
}

impl InstanceStatus {
    /// The API name (`deploy_failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Deploying => "deploying",
            Self::Active => "active",
            Self::DeployFailed => "deploy_failed",
            Self::Disabling => "disabling",
            Self::Disabled => "disabled",
        }
    }

    /// Whether lifecycle flows are running (`deploying`, `disabling`).
    pub fn is_transitional(self) -> bool {
        matches!(self, Self::Deploying | Self::Disabling)
    }
}

/// An integration version deployed for one tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// UUIDv7.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Integration name.
    pub integration: String,
    /// Integration version.
    pub version: u32,
    /// Plain config values as given (defaults are applied when resolving).
    pub config: Map<String, Value>,
    /// Secret values, sealed with the master key.
    pub secrets: BTreeMap<String, SealedSecret>,
    /// Lifecycle state.
    pub status: InstanceStatus,
    /// Id of the last deploy or teardown execution.
    #[serde(default)]
    pub last_lifecycle_execution: Option<String>,
    /// Id of the current (or last) lifecycle transition: its flows'
    /// executions carry it in their idempotency key, so resubmitting a
    /// flow of the same transition returns the execution already stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_run: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Outbound host patterns this instance adds to the operator allowlist
    /// (still limited to hosts its components declare).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbound_allow: Vec<String>,
}

impl InstanceRecord {
    /// `integration@version`.
    pub fn integration_ref(&self) -> String {
        format!("{}@{}", self.integration, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        name: String,
    }

    #[test]
    fn records_round_trip_and_newer_or_broken_ones_are_named() {
        let bytes = encode(&Sample { name: "a".into() }).unwrap();
        let back: Sample = decode("sample", b"k", &bytes).unwrap();
        assert_eq!(back, Sample { name: "a".into() });
        // A newer record is refused as newer, whether or not its data
        // still fits this binary's struct.
        for newer in [
            r#"{"v": 2, "data": {"name": "a"}}"#,
            r#"{"v": 2, "data": {"renamed": 1}}"#,
        ] {
            let err = decode::<Sample>("sample", b"k", newer.as_bytes()).unwrap_err();
            assert!(
                err.to_string().contains("record version 2 is newer"),
                "{err}"
            );
        }
        let err = decode::<Sample>("sample", b"k", br#"{"v": 1, "data": {}}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("corrupt sample record \"k\": missing field `name`"),
            "{err}"
        );
    }
}
