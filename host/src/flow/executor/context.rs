//! The two views of a run's data: what steps see (secrets and credential
//! headers in clear) and what records show (rendered from the same data
//! with secrets already `***`, so anything derived from a secret in a
//! template — `Basic base64(user:secret)` — is derived from `***`).
//!
//! Each root (trigger, config, instance, execution) and each step output
//! becomes a shared template [`Context`] once per execution (converted
//! for minijinja only if a template needs more than a plain path), used
//! by every render after it, in both views: a `for_each` over many items costs
//! per item only what its own steps render, never a copy of the whole
//! context.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Map, Value, json};

use super::super::redact::{REDACTED, Redactor, execution_redactor, shown_trigger};
use super::super::sealed::{Sealer, signature_headers};
use super::{ExecutionObserver, FlowRun};
use crate::model::{FlowResponse, StepFailure};
use crate::template::{Context, Templates};

/// A value as steps see it and as records show it.
#[derive(Clone)]
pub(super) struct Seen {
    pub real: Context,
    pub shown: Context,
}

impl Seen {
    /// Both views of `real`; `shown` is `None` when it is the same.
    pub fn new(real: &Value, shown: Option<&Value>) -> Self {
        Seen::from_out(Out {
            real: real.clone(),
            shown: shown.cloned(),
        })
    }

    /// Both views of a step's result, taken rather than copied.
    pub fn from_out(out: Out) -> Self {
        let real = Context::from_json(out.real);
        let shown = match out.shown {
            Some(shown) => Context::from_json(shown),
            None => real.clone(),
        };
        Self { real, shown }
    }
}

/// What steps of one scope see: outputs of earlier steps, and the loop
/// item. Cloning it clones handles, not data.
#[derive(Clone, Default)]
pub(super) struct Scope {
    pub steps: BTreeMap<String, Seen>,
    pub item: Option<(Seen, usize)>,
    /// The failure, in a flow's `on_failure`.
    pub error: Option<Seen>,
}

/// A step's result: the output in clear and, when it differs, the view
/// records show. Before the executor records it, `None` means "the output
/// redacted"; after, "the output itself".
pub(super) struct Out {
    pub real: Value,
    pub shown: Option<Value>,
}

impl Out {
    /// An output whose shown view is the output redacted.
    pub fn plain(real: Value) -> Self {
        Self { real, shown: None }
    }
}

/// The render contexts of one step.
pub(super) struct Views {
    pub real: Context,
    pub shown: Context,
}

struct Roots {
    trigger: Context,
    config: Context,
    instance: Context,
    execution: Context,
}

/// Per-run data shared by every step.
pub(super) struct RunCx<'a> {
    pub run: &'a FlowRun,
    pub observer: &'a dyn ExecutionObserver,
    pub redactor: Redactor,
    pub sealer: Option<&'a Sealer>,
    /// Whether records can differ from what steps see at all (there are
    /// secrets, or blanked headers); without, one view serves both.
    pub distinct: bool,
    real: Roots,
    shown: Roots,
    /// The first `respond` step's response: (live, as stored).
    pub response: Mutex<Option<(FlowResponse, FlowResponse)>>,
    /// Whether that response is yet to be told to the observer (it is
    /// before the next step starts, else with the result).
    unannounced: AtomicBool,
    /// `for_each` items started so far in this execution.
    pub iterations: AtomicUsize,
    /// The first step that failed the flow: its path and failure.
    pub failed: Mutex<Option<(String, StepFailure)>>,
}

impl<'a> RunCx<'a> {
    pub fn new(
        run: &'a FlowRun,
        observer: &'a dyn ExecutionObserver,
        sealer: Option<&'a Sealer>,
    ) -> Self {
        // Credential headers are secrets of this execution too.
        let signature = signature_headers(&run.flow);
        let redactor = execution_redactor(run.config.secret_values(), &run.trigger, &signature);
        let shown_trigger = shown_trigger(&run.trigger, &signature, &redactor);
        let distinct = !redactor.is_empty() || shown_trigger.is_some();
        let instance = Context::from_json(json!(run.instance));
        let execution =
            Context::from_json(json!({ "id": run.execution_id, "flow": run.flow.name }));
        let real = Roots {
            trigger: Context::json(&run.trigger),
            config: Context::from_json(run.config.to_context()),
            instance: instance.clone(),
            execution: execution.clone(),
        };
        let shown = if distinct {
            Roots {
                trigger: match shown_trigger {
                    Some(shown) => Context::from_json(shown),
                    None => real.trigger.clone(),
                },
                config: Context::from_json(Value::Object(run.config.redacted())),
                instance,
                execution,
            }
        } else {
            Roots {
                trigger: real.trigger.clone(),
                config: real.config.clone(),
                instance,
                execution,
            }
        };
        Self {
            run,
            observer,
            redactor,
            sealer,
            distinct,
            real,
            shown,
            response: Mutex::new(None),
            unannounced: AtomicBool::new(false),
            iterations: AtomicUsize::new(0),
            failed: Mutex::new(None),
        }
    }

