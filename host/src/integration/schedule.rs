//! Cron expressions and time zones of schedule triggers.
//!
//! Accepted cron forms:
//!
//! - **5 fields**, standard crontab: `minute hour day-of-month month
//!   day-of-week`, day-of-week `0`–`7` with `0` and `7` both Sunday (or
//!   `SUN`–`SAT`). Runs at second 0.
//! - **6 fields**: seconds first, then as above, but day-of-week numbers
//!   follow the `cron` crate (Quartz style): `1` = Sunday … `7` = Saturday.
//!   Prefer names (`MON-FRI`) to avoid the difference.
//! - **7 fields**: the 6-field form plus a year.
//! - `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`),
//!   `@hourly`.
//!
//! The `cron` crate numbers weekdays 1–7 from Sunday where crontab uses 0–7
//! from Sunday; 5-field expressions are translated (`1-5` becomes `2-6`), so
//! `0 9 * * 1` fires on Mondays as in any crontab.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::config::ResolvedConfig;
use super::model::ScheduleTrigger;
use super::references::config_ref;
use super::suggest;

/// Why a cron expression, time zone or schedule trigger cannot be used; the
/// message is complete (lowercase, quoting the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

/// Parses a cron expression in one of the forms described in this module.
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, ScheduleError> {
    let trimmed = expr.trim();
    let normalized = if trimmed.starts_with('@') {
        match trimmed {
            "@annually" => "@yearly".to_owned(),
            "@midnight" => "@daily".to_owned(),
            other => other.to_owned(),
        }
    } else {
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        match fields.len() {
            5 => {
                let dow = crontab_weekdays(fields[4]).map_err(|e| {
                    ScheduleError(format!("invalid cron expression \"{expr}\": {e}"))
                })?;
                format!(
                    "0 {} {} {} {} {dow}",
                    fields[0], fields[1], fields[2], fields[3]
                )
            }
            6 | 7 => fields.join(" "),
            n => {
                return Err(ScheduleError(format!(
                    "invalid cron expression \"{expr}\": it has {n} fields; expected 5 \
                     (minute hour day month weekday), 6 (seconds first) or 7 (year last)"
                )));
            }
        }
    };
    cron::Schedule::from_str(&normalized).map_err(|_| {
        ScheduleError(format!(
            "invalid cron expression \"{expr}\": {}",
            diagnose(trimmed, &normalized)
        ))
    })
}

/// Names the first field of `original` the `cron` crate refuses on its own,
/// by parsing `normalized` with every other field set to `*`.
fn diagnose(original: &str, normalized: &str) -> String {
    const NAMES: [(&str, &str); 7] = [
        ("second", "0-59"),
        ("minute", "0-59"),
        ("hour", "0-23"),
        ("day-of-month", "1-31"),
        ("month", "1-12 or JAN-DEC"),
        ("day-of-week", "SUN-SAT"),
        ("year", "1970-2099"),
    ];
    if original.starts_with('@') {
        return "unknown shorthand; use @yearly, @monthly, @weekly, @daily or @hourly".to_owned();
    }
    let fields: Vec<&str> = normalized.split_whitespace().collect();
    let shown: Vec<&str> = original.split_whitespace().collect();
    // A 5-field original lacks the seconds field; weekdays were translated.
    let offset = fields.len() - shown.len();
    for (i, field) in fields.iter().enumerate() {
        let mut probe = vec!["*"; fields.len()];
        probe[i] = field;
        if cron::Schedule::from_str(&probe.join(" ")).is_err() {
            let (name, range) = NAMES[i];
            let range = if i == 5 && offset == 1 {
                "0-7 or SUN-SAT"
            } else if i == 5 {
                "1-7 or SUN-SAT"
            } else {
                range
            };
            let text = i
                .checked_sub(offset)
                .and_then(|j| shown.get(j))
                .unwrap_or(field);
            return format!(
                "{name} field \"{text}\" is invalid (allowed: {range}, with *, lists, ranges and /steps)"
            );
        }
    }
    "the fields do not form a valid schedule".to_owned()
}

/// Rewrites a crontab day-of-week field (0–7, Sunday = 0 or 7) into the
/// `cron` crate's numbering (1–7, Sunday = 1). Names pass through.
fn crontab_weekdays(field: &str) -> Result<String, String> {
    let mut out: Vec<String> = Vec::new();
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("invalid day-of-week step \"{s}\""))?;
                (b, Some(step))
            }
            None => (item, None),
        };
        let day = |s: &str| -> Result<Option<u32>, String> {
            if !s.chars().all(|c| c.is_ascii_digit()) || s.is_empty() {
                return Ok(None);
            }
            match s.parse::<u32>() {
                Ok(n) if n <= 7 => Ok(Some(n)),
                _ => Err(format!("day of week {s} is out of range 0-7")),
            }
        };
        let range = match base {
            "*" | "?" if step.is_none() => None,
            "*" | "?" => Some((0, 6)),
            _ => match base.split_once('-') {
                Some((a, b)) => match (day(a)?, day(b)?) {
                    (Some(a), Some(b)) if a <= b => Some((a, b)),
                    (Some(a), Some(b)) => {
                        return Err(format!("day-of-week range {a}-{b} runs backwards"));
                    }
                    _ => None,
                },
                None => day(base)?.map(|n| (n, if step.is_some() { 7 } else { n })),
            },
        };
        match range {
            // Names, `*`, or anything the cron crate will judge itself.
            None => out.push(item.to_owned()),
            Some((a, b)) => {
                let days: BTreeSet<u32> = (a..=b)
                    .step_by(step.unwrap_or(1) as usize)
                    .map(|d| d % 7 + 1)
                    .collect();
                out.extend(days.into_iter().map(|d| d.to_string()));
            }
        }
    }
    Ok(out.join(","))
}

