// Weft console, the executions list: filters by instance, flow and
// status (kept in the address), newest first, with rows added and updated
// live from the API's event stream; "Older" pages back with the cursor.
"use strict";

(function () {
  const h = Weft.h;
  const PAGE = 50;
  const STATUSES = ["", "queued", "running", "succeeded", "failed"];

  function columns() {
    return [
      { title: "Execution", cell: (e) => Weft.link("#/executions/" + Weft.seg(e.id), Weft.short(e.id), "mono") },
      { title: "Status", cell: (e) => Weft.badge(e.status) },
      { title: "Flow", cell: (e) => e.flow },
      { title: "Instance", cell: (e) => Weft.link("#/instances/" + Weft.seg(e.instance), Weft.short(e.instance), "mono") },
      Weft.session.role === "operator" ? { title: "Tenant", cell: (e) => e.tenant } : null,
      { title: "Created", cell: (e) => Weft.time(e.created_at) },
      { title: "Duration", cell: (e) => Weft.duration(e.duration_ms), cls: "num" },
      { title: "Error", cell: (e) => h("span", { class: "error-text clip" }, e.error || (e.replay_of ? "replay" : "")) },
    ].filter(Boolean);
  }

  Weft.page("executions", async (main, params, search) => {
    if (params[0]) return Weft.executionPage(main, params[0]);
    const filters = {
      instance: search.get("instance") || "",
      flow: search.get("flow") || "",
      status: search.get("status") || "",
    };
    const form = h("form", { class: "filters", id: "filters" },
      h("label", null, "Instance", h("input", { name: "instance", value: filters.instance, placeholder: "any", spellcheck: "false" })),
      h("label", null, "Flow", h("input", { name: "flow", value: filters.flow, placeholder: "any", spellcheck: "false" })),
      h("label", null, "Status", h("select", { name: "status" },
        STATUSES.map((s) => h("option", { value: s, selected: s === filters.status }, s || "any")))),
      h("button", { type: "submit", class: "primary" }, "Filter"),
      h("a", { href: "#/executions", class: "ghost button" }, "Clear"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      location.hash = "#/executions" + Weft.query({
        instance: data.get("instance").trim(), flow: data.get("flow").trim(), status: data.get("status"),
      });
    });
    form.querySelector("select").addEventListener("change", () => form.requestSubmit());
    main.appendChild(Weft.title("Executions", h("span", { class: "live-dot", title: "updates live" }, "live")));
    main.appendChild(form);

    const cols = columns();
    const tbody = h("tbody", { id: "executions-body" });
    const table = h("table", { class: "grid executions" },
      h("thead", null, h("tr", null, cols.map((c) => h("th", { class: c.cls }, c.title)))), tbody);
    const more = h("button", { type: "button", class: "ghost", hidden: true }, "Older executions");
    main.append(Weft.h("section", { class: "panel flush" }, table), h("div", { class: "more" }, more));

    const rows = new Map();
    let cursor = null;
    const emptyRow = h("tr", { class: "empty" }, h("td", { colspan: cols.length }, "No executions match."));

    function put(e, atTop, flash) {
      const tr = Weft.row(cols, e, { rowAttrs: () => ({ "data-execution": e.id, "data-status": e.status }) });
      const old = rows.get(e.id);
      if (old) {
        old.replaceWith(tr);
      } else if (atTop) {
        tbody.insertBefore(tr, tbody.firstChild);
      } else {
        tbody.appendChild(tr);
      }
      if (flash) tr.classList.add("flash");
      rows.set(e.id, tr);
      emptyRow.remove();
    }

    async function load(reset) {
      const page = await Weft.api("/executions" + Weft.query({ ...filters, limit: PAGE, cursor: reset ? null : cursor }));
      if (reset) {
        Weft.clear(tbody);
        rows.clear();
      }
      for (const e of page.executions) put(e, false, false);
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      if (!rows.size) tbody.appendChild(emptyRow);
    }

    more.addEventListener("click", () => load(false).catch((e) => Weft.toast(e.message, true)));
    Weft.watchExecutions(filters, (e) => {
      // Newer than the newest shown goes on top; UUIDv7 ids sort by time.
      const first = tbody.querySelector("tr[data-execution]");
      const newest = !first || e.id >= first.dataset.execution;
      if (rows.has(e.id) || newest) put(e, newest, true);
    }, () => load(true).catch((e) => Weft.toast(e.message, true)));
  });
})();
