// Weft console, the overview: executions per status over the last hour
// and day (failures first), the queue depth, recent failures and, for the
// operator, counts per tenant. Counted from the newest executions the
// caller may see (up to OVERVIEW_MAX), refreshed as executions change.
"use strict";

(function () {
  const h = Weft.h;
  const OVERVIEW_MAX = 5000;
  const PAGE = 500;
  const HOUR = 3600 * 1000;
  const DAY = 24 * HOUR;
  const STATUSES = ["failed", "running", "queued", "succeeded"];

  // Every execution of the last day (newest first, at most OVERVIEW_MAX).
  async function lastDay() {
    const since = Date.now() - DAY;
    const out = [];
    let cursor;
    for (;;) {
      const page = await Weft.api("/executions" + Weft.query({ limit: PAGE, cursor }));
      for (const e of page.executions) {
        if (new Date(e.created_at).getTime() < since) return { executions: out, capped: false };
        out.push(e);
      }
      if (!page.next_cursor) return { executions: out, capped: false };
      if (out.length >= OVERVIEW_MAX) return { executions: out, capped: true };
      cursor = page.next_cursor;
    }
  }

  function counts(executions, since) {
    const c = { failed: 0, running: 0, queued: 0, succeeded: 0 };
    for (const e of executions) {
      if (new Date(e.created_at).getTime() >= since) c[e.status] = (c[e.status] || 0) + 1;
    }
    return c;
  }

  function statusCards(title, c) {
    const total = STATUSES.reduce((n, s) => n + c[s], 0);
    return h("div", { class: "stat-group" },
      h("h3", null, title, h("span", { class: "muted" }, " · " + Weft.number(total) + (total === 1 ? " execution" : " executions"))),
      h("div", { class: "stats" },
        STATUSES.map((s) =>
          h("a", {
            class: "stat stat-" + s + (s === "failed" && c[s] > 0 ? " stat-alert" : ""),
            href: "#/executions?status=" + s,
          },
            h("span", { class: "stat-value" }, Weft.number(c[s])),
            h("span", { class: "stat-label" }, s))
        )));
  }

  async function render(main) {
    main.appendChild(Weft.title("Overview", h("span", { class: "live-dot", title: "updates live" }, "live")));
    const body = h("div", { class: "overview" });
    main.appendChild(body);
    let timer = null;
    let busy = false;

    async function refresh() {
      if (busy) return;
      busy = true;
      try {
        const [{ executions, capped }, queued, instances] = await Promise.all([
          lastDay(),
          Weft.api("/executions" + Weft.query({ status: "queued", limit: PAGE })),
          Weft.api("/instances"),
        ]);
        Weft.clear(body);
        const now = Date.now();
        const depth = queued.executions.length + (queued.next_cursor ? "+" : "");
        body.appendChild(h("div", { class: "overview-top" },
          statusCards("Last hour", counts(executions, now - HOUR)),
          statusCards("Last 24 hours", counts(executions, now - DAY)),
          h("div", { class: "stat-group" },
            h("h3", null, "Now"),
            h("div", { class: "stats" },
              h("a", { class: "stat stat-queued", href: "#/executions?status=queued" },
                h("span", { class: "stat-value", id: "queue-depth" }, String(depth)),
                h("span", { class: "stat-label" }, "queue depth")),
              h("a", { class: "stat", href: "#/instances" },
                h("span", { class: "stat-value" }, Weft.number(instances.length)),
                h("span", { class: "stat-label" }, "instances"))))));
        if (capped) {
          body.appendChild(h("p", { class: "muted" },
            "Counted from the newest " + Weft.number(OVERVIEW_MAX) + " executions of the last day."));
        }
        const failures = executions.filter((e) => e.status === "failed").slice(0, 10);
        body.appendChild(Weft.section("Recent failures",
          Weft.table([
            { title: "Execution", cell: (e) => Weft.link("#/executions/" + Weft.seg(e.id), Weft.short(e.id), "mono") },
            { title: "Flow", cell: (e) => e.flow },
            { title: "Instance", cell: (e) => Weft.link("#/instances/" + Weft.seg(e.instance), Weft.short(e.instance), "mono") },
            { title: "Error", cell: (e) => h("span", { class: "error-text clip", title: e.error || "" }, e.error || "") },
            { title: "When", cell: (e) => Weft.ago(e.created_at) },
          ], failures, { empty: "No failures in the last 24 hours." })));
        if (Weft.session.role === "operator") body.appendChild(perTenant(executions, instances, now));
      } catch (error) {
        if (!(error instanceof Weft.ApiError && error.status === 401)) {
          Weft.clear(body).appendChild(Weft.errorBox(error));
        }
      } finally {
        busy = false;
      }
    }

    function perTenant(executions, instances, now) {
      const tenants = new Map();
      const get = (t) => {
        if (!tenants.has(t)) tenants.set(t, { tenant: t, instances: 0, hour: 0, day: 0, failed: 0, queued: 0 });
        return tenants.get(t);
      };
      for (const i of instances) get(i.tenant).instances++;
      for (const e of executions) {
        const row = get(e.tenant);
        row.day++;
        if (new Date(e.created_at).getTime() >= now - HOUR) row.hour++;
        if (e.status === "failed") row.failed++;
        if (e.status === "queued") row.queued++;
      }
      const rows = [...tenants.values()].sort((a, b) => b.failed - a.failed || b.day - a.day);
      return Weft.section("Per tenant (last 24 hours)",
        Weft.table([
          { title: "Tenant", cell: (r) => h("strong", null, r.tenant) },
          { title: "Instances", cell: (r) => Weft.number(r.instances), cls: "num" },
          { title: "Executions (1 h)", cell: (r) => Weft.number(r.hour), cls: "num" },
          { title: "Executions (24 h)", cell: (r) => Weft.number(r.day), cls: "num" },
          { title: "Failed", cell: (r) => h("span", { class: r.failed ? "error-text" : "" }, Weft.number(r.failed)), cls: "num" },
          { title: "Queued", cell: (r) => Weft.number(r.queued), cls: "num" },
        ], rows, { empty: "No tenants with instances or executions yet.", cls: "tenants" }));
    }

    Weft.watchExecutions({}, () => {
      if (!timer) timer = setTimeout(() => { timer = null; refresh(); }, 1000);
    }, refresh);
    Weft.onLeave(() => clearTimeout(timer));
  }

  Weft.page("overview", render);
})();
