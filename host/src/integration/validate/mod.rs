//! Upload-time validation of a parsed [`Integration`] against the components
//! the server knows ([`Catalog`]). Reports every problem at once, each with
//! its exact path; nothing about the file is left to fail at run time except
//! what depends on data (template results, component behaviour).
//!
//! Template references are checked in [`references`](super::references),
//! cron expressions and time zones in [`schedule`](super::schedule).

use std::collections::BTreeMap;

use super::catalog::Catalog;
use super::config;
use super::input_schema;
use super::model::{
    ActionStep, BranchCase, ConfigType, Flow, Integration, QueueTrigger, RespondStep, RetryPolicy,
    ScheduleTrigger, Step, StepKind, Trigger, WebhookMode, WebhookTrigger, split_component_ref,
};
use super::references::{self, Scope, StepSite, config_ref, is_identifier, join_key};
use super::schedule::{parse_cron, parse_timezone};
use super::suggest;
use super::{ValidationError, ValidationErrors};
use crate::template;

mod flow_options;
mod queue;
mod triggers;

/// Checks `integration` completely against `catalog`; `Err` lists every
/// problem found, in file order.
pub fn validate(integration: &Integration, catalog: &Catalog) -> Result<(), ValidationErrors> {
    let mut v = Validator {
        integration,
        catalog,
        config_keys: integration.config.iter().map(|c| c.key.as_str()).collect(),
        errors: Vec::new(),
    };
    v.header();
    v.config();
    v.flows();
    ValidationErrors::check(v.errors)
}

struct Validator<'a> {
    integration: &'a Integration,
    catalog: &'a Catalog,
    config_keys: Vec<&'a str>,
    errors: Vec<ValidationError>,
}

/// Longest integration, flow or config name accepted (they appear in URLs
/// and tables).
const MAX_NAME: usize = 64;

fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn is_url_safe(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// Which flow-wide facts a step check needs.
struct FlowCtx<'a> {
    flow_name: &'a str,
    trigger: &'a Trigger,
    sites: BTreeMap<String, StepSite>,
    duplicates: BTreeMap<String, String>,
}

