//! Ids as types: [`ExecutionId`] and [`InstanceId`] (UUIDs, as the host
//! mints them), [`ComponentRef`] (`name@version`) and [`IntegrationRef`]
//! (`name@version`, or a bare `name` for the latest version). Each parses
//! with [`FromStr`] (an [`IdError`] naming the value) and prints with
//! [`Display`] as it parsed, so the API's path extractors refuse a
//! malformed id before any look-up.

use std::fmt::{self, Display};
use std::str::FromStr;

/// Why a text is not an id of its kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {value:?} is malformed: {expected}")]
pub struct IdError {
    /// What was parsed (`execution id`, `component reference`, …).
    pub kind: &'static str,
    /// The text as given (at most 100 characters of it).
    pub value: String,
    /// What it should look like.
    pub expected: &'static str,
}

impl IdError {
    fn new(kind: &'static str, value: &str, expected: &'static str) -> Self {
        Self {
            kind,
            value: value.chars().take(100).collect(),
            expected,
        }
    }
}

/// A UUID id, kept as text in its canonical lowercase hyphenated form.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// A new UUIDv7 id (time-ordered).
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                uuid::Uuid::parse_str(s)
                    .map(|u| Self(u.hyphenated().to_string()))
                    .map_err(|_| IdError::new($kind, s, "expected a UUID"))
            }
        }

        impl Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

uuid_id!(
    /// An execution's id.
    ExecutionId,
    "execution id"
);
uuid_id!(
    /// An instance's id.
    InstanceId,
    "instance id"
);

impl ExecutionId {
    /// The smallest id minted in `at`'s millisecond: every id minted
    /// earlier sorts before it, as text too (a UUIDv7 starts with its
    /// creation time in milliseconds, and hex digits sort as numbers).
    pub fn first_at(at: chrono::DateTime<chrono::Utc>) -> Self {
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        Self(
            uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10])
                .into_uuid()
                .to_string(),
        )
    }
}

/// `name@version` with both parts non-empty and one `@`.
fn name_at_version(s: &str) -> Option<(&str, &str)> {
    let (name, version) = s.split_once('@')?;
    (!name.is_empty() && !version.is_empty() && !version.contains('@')).then_some((name, version))
}

/// A component version: `name@version`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentRef {
    /// The component's name.
    pub name: String,
    /// Its version, as published (`1.2.0`).
    pub version: String,
}

impl FromStr for ComponentRef {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let (name, version) = name_at_version(s)
            .ok_or_else(|| IdError::new("component reference", s, "expected name@version"))?;
        Ok(Self {
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }
}

impl Display for ComponentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// An integration: `name@version` (a whole number), or a bare `name` for
/// its latest version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntegrationRef {
    /// The integration's name.
    pub name: String,
    /// Its version; `None` for the latest.
    pub version: Option<u32>,
}

impl FromStr for IntegrationRef {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        const EXPECTED: &str = "expected name or name@version with a whole-number version";
        let bad = || IdError::new("integration reference", s, EXPECTED);
        match s.split_once('@') {
            None if !s.is_empty() => Ok(Self {
                name: s.to_owned(),
                version: None,
            }),
            None => Err(bad()),
            Some(_) => {
                let (name, version) = name_at_version(s).ok_or_else(bad)?;
                Ok(Self {
                    name: name.to_owned(),
                    version: Some(version.parse().map_err(|_| bad())?),
                })
            }
        }
    }
}

impl Display for IntegrationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(version) => write!(f, "{}@{version}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_id_of_a_millisecond_sorts_after_every_earlier_id() {
        let at = chrono::Utc::now();
        let millis = u64::try_from(at.timestamp_millis()).unwrap();
        let first = ExecutionId::first_at(at);
        let last_before = uuid::Builder::from_unix_timestamp_millis(millis - 1, &[0xff; 10])
            .into_uuid()
            .to_string();
        let random_same = uuid::Builder::from_unix_timestamp_millis(millis, &[0x5a; 10])
            .into_uuid()
            .to_string();
        assert!(
            last_before.as_str() < first.as_str(),
            "{last_before} < {first}"
        );
        assert!(
            first.as_str() <= random_same.as_str(),
            "{first} <= {random_same}"
        );
        assert!(first.as_str() <= ExecutionId::new().as_str());
        let parsed = uuid::Uuid::parse_str(first.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert_eq!(first.as_str().parse::<ExecutionId>(), Ok(first.clone()));
    }

    #[test]
    fn uuid_ids_parse_and_print_canonically() {
        let id = ExecutionId::new();
        assert_eq!(id.as_str().parse::<ExecutionId>(), Ok(id.clone()));
        let upper = id.as_str().to_uppercase();
        assert_eq!(upper.parse::<ExecutionId>().unwrap(), id);
        let bad = "nope".parse::<InstanceId>().unwrap_err();
        assert_eq!(
            bad.to_string(),
            "instance id \"nope\" is malformed: expected a UUID"
        );
    }

    #[test]
    fn references_need_a_name_and_a_version() {
        let c: ComponentRef = "http@1.2.0".parse().unwrap();
        assert_eq!((c.name.as_str(), c.version.as_str()), ("http", "1.2.0"));
        assert_eq!(c.to_string(), "http@1.2.0");
        for bad in ["http", "@1", "http@", "a@b@c"] {
            assert!(bad.parse::<ComponentRef>().is_err(), "{bad}");
        }
        let latest: IntegrationRef = "orders".parse().unwrap();
        assert_eq!(latest.version, None);
        assert_eq!(
            "orders@3".parse::<IntegrationRef>().unwrap().to_string(),
            "orders@3"
        );
        for bad in ["", "orders@", "orders@x", "@3"] {
            assert!(bad.parse::<IntegrationRef>().is_err(), "{bad}");
        }
    }
}
