// Weft console, the catalog: components (name@version, actions with their
// input and output schemas as readable property lists, declared hosts)
// and integrations (versions, each flow drawn by Weft.flowDiagram).
"use strict";

(function () {
  const h = Weft.h;

  // A JSON Schema as nested property rows: name, type, required, text.
  function schemaView(schema) {
    if (!schema || typeof schema !== "object" || Object.keys(schema).length === 0) {
      return h("p", { class: "muted small" }, "any JSON (no schema declared)");
    }
    return h("div", { class: "schema" },
      schema.title || schema.description
        ? h("div", { class: "schema-title" }, [schema.title, schema.description].filter(Boolean).join(" — "))
        : null,
      schemaNode(schema, null, false, 0));
  }

  function typeOf(schema) {
    if (!schema || typeof schema !== "object") return "any";
    if (schema.enum) return "one of " + schema.enum.map((v) => JSON.stringify(v)).join(", ");
    if (schema.const !== undefined) return "= " + JSON.stringify(schema.const);
    let t = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type;
    if (!t && schema.properties) t = "object";
    if (!t && (schema.anyOf || schema.oneOf)) t = (schema.anyOf || schema.oneOf).map(typeOf).join(" | ");
    if (t === "array" && schema.items) t = "array of " + typeOf(schema.items);
    if (schema.format) t = (t || "") + " (" + schema.format + ")";
    return t || "any";
  }

  function schemaNode(schema, name, required, depth) {
    const rows = [];
    if (name !== null) {
      rows.push(h("div", { class: "schema-row" },
        h("span", { class: "schema-name" }, "\u00a0".repeat(depth * 4) + name),
        h("span", { class: "schema-type" }, typeOf(schema)),
        required ? h("span", { class: "schema-req" }, "required") : h("span", { class: "schema-opt" }, "optional"),
        h("span", { class: "schema-desc" }, (schema && schema.description) || "")));
    }
    const props = schema && (schema.properties || (schema.items && schema.items.properties));
    if (props && depth < 6) {
      const req = new Set((schema.required || (schema.items && schema.items.required) || []));
      for (const [key, sub] of Object.entries(props)) {
        rows.push(schemaNode(sub, key, req.has(key), name === null ? depth : depth + 1));
      }
    } else if (name === null) {
      rows.push(h("div", { class: "schema-row" },
        h("span", { class: "schema-name" }, "(value)"),
        h("span", { class: "schema-type" }, typeOf(schema)), h("span", null, ""), h("span", null, "")));
    }
    return rows;
  }

  function componentCard(c) {
    return h("article", { class: "card component", id: "component-" + c.name + "-" + c.version },
      h("header", { class: "card-head" },
        h("h2", null, h("span", { class: "mono" }, c.name + "@" + c.version)),
        c.builtin ? h("span", { class: "tag" }, "built-in") : null,
        h("span", { class: "muted small" }, Weft.bytes(c.size) + " · sha256 " + String(c.sha256).slice(0, 12) + "…")),
      h("p", { class: "description" }, c.description),
      h("div", { class: "hosts" }, h("span", { class: "label" }, "Declared outbound hosts: "),
        c.hosts.length ? c.hosts.map((x) => h("code", { class: "host" }, x)) : h("span", { class: "muted" }, "none (no network)")),
      h("div", { class: "actions" },
        c.actions.map((a, i) => h("details", { class: "action", open: i === 0 },
          h("summary", null, h("code", null, a.key), " ", h("strong", null, a.title),
            h("span", { class: "muted" }, " — " + a.description)),
          h("div", { class: "schemas" },
            h("div", null, h("h4", null, "Input"), schemaView(a.input_schema)),
            h("div", null, h("h4", null, "Output"), schemaView(a.output_schema)))))));
  }

  Weft.page("components", async (main) => {
    main.appendChild(Weft.title("Components"));
    const components = await Weft.api("/components");
    if (!components.length) main.appendChild(h("p", { class: "muted" }, "No components registered."));
    for (const c of components) main.appendChild(componentCard(c));
  });

  Weft.page("integrations", async (main, params) => {
    if (params[0]) return integration(main, params[0], params[1]);
    main.appendChild(Weft.title("Integrations"));
    const list = await Weft.api("/integrations");
    const byName = new Map();
    for (const i of list) {
      if (!byName.has(i.name)) byName.set(i.name, []);
      byName.get(i.name).push(i);
    }
    const rows = [...byName.values()].map((versions) => versions.sort((a, b) => b.version - a.version));
    main.appendChild(Weft.table([
      { title: "Integration", cell: (v) => Weft.link("#/integrations/" + Weft.seg(v[0].name) + "/" + v[0].version, v[0].name, "strong") },
      { title: "Versions", cell: (v) => v.map((x) => [Weft.link("#/integrations/" + Weft.seg(x.name) + "/" + x.version, "v" + x.version, "pill"), " "]) },
      { title: "Flows", cell: (v) => v[0].flows.map((f) => h("span", { class: "flow-chip" }, f.name, h("small", null, " " + f.trigger))) },
      { title: "Components", cell: (v) => v[0].components.map((c) => h("code", { class: "host" }, c)) },
      { title: "Description", cell: (v) => v[0].description || "" },
    ], rows, { empty: "No integrations uploaded." }));
  });

  async function integration(main, name, version) {
    const path = "/integrations/" + Weft.seg(name) + (version ? "/" + Weft.seg(version) : "");
    const [it, all] = await Promise.all([Weft.api(path), Weft.api("/integrations")]);
    const versions = all.filter((i) => i.name === it.name).sort((a, b) => b.version - a.version);
    main.appendChild(Weft.title(it.name + " v" + it.version,
      h("span", { class: "muted" }, "versions: "),
      versions.map((v) => [Weft.link("#/integrations/" + Weft.seg(v.name) + "/" + v.version, "v" + v.version,
        "pill" + (v.version === it.version ? " pill-active" : "")), " "])));
    if (it.description) main.appendChild(h("p", { class: "description" }, it.description));
    const def = it.definition || { flows: [], config: [] };
    if (def.config && def.config.length) {
      main.appendChild(Weft.section("Config variables", Weft.table([
        { title: "Key", cell: (c) => h("code", null, c.key) },
        { title: "Type", cell: (c) => c.type },
        { title: "Required", cell: (c) => (c.required ? "yes" : "no") },
        { title: "Default", cell: (c) => (c.default === undefined ? "" : JSON.stringify(c.default)) },
        { title: "Description", cell: (c) => c.description || "" },
      ], def.config)));
    }
    for (const flow of def.flows) {
      main.appendChild(Weft.section(null,
        h("h2", null, "Flow ", h("span", { class: "mono" }, flow.name)),
        flow.description ? h("p", { class: "description" }, flow.description) : null,
        Weft.flowDiagram(flow)));
    }
    main.appendChild(h("details", { class: "panel source" }, h("summary", null, "Integration file as uploaded"),
      h("pre", { class: "json" }, it.text || "")));
  }
})();
