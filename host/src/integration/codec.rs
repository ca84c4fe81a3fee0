//! Hand-written (de)serialization of the model's shape-shifting maps:
//! [`Trigger`] (tagged by `type`), [`Step`] (its kind decided by which keys it
//! has), [`BranchCase`] (`when` + `steps`, or `else`), and of
//! [`HumanDuration`] (a string kept as written).
//!
//! serde's `flatten` and internally tagged enums buffer their input, which
//! loses both `deny_unknown_fields` and the path of nested errors. Reading
//! each key straight into its typed value keeps `serde_path_to_error`'s path
//! exact (`flows[1].steps[0].retry.attempts`); the checks that need the whole
//! map (which keys go together) are reported at the map's own path.

use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::model::{
    ActionStep, BranchCase, CatchUp, ForEachStep, HumanDuration, OnError, QueueTrigger,
    RespondStep, RetryPolicy, ScheduleTrigger, Step, StepKind, Trigger, WebhookAuth, WebhookMode,
    WebhookTrigger,
};

/// Stores `value` into `slot`, refusing a second occurrence of `key`.
fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    key: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(key));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// Reads a map key that must be one of `fields`; an unknown key fails while
/// it is being read, so the error's path ends in the key itself.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        let key = String::deserialize(d)?;
        self.0
            .iter()
            .find(|k| **k == key)
            .copied()
            .ok_or_else(|| de::Error::unknown_field(&key, self.0))
    }
}

/// Quotes a list of keys for messages: `'mode', 'timeout'`.
fn quoted(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

const TRIGGER_FIELDS: &[&str] = &[
    "type",
    "mode",
    "timeout",
    "auth",
    "preprocess",
    "cron",
    "timezone",
    "catch_up",
    "broker",
    "subject",
    "group",
];
const TRIGGER_TYPES: &[&str] = &[
    "webhook", "schedule", "deploy", "teardown", "manual", "error", "queue",
];

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TriggerVisitor)
    }
}

struct TriggerVisitor;

impl<'de> Visitor<'de> for TriggerVisitor {
    type Value = Trigger;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a trigger map such as { type: webhook }")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Trigger, A::Error> {
        let mut ty: Option<String> = None;
        let mut mode: Option<WebhookMode> = None;
        let mut timeout: Option<HumanDuration> = None;
        let mut auth: Option<WebhookAuth> = None;
        let mut preprocess: Option<bool> = None;
        let mut cron: Option<String> = None;
        let mut timezone: Option<String> = None;
        let mut catch_up: Option<CatchUp> = None;
        let mut broker: Option<String> = None;
        let mut subject: Option<String> = None;
        let mut group: Option<String> = None;
        let mut seen: Vec<&'static str> = Vec::new();
        while let Some(key) = map.next_key_seed(Key(TRIGGER_FIELDS))? {
            seen.push(key);
            match key {
                "type" => once(&mut map, &mut ty, "type")?,
                "mode" => once(&mut map, &mut mode, "mode")?,
                "timeout" => once(&mut map, &mut timeout, "timeout")?,
                "auth" => once(&mut map, &mut auth, "auth")?,
                "preprocess" => once(&mut map, &mut preprocess, "preprocess")?,
                "cron" => once(&mut map, &mut cron, "cron")?,
                "timezone" => once(&mut map, &mut timezone, "timezone")?,
                "broker" => once(&mut map, &mut broker, "broker")?,
                "subject" => once(&mut map, &mut subject, "subject")?,
                "group" => once(&mut map, &mut group, "group")?,
                _ => once(&mut map, &mut catch_up, "catch_up")?,
            }
        }
        let ty = ty.ok_or_else(|| de::Error::missing_field("type"))?;
        let allowed: &[&str] = match ty.as_str() {
            "webhook" => &["type", "mode", "timeout", "auth", "preprocess"],
            "schedule" => &["type", "cron", "timezone", "catch_up"],
            "queue" => &["type", "broker", "subject", "group"],
            "deploy" | "teardown" | "manual" | "error" => &["type"],
            other => return Err(de::Error::unknown_variant(other, TRIGGER_TYPES)),
        };
        if let Some(bad) = seen.iter().find(|k| !allowed.contains(k)) {
            let hint = if allowed.len() == 1 {
                "it takes no other keys".to_owned()
            } else {
                format!("allowed: {}", quoted(&allowed[1..]))
            };
            return Err(de::Error::custom(format!(
                "field '{bad}' is not allowed on a {ty} trigger ({hint})"
            )));
        }
        Ok(match ty.as_str() {
            "webhook" => Trigger::Webhook(WebhookTrigger {
                mode: mode.unwrap_or_default(),
                timeout,
                auth,
                preprocess: preprocess.unwrap_or(false),
            }),
            "schedule" => Trigger::Schedule(ScheduleTrigger {
                cron: cron.ok_or_else(|| de::Error::missing_field("cron"))?,
                timezone: timezone.unwrap_or_else(|| "UTC".to_owned()),
                catch_up: catch_up.unwrap_or_default(),
            }),
            "deploy" => Trigger::Deploy,
            "teardown" => Trigger::Teardown,
            "error" => Trigger::Error,
            "queue" => Trigger::Queue(QueueTrigger {
                broker: broker.ok_or_else(|| de::Error::missing_field("broker"))?,
                subject: subject.ok_or_else(|| de::Error::missing_field("subject"))?,
                group,
            }),
            _ => Trigger::Manual,
        })
    }
}