impl<'a> Validator<'a> {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError::new(path, message));
    }

    fn header(&mut self) {
        let name = &self.integration.name;
        if !is_slug(name) || name.len() > MAX_NAME {
            self.err(
                "name",
                format!(
                    "invalid integration name \"{name}\": use lowercase letters, digits, '-' \
                     and '_', starting with a letter or digit, at most {MAX_NAME} characters"
                ),
            );
        }
        if self.integration.version == 0 {
            self.err("version", "version must be 1 or more, got 0");
        }
        if self.integration.flows.is_empty() {
            self.err("flows", "an integration needs at least one flow");
        }
    }

    fn config(&mut self) {
        let mut first: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, var) in self.integration.config.iter().enumerate() {
            let path = format!("config[{i}]");
            if !is_identifier(&var.key) || var.key.len() > MAX_NAME {
                self.err(
                    format!("{path}.key"),
                    format!(
                        "invalid config key \"{}\": use letters, digits and '_', not starting \
                         with a digit, so templates can say config.<key>",
                        var.key
                    ),
                );
            }
            if let Some(j) = first.insert(&var.key, i) {
                first.insert(&var.key, j);
                self.err(
                    format!("{path}.key"),
                    format!(
                        "duplicate config key '{}' (first declared at config[{j}])",
                        var.key
                    ),
                );
            }
            match (&var.default, var.ty) {
                (Some(_), ConfigType::Secret) => self.err(
                    format!("{path}.default"),
                    "a secret may not have a default; give it per instance",
                ),
                (Some(default), ty) => {
                    if let Err(e) = config::check_value(ty, default, false) {
                        self.err(format!("{path}.default"), format!("default of a {ty}: {e}"));
                    }
                }
                (None, _) => {}
            }
        }
    }

    fn flows(&mut self) {
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut preprocess: Option<usize> = None;
        for (i, flow) in self.integration.flows.iter().enumerate() {
            let path = format!("flows[{i}]");
            if !is_url_safe(&flow.name) || flow.name.len() > MAX_NAME {
                self.err(
                    format!("{path}.name"),
                    format!(
                        "invalid flow name \"{}\": flow names appear in webhook urls; use \
                         letters, digits, '-', '_' and '.', starting with a letter or digit, \
                         at most {MAX_NAME} characters",
                        flow.name
                    ),
                );
            }
            if let Some(&j) = names.get(flow.name.as_str()) {
                self.err(
                    format!("{path}.name"),
                    format!(
                        "duplicate flow name '{}' (first used at flows[{j}])",
                        flow.name
                    ),
                );
            } else {
                names.insert(&flow.name, i);
            }
            if let Trigger::Webhook(WebhookTrigger {
                preprocess: true, ..
            }) = flow.trigger
            {
                match preprocess {
                    Some(j) => self.err(
                        format!("{path}.trigger.preprocess"),
                        format!(
                            "only one flow may preprocess the shared webhook endpoint; \
                             flows[{j}] ('{}') already does",
                            self.integration.flows[j].name
                        ),
                    ),
                    None => preprocess = Some(i),
                }
            }
            self.flow(&path, flow);
        }
    }

    fn flow(&mut self, path: &str, flow: &'a Flow) {
        let trigger_path = format!("{path}.trigger");
        match &flow.trigger {
            Trigger::Webhook(w) => self.webhook(&trigger_path, w),
            Trigger::Schedule(s) => self.schedule(&trigger_path, s),
            Trigger::Queue(q) => self.queue(&trigger_path, q),
            Trigger::Deploy | Trigger::Teardown | Trigger::Manual | Trigger::Error => {}
        }
        self.flow_options(path, flow);
        let steps_path = format!("{path}.steps");
        if flow.steps.is_empty() {
            self.err(&steps_path, "a flow needs at least one step");
            return;
        }
        let mut ctx = FlowCtx {
            flow_name: &flow.name,
            trigger: &flow.trigger,
            sites: BTreeMap::new(),
            duplicates: BTreeMap::new(),
        };
        let mut first_use = BTreeMap::new();
        Self::collect_ids(
            &flow.steps,
            &steps_path,
            &mut Vec::new(),
            &mut ctx,
            &mut first_use,
        );
        self.steps(
            &ctx,
            &flow.steps,
            &steps_path,
            &mut Vec::new(),
            &mut Vec::new(),
            false,
        );
        if let Some(on_failure) = &flow.on_failure {
            // Any top-level step may have finished before the failure.
            let visible: Vec<String> = flow.steps.iter().map(|s| s.id.clone()).collect();
            let scope = Scope {
                config_keys: &self.config_keys,
                sites: &ctx.sites,
                visible: &visible,
                ancestors: &[],
                in_for_each: false,
                with_error: true,
            };
            let mut found = Vec::new();
            let at = format!("{path}.on_failure");
            self.respond(&ctx, &at, &on_failure.respond, &scope, &mut found);
            self.errors.append(&mut found);
        }
    }

    /// Records where each step id is first declared, and which later steps
    /// repeat an id (step path → path of the first use).
    fn collect_ids(
        steps: &[Step],
        path: &str,
        ancestors: &mut Vec<String>,
        ctx: &mut FlowCtx<'_>,
        first_use: &mut BTreeMap<String, String>,
    ) {
        for (i, step) in steps.iter().enumerate() {
            let step_path = format!("{path}[{i}]");
            if let Some(first) = first_use.get(&step.id) {
                ctx.duplicates.insert(step_path.clone(), first.clone());
            } else {
                first_use.insert(step.id.clone(), step_path.clone());
                ctx.sites.insert(
                    step.id.clone(),
                    StepSite {
                        ancestors: ancestors.clone(),
                    },
                );
            }
            ancestors.push(step.id.clone());
            for (nested_path, nested) in nested_lists(step, &step_path) {
                Self::collect_ids(nested, &nested_path, ancestors, ctx, first_use);
            }
            ancestors.pop();
        }
    }

    fn step_id(&self, ctx: &FlowCtx<'_>, path: &str, id: &str, found: &mut Vec<ValidationError>) {
        if !is_identifier(id) {
            found.push(ValidationError::new(
                format!("{path}.id"),
                format!(
                    "invalid step id \"{id}\": use letters, digits and '_', not starting with \
                     a digit, so templates can say steps.<id>"
                ),
            ));
        }
        if let Some(first) = ctx.duplicates.get(path) {
            found.push(ValidationError::new(
                format!("{path}.id"),
                format!("duplicate step id '{id}' (first used at {first})"),
            ));
        }
    }

    /// Checks each step of one list; `visible` holds the ids finished before
    /// the list starts and grows as the list goes on.
    fn steps(
        &mut self,
        ctx: &FlowCtx<'_>,
        steps: &[Step],
        path: &str,
        visible: &mut Vec<String>,
        ancestors: &mut Vec<String>,
        in_for_each: bool,
    ) {
        let restore = visible.len();
        for (i, step) in steps.iter().enumerate() {
            let step_path = format!("{path}[{i}]");
            let scope = Scope {
                config_keys: &self.config_keys,
                sites: &ctx.sites,
                visible,
                ancestors,
                in_for_each,
                with_error: false,
            };
            let mut found = Vec::new();
            self.step_id(ctx, &step_path, &step.id, &mut found);
            match &step.kind {
                StepKind::Action(a) => self.action(&step_path, a, &scope, &mut found),
                StepKind::Branch(cases) => self.branch(&step_path, cases, &scope, &mut found),
                StepKind::ForEach(f) => {
                    let p = format!("{step_path}.for_each");
                    if template::single_expression(&f.for_each).is_none() {
                        found.push(ValidationError::new(
                            &p,
                            format!(
                                "for_each must be a single {{{{ expression }}}} giving a list, \
                                 got \"{}\"",
                                f.for_each
                            ),
                        ));
                    }
                    references::check_template(&p, &f.for_each, &scope, &mut found);
                    let max = super::model::ForEachStep::MAX_CONCURRENCY;
                    if let Some(c) = f.concurrency
                        && !(1..=max).contains(&c)
                    {
                        found.push(ValidationError::new(
                            format!("{step_path}.concurrency"),
                            format!("concurrency must be between 1 and {max}, got {c}"),
                        ));
                    }
                    if f.steps.is_empty() {
                        found.push(ValidationError::new(
                            format!("{step_path}.steps"),
                            "a for_each needs at least one step",
                        ));
                    }
                }
                StepKind::Respond(r) => {
                    self.respond(ctx, &step_path, r, &scope, &mut found);
                }
            }
            self.errors.append(&mut found);
            ancestors.push(step.id.clone());
            for (nested_path, nested) in nested_lists(step, &step_path) {
                let in_loop = in_for_each || matches!(step.kind, StepKind::ForEach(_));
                self.steps(ctx, nested, &nested_path, visible, ancestors, in_loop);
            }
            ancestors.pop();
            visible.push(step.id.clone());
        }
        visible.truncate(restore);
    }

    fn action(
        &self,
        path: &str,
        a: &ActionStep,
        scope: &Scope<'_>,
        found: &mut Vec<ValidationError>,
    ) {
        match split_component_ref(&a.component) {
            None => found.push(ValidationError::new(
                format!("{path}.component"),
                format!(
                    "invalid component reference \"{}\": write name@version, e.g. \"acme@1.0.0\"",
                    a.component
                ),
            )),
            Some((name, version)) => match self.catalog.get(name, version) {
                None => found.push(ValidationError::new(
                    format!("{path}.component"),
                    self.catalog.unknown(name, version),
                )),
                Some(component) if !component.actions.contains(&a.action) => {
                    let hint =
                        suggest::hint(&a.action, component.actions.iter().map(String::as_str));
                    found.push(ValidationError::new(
                        format!("{path}.action"),
                        format!(
                            "component {} has no action '{}'{hint}",
                            a.component, a.action
                        ),
                    ));
                }
                Some(component) => {
                    if let Some(schema) = component.input_schemas.get(&a.action) {
                        input_schema::check(
                            &format!("{path}.input"),
                            &a.input,
                            schema,
                            &a.action,
                            &a.component,
                            found,
                        );
                    }
                }
            },
        }
        if let Some(retry) = &a.retry {
            retry_checks(&format!("{path}.retry"), retry, found);
        }
        if a.timeout.as_ref().is_some_and(|t| t.duration.is_zero()) {
            found.push(ValidationError::new(
                format!("{path}.timeout"),
                "timeout must be more than 0s",
            ));
        }
        references::check_value(&format!("{path}.input"), &a.input, scope, found);
    }

    fn branch(
        &self,
        path: &str,
        cases: &[BranchCase],
        scope: &Scope<'_>,
        found: &mut Vec<ValidationError>,
    ) {
        let branch_path = format!("{path}.branch");
        if !cases.iter().any(|c| matches!(c, BranchCase::When { .. })) {
            found.push(ValidationError::new(
                &branch_path,
                "a branch needs at least one { when, steps } case",
            ));
        }
        for (c, case) in cases.iter().enumerate() {
            let case_path = format!("{branch_path}[{c}]");
            match case {
                BranchCase::When { when, .. } => {
                    let p = format!("{case_path}.when");
                    if template::single_expression(when).is_none() {
                        found.push(ValidationError::new(
                            &p,
                            format!(
                                "a condition must be a single {{{{ expression }}}}, got \"{when}\""
                            ),
                        ));
                    }
                    references::check_template(&p, when, scope, found);
                }
                BranchCase::Else { .. } if c + 1 != cases.len() => {
                    found.push(ValidationError::new(
                        format!("{case_path}.else"),
                        "'else' must be the last case of a branch",
                    ));
                }
                BranchCase::Else { .. } => {}
            }
        }
    }

    fn respond(
        &self,
        ctx: &FlowCtx<'_>,
        path: &str,
        r: &RespondStep,
        scope: &Scope<'_>,
        found: &mut Vec<ValidationError>,
    ) {
        let respond_path = format!("{path}.respond");
        let not_sync = match ctx.trigger {
            Trigger::Webhook(w) if w.mode == WebhookMode::Sync => None,
            Trigger::Webhook(_) => Some("an async webhook (set mode: sync)".to_owned()),
            other => Some(format!("a {} trigger", other.type_name())),
        };
        if let Some(what) = not_sync {
            found.push(ValidationError::new(
                &respond_path,
                format!(
                    "'respond' only works in a flow triggered by a sync webhook; flow \
                     '{}' has {what}",
                    ctx.flow_name
                ),
            ));
        }
        if scope.in_for_each {
            found.push(ValidationError::new(
                &respond_path,
                "'respond' may not be inside a for_each (it would answer once per item)",
            ));
        }
        if !(100..=599).contains(&r.status) {
            found.push(ValidationError::new(
                format!("{respond_path}.status"),
                format!("http status must be between 100 and 599, got {}", r.status),
            ));
        }
        for (name, value) in &r.headers {
            let p = join_key(&format!("{respond_path}.headers"), name);
            if !is_header_name(name) {
                found.push(ValidationError::new(
                    &p,
                    format!("invalid http header name \"{name}\""),
                ));
            }
            references::check_template(&p, value, scope, found);
        }
        references::check_value(&format!("{respond_path}.body"), &r.body, scope, found);
    }
}

