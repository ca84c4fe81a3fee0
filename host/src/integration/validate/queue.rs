//! Upload-time checks of queue triggers: the broker is one the operator
//! configured (when the server knows them), the subject is a valid NATS
//! subject whose placeholders name non-secret config variables, and the
//! group is a valid consumer-name part.

use super::*;
use crate::integration::subject::SubjectTemplate;

/// Longest consumer group name (it is part of the durable consumer's name).
pub(crate) const MAX_GROUP: usize = 32;

impl Validator<'_> {
    pub(super) fn queue(&mut self, path: &str, q: &QueueTrigger) {
        let broker_path = format!("{path}.broker");
        if !is_url_safe(&q.broker) {
            self.err(
                broker_path,
                format!(
                    "invalid broker name \"{}\": use letters, digits, '-', '_' and '.'",
                    q.broker
                ),
            );
        } else if let Some(known) = &self.catalog.brokers
            && !known.contains(&q.broker)
        {
            let message = if known.is_empty() {
                format!(
                    "unknown broker '{}': this server's weft.toml names no brokers ([brokers.NAME])",
                    q.broker
                )
            } else {
                let hint = suggest::hint(&q.broker, known.iter().map(String::as_str));
                format!(
                    "unknown broker '{}'{hint} (weft.toml [brokers.NAME] of this server)",
                    q.broker
                )
            };
            self.err(broker_path, message);
        }
        let subject_path = format!("{path}.subject");
        match SubjectTemplate::parse(&q.subject) {
            Err(e) => self.err(subject_path, e.0),
            Ok(template) => {
                for key in template.config_keys() {
                    match self.integration.config_var(key) {
                        None => {
                            let hint = suggest::hint(key, self.config_keys.iter().copied());
                            self.err(
                                &subject_path,
                                format!("references unknown config key '{key}'{hint}"),
                            );
                        }
                        Some(var) if var.ty == ConfigType::Secret => self.err(
                            &subject_path,
                            format!(
                                "config '{key}' is a secret; a subject is sent to the broker \
                                 in clear and cannot contain secrets"
                            ),
                        ),
                        Some(_) => {}
                    }
                }
            }
        }
        if let Some(group) = &q.group {
            let valid = !group.is_empty()
                && group.len() <= MAX_GROUP
                && group
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                self.err(
                    format!("{path}.group"),
                    format!(
                        "invalid group \"{group}\": 1 to {MAX_GROUP} letters, digits, '-' or '_'"
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::integration::{Catalog, Trigger, parse, validate};

    fn file(trigger: &str) -> String {
        format!(
            "name: q\nversion: 1\nconfig:\n  - {{ key: shop, type: string, required: true }}\n  \
             - {{ key: token, type: secret }}\nflows:\n  - name: orders\n    trigger: {trigger}\n    \
             steps:\n      - {{ id: e, component: echo@1.0.0, action: echo, input: {{}} }}\n"
        )
    }

    fn catalog(brokers: Option<&[&str]>) -> Catalog {
        let mut c = Catalog::default();
        c.insert("echo", "1.0.0", ["echo"], Vec::<String>::new());
        c.brokers = brokers.map(|b| b.iter().map(|s| (*s).to_owned()).collect());
        c
    }

    fn errors(trigger: &str, brokers: Option<&[&str]>) -> String {
        let integration = parse(&file(trigger)).unwrap();
        match validate(&integration, &catalog(brokers)) {
            Ok(()) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_queue_trigger_parses_and_validates() {
        let text = file(
            "{ type: queue, broker: events, subject: \"orders.{{ config.shop }}\", group: billing }",
        );
        let integration = parse(&text).unwrap();
        let Trigger::Queue(q) = &integration.flows[0].trigger else {
            panic!("not a queue trigger");
        };
        assert_eq!((q.broker.as_str(), q.group()), ("events", "billing"));
        validate(&integration, &catalog(Some(&["events"]))).unwrap();
        // The CLI, knowing no brokers, checks everything else.
        validate(&integration, &catalog(None)).unwrap();
    }

    #[test]
    fn queue_trigger_errors_name_their_path() {
        let e = errors(
            "{ type: queue, broker: evnets, subject: a.b }",
            Some(&["events"]),
        );
        assert!(
            e.contains("flows[0].trigger.broker: unknown broker 'evnets'; did you mean 'events'?"),
            "{e}"
        );
        let e = errors("{ type: queue, broker: events, subject: a.b }", Some(&[]));
        assert!(e.contains("names no brokers"), "{e}");
        let e = errors(
            "{ type: queue, broker: events, subject: \"a.{{ config.shp }}\" }",
            None,
        );
        assert!(
            e.contains("flows[0].trigger.subject: references unknown config key 'shp'; did you mean 'shop'?"),
            "{e}"
        );
        let e = errors(
            "{ type: queue, broker: events, subject: \"a.{{ config.token }}\" }",
            None,
        );
        assert!(
            e.contains("flows[0].trigger.subject: config 'token' is a secret"),
            "{e}"
        );
        let e = errors("{ type: queue, broker: events, subject: \"a..b\" }", None);
        assert!(
            e.contains("flows[0].trigger.subject: subject \"a..b\""),
            "{e}"
        );
        let e = errors(
            "{ type: queue, broker: events, subject: a, group: \"x.y\" }",
            None,
        );
        assert!(
            e.contains("flows[0].trigger.group: invalid group \"x.y\""),
            "{e}"
        );
        let e = parse(&file("{ type: queue, subject: a }"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("broker"), "{e}");
        let e = parse(&file("{ type: queue, broker: b, subject: a, cron: x }"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("field 'cron' is not allowed on a queue trigger"),
            "{e}"
        );
    }
}
