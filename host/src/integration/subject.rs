//! Subjects of queue triggers: a NATS subject (`orders.created`,
//! `orders.*.paid`, `events.>`) in which parts may be `{{ config.KEY }}`,
//! `{{ instance.tenant }}` or `{{ instance.id }}`, so that each instance
//! consumes its own subject (`orders.{{ instance.tenant }}.{{ config.shop
//! }}.created`).
//!
//! Only these plain placeholders are allowed (no filters or
//! expressions), and a value put in their place must be a piece of one
//! token: letters, digits, `-` and `_`. A tenant who sets the config can
//! thus pick its own subject inside the pattern the integration wrote,
//! but never widen it with a `*`, a `>` or a `.` of its own. Config is the
//! tenant's to choose, so where tenants must not read each other's
//! messages the subject names `{{ instance.tenant }}`, which only the
//! operator sets (tenant names are lowercase letters, digits and `-`).

use super::config::ResolvedConfig;

/// Longest subject accepted, before and after filling in config.
pub const MAX_SUBJECT: usize = 256;

/// A parsed subject template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Config(String),
    Tenant,
    InstanceId,
}

/// What `{{ instance.tenant }}` and `{{ instance.id }}` become.
#[derive(Debug, Clone, Copy)]
pub struct SubjectInstance<'a> {
    /// The instance's tenant.
    pub tenant: &'a str,
    /// The instance's id.
    pub id: &'a str,
}

/// Why a subject template or its rendering is refused (lowercase, quoting
/// the offending value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SubjectError(pub String);

fn is_token_piece(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl SubjectTemplate {
    /// Parses `text`; the error names what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, SubjectError> {
        if text.trim().is_empty() {
            return Err(SubjectError("a subject must not be empty".to_owned()));
        }
        if text.len() > MAX_SUBJECT {
            return Err(SubjectError(format!(
                "subject is {} bytes; the limit is {MAX_SUBJECT}",
                text.len()
            )));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| SubjectError(format!("unclosed '{{{{' in subject \"{text}\"")))?;
            let expr = after[..close].trim();
            rest = &after[close + 2..];
            match expr {
                "instance.tenant" => {
                    parts.push(Part::Tenant);
                    continue;
                }
                "instance.id" => {
                    parts.push(Part::InstanceId);
                    continue;
                }
                _ => {}
            }
            let key = expr
                .strip_prefix("config.")
                .filter(|k| {
                    let mut chars = k.chars();
                    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
                .ok_or_else(|| {
                    SubjectError(format!(
                        "'{{{{ {expr} }}}}' in subject \"{text}\": a subject may use only \
                         '{{{{ config.<key> }}}}', '{{{{ instance.tenant }}}}' and \
                         '{{{{ instance.id }}}}' placeholders"
                    ))
                })?;
            parts.push(Part::Config(key.to_owned()));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        let template = Self { parts };
        // The shape with every placeholder filled by a plain token piece
        // must be a valid subject.
        let sample = template.fill(
            SubjectInstance {
                tenant: "x",
                id: "x",
            },
            |_| Ok("x".to_owned()),
        )?;
        check_subject(&sample).map_err(|e| SubjectError(format!("subject \"{text}\": {e}")))?;
        Ok(template)
    }

    /// The config keys the template uses, in order.
    pub fn config_keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Config(key) => Some(key.as_str()),
            Part::Literal(_) | Part::Tenant | Part::InstanceId => None,
        })
    }

    /// The subject for `instance` with `config`.
    pub fn render(
        &self,
        config: &ResolvedConfig,
        instance: SubjectInstance<'_>,
    ) -> Result<String, SubjectError> {
        for (part, what, value) in [
            (Part::Tenant, "tenant", instance.tenant),
            (Part::InstanceId, "instance id", instance.id),
        ] {
            if self.parts.contains(&part) && !is_token_piece(value) {
                return Err(SubjectError(format!(
                    "{what} \"{value}\" cannot be part of a subject"
                )));
            }
        }
        let subject = self.fill(instance, |key| {
            if config.is_secret(key) {
                return Err(SubjectError(format!(
                    "config '{key}' is a secret; a subject cannot contain secrets"
                )));
            }
            let value = match config.get(key) {
                None | Some(serde_json::Value::Null) => {
                    return Err(SubjectError(format!(
                        "config '{key}' is not set; the subject needs it"
                    )));
                }
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(serde_json::Value::Bool(b)) => b.to_string(),
                Some(other) => {
                    return Err(SubjectError(format!(
                        "config '{key}' is {other}; a subject part must be a string or number"
                    )));
                }
            };
            if !is_token_piece(&value) {
                return Err(SubjectError(format!(
                    "config '{key}' is \"{value}\"; in a subject it may hold only letters, \
                     digits, '-' and '_' (no '.', '*', '>' or spaces)"
                )));
            }
            Ok(value)
        })?;
        check_subject(&subject).map_err(SubjectError)?;
        Ok(subject)
    }

    fn fill(
        &self,
        instance: SubjectInstance<'_>,
        mut value: impl FnMut(&str) -> Result<String, SubjectError>,
    ) -> Result<String, SubjectError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Config(key) => out.push_str(&value(key)?),
                Part::Tenant => out.push_str(instance.tenant),
                Part::InstanceId => out.push_str(instance.id),
            }
        }
        Ok(out)
    }
}

