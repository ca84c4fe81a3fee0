//! Loading components: recognising what the bytes are, compiling or
//! deserialising them, pre-linking them against the host (`InstancePre`)
//! once, and asking them to `describe()` themselves.
//!
//! A loaded component remembers what its `describe()` declared (its
//! `name@version` and outbound hosts), which every step's outbound policy
//! needs: [`Sandbox::describe`] or [`LoadedComponent::set_manifest`] records
//! it, and a step of a component that has neither describes it once first.

use std::sync::{Arc, OnceLock};

use wasmtime::component::Component;

use super::Sandbox;
use super::bindings::ConnectorPre;
use super::error::LoadError;
use super::host_state::StepState;
use super::manifest::ComponentManifest;
use super::outbound::ComponentGrant;

/// A compiled, pre-linked component, ready to instantiate per step.
#[derive(Clone)]
pub struct LoadedComponent {
    pub(super) pre: ConnectorPre<StepState>,
    /// Shared by clones: set once from the manifest.
    grant: Arc<OnceLock<Arc<ComponentGrant>>>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent").finish_non_exhaustive()
    }
}

impl LoadedComponent {
    /// Records the manifest stored with this component (e.g. after
    /// [`Sandbox::deserialize`]), so steps need not call `describe()` again
    /// to learn its reference and declared hosts. The first record wins.
    pub fn set_manifest(&self, manifest: &ComponentManifest) {
        let _ = self
            .grant
            .set(Arc::new(ComponentGrant::from_manifest(manifest)));
    }

    /// What its outbound requests may reach, if known yet.
    pub(super) fn grant(&self) -> Option<Arc<ComponentGrant>> {
        self.grant.get().cloned()
    }
}

/// What kind of WebAssembly binary some bytes are.
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm);
    }
    // Core modules have version 1 and layer 0; components layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

impl Sandbox {
    /// Validates and compiles a component from its `.wasm` bytes.
    pub fn compile(&self, bytes: &[u8]) -> Result<LoadedComponent, LoadError> {
        self.compile_artifact(bytes).map(|(component, _)| component)
    }

    /// [`Sandbox::compile`], also returning the compiled artifact, for
    /// storing and [`Sandbox::deserialize`] later. Compiling happens in an
    /// engine of its own ([`super::WasmEngine::compile`]: the compiler's
    /// scratch memory goes with it), and the component loads from the
    /// artifact.
    pub fn compile_artifact(&self, bytes: &[u8]) -> Result<(LoadedComponent, Vec<u8>), LoadError> {
        check_header(bytes)?;
        super::inspect::check_compile_size(bytes)?;
        let artifact = self
            .engine
            .compile(bytes)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        Ok((self.deserialize(&artifact)?, artifact))
    }

    /// Loads an artifact produced by [`Sandbox::compile_artifact`] with an
    /// engine of the same configuration; [`LoadError::Incompatible`] tells
    /// the caller to recompile from the original bytes.
    pub fn deserialize(&self, artifact: &[u8]) -> Result<LoadedComponent, LoadError> {
        let component = deserialize_artifact(self.engine.engine(), artifact)?;
        self.link(component)
    }

    /// Like [`Sandbox::deserialize`], but maps the artifact file into
    /// memory instead of reading it (much faster for many large
    /// artifacts). The file must not change while the component is loaded:
    /// write artifacts to a new file and rename them into place.
    pub fn deserialize_file(&self, path: &std::path::Path) -> Result<LoadedComponent, LoadError> {
        let component = deserialize_artifact_file(self.engine.engine(), path)?;
        self.link(component)
    }

    fn link(&self, component: Component) -> Result<LoadedComponent, LoadError> {
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            let text = format!("{e:#}");
            match text
                .split("import `")
                .nth(1)
                .and_then(|r| r.split('`').next())
            {
                Some(import) => LoadError::UnsatisfiedImport(import.to_owned()),
                None => LoadError::Invalid(text),
            }
        })?;
        let pre =
            ConnectorPre::new(instance_pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        Ok(LoadedComponent {
            pre,
            grant: Arc::default(),
        })
    }

    /// Calls `describe()` in a fresh, tightly limited instance and checks
    /// the answer.
    pub async fn describe(
        &self,
        component: &LoadedComponent,
    ) -> Result<ComponentManifest, LoadError> {
        let info = self
            .call_describe(component)
            .await
            .map_err(|e| LoadError::Describe(e.to_string()))?;
        let manifest = ComponentManifest::from_info(info).map_err(LoadError::Describe)?;
        component.set_manifest(&manifest);
        Ok(manifest)
    }

    /// The component's grant, describing it first if nothing recorded one;
    /// a component that cannot describe itself may reach nothing.
    pub(super) async fn grant(&self, component: &LoadedComponent) -> Arc<ComponentGrant> {
        if let Some(grant) = component.grant() {
            return grant;
        }
        match self.describe(component).await {
            Ok(_) => component.grant().unwrap_or_default(),
            Err(_) => Arc::default(),
        }
    }
}

#[expect(
    unsafe_code,
    reason = "wasmtime requires artifacts to be trusted; they come only from our own compiler or our own data dir, written by Sandbox::compile_artifact"
)]
fn deserialize_artifact(
    engine: &wasmtime::Engine,
    artifact: &[u8],
) -> Result<Component, LoadError> {
    // SAFETY: the artifact was produced by `Sandbox::compile_artifact` of
    // this program, just now or earlier and stored in the operator's data
    // dir, which is as trusted as the binary itself; wasmtime checks the
    // engine configuration and version and refuses a mismatch.
    unsafe { Component::deserialize(engine, artifact) }
        .map_err(|e| LoadError::Incompatible(format!("{e:#}")))
}

#[expect(
    unsafe_code,
    reason = "wasmtime requires artifacts to be trusted; they come only from our own compiler or our own data dir, written by Sandbox::compile_artifact"
)]
fn deserialize_artifact_file(
    engine: &wasmtime::Engine,
    path: &std::path::Path,
) -> Result<Component, LoadError> {
    // SAFETY: as for `deserialize_artifact`; in addition the file is only
    // ever replaced by rename, never modified in place, so the mapping
    // stays valid.
    unsafe { Component::deserialize_file(engine, path) }
        .map_err(|e| LoadError::Incompatible(format!("{e:#}")))
}