    /// Keeps the flow's response (the first `respond` step's): `live` is
    /// what the caller gets, `stored` the redacted copy. The observer hears
    /// of it before the next step starts ([`Self::announce_response`]); if
    /// no step follows, it goes with the result, so the end stores it in
    /// the same write.
    pub fn respond(&self, live: FlowResponse, stored: FlowResponse) {
        let mut slot = self.response.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some((live, stored));
            self.unannounced.store(true, Ordering::Release);
        }
    }

    /// Tells the observer of a response kept since the last step started.
    pub fn announce_response(&self) {
        if !self.unannounced.swap(false, Ordering::AcqRel) {
            return;
        }
        let slot = self.response.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((live, stored)) = slot.as_ref() {
            self.observer.responded(live, stored);
        }
    }

    /// The render contexts of a step in `scope`.
    pub fn views(&self, scope: &Scope) -> Views {
        let build = |roots: &Roots, pick: fn(&Seen) -> &Context| {
            let steps = Context::object(
                scope
                    .steps
                    .iter()
                    .map(|(id, seen)| (id.clone(), pick(seen).clone())),
            );
            let mut entries = vec![
                ("trigger", roots.trigger.clone()),
                ("config", roots.config.clone()),
                ("instance", roots.instance.clone()),
                ("execution", roots.execution.clone()),
                ("steps", steps),
            ];
            if let Some((item, index)) = &scope.item {
                entries.push(("item", pick(item).clone()));
                entries.push(("index", Context::number(*index as u64)));
            }
            if let Some(error) = &scope.error {
                entries.push(("error", pick(error).clone()));
            }
            Context::object(entries)
        };
        let real = build(&self.real, |s| &s.real);
        let shown = if self.distinct {
            build(&self.shown, |s| &s.shown)
        } else {
            real.clone()
        };
        Views { real, shown }
    }

    /// Renders `value` for the component and for the record: the record's
    /// copy comes from the shown view (and is redacted again), `None` when
    /// the views cannot differ (the record shows what the component got);
    /// if only the real view renders, the record shows `***`.
    pub fn render(
        &self,
        templates: &Templates,
        value: &Value,
        views: &Views,
        path: &str,
    ) -> Result<(Value, Option<Value>), StepFailure> {
        let real = render_fields(templates, value, &views.real, path)?;
        if !self.distinct {
            return Ok((real, None));
        }
        let shown = match render_fields(templates, value, &views.shown, path) {
            Ok(shown) => self.redactor.value(&shown),
            Err(_) => Value::String(REDACTED.to_owned()),
        };
        Ok((real, Some(shown)))
    }

    /// [`RunCx::render`] for a template that renders to text.
    pub fn render_text(
        &self,
        templates: &Templates,
        template: &str,
        views: &Views,
        path: &str,
    ) -> Result<(String, String), StepFailure> {
        let fail = |e: crate::template::TemplateError| {
            StepFailure::other("template", format!("{path}: {e}"))
        };
        let real = templates
            .render_string_in(template, &views.real)
            .map_err(fail)?;
        if !self.distinct {
            return Ok((real.clone(), real));
        }
        let shown = match templates.render_string_in(template, &views.shown) {
            Ok(shown) => self.redactor.text(&shown),
            Err(_) => REDACTED.to_owned(),
        };
        Ok((real, shown))
    }
}

/// Renders every string leaf of `value`, naming the field in errors
/// (`input.sku: …`).
fn render_fields(
    templates: &Templates,
    value: &Value,
    ctx: &Context,
    path: &str,
) -> Result<Value, StepFailure> {
    render_at(templates, value, ctx, &FieldPath::Root(path))
}

/// Where a field sits in a step's fields; spelled out only for an error,
/// so a render that succeeds formats no path.
enum FieldPath<'a> {
    Root(&'a str),
    Key(&'a FieldPath<'a>, &'a str),
    Index(&'a FieldPath<'a>, usize),
}

impl std::fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldPath::Root(path) => f.write_str(path),
            FieldPath::Key(parent, key) => write!(f, "{parent}.{key}"),
            FieldPath::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn render_at(
    templates: &Templates,
    value: &Value,
    ctx: &Context,
    path: &FieldPath<'_>,
) -> Result<Value, StepFailure> {
    match value {
        Value::String(_) => templates
            .render_value_in(value, ctx)
            .map_err(|e| StepFailure::other("template", format!("{path}: {e}"))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| render_at(templates, v, ctx, &FieldPath::Index(path, i)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    render_at(templates, v, ctx, &FieldPath::Key(path, k))?,
                ))
            })
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Context, Templates, render_fields};

    #[test]
    fn a_failed_render_names_the_nested_field() {
        let input = json!({"order": {"items": [{"sku": "A"}, {"sku": "{{ 'a' + 1 }}"}]}});
        let ctx = Context::from_json(json!({}));
        let failure = render_fields(&Templates::new(), &input, &ctx, "input")
            .expect_err("the second sku cannot render");
        assert!(
            failure.message.starts_with("input.order.items[1].sku: "),
            "{}",
            failure.message
        );
        let plain = json!({"n": 1, "list": ["x", {"y": null}]});
        assert_eq!(
            render_fields(&Templates::new(), &plain, &ctx, "input").unwrap(),
            plain
        );
    }
}