fn retry_checks(path: &str, retry: &RetryPolicy, found: &mut Vec<ValidationError>) {
    let max = RetryPolicy::MAX_ATTEMPTS;
    if !(1..=max).contains(&retry.attempts) {
        found.push(ValidationError::new(
            format!("{path}.attempts"),
            format!(
                "attempts must be between 1 and {max} (the first attempt included), got {}",
                retry.attempts
            ),
        ));
    }
    if retry.initial.duration > retry.max.duration {
        found.push(ValidationError::new(
            format!("{path}.initial"),
            format!(
                "initial wait {} is longer than the max wait {}",
                retry.initial, retry.max
            ),
        ));
    }
}

/// The step lists nested in `step`, with their paths.
fn nested_lists<'s>(step: &'s Step, path: &str) -> Vec<(String, &'s [Step])> {
    match &step.kind {
        StepKind::Branch(cases) => cases
            .iter()
            .enumerate()
            .map(|(c, case)| match case {
                BranchCase::When { steps, .. } => (format!("{path}.branch[{c}].steps"), &steps[..]),
                BranchCase::Else { steps } => (format!("{path}.branch[{c}].else"), &steps[..]),
            })
            .collect(),
        StepKind::ForEach(f) => vec![(format!("{path}.steps"), &f.steps[..])],
        StepKind::Action(_) | StepKind::Respond(_) => Vec::new(),
    }
}