/// Checks a NATS subject: dot-separated non-empty tokens of visible ASCII,
/// `*` only as a whole token, `>` only as the whole last token.
pub fn check_subject(subject: &str) -> Result<(), String> {
    if subject.len() > MAX_SUBJECT {
        return Err(format!(
            "subject is {} bytes; the limit is {MAX_SUBJECT}",
            subject.len()
        ));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(format!(
                "\"{subject}\" has an empty token (two dots, or a dot at an end)"
            ));
        }
        if let Some(c) = token.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(format!(
                "\"{subject}\" contains {c:?}; subjects are visible ASCII without spaces"
            ));
        }
        if token.len() > 1 && token.contains(['*', '>']) {
            return Err(format!(
                "\"{subject}\": wildcards '*' and '>' must be whole tokens"
            ));
        }
        if *token == ">" && i + 1 != tokens.len() {
            return Err(format!("\"{subject}\": '>' may only be the last token"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTANCE: SubjectInstance<'static> = SubjectInstance {
        tenant: "acme",
        id: "0193-ab",
    };

    fn config(pairs: &[(&str, serde_json::Value)], secrets: &[&str]) -> ResolvedConfig {
        ResolvedConfig {
            values: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            secret_keys: secrets.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn literal_and_templated_subjects_parse() {
        let t = SubjectTemplate::parse("orders.{{ config.shop }}.created").unwrap();
        assert_eq!(t.config_keys().collect::<Vec<_>>(), ["shop"]);
        let c = config(&[("shop", "berlin-1".into())], &[]);
        assert_eq!(t.render(&c, INSTANCE).unwrap(), "orders.berlin-1.created");
        let t = SubjectTemplate::parse("shop-{{config.n}}.>").unwrap();
        assert_eq!(
            t.render(&config(&[("n", 7.into())], &[]), INSTANCE)
                .unwrap(),
            "shop-7.>"
        );
        SubjectTemplate::parse("orders.*.paid").unwrap();
        let t = SubjectTemplate::parse("t.{{ instance.tenant }}.{{instance.id}}.x").unwrap();
        assert_eq!(t.config_keys().count(), 0);
        assert_eq!(
            t.render(&config(&[], &[]), INSTANCE).unwrap(),
            "t.acme.0193-ab.x"
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        for (text, needle) in [
            ("", "empty"),
            ("orders..created", "empty token"),
            ("orders.>.x", "last token"),
            ("orders.a*", "whole tokens"),
            ("orders created", "without spaces"),
            ("orders.{{ trigger.body }}", "only '{{ config.<key> }}'"),
            (
                "orders.{{ config.shop | upper }}",
                "only '{{ config.<key> }}'",
            ),
            ("orders.{{ config.shop", "unclosed"),
        ] {
            let err = SubjectTemplate::parse(text).unwrap_err().0;
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn config_values_cannot_widen_the_subject() {
        let t = SubjectTemplate::parse("orders.{{ config.shop }}").unwrap();
        for value in ["*", ">", "a.b", "a b", ""] {
            let err = t
                .render(&config(&[("shop", value.into())], &[]), INSTANCE)
                .unwrap_err()
                .0;
            assert!(err.contains("config 'shop'"), "{value}: {err}");
        }
        let err = t.render(&config(&[], &[]), INSTANCE).unwrap_err().0;
        assert!(err.contains("not set"), "{err}");
        let err = t
            .render(&config(&[("shop", "x".into())], &["shop"]), INSTANCE)
            .unwrap_err()
            .0;
        assert!(err.contains("secret"), "{err}");
    }
}
