//! Render contexts: JSON values shared between renders and converted for
//! minijinja only when a template needs more than a lookup.
//!
//! Most templates in integration files are a plain path
//! (`{{ trigger.body }}`, `{{ steps.total.order_id }}`). Such a path is
//! resolved on the JSON itself ([`Context::lookup`]), so a run whose
//! templates are all paths never converts its trigger or step outputs for
//! minijinja. Anything else converts the context once, on first use, and
//! keeps the conversion for later renders over the same value.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

/// A value to render against: cheap to clone (shared, not copied) and to
/// nest into a larger context, so a large trigger body or step output is
/// converted at most once per execution, not once per render.
#[derive(Clone, Debug)]
pub struct Context(Arc<Node>);

#[derive(Debug)]
struct Node {
    kind: Kind,
    /// The minijinja form, built at its first use.
    jinja: OnceLock<minijinja::Value>,
}

#[derive(Debug)]
enum Kind {
    Json(Value),
    Object(Vec<(String, Context)>),
    Number(u64),
}

impl Context {
    fn new(kind: Kind) -> Self {
        Context(Arc::new(Node {
            kind,
            jinja: OnceLock::new(),
        }))
    }

    /// A JSON value (copied).
    pub fn json(value: &Value) -> Self {
        Context::from_json(value.clone())
    }

    /// A JSON value, taken.
    pub fn from_json(value: Value) -> Self {
        Context::new(Kind::Json(value))
    }

    /// An object of contexts (the roots of a render context, or a map of
    /// step outputs); of two entries with one name, the later one counts,
    /// as in a map.
    pub fn object<K: Into<String>>(entries: impl IntoIterator<Item = (K, Context)>) -> Self {
        Context::new(Kind::Object(
            entries.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        ))
    }

    /// A number (a loop index).
    pub fn number(n: u64) -> Self {
        Context::new(Kind::Number(n))
    }

    /// The minijinja form of this context, converted at the first call.
    pub(super) fn jinja(&self) -> &minijinja::Value {
        self.0.jinja.get_or_init(|| match &self.0.kind {
            Kind::Json(value) => minijinja::Value::from_serialize(value),
            Kind::Object(entries) => entries
                .iter()
                .map(|(k, v)| (k.clone(), v.jinja().clone()))
                .collect(),
            Kind::Number(n) => minijinja::Value::from(*n),
        })
    }

    /// The JSON value at `path` (`steps.total.order_id`: names separated
    /// by dots), or `None` when the path does not lead through objects to
    /// a present key; the caller then evaluates it as minijinja does.
    pub(super) fn lookup(&self, path: &str) -> Option<Cow<'_, Value>> {
        let mut names = path.split('.');
        let mut node = self;
        loop {
            match &node.0.kind {
                Kind::Object(entries) => {
                    let name = names.next()?;
                    node = entries
                        .iter()
                        .rev()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v)?;
                }
                Kind::Json(value) => {
                    let mut value = value;
                    for name in names {
                        value = value.as_object()?.get(name)?;
                    }
                    return Some(Cow::Borrowed(value));
                }
                Kind::Number(n) => {
                    return names.next().is_none().then(|| Cow::Owned(Value::from(*n)));
                }
            }
        }
    }
}

/// Whether `expr` is a plain path: identifiers separated by single dots,
/// with no spaces, calls, filters, subscripts or operators.
pub(super) fn is_path(expr: &str) -> bool {
    expr.split('.').all(|name| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}