const STEP_FIELDS: &[&str] = &[
    "id",
    "component",
    "action",
    "input",
    "retry",
    "on_error",
    "timeout",
    "branch",
    "for_each",
    "steps",
    "concurrency",
    "respond",
];
const ACTION_FIELDS: &[&str] = &[
    "id",
    "component",
    "action",
    "input",
    "retry",
    "on_error",
    "timeout",
];
const FOR_EACH_FIELDS: &[&str] = &["id", "for_each", "steps", "concurrency"];
const KINDS_HINT: &str = "a step is exactly one of an action ('component' + 'action'), 'branch', 'for_each' or 'respond'";

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = Step;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a step map with an 'id'")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
        let mut id: Option<String> = None;
        let mut component: Option<String> = None;
        let mut action: Option<String> = None;
        let mut input: Option<Value> = None;
        let mut retry: Option<RetryPolicy> = None;
        let mut on_error: Option<OnError> = None;
        let mut timeout: Option<HumanDuration> = None;
        let mut branch: Option<Vec<BranchCase>> = None;
        let mut for_each: Option<String> = None;
        let mut steps: Option<Vec<Step>> = None;
        let mut concurrency: Option<u32> = None;
        let mut respond: Option<RespondStep> = None;
        let mut seen: Vec<&'static str> = Vec::new();
        while let Some(key) = map.next_key_seed(Key(STEP_FIELDS))? {
            seen.push(key);
            match key {
                "id" => once(&mut map, &mut id, "id")?,
                "component" => once(&mut map, &mut component, "component")?,
                "action" => once(&mut map, &mut action, "action")?,
                "input" => once(&mut map, &mut input, "input")?,
                "retry" => once(&mut map, &mut retry, "retry")?,
                "on_error" => once(&mut map, &mut on_error, "on_error")?,
                "timeout" => once(&mut map, &mut timeout, "timeout")?,
                "branch" => once(&mut map, &mut branch, "branch")?,
                "for_each" => once(&mut map, &mut for_each, "for_each")?,
                "steps" => once(&mut map, &mut steps, "steps")?,
                "concurrency" => once(&mut map, &mut concurrency, "concurrency")?,
                _ => once(&mut map, &mut respond, "respond")?,
            }
        }
        let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        let is_action = component.is_some() || action.is_some();
        let kinds: Vec<&str> = [
            ("component", is_action),
            ("branch", branch.is_some()),
            ("for_each", for_each.is_some()),
            ("respond", respond.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect();
        match kinds.as_slice() {
            [] => {
                return Err(de::Error::custom(format!(
                    "step '{id}' does nothing; {KINDS_HINT}"
                )));
            }
            [_] => {}
            [a, b, ..] => {
                return Err(de::Error::custom(format!(
                    "step '{id}' has both '{a}' and '{b}'; {KINDS_HINT}"
                )));
            }
        }
        let (kind_name, allowed): (&str, &[&str]) = match kinds[0] {
            "component" => ("an action", ACTION_FIELDS),
            "branch" => ("a branch", &["id", "branch"]),
            "for_each" => ("a for_each", FOR_EACH_FIELDS),
            _ => ("a respond", &["id", "respond"]),
        };
        if let Some(bad) = seen.iter().find(|k| !allowed.contains(k)) {
            return Err(de::Error::custom(format!(
                "field '{bad}' is not allowed on {kind_name} step (step '{id}')"
            )));
        }
        let kind = if let Some(cases) = branch {
            StepKind::Branch(cases)
        } else if let Some(for_each) = for_each {
            StepKind::ForEach(ForEachStep {
                for_each,
                steps: steps.ok_or_else(|| de::Error::missing_field("steps"))?,
                concurrency,
            })
        } else if let Some(respond) = respond {
            StepKind::Respond(respond)
        } else {
            StepKind::Action(ActionStep {
                component: component.ok_or_else(|| de::Error::missing_field("component"))?,
                action: action.ok_or_else(|| de::Error::missing_field("action"))?,
                input: input.unwrap_or(Value::Null),
                retry,
                on_error: on_error.unwrap_or_default(),
                timeout,
            })
        };
        Ok(Step { id, kind })
    }
}