/// Parses an IANA time zone name (`America/Chicago`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>().map_err(|_| {
        let hint = suggest::closest(name, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()))
            .map(|best| format!("; did you mean '{best}'?"))
            .unwrap_or_else(|| "; use an IANA name such as 'America/Chicago'".to_owned());
        ScheduleError(format!("unknown time zone '{name}'{hint}"))
    })
}

/// The schedule and time zone of a schedule trigger for one instance: the
/// literal expression, or the value of the `cron` config variable it names.
pub fn schedule_for(
    trigger: &ScheduleTrigger,
    config: &ResolvedConfig,
) -> Result<(cron::Schedule, Tz), ScheduleError> {
    let expr = match config_ref(&trigger.cron) {
        Some(key) => match config.values.get(key) {
            Some(serde_json::Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(ScheduleError(format!(
                    "config '{key}' is not a cron string: {other}"
                )));
            }
            None => return Err(ScheduleError(format!("config '{key}' has no value"))),
        },
        None => trigger.cron.as_str(),
    };
    Ok((parse_cron(expr)?, parse_timezone(&trigger.timezone)?))
}

/// The first fire time strictly after `after`, in UTC; `None` when the
/// schedule never fires again (a past year).
pub fn next_after(
    schedule: &cron::Schedule,
    tz: &Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    schedule
        .after(&after.with_timezone(tz))
        .next()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Weekday};

    fn next(expr: &str, tz: &str, after: DateTime<Utc>) -> DateTime<Utc> {
        next_after(
            &parse_cron(expr).unwrap(),
            &parse_timezone(tz).unwrap(),
            after,
        )
        .unwrap()
    }

    #[test]
    fn crontab_weekdays_follow_crontab() {
        assert_eq!(crontab_weekdays("1-5").unwrap(), "2,3,4,5,6");
        assert_eq!(crontab_weekdays("0").unwrap(), "1");
        assert_eq!(crontab_weekdays("7").unwrap(), "1");
        assert_eq!(crontab_weekdays("5-7").unwrap(), "1,6,7");
        assert_eq!(crontab_weekdays("*").unwrap(), "*");
        assert_eq!(crontab_weekdays("*/2").unwrap(), "1,3,5,7");
        assert_eq!(crontab_weekdays("MON-FRI").unwrap(), "MON-FRI");
        assert_eq!(crontab_weekdays("1,3").unwrap(), "2,4");
        assert!(crontab_weekdays("8").unwrap_err().contains("out of range"));
        // 2024-01-01 was a Monday; from a Sunday, `* * 1` means the next day.
        let sunday = Utc.with_ymd_and_hms(2023, 12, 31, 12, 0, 0).unwrap();
        let t = next("0 9 * * 1", "UTC", sunday);
        assert_eq!(t.weekday(), Weekday::Mon);
        assert_eq!((t.hour(), t.minute(), t.second()), (9, 0, 0));
        let t = next("0 9 * * 0", "UTC", sunday);
        assert_eq!(t.weekday(), Weekday::Sun);
    }

    #[test]
    fn forms() {
        let at = Utc.with_ymd_and_hms(2024, 3, 1, 10, 2, 30).unwrap();
        assert_eq!(
            next("*/5 * * * *", "UTC", at),
            Utc.with_ymd_and_hms(2024, 3, 1, 10, 5, 0).unwrap()
        );
        assert_eq!(
            next("15 */5 * * * *", "UTC", at),
            Utc.with_ymd_and_hms(2024, 3, 1, 10, 5, 15).unwrap()
        );
        assert_eq!(
            next("@daily", "UTC", at),
            Utc.with_ymd_and_hms(2024, 3, 2, 0, 0, 0).unwrap()
        );
        assert_eq!(
            next("@midnight", "UTC", at),
            Utc.with_ymd_and_hms(2024, 3, 2, 0, 0, 0).unwrap()
        );
        assert!(parse_cron("0 0 0 1 1 * 2030").is_ok());
        assert!(parse_cron("* * *").unwrap_err().0.contains("has 3 fields"));
        assert_eq!(
            parse_cron("0 25 * * *").unwrap_err().to_string(),
            "invalid cron expression \"0 25 * * *\": hour field \"25\" is invalid (allowed: \
             0-23, with *, lists, ranges and /steps)"
        );
        assert!(
            parse_cron("0 0 * * FUN")
                .unwrap_err()
                .0
                .contains("day-of-week field \"FUN\"")
        );
        assert!(
            parse_cron("70 0 0 * * *")
                .unwrap_err()
                .0
                .contains("second field \"70\"")
        );
        assert!(
            parse_cron("@fortnightly")
                .unwrap_err()
                .0
                .contains("unknown shorthand")
        );
        assert!(
            parse_cron("61 * * * *")
                .unwrap_err()
                .0
                .starts_with("invalid cron expression \"61 * * * *\"")
        );
    }

    #[test]
    fn time_zones() {
        // 9:00 in Chicago (CST, UTC-6) is 15:00 UTC.
        let at = Utc.with_ymd_and_hms(2024, 1, 10, 0, 0, 0).unwrap();
        assert_eq!(
            next("0 9 * * *", "America/Chicago", at),
            Utc.with_ymd_and_hms(2024, 1, 10, 15, 0, 0).unwrap()
        );
        assert_eq!(
            parse_timezone("America/Chicgo").unwrap_err().to_string(),
            "unknown time zone 'America/Chicgo'; did you mean 'America/Chicago'?"
        );
    }
}
