// Weft console, instances: the list (status, tenant, integration) and one
// instance's page: config (secrets arrive as *** from the API), webhook
// URLs with copy buttons, next schedule fire times, enable/disable, and
// its recent executions, updated live.
"use strict";

(function () {
  const h = Weft.h;

  Weft.page("instances", async (main, params) => {
    if (params[0]) return instance(main, params[0]);
    main.appendChild(Weft.title("Instances"));
    const list = await Weft.api("/instances");
    main.appendChild(Weft.table([
      { title: "Instance", cell: (i) => Weft.link("#/instances/" + Weft.seg(i.id), i.id, "mono") },
      { title: "Tenant", cell: (i) => i.tenant },
      { title: "Integration", cell: (i) => i.integration },
      { title: "Status", cell: (i) => Weft.badge(i.status) },
      { title: "Webhooks", cell: (i) => String(Object.keys(i.webhooks || {}).length), cls: "num" },
      { title: "Updated", cell: (i) => Weft.ago(i.updated_at) },
    ], list, { empty: "No instances.", cls: "instances", rowAttrs: (i) => ({ "data-instance": i.id }) }));
  });

  function executionColumns() {
    return [
      { title: "Execution", cell: (e) => Weft.link("#/executions/" + Weft.seg(e.id), Weft.short(e.id), "mono") },
      { title: "Flow", cell: (e) => e.flow },
      { title: "Status", cell: (e) => Weft.badge(e.status) },
      { title: "Created", cell: (e) => Weft.time(e.created_at) },
      { title: "Duration", cell: (e) => Weft.duration(e.duration_ms), cls: "num" },
    ];
  }

  async function instance(main, id) {
    const path = "/instances/" + Weft.seg(id);
    let inst = await Weft.api(path);
    const head = h("div", null);
    const details = h("div", null);
    main.append(head, details);

    function draw() {
      Weft.clear(head).appendChild(Weft.title("Instance", h("span", { class: "mono muted" }, inst.id), Weft.badge(inst.status),
        h("span", { class: "spacer" }),
        inst.status === "active" || inst.status === "deploy_failed"
          ? h("button", { type: "button", class: "danger", id: "disable", onclick: () => change("disable") }, "Disable")
          : null,
        inst.status === "created" || inst.status === "disabled" || inst.status === "deploy_failed"
          ? h("button", { type: "button", class: "primary", id: "enable", onclick: () => change("enable") }, "Enable")
          : null));
      Weft.clear(details);
      details.appendChild(Weft.section("Details", Weft.kv([
        ["Tenant", inst.tenant],
        ["Integration", Weft.link("#/integrations/" + inst.integration.replace("@", "/"), inst.integration)],
        ["Created", Weft.time(inst.created_at)],
        ["Updated", Weft.time(inst.updated_at)],
        inst.last_lifecycle_execution
          ? ["Last deploy/teardown", Weft.link("#/executions/" + Weft.seg(inst.last_lifecycle_execution), inst.last_lifecycle_execution, "mono")]
          : null,
        inst.outbound_allow && inst.outbound_allow.length
          ? ["Extra outbound hosts", inst.outbound_allow.map((x) => h("code", { class: "host" }, x))]
          : null,
      ])));
      const config = Object.entries(inst.config || {}).map(([k, v]) => ({ key: k, value: JSON.stringify(v), secret: false }))
        .concat(Object.entries(inst.secrets || {}).map(([k, v]) => ({ key: k, value: v, secret: true })));
      details.appendChild(Weft.section("Config", Weft.table([
        { title: "Key", cell: (c) => h("code", null, c.key) },
        { title: "Value", cell: (c) => h("span", { class: c.secret ? "secret mono" : "mono" }, c.value) },
        { title: "Kind", cell: (c) => (c.secret ? "secret (encrypted, never shown)" : "value") },
      ], config, { empty: "No config values." })));
      const hooks = Object.entries(inst.webhooks || {});
      details.appendChild(Weft.section("Webhooks", Weft.table([
        { title: "Flow", cell: ([flow]) => flow },
        { title: "URL", cell: ([, url]) => h("code", { class: "url" }, url) },
        { title: "", cell: ([, url]) => Weft.copyButton(url) },
      ], hooks, { empty: "No webhook flows." })));
      const schedules = Object.entries(inst.schedules || {});
      details.appendChild(Weft.section("Schedules", Weft.table([
        { title: "Flow", cell: ([flow]) => flow },
        { title: "Next run", cell: ([, due]) => Weft.time(due) },
        { title: "", cell: ([, due]) => h("span", { class: "muted" }, Weft.ago(due)) },
      ], schedules, { empty: inst.status === "active" ? "No schedule flows." : "Schedules fire only while the instance is active." })));
    }

    // While deploy or teardown flows run, look again until the status settles.
    let settle = null;
    Weft.onLeave(() => clearTimeout(settle));
    async function refreshWhileMoving() {
      clearTimeout(settle);
      const fresh = await Weft.api(path);
      if (fresh.status !== inst.status || fresh.updated_at !== inst.updated_at) {
        inst = fresh;
        draw();
      }
      if (inst.status === "deploying" || inst.status === "disabling") settle = setTimeout(refreshWhileMoving, 700);
    }

    async function change(what) {
      try {
        await Weft.api(path + "/" + what, { method: "POST", body: {} });
        Weft.toast(what === "enable" ? "Enabling: deploy flows are running." : "Disabling: teardown flows are running.");
      } catch (error) {
        Weft.toast(error.message, true);
      }
      await refreshWhileMoving();
    }

    draw();
    if (inst.status === "deploying" || inst.status === "disabling") refreshWhileMoving();
    const recent = h("div", null);
    main.appendChild(Weft.section("Recent executions", recent));
    let busy = false;
    async function loadRecent() {
      if (busy) return;
      busy = true;
      try {
        const page = await Weft.api("/executions" + Weft.query({ instance: inst.id, limit: 20 }));
        Weft.clear(recent).appendChild(Weft.table(executionColumns(), page.executions,
          { empty: "No executions yet.", rowAttrs: (e) => ({ "data-execution": e.id }) }));
        await refreshWhileMoving();
      } finally {
        busy = false;
      }
    }
    Weft.watchExecutions({ instance: inst.id }, loadRecent, loadRecent);
  }
})();
