//! Templates: the Jinja expressions integration files use to wire data
//! between steps (`"{{ steps.inventory.available }}"`).
//!
//! This module owns the one sandboxed [`minijinja`] environment Weft renders
//! with, the rule that a value which is exactly one `{{ expr }}` keeps its JSON
//! type ([`Templates::render_value`]), and the limits that keep a hostile or
//! buggy template from hanging or flooding the host:
//!
//! - **fuel**: every render or evaluation gets [`TemplateLimits::fuel`]
//!   instructions (default 100 000), so `{% for %}` over huge ranges fails
//!   with "template evaluation exceeded its fuel limit" instead of spinning;
//! - **output size**: rendered text and expression results are capped at
//!   [`TemplateLimits::max_output_bytes`] (default 1 MiB);
//! - **recursion**: macro and call depth is capped at
//!   [`TemplateLimits::recursion_limit`] (default 64) so the native stack of a
//!   worker thread is never at risk;
//! - **no loader**: `include`, `import` and `extends` find no templates; no
//!   filesystem or environment is reachable.
//!
//! Missing keys are *chainable undefined*: `{{ trigger.body.customer.email }}`
//! with no `customer` is undefined rather than an error; undefined renders as
//! `""` in text and as `null` when it is a whole value. Inside text, objects
//! and arrays print as JSON, booleans as `true`/`false`, and `none` as
//! nothing.
//!
//! Extra filters: `b64encode`, `b64decode` (UTF-8 text), `fromjson`; the
//! built-in `tojson` is there too.
//!
//! Known limit: minijinja itself caps one string repetition (`"x" * n`) at
//! 100 MB and a `range()` at 100 000 items, but fuel counts instructions, not
//! bytes, so a template may allocate transiently more than the output cap
//! before the cap rejects its result.
//!
//! The render context is a JSON object with the roots listed in
//! [`CONTEXT_ROOTS`], given as JSON or as a shared [`Context`] (plain paths
//! such as `{{ steps.total.order_id }}` are looked up on its JSON; see
//! [`Context`]).
//!
//! ```
//! use serde_json::json;
//! use weft::template::Templates;
//!
//! let t = Templates::new();
//! let ctx = json!({ "trigger": { "body": { "qty": 3, "sku": "A-1" } } });
//! let input = json!({ "qty": "{{ trigger.body.qty }}", "note": "sku {{ trigger.body.sku }}" });
//! let out = t.render_value(&input, &ctx).unwrap();
//! assert_eq!(out, json!({ "qty": 3, "note": "sku A-1" }));
//! ```

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::sync::{Arc, LazyLock, RwLock};

use minijinja::{Environment, ErrorKind, Expression};
use serde_json::Value;

/// The top-level names a template may use. `item` and `index` exist only
/// inside a `for_each` step's steps.
pub const CONTEXT_ROOTS: &[&str] = &[
    "trigger",
    "steps",
    "config",
    "instance",
    "execution",
    "item",
    "index",
];

/// Limits applied to every render or evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateLimits {
    /// Instructions one render may execute (default 100 000: plenty for data
    /// mapping, a few milliseconds of CPU at most).
    pub fuel: u64,
    /// Largest rendered text or expression result, in bytes (default 1 MiB;
    /// step inputs are meant to be mapped data, not bulk payloads).
    pub max_output_bytes: usize,
    /// Deepest macro/call nesting (default 64; keeps native stack use small).
    pub recursion_limit: usize,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        TemplateLimits {
            fuel: 100_000,
            max_output_bytes: 1024 * 1024,
            recursion_limit: 64,
        }
    }
}

/// Why a template could not be compiled or evaluated. Each variant quotes a
/// (possibly shortened) snippet of the template text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template does not parse.
    #[error("invalid template \"{snippet}\": {message}")]
    Syntax {
        /// The template text, shortened.
        snippet: String,
        /// What is wrong, from the parser.
        message: String,
    },
    /// Evaluation failed (bad operation, unknown filter, failing filter …).
    #[error("template \"{snippet}\" failed: {message}")]
    Render {
        /// The template text, shortened.
        snippet: String,
        /// What failed.
        message: String,
    },
    /// Evaluation used up its fuel.
    #[error("template evaluation exceeded its fuel limit of {fuel} units in \"{snippet}\"")]
    OutOfFuel {
        /// The template text, shortened.
        snippet: String,
        /// The limit that was exceeded.
        fuel: u64,
    },
    /// The rendered text or expression result is larger than allowed.
    #[error("template output exceeds {limit} in \"{snippet}\"")]
    OutputTooLarge {
        /// The template text, shortened.
        snippet: String,
        /// The limit, human readable (`1 MiB`).
        limit: String,
    },
}