impl<'de> Deserialize<'de> for BranchCase {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(BranchCaseVisitor)
    }
}

struct BranchCaseVisitor;

impl<'de> Visitor<'de> for BranchCaseVisitor {
    type Value = BranchCase;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a branch case: { when: \"{{ … }}\", steps: [...] } or { else: [...] }")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BranchCase, A::Error> {
        let mut when: Option<String> = None;
        let mut steps: Option<Vec<Step>> = None;
        let mut otherwise: Option<Vec<Step>> = None;
        while let Some(key) = map.next_key_seed(Key(&["when", "steps", "else"]))? {
            match key {
                "when" => once(&mut map, &mut when, "when")?,
                "steps" => once(&mut map, &mut steps, "steps")?,
                _ => once(&mut map, &mut otherwise, "else")?,
            }
        }
        match (when, steps, otherwise) {
            (Some(when), Some(steps), None) => Ok(BranchCase::When { when, steps }),
            (None, None, Some(steps)) => Ok(BranchCase::Else { steps }),
            (Some(_), None, None) => Err(de::Error::missing_field("steps")),
            (None, Some(_), None) => Err(de::Error::missing_field("when")),
            (None, None, None) => Err(de::Error::custom(
                "empty branch case; write { when: \"{{ … }}\", steps: [...] } or { else: [...] }",
            )),
            _ => Err(de::Error::custom(
                "a branch case has either 'when' + 'steps' or 'else', not both",
            )),
        }
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"30s\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Writes steps as maps with their kind's keys flattened next to `id`.
impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &self.id)?;
        match &self.kind {
            StepKind::Action(a) => {
                m.serialize_entry("component", &a.component)?;
                m.serialize_entry("action", &a.action)?;
                if !a.input.is_null() {
                    m.serialize_entry("input", &a.input)?;
                }
                if let Some(retry) = &a.retry {
                    m.serialize_entry("retry", retry)?;
                }
                if a.on_error != OnError::Fail {
                    m.serialize_entry("on_error", &a.on_error)?;
                }
                if let Some(timeout) = &a.timeout {
                    m.serialize_entry("timeout", timeout)?;
                }
            }
            StepKind::Branch(cases) => m.serialize_entry("branch", cases)?,
            StepKind::ForEach(f) => {
                m.serialize_entry("for_each", &f.for_each)?;
                if let Some(c) = f.concurrency {
                    m.serialize_entry("concurrency", &c)?;
                }
                m.serialize_entry("steps", &f.steps)?;
            }
            StepKind::Respond(r) => m.serialize_entry("respond", r)?,
        }
        m.end()
    }
}

impl Serialize for BranchCase {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self {
            BranchCase::When { when, steps } => {
                m.serialize_entry("when", when)?;
                m.serialize_entry("steps", steps)?;
            }
            BranchCase::Else { steps } => m.serialize_entry("else", steps)?,
        }
        m.end()
    }
}
