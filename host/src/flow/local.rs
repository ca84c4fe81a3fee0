//! Components taken from a directory of built `.wasm` files, by the name
//! and version their `describe()` reports — for `weft run` and benchmarks,
//! where there is no server registry.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;

use crate::integration::Catalog;
use crate::sandbox::{
    ComponentManifest, ComponentSource, LoadedComponent, Sandbox, component_files,
};

/// Every component of a directory, compiled and described.
#[derive(Debug, Default)]
pub struct DirectoryComponents {
    by_ref: HashMap<String, (LoadedComponent, ComponentManifest)>,
}

impl DirectoryComponents {
    /// Compiles and describes every `*.wasm` in `dir` (test fixtures,
    /// `hostile-*` and `fixture-*`, are skipped). A file that is not a valid
    /// connector component is an error naming it.
    pub async fn load(sandbox: &Sandbox, dir: &Path) -> anyhow::Result<Self> {
        let paths = component_files(dir)
            .with_context(|| format!("failed to read components directory {}", dir.display()))?;
        let mut by_ref = HashMap::new();
        for path in paths {
            let bytes = std::fs::read(&path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            let component = sandbox
                .compile(&bytes)
                .with_context(|| format!("failed to load component {}", path.display()))?;
            let manifest = sandbox
                .describe(&component)
                .await
                .with_context(|| format!("component {}", path.display()))?;
            by_ref.insert(manifest.reference(), (component, manifest));
        }
        Ok(Self { by_ref })
    }

    /// What these components offer, for validating integrations.
    pub fn catalog(&self) -> Catalog {
        Catalog::of(self.by_ref.values().map(|(_, manifest)| manifest))
    }
}

impl ComponentSource for DirectoryComponents {
    fn resolve(&self, reference: &str) -> Option<LoadedComponent> {
        self.by_ref.get(reference).map(|(c, _)| c.clone())
    }
}

/// Keeps step records and the response in memory, in finishing order.
#[derive(Debug, Default)]
pub struct RecordingObserver {
    records: std::sync::Mutex<Vec<crate::model::StepRecord>>,
}

impl RecordingObserver {
    /// The records so far.
    pub fn records(&self) -> Vec<crate::model::StepRecord> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl super::ExecutionObserver for RecordingObserver {
    fn step_finished<'a>(
        &'a self,
        record: &'a crate::model::StepRecord,
    ) -> futures::future::BoxFuture<'a, ()> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record.clone());
        Box::pin(std::future::ready(()))
    }

    fn responded(&self, _live: &crate::model::FlowResponse, _stored: &crate::model::FlowResponse) {}
}