/// The template engine: one sandboxed environment plus its limits, and
/// the expressions compiled so far. Cheap to share (`Send + Sync`); build
/// it once.
///
/// The environment of given limits is built once per process and shared
/// by every `Templates` with those limits (see [`environment`]), so that
/// compiled expressions, which borrow it, can be kept: the same
/// `{{ steps.total.order_id }}` of a flow is compiled once, not at every
/// execution.
#[derive(Debug)]
pub struct Templates {
    env: &'static Environment<'static>,
    limits: TemplateLimits,
    /// Compiled expressions by their text, at most [`EXPRESSION_CACHE`].
    expressions: RwLock<HashMap<String, Arc<Expression<'static, 'static>>>>,
}

/// Most compiled expressions one [`Templates`] keeps; past it the cache
/// starts over (templates come from integration files, so a working set
/// is far smaller; the bound only stops an endless stream of distinct
/// expressions from growing memory).
const EXPRESSION_CACHE: usize = 4096;

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    /// An engine with [`TemplateLimits::default`].
    pub fn new() -> Self {
        Templates::with_limits(TemplateLimits::default())
    }

    /// An engine with the given limits.
    pub fn with_limits(limits: TemplateLimits) -> Self {
        Templates {
            env: environment::environment(limits),
            limits,
            expressions: RwLock::default(),
        }
    }

    /// `expr` compiled, from the cache when it was compiled before.
    fn expression(
        &self,
        template: &str,
        expr: &str,
    ) -> Result<Arc<Expression<'static, 'static>>, TemplateError> {
        if let Some(found) = self
            .expressions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(expr)
        {
            return Ok(found.clone());
        }
        let compiled = Arc::new(
            self.env
                .compile_expression_owned(expr.to_owned())
                .map_err(|e| syntax_error(template, &e))?,
        );
        let mut cache = self.expressions.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= EXPRESSION_CACHE {
            cache.clear();
        }
        cache.insert(expr.to_owned(), compiled.clone());
        Ok(compiled)
    }

    /// The limits this engine applies.
    pub fn limits(&self) -> TemplateLimits {
        self.limits
    }

    /// Renders every string leaf of `value` against `ctx` (object keys are
    /// left alone). A leaf that is exactly one `{{ expr }}` becomes the
    /// expression's JSON value (undefined becomes `null`); any other leaf
    /// containing `{{`, `{%` or `{#` renders to a string; other leaves are
    /// copied unchanged.
    pub fn render_value(&self, value: &Value, ctx: &Value) -> Result<Value, TemplateError> {
        if !contains_template(value) {
            return Ok(value.clone());
        }
        // Convert the context once, not once per leaf.
        self.render_value_in(value, &Context::json(ctx))
    }

    /// [`Templates::render_value`] against a context converted once
    /// ([`Context`]), so rendering many values over a large context (a
    /// `for_each` over a big trigger body) does not copy it each time.
    pub fn render_value_in(&self, value: &Value, ctx: &Context) -> Result<Value, TemplateError> {
        if !contains_template(value) {
            return Ok(value.clone());
        }
        self.render_value_with(value, ctx)
    }

    fn render_value_with(&self, value: &Value, ctx: &Context) -> Result<Value, TemplateError> {
        Ok(match value {
            Value::String(s) => self.render_leaf(s, ctx)?,
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.render_value_with(v, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_value_with(v, ctx)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => other.clone(),
        })
    }

    fn render_leaf(&self, s: &str, ctx: &Context) -> Result<Value, TemplateError> {
        if !is_template(s) {
            return Ok(Value::String(s.to_owned()));
        }
        match single_expression(s) {
            Some(expr) => self.eval_with(s, expr, ctx),
            None => self.render_with(s, ctx.jinja()).map(Value::String),
        }
    }

    /// Renders `template` to text.
    pub fn render_string(&self, template: &str, ctx: &Value) -> Result<String, TemplateError> {
        if !is_template(template) {
            return Ok(template.to_owned());
        }
        self.render_string_in(template, &Context::json(ctx))
    }

    /// [`Templates::render_string`] against a [`Context`].
    pub fn render_string_in(&self, template: &str, ctx: &Context) -> Result<String, TemplateError> {
        if !is_template(template) {
            return Ok(template.to_owned());
        }
        self.render_with(template, ctx.jinja())
    }

    /// Evaluates a template that is a single `{{ expr }}`, or a bare
    /// expression, to its JSON value.
    pub fn eval_expression(&self, template: &str, ctx: &Value) -> Result<Value, TemplateError> {
        self.eval_expression_in(template, &Context::json(ctx))
    }

    /// [`Templates::eval_expression`] against a [`Context`].
    pub fn eval_expression_in(
        &self,
        template: &str,
        ctx: &Context,
    ) -> Result<Value, TemplateError> {
        let expr = single_expression(template).unwrap_or(template);
        self.eval_with(template, expr, ctx)
    }

    /// Evaluates a `branch.when` condition (a single `{{ expr }}`, or a bare
    /// expression) with Jinja truthiness: `false`, `0`, `""`, `[]`, `{}`,
    /// `none` and undefined are false, everything else is true.
    pub fn eval_truthy(&self, template: &str, ctx: &Value) -> Result<bool, TemplateError> {
        self.eval_truthy_in(template, &Context::json(ctx))
    }

    /// [`Templates::eval_truthy`] against a [`Context`].
    pub fn eval_truthy_in(&self, template: &str, ctx: &Context) -> Result<bool, TemplateError> {
        let expr = single_expression(template).unwrap_or(template);
        let compiled = self.expression(template, expr)?;
        let value = compiled
            .eval(ctx.jinja())
            .map_err(|e| self.eval_error(template, &e))?;
        Ok(value.is_true())
    }

    /// Parses `template` and returns the dotted names it reads from its
    /// context (`steps.inventory.available`, `config.api_key`, `item`),
    /// sorted. Names bound inside the template (`{% for x in … %}`, `loop`,
    /// `{% set %}`) and the environment's own functions (`range`, `dict`, …)
    /// are not included. `steps['x']` is reported as `steps`.
    pub fn check(&self, template: &str) -> Result<Vec<String>, TemplateError> {
        let env: &Environment<'_> = self.env;
        let compiled = env
            .template_from_str(template)
            .map_err(|e| syntax_error(template, &e))?;
        let globals: BTreeSet<&str> = self.env.globals().map(|(name, _)| name).collect();
        let mut names: Vec<String> = compiled
            .undeclared_variables(true)
            .into_iter()
            .filter(|name| {
                let root = name.split('.').next().unwrap_or(name);
                !globals.contains(root) || CONTEXT_ROOTS.contains(&root)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    fn eval_with(&self, template: &str, expr: &str, ctx: &Context) -> Result<Value, TemplateError> {
        // A plain path to a present value is that value, as minijinja
        // would give it, without converting the context.
        if is_path(expr)
            && let Some(found) = ctx.lookup(expr)
        {
            // Most values are far below the cap: a bound counted without
            // writing the JSON clears them.
            if json_size_bound(found.as_ref(), self.limits.max_output_bytes).is_none() {
                self.check_size(template, found.as_ref())?;
            }
            return Ok(found.into_owned());
        }
        let compiled = self.expression(template, expr)?;
        let value = compiled
            .eval(ctx.jinja())
            .map_err(|e| self.eval_error(template, &e))?;
        self.check_size(template, &value)?;
        serde_json::to_value(&value).map_err(|e| render_error(template, &e.to_string()))
    }

    /// Refuses a result whose JSON exceeds the output cap; measured before
    /// materialising, so an oversized result is refused without building
    /// a second copy of it.
    fn check_size(
        &self,
        template: &str,
        value: &impl serde::Serialize,
    ) -> Result<(), TemplateError> {
        let mut sink = CappedWriter::new(io::sink(), self.limits.max_output_bytes);
        serde_json::to_writer(&mut sink, value).map_err(|e| {
            if sink.exceeded {
                self.too_large(template)
            } else {
                render_error(template, &e.to_string())
            }
        })
    }

    fn render_with(&self, template: &str, ctx: &minijinja::Value) -> Result<String, TemplateError> {
        let env: &Environment<'_> = self.env;
        let compiled = env
            .template_from_str(template)
            .map_err(|e| syntax_error(template, &e))?;
        let mut out = CappedWriter::new(Vec::new(), self.limits.max_output_bytes);
        match compiled.render_captured_to(ctx, &mut out) {
            Ok(_) => {}
            Err(_) if out.exceeded => return Err(self.too_large(template)),
            Err(e) => return Err(self.eval_error(template, &e)),
        }
        String::from_utf8(out.inner).map_err(|_| render_error(template, "output is not utf-8"))
    }

    fn eval_error(&self, template: &str, e: &minijinja::Error) -> TemplateError {
        if e.kind() == ErrorKind::OutOfFuel {
            TemplateError::OutOfFuel {
                snippet: snippet(template),
                fuel: self.limits.fuel,
            }
        } else {
            render_error(template, &describe(template, e))
        }
    }

    fn too_large(&self, template: &str) -> TemplateError {
        TemplateError::OutputTooLarge {
            snippet: snippet(template),
            limit: human_bytes(self.limits.max_output_bytes),
        }
    }
}

/// Checks `template` with a shared default engine; see [`Templates::check`].
pub fn check(template: &str) -> Result<Vec<String>, TemplateError> {
    static DEFAULT: LazyLock<Templates> = LazyLock::new(Templates::new);
    DEFAULT.check(template)
}

/// Whether `s` contains template syntax (`{{`, `{%` or `{#`).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// If `s` (trimmed) is exactly one `{{ expr }}` and nothing else, returns
/// `expr` (trimmed, whitespace-control markers removed).
pub fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    let nested = ["{{", "}}", "{%", "%}", "{#", "#}"];
    if nested.iter().any(|m| inner.contains(m)) || inner.trim().is_empty() {
        return None;
    }
    Some(inner.trim())
}

/// A bound, never below it, of the length of `value`'s compact JSON, or
/// `None` once that bound passes `limit`: every string byte counts six
/// (as if escaped as `\uXXXX`), every number 24 (the longest `f64`).
/// Counting is much cheaper than writing the JSON; a value the bound does
/// not clear is measured exactly.
fn json_size_bound(value: &Value, limit: usize) -> Option<usize> {
    fn add(total: &mut usize, n: usize, limit: usize) -> bool {
        *total = total.saturating_add(n);
        *total <= limit
    }
    fn walk(value: &Value, total: &mut usize, limit: usize) -> bool {
        match value {
            Value::Null | Value::Bool(_) => add(total, 5, limit),
            Value::Number(_) => add(total, 24, limit),
            Value::String(s) => add(total, s.len().saturating_mul(6).saturating_add(2), limit),
            Value::Array(items) => {
                add(total, items.len().saturating_add(2), limit)
                    && items.iter().all(|item| walk(item, total, limit))
            }
            Value::Object(map) => {
                add(total, map.len().saturating_add(2), limit)
                    && map.iter().all(|(key, item)| {
                        add(total, key.len().saturating_mul(6).saturating_add(3), limit)
                            && walk(item, total, limit)
                    })
            }
        }
    }
    let mut total = 0;
    walk(value, &mut total, limit).then_some(total)
}

fn contains_template(value: &Value) -> bool {
    match value {
        Value::String(s) => is_template(s),
        Value::Array(items) => items.iter().any(contains_template),
        Value::Object(map) => map.values().any(contains_template),
        _ => false,
    }
}

/// Shortens template text for error messages (at most 60 characters, on one
/// line).
fn snippet(template: &str) -> String {
    const MAX: usize = 60;
    let flat: String = template
        .trim()
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    if flat.chars().count() <= MAX {
        flat
    } else {
        let cut: String = flat.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// What a minijinja error says, without its `(in <string>:1)` suffix; with
/// the line when the template has several.
fn describe(template: &str, e: &minijinja::Error) -> String {
    let mut msg = e.kind().to_string();
    if let Some(detail) = e.detail() {
        msg = format!("{msg}: {detail}");
    }
    if template.trim().contains('\n')
        && let Some(line) = e.line()
    {
        msg = format!("{msg} (line {line})");
    }
    msg
}

fn syntax_error(template: &str, e: &minijinja::Error) -> TemplateError {
    TemplateError::Syntax {
        snippet: snippet(template),
        message: describe(template, e),
    }
}

fn render_error(template: &str, message: &str) -> TemplateError {
    TemplateError::Render {
        snippet: snippet(template),
        message: message.to_owned(),
    }
}

fn human_bytes(n: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// A writer that refuses to grow past `limit` bytes and remembers that it did.
struct CappedWriter<W> {
    inner: W,
    written: usize,
    limit: usize,
    exceeded: bool,
}

impl<W> CappedWriter<W> {
    fn new(inner: W, limit: usize) -> Self {
        CappedWriter {
            inner,
            written: 0,
            limit,
            exceeded: false,
        }
    }
}

impl<W: io::Write> io::Write for CappedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("output limit exceeded"));
        }
        self.written += buf.len();
        self.inner.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

mod context;
mod environment;

pub use context::Context;
use context::is_path;

#[cfg(test)]
mod tests;
