//! The components the server knows, as validation sees them: for each
//! `name@version`, the action keys and outbound hosts its `describe()`
//! declared. The server fills a [`Catalog`] from its component store; the CLI
//! from the components it finds locally.

use std::collections::{BTreeMap, BTreeSet};

use super::suggest;

/// The components the server knows: name → version → what it declares.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// By component name, then version.
    pub components: BTreeMap<String, BTreeMap<String, CatalogComponent>>,
    /// The brokers named in the operator's `weft.toml`, when known (the
    /// server): a queue trigger naming another is refused. `None` (the
    /// CLI checking a file locally) leaves broker names unchecked.
    pub brokers: Option<BTreeSet<String>>,
}

/// What one `name@version` declares in `describe()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogComponent {
    /// Its action keys.
    pub actions: BTreeSet<String>,
    /// Outbound hosts it needs (`api.acme.example:443`); not checked here.
    pub hosts: Vec<String>,
    /// Input schema by action key, where known (step inputs are checked
    /// against them at upload).
    pub input_schemas: BTreeMap<String, serde_json::Value>,
}

impl Catalog {
    /// Adds (or replaces) `name@version`.
    pub fn insert<A, H>(&mut self, name: &str, version: &str, actions: A, hosts: H)
    where
        A: IntoIterator,
        A::Item: Into<String>,
        H: IntoIterator,
        H::Item: Into<String>,
    {
        let component = CatalogComponent {
            actions: actions.into_iter().map(Into::into).collect(),
            hosts: hosts.into_iter().map(Into::into).collect(),
            input_schemas: BTreeMap::new(),
        };
        self.components
            .entry(name.to_owned())
            .or_default()
            .insert(version.to_owned(), component);
    }

    /// A catalog of what `manifests` report.
    pub fn of<'a>(
        manifests: impl IntoIterator<Item = &'a crate::sandbox::ComponentManifest>,
    ) -> Self {
        let mut catalog = Self::default();
        for manifest in manifests {
            catalog.add_manifest(manifest);
        }
        catalog
    }

    /// Adds what a component's `describe()` reported.
    pub fn add_manifest(&mut self, manifest: &crate::sandbox::ComponentManifest) {
        self.insert(
            &manifest.name,
            &manifest.version,
            manifest.actions.iter().map(|a| a.key.clone()),
            manifest.hosts.iter().cloned(),
        );
        if let Some(component) = self
            .components
            .get_mut(&manifest.name)
            .and_then(|v| v.get_mut(&manifest.version))
        {
            component.input_schemas = manifest
                .actions
                .iter()
                .map(|a| (a.key.clone(), a.input_schema.clone()))
                .collect();
        }
    }

    /// `name@version`, if known.
    pub fn get(&self, name: &str, version: &str) -> Option<&CatalogComponent> {
        self.components.get(name)?.get(version)
    }

    /// Why `name@version` is unknown, with a suggestion.
    pub(crate) fn unknown(&self, name: &str, version: &str) -> String {
        let reference = format!("{name}@{version}");
        if let Some(versions) = self.components.get(name) {
            let hint = suggest::closest(version, versions.keys().map(String::as_str))
                .map(|v| format!("did you mean '{name}@{v}'?"))
                .unwrap_or_else(|| {
                    let list: Vec<&str> = versions.keys().map(String::as_str).collect();
                    format!("available versions of {name}: {}", list.join(", "))
                });
            return format!("unknown component '{reference}'; {hint}");
        }
        if self.components.is_empty() {
            return format!("unknown component '{reference}'; no components are uploaded");
        }
        match suggest::closest(name, self.components.keys().map(String::as_str)) {
            Some(best) => {
                let versions = &self.components[best];
                let v = if versions.contains_key(version) {
                    version
                } else {
                    versions.keys().next_back().map_or(version, String::as_str)
                };
                format!("unknown component '{reference}'; did you mean '{best}@{v}'?")
            }
            None => format!(
                "unknown component '{reference}'{}",
                suggest::hint(name, self.components.keys().map(String::as_str))
            ),
        }
    }
}
