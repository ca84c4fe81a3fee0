// Weft console, one execution: its summary, Replay (and Retry when it
// failed), a step timeline with a bar per step attempt on a time axis
// (attempt boundaries come from the host's "attempt N of M failed …
// retrying in X ms" log lines), and per step its input, output, logs,
// fuel, memory, attempts and typed error. Reloads while it runs.
"use strict";

(function () {
  const h = Weft.h;
  const RETRY_LINE = /^attempt (\d+) of (\d+) failed: .*; retrying in (\d+) ms$/s;

  // [{attempt, start, end, failed}] for one step record (times in ms).
  function attempts(step) {
    const start = new Date(step.started_at).getTime();
    const end = start + (step.duration_ms || 0);
    const out = [];
    let from = start;
    for (const line of step.logs || []) {
      const m = line.source === "host" && line.at ? RETRY_LINE.exec(line.message) : null;
      if (!m) continue;
      const at = new Date(line.at).getTime();
      out.push({ attempt: Number(m[1]), start: from, end: at, failed: true });
      from = at + Number(m[3]);
    }
    out.push({ attempt: out.length + 1, start: Math.min(from, end), end, failed: step.status === "failed" });
    return out;
  }

  function timeline(execution) {
    const steps = execution.steps || [];
    if (!steps.length) return h("p", { class: "muted" }, "No step has run yet.");
    const t0 = Math.min(
      ...steps.map((s) => new Date(s.started_at).getTime()),
      execution.started_at ? new Date(execution.started_at).getTime() : Infinity);
    const ends = steps.map((s) => new Date(s.started_at).getTime() + (s.duration_ms || 0));
    const t1 = Math.max(...ends, execution.finished_at ? new Date(execution.finished_at).getTime() : 0, t0 + 1);
    const span = t1 - t0;
    const pct = (t) => ((t - t0) / span) * 100;
    const ticks = h("div", { class: "tl-axis" });
    for (let i = 0; i <= 4; i++) {
      const tick = h("span", { class: "tl-tick" }, Weft.duration((span * i) / 4));
      tick.style.left = i * 25 + "%";
      ticks.appendChild(tick);
    }
    const rows = steps.map((s) => {
      const track = h("div", { class: "tl-track" });
      for (const a of attempts(s)) {
        const bar = h("a", {
          class: "tl-bar " + (a.failed ? "tl-failed" : "tl-ok"),
          href: "#step-" + s.path,
          title: s.path + " attempt " + a.attempt + ": " + Weft.duration(a.end - a.start),
          "data-attempt": a.attempt,
          onclick: (ev) => {
            ev.preventDefault();
            const el = document.getElementById("step-" + s.path);
            if (el) {
              el.open = true;
              el.scrollIntoView({ block: "start" });
            }
          },
        });
        bar.style.left = pct(a.start) + "%";
        bar.style.width = Math.max(pct(a.end) - pct(a.start), 0.6) + "%";
        track.appendChild(bar);
      }
      return h("div", { class: "tl-row", "data-step": s.path },
        h("div", { class: "tl-label" }, h("span", { class: "mono" }, s.path),
          s.attempts > 1 ? h("span", { class: "muted" }, " ×" + s.attempts) : null),
        track,
        h("div", { class: "tl-dur" }, Weft.duration(s.duration_ms)));
    });
    return h("div", { class: "timeline" },
      h("div", { class: "tl-row tl-head" }, h("div", { class: "tl-label" }, "Step"), ticks, h("div", { class: "tl-dur" }, "Duration")),
      rows);
  }

  function errorView(error) {
    if (!error) return null;
    return h("div", { class: "step-error" },
      h("div", null, h("span", { class: "tag tag-error" }, error.kind || error.code), " ",
        h("code", null, error.code), error.retryable ? h("span", { class: "muted" }, " · retryable") : null,
        error.status ? h("span", { class: "muted" }, " · HTTP " + error.status) : null),
      h("pre", { class: "json error-text" }, error.message));
  }

  function logsView(logs) {
    if (!logs || !logs.length) return h("p", { class: "muted small" }, "No log lines.");
    return h("div", { class: "logs" }, logs.map((l) =>
      h("div", { class: "log log-" + l.level },
        h("span", { class: "log-at" }, l.at ? Weft.time(l.at).slice(11) + "." + String(new Date(l.at).getMilliseconds()).padStart(3, "0") : ""),
        h("span", { class: "log-level" }, l.level),
        h("span", { class: "log-source" }, l.source),
        h("span", { class: "log-msg" }, l.message))));
  }

  function stepView(s) {
    return h("details", { class: "step step-" + s.status, id: "step-" + s.path, open: s.status === "failed", "data-step": s.path },
      h("summary", null, Weft.badge(s.status), " ", h("strong", { class: "mono" }, s.path), " ",
        h("span", { class: "muted" }, s.kind === "action" ? (s.component || "") + " · " + (s.action || "") : s.kind),
        h("span", { class: "step-metrics" },
          h("span", null, Weft.duration(s.duration_ms)),
          s.kind === "action" ? [
            h("span", null, "fuel " + Weft.number(s.fuel_used)),
            h("span", null, "memory " + Weft.bytes(s.peak_memory)),
            h("span", { class: s.attempts > 1 ? "warn-text" : "" }, s.attempts + (s.attempts === 1 ? " attempt" : " attempts")),
          ] : null)),
      errorView(s.error),
      h("div", { class: "io" },
        h("div", null, h("h4", null, "Input"), s.input === undefined ? h("p", { class: "muted small" }, "–") : Weft.json(s.input, "step-input")),
        h("div", null, h("h4", null, "Output"), Weft.json(s.output, "step-output"))),
      h("h4", null, "Logs"), logsView(s.logs),
      h("p", { class: "muted small" }, "Started " + Weft.time(s.started_at)));
  }

  Weft.executionPage = async function executionPage(main, id) {
    const path = "/executions/" + Weft.seg(id);
    const box = h("div", { class: "execution", "data-execution": id });
    main.appendChild(box);
    let timer = null;
    let shown = "";

    async function act(what) {
      try {
        const started = await Weft.api(path + "/" + what, { method: "POST", body: {} });
        Weft.toast(what === "replay" ? "Replay started." : "Retry started.");
        if (what === "replay") location.hash = "#/executions/" + Weft.seg(started.execution_id);
        else load();
      } catch (error) {
        Weft.toast(error.message, true);
      }
    }

    async function load() {
      const e = await Weft.api(path);
      const print = JSON.stringify(e);
      if (print !== shown) {
        shown = print;
        draw(e);
      }
      clearTimeout(timer);
      if (!["succeeded", "failed"].includes(e.status)) timer = setTimeout(load, 700);
    }

    function draw(e) {
      const openSteps = new Set([...box.querySelectorAll("details.step[open]")].map((d) => d.dataset.step));
      Weft.clear(box);
      box.appendChild(Weft.title("Execution", h("span", { class: "mono muted" }, e.id), Weft.badge(e.status),
        h("span", { class: "spacer" }),
        e.status === "failed" ? h("button", { type: "button", class: "ghost", id: "retry", onclick: () => act("retry") }, "Retry from failed step") : null,
        h("button", { type: "button", class: "primary", id: "replay", onclick: () => act("replay") }, "Replay")));
      if (e.error) box.appendChild(h("div", { class: "error-box", role: "alert" }, e.error));
      box.appendChild(Weft.section("Summary", Weft.kv([
        ["Flow", e.flow],
        ["Integration", e.integration],
        ["Instance", Weft.link("#/instances/" + Weft.seg(e.instance), e.instance, "mono")],
        Weft.session.role === "operator" ? ["Tenant", e.tenant] : null,
        ["Created", Weft.time(e.created_at)],
        ["Started", Weft.time(e.started_at)],
        ["Finished", Weft.time(e.finished_at)],
        ["Duration", Weft.duration(e.duration_ms)],
        e.replay_of ? ["Replay of", Weft.link("#/executions/" + Weft.seg(e.replay_of), e.replay_of, "mono")] : null,
        e.retries ? ["Retries", String(e.retries)] : null,
        e.resumed ? ["Resumed", e.resumed + " time(s) after a restart"] : null,
        e.idempotency_key ? ["Idempotency key", h("code", null, e.idempotency_key)] : null,
        e.callback ? ["Callback", h("code", null, e.callback + (e.callback_outcome ? " — " + e.callback_outcome : ""))] : null,
      ])));
      box.appendChild(Weft.section("Timeline", timeline(e)));
      const steps = h("div", { class: "steps-list" }, (e.steps || []).map(stepView));
      for (const d of steps.querySelectorAll("details.step")) if (openSteps.has(d.dataset.step)) d.open = true;
      box.appendChild(Weft.section("Steps", steps));
      box.appendChild(Weft.section("Trigger", Weft.json(e.trigger, "trigger")));
      if (e.response || e.output !== undefined) {
        box.appendChild(Weft.section(e.response ? "Response" : "Output", Weft.json(e.response || e.output)));
      }
    }

    Weft.onLeave(() => clearTimeout(timer));
    await load();
  };
})();
