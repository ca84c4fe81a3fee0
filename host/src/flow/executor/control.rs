//! Control steps: `branch` (the first truthy case), `for_each` (each item
//! over the shared context, bounded by [`super::FlowLimits`]) and
//! `respond` (the caller's answer in clear, its stored copy rendered from
//! the redacted view).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use futures::{StreamExt, stream};
use serde_json::Value;

use super::context::{Out, RunCx, Scope, Seen};
use super::{Executor, Stop, type_name};
use crate::integration::{BranchCase, ForEachStep, RespondStep};
use crate::model::{FlowResponse, StepFailure};

impl Executor {
    pub(super) async fn run_branch(
        &self,
        cx: &RunCx<'_>,
        cases: &[BranchCase],
        scope: &Scope,
        path: &str,
    ) -> Result<Out, StepFailure> {
        let views = cx.views(scope);
        for (index, case) in cases.iter().enumerate() {
            let chosen = match case {
                BranchCase::When { when, .. } => self
                    .templates
                    .eval_truthy_in(when, &views.real)
                    .map_err(|e| {
                    StepFailure::other("template", format!("branch[{index}].when: {e}"))
                })?,
                BranchCase::Else { .. } => true,
            };
            if chosen {
                let mut inner = scope.clone();
                return self
                    .run_steps(cx, case.steps(), &mut inner, path)
                    .await
                    .map(|out| Out::plain(out.real))
                    .map_err(|Stop(message)| StepFailure::other("nested", message));
            }
        }
        Ok(Out::plain(Value::Null))
    }

    pub(super) async fn run_for_each(
        &self,
        cx: &RunCx<'_>,
        each: &ForEachStep,
        scope: &Scope,
        path: &str,
    ) -> Result<Out, StepFailure> {
        let views = cx.views(scope);
        let items = self
            .templates
            .eval_expression_in(&each.for_each, &views.real)
            .map_err(|e| StepFailure::other("template", format!("for_each: {e}")))?;
        let items = match items {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => {
                return Err(StepFailure::other(
                    "template",
                    format!("for_each: expected a list, got {}", type_name(&other)),
                ));
            }
        };
        let limits = self.limits;
        if items.len() > limits.for_each_max_items {
            return Err(StepFailure::other(
                "for_each_limit",
                format!(
                    "for_each: {} items exceed the limit of {} items per loop ([engine] for_each_max_items)",
                    items.len(),
                    limits.for_each_max_items
                ),
            ));
        }
        let total = cx.iterations.fetch_add(items.len(), Ordering::Relaxed) + items.len();
        if total > limits.for_each_max_total {
            return Err(StepFailure::other(
                "for_each_limit",
                format!(
                    "for_each: {} items would bring this execution to {total} loop items, over the limit of {} ([engine] for_each_max_total)",
                    items.len(),
                    limits.for_each_max_total
                ),
            ));
        }
        // The items as records show them: from the redacted view when it
        // yields as many, else the items redacted.
        let shown: Option<Vec<Value>> = if cx.distinct {
            match self
                .templates
                .eval_expression_in(&each.for_each, &views.shown)
            {
                Ok(Value::Array(shown)) if shown.len() == items.len() => {
                    Some(shown.iter().map(|v| cx.redactor.value(v)).collect())
                }
                _ => Some(items.iter().map(|v| cx.redactor.value(v)).collect()),
            }
        } else {
            None
        };
        let seen: Vec<Seen> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let shown = shown.as_ref().map(|s| &s[i]).filter(|s| *s != item);
                Seen::new(item, shown)
            })
            .collect();
        drop(items);
        let concurrency = each.concurrency().max(1) as usize;
        let results: Vec<Result<Out, Stop>> = stream::iter(seen.into_iter().enumerate())
            .map(|(index, item)| {
                let mut inner = Scope {
                    steps: scope.steps.clone(),
                    item: Some((item, index)),
                    error: None,
                };
                let prefix = format!("{path}[{index}]");
                async move { self.run_steps(cx, &each.steps, &mut inner, &prefix).await }
            })
            .buffered(concurrency)
            .collect()
            .await;
        let mut outputs = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(output) => outputs.push(output.real),
                Err(Stop(message)) => return Err(StepFailure::other("nested", message)),
            }
        }
        Ok(Out::plain(Value::Array(outputs)))
    }

    pub(super) fn respond(
        &self,
        cx: &RunCx<'_>,
        respond: &RespondStep,
        scope: &Scope,
    ) -> Result<Out, StepFailure> {
        let views = cx.views(scope);
        let (body, shown_body) =
            cx.render(&self.templates, &respond.body, &views, "respond.body")?;
        let shown_body = shown_body.unwrap_or_else(|| body.clone());
        let mut headers = BTreeMap::new();
        let mut shown_headers = BTreeMap::new();
        for (name, value) in &respond.headers {
            let field = format!("respond.headers.{name}");
            let (real, shown) = cx.render_text(&self.templates, value, &views, &field)?;
            headers.insert(name.clone(), real);
            shown_headers.insert(name.clone(), shown);
        }
        let live = FlowResponse {
            status: respond.status,
            headers,
            body: body.clone(),
        };
        let stored = FlowResponse {
            status: respond.status,
            headers: shown_headers,
            body: shown_body.clone(),
        };
        cx.respond(live, stored);
        Ok(Out {
            real: body,
            shown: Some(shown_body),
        })
    }
}
