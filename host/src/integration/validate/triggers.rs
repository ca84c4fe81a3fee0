//! Upload-time checks of webhook and schedule triggers: sync timeouts,
//! signature settings, cron expressions and time zones.

use super::*;

impl Validator<'_> {
    pub(super) fn webhook(&mut self, path: &str, w: &WebhookTrigger) {
        if let Some(timeout) = &w.timeout {
            if w.mode == WebhookMode::Async {
                self.err(
                    format!("{path}.timeout"),
                    "a timeout applies only to sync webhooks; add mode: sync or remove it",
                );
            } else if timeout.duration.is_zero() {
                self.err(format!("{path}.timeout"), "timeout must be more than 0s");
            }
        }
        let Some(auth) = &w.auth else { return };
        let hmac = &auth.hmac_sha256;
        let hmac_path = format!("{path}.auth.hmac_sha256");
        if !is_header_name(&hmac.header) {
            self.err(
                format!("{hmac_path}.header"),
                format!("invalid http header name \"{}\"", hmac.header),
            );
        }
        // Never quote the value: it may be a secret pasted inline.
        let secret_path = format!("{hmac_path}.secret");
        match config_ref(&hmac.secret) {
            None => self.err(
                secret_path,
                "must be exactly \"{{ config.<key> }}\" naming a config variable of type \
                 secret; literal secrets are not allowed in integration files",
            ),
            Some(key) => match self.integration.config_var(key) {
                None => {
                    let hint = suggest::hint(key, self.config_keys.iter().copied());
                    self.err(
                        secret_path,
                        format!("references unknown config key '{key}'{hint}"),
                    );
                }
                Some(var) if var.ty != ConfigType::Secret => self.err(
                    secret_path,
                    format!(
                        "config '{key}' has type {}; the signing secret must be a config \
                         variable of type secret",
                        var.ty
                    ),
                ),
                Some(_) => {}
            },
        }
    }

    pub(super) fn schedule(&mut self, path: &str, s: &ScheduleTrigger) {
        let cron_path = format!("{path}.cron");
        if template::is_template(&s.cron) {
            match config_ref(&s.cron).map(|k| (k, self.integration.config_var(k))) {
                None => self.err(
                    cron_path,
                    format!(
                        "invalid cron \"{}\": write a cron expression or exactly \
                         \"{{{{ config.<key> }}}}\" naming a config variable of type cron",
                        s.cron
                    ),
                ),
                Some((key, None)) => {
                    let hint = suggest::hint(key, self.config_keys.iter().copied());
                    self.err(
                        cron_path,
                        format!("references unknown config key '{key}'{hint}"),
                    );
                }
                Some((key, Some(var))) if var.ty != ConfigType::Cron => self.err(
                    cron_path,
                    format!(
                        "config '{key}' has type {}; a schedule needs a config variable of \
                         type cron",
                        var.ty
                    ),
                ),
                Some(_) => {}
            }
        } else if let Err(e) = parse_cron(&s.cron) {
            self.err(cron_path, e.0);
        }
        if let Err(e) = parse_timezone(&s.timezone) {
            self.err(format!("{path}.timezone"), e.0);
        }
    }
}
