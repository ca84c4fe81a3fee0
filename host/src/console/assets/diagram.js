// Weft console, flow diagrams: a flow drawn as nested boxes, the trigger
// on top, then its steps in order joined by arrows; a branch splits into
// one lane per case (its condition on top), a for_each is a box around
// its body with a loop-back mark, respond and on_failure are boxes of
// their own. Every label is text.
"use strict";

(function () {
  const h = Weft.h;

  function triggerLabel(t) {
    switch (t.type) {
      case "webhook":
        return [
          "webhook",
          [t.mode || "async", t.preprocess ? "preprocess" : null, t.timeout ? "timeout " + t.timeout : null,
            t.auth ? "HMAC " + t.auth.hmac_sha256.header : null].filter(Boolean).join(" · "),
        ];
      case "schedule":
        return ["schedule", t.cron + (t.timezone && t.timezone !== "UTC" ? " (" + t.timezone + ")" : "") +
          (t.catch_up && t.catch_up !== "skip" ? " · catch up " + t.catch_up : "")];
      case "queue":
        return ["queue", (t.broker || "") + " " + (t.subject || "")];
      default:
        return [t.type, ""];
    }
  }

  function short(value) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return text.length > 90 ? text.slice(0, 87) + "…" : text;
  }

  function stepBox(step) {
    if (step.branch) {
      return h("div", { class: "node node-branch", "data-step": step.id },
        h("div", { class: "node-head" }, h("span", { class: "node-kind" }, "branch"), h("span", { class: "node-id" }, step.id)),
        h("div", { class: "lanes" },
          step.branch.map((c) => h("div", { class: "lane" },
            h("div", { class: "lane-cond" }, c.else !== undefined ? "else" : "when " + short(c.when)),
            steps(c.else !== undefined ? c.else : c.steps)))));
    }
    if (step.for_each !== undefined) {
      return h("div", { class: "node node-loop", "data-step": step.id },
        h("div", { class: "node-head" }, h("span", { class: "node-kind" }, "for each"), h("span", { class: "node-id" }, step.id),
          h("span", { class: "node-detail" }, short(step.for_each)),
          step.concurrency ? h("span", { class: "node-detail" }, "· " + step.concurrency + " at a time") : null),
        h("div", { class: "loop-body" }, steps(step.steps), h("div", { class: "loop-back", title: "repeats for every item" }, "↺ next item")));
    }
    if (step.respond) {
      return h("div", { class: "node node-respond", "data-step": step.id },
        h("div", { class: "node-head" }, h("span", { class: "node-kind" }, "respond"), h("span", { class: "node-id" }, step.id)),
        h("div", { class: "node-detail" }, "status " + (step.respond.status || 200)));
    }
    return h("div", { class: "node node-action", "data-step": step.id },
      h("div", { class: "node-head" }, h("span", { class: "node-kind" }, "action"), h("span", { class: "node-id" }, step.id)),
      h("div", { class: "node-detail mono" }, (step.component || "") + " · " + (step.action || "")),
      step.retry ? h("div", { class: "node-note" }, "retry ×" + step.retry.attempts + (step.retry.backoff ? " " + step.retry.backoff : "")) : null,
      step.on_error ? h("div", { class: "node-note" }, "on error: " + step.on_error) : null);
  }

  function steps(list) {
    const out = h("div", { class: "steps" });
    (list || []).forEach((step, i) => {
      if (i > 0) out.appendChild(h("div", { class: "arrow" }));
      out.appendChild(stepBox(step));
    });
    if (!list || !list.length) out.appendChild(h("div", { class: "node node-empty" }, "no steps"));
    return out;
  }

  Weft.flowDiagram = function flowDiagram(flow) {
    const [kind, detail] = triggerLabel(flow.trigger || { type: "manual" });
    return h("div", { class: "diagram", "data-flow": flow.name },
      h("div", { class: "node node-trigger" },
        h("div", { class: "node-head" }, h("span", { class: "node-kind" }, "trigger"), h("span", { class: "node-id" }, kind)),
        detail ? h("div", { class: "node-detail" }, detail) : null,
        flow.concurrency ? h("div", { class: "node-note" }, "concurrency " + flow.concurrency.mode +
          (flow.concurrency.limit ? " " + flow.concurrency.limit : "")) : null),
      h("div", { class: "arrow" }),
      steps(flow.steps),
      flow.on_failure ? h("div", { class: "node node-failure" },
        h("div", { class: "node-head" }, h("span", { class: "node-kind" }, "on failure"), h("span", { class: "node-id" }, "respond")),
        h("div", { class: "node-detail" }, "status " + (flow.on_failure.respond.status || 200))) : null);
  };
})();
