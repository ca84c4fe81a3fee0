//! What an execution needs in clear but must not store in clear: its
//! trigger payload (credential headers included) and the outputs later
//! steps read, kept next to the redacted view the record shows, sealed
//! under the operator's master key (XChaCha20-Poly1305, like instance
//! secrets).
//!
//! A sealed value is bound to its execution and place
//! (`execution/<id>/trigger`, `execution/<id>/step/<path>`), so a sealed
//! blob copied to another execution or step does not open. Values are
//! sealed only when their redacted view differs from them; otherwise the
//! view is the value.

use serde_json::Value;

use super::redact::{execution_redactor, shown_trigger};
use crate::integration::{Flow, Trigger};
use crate::model::{ExecutionRecord, SealedSecret};
use crate::storage::SecretBox;

/// Why a sealed value did not open.
#[derive(Debug, thiserror::Error)]
#[error(
    "the sealed {what} of execution {execution} could not be opened: wrong master key or corrupted data"
)]
pub struct SealError {
    /// The execution.
    pub execution: String,
    /// `trigger`, or `output of step 'x'`.
    pub what: String,
}

/// Seals and opens an execution's values with the master key. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct Sealer {
    sbox: SecretBox,
}

fn context(execution: &str, place: &str) -> String {
    format!("execution/{execution}/{place}")
}

fn step_place(path: &str) -> String {
    format!("step/{path}")
}

impl Sealer {
    /// A sealer using `sbox`'s key.
    pub fn new(sbox: SecretBox) -> Self {
        Self { sbox }
    }

    fn seal(&self, execution: &str, place: &str, value: &Value) -> SealedSecret {
        self.sbox
            .seal(&context(execution, place), &value.to_string())
    }

    fn open(
        &self,
        execution: &str,
        place: &str,
        what: String,
        sealed: &SealedSecret,
    ) -> Result<Value, SealError> {
        let fail = || SealError {
            execution: execution.to_owned(),
            what: what.clone(),
        };
        let text = self
            .sbox
            .open(&context(execution, place), place, sealed)
            .map_err(|_| fail())?;
        serde_json::from_str(&text).map_err(|_| fail())
    }

    /// Seals the output of step `path`.
    pub fn seal_output(&self, execution: &str, path: &str, output: &Value) -> SealedSecret {
        self.seal(execution, &step_place(path), output)
    }

    /// Opens the output of step `path` sealed by [`Sealer::seal_output`].
    pub fn open_output(
        &self,
        execution: &str,
        path: &str,
        sealed: &SealedSecret,
    ) -> Result<Value, SealError> {
        self.open(
            execution,
            &step_place(path),
            format!("output of step '{path}'"),
            sealed,
        )
    }

    /// Replaces a new record's trigger with the view records show
    /// ([`shown_trigger`]: credential headers, `flow`'s signature header
    /// and the instance's `secrets` blanked) and seals the payload itself
    /// next to it when the two differ.
    pub fn protect_trigger<'a>(
        &self,
        record: &mut ExecutionRecord,
        flow: &Flow,
        secrets: impl IntoIterator<Item = &'a str>,
    ) {
        let signature = signature_headers(flow);
        let redactor = execution_redactor(secrets, &record.trigger, &signature);
        if let Some(shown) = shown_trigger(&record.trigger, &signature, &redactor) {
            record.sealed_trigger = Some(self.seal(&record.id, "trigger", &record.trigger));
            record.trigger = shown;
        }
    }

    /// The trigger payload of `record` as the flow sees it, taken out of
    /// `record` rather than copied when it is in clear.
    pub fn take_trigger(&self, record: &mut ExecutionRecord) -> Result<Value, SealError> {
        match &record.sealed_trigger {
            Some(sealed) => self.open(&record.id, "trigger", "trigger".into(), sealed),
            None => Ok(std::mem::take(&mut record.trigger)),
        }
    }
}

/// The header names `flow`'s own webhook authentication reads.
pub fn signature_headers(flow: &Flow) -> Vec<&str> {
    match &flow.trigger {
        Trigger::Webhook(webhook) => webhook
            .auth
            .iter()
            .map(|auth| auth.hmac_sha256.header.as_str())
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outputs_open_only_where_they_were_sealed() {
        let sealer = Sealer::new(SecretBox::new([3; 32]));
        let value = json!({ "key": "s3cret" });
        let sealed = sealer.seal_output("e1", "a", &value);
        assert_eq!(sealer.open_output("e1", "a", &sealed).unwrap(), value);
        assert!(sealer.open_output("e1", "b", &sealed).is_err());
        let err = sealer.open_output("e2", "a", &sealed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the sealed output of step 'a' of execution e2 could not be opened: wrong master key or corrupted data"
        );
    }
}
