// Weft console, shared helpers: building DOM nodes (values only ever as
// text nodes or attributes, never parsed as markup), calling the API
// through /console/api with the session's CSRF token, formatting, the
// hash router and the live execution event stream.
"use strict";

const Weft = (window.Weft = {
  session: null,
  pages: {},
  cleanups: [],
});

// h("div", {class: "x", onclick: fn}, "text", child, [more]) builds an
// element. Strings become text nodes; attributes are set with
// setAttribute (names starting with "on" must be functions).
Weft.h = function h(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) {
      if (typeof value !== "function") throw new Error("event handlers must be functions");
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  Weft.append(el, children);
  return el;
};

Weft.append = function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
};

Weft.clear = function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
};

// An error carrying the API's message and status.
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}
Weft.ApiError = ApiError;

// Calls the API: path is the part after /v1 ("/executions?limit=5").
Weft.api = async function api(path, options = {}) {
  const method = options.method || "GET";
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    headers["X-Weft-Csrf"] = Weft.session ? Weft.session.csrf : "";
  }
  let body;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const response = await fetch("/console/api" + path, {
    method,
    headers,
    body,
    credentials: "same-origin",
    cache: "no-store",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401) Weft.signedOut();
    const message = (data && data.error) || text || response.statusText;
    throw new ApiError(response.status, message);
  }
  return data;
};

Weft.seg = (text) => encodeURIComponent(String(text));

Weft.query = function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") parts.push(k + "=" + encodeURIComponent(v));
  }
  return parts.length ? "?" + parts.join("&") : "";
};

// ---- formatting -------------------------------------------------------

Weft.time = function time(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return (
    d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds())
  );
};

Weft.ago = function ago(iso) {
  if (!iso) return "–";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < -1) return "in " + Weft.duration(-s * 1000);
  if (s < 5) return "just now";
  return Weft.duration(s * 1000) + " ago";
};

Weft.duration = function duration(ms) {
  if (ms === undefined || ms === null) return "–";
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return (s < 10 ? s.toFixed(2) : s.toFixed(1)) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + Math.round(s % 60) + " s";
  const hours = Math.floor(m / 60);
  if (hours < 48) return hours + " h " + (m % 60) + " min";
  return Math.floor(hours / 24) + " d";
};

Weft.bytes = function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i ? n.toFixed(1) : n) + " " + units[i];
};

Weft.number = (n) => (n === undefined || n === null ? "–" : Number(n).toLocaleString("en-US"));

Weft.badge = function badge(status) {
  return Weft.h("span", { class: "badge status-" + String(status).replace(/[^a-z_]/g, "") }, status);
};

// A JSON value as an indented, read-only block (text only).
Weft.json = function json(value, cls) {
  const text = value === undefined ? "–" : JSON.stringify(value, null, 2);
  return Weft.h("pre", { class: "json " + (cls || "") }, text);
};

Weft.link = (href, text, cls) => Weft.h("a", { href, class: cls }, text);

Weft.short = (id) => (id ? String(id).slice(0, 8) + "…" + String(id).slice(-4) : "–");

Weft.toast = function toast(message, isError) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = "toast" + (isError ? " toast-error" : "");
  el.hidden = false;
  clearTimeout(Weft._toastTimer);
  Weft._toastTimer = setTimeout(() => (el.hidden = true), 4000);
};

Weft.copyButton = function copyButton(text) {
  return Weft.h("button", {
    type: "button",
    class: "small copy",
    title: "Copy to the clipboard",
    onclick: async (ev) => {
      const button = ev.currentTarget;
      try {
        await navigator.clipboard.writeText(text);
      } catch (_) {
        const area = Weft.h("textarea", { class: "offscreen" }, text);
        document.body.appendChild(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy"), 1500);
    },
  }, "Copy");
};

// A table: columns [{title, cell(row) -> node|string, cls}], rows.
Weft.table = function table(columns, rows, options = {}) {
  const head = Weft.h("tr", null, columns.map((c) => Weft.h("th", { class: c.cls }, c.title)));
  const body = Weft.h("tbody", null);
  for (const row of rows) body.appendChild(Weft.row(columns, row, options));
  if (!rows.length && options.empty) {
    body.appendChild(Weft.h("tr", { class: "empty" }, Weft.h("td", { colspan: columns.length }, options.empty)));
  }
  return Weft.h("table", { class: "grid " + (options.cls || "") }, Weft.h("thead", null, head), body);
};

Weft.row = function row(columns, data, options = {}) {
  const tr = Weft.h("tr", options.rowAttrs ? options.rowAttrs(data) : null,
    columns.map((c) => Weft.h("td", { class: c.cls }, c.cell(data))));
  return tr;
};

Weft.section = (title, ...children) =>
  Weft.h("section", { class: "panel" }, title ? Weft.h("h2", null, title) : null, children);

Weft.kv = function kv(pairs) {
  return Weft.h("dl", { class: "kv" },
    pairs.filter(Boolean).map(([k, v]) => [Weft.h("dt", null, k), Weft.h("dd", null, v)]));
};

Weft.errorBox = (error) =>
  Weft.h("div", { class: "error-box", role: "alert" }, error instanceof Error ? error.message : String(error));

// ---- pages and routing --------------------------------------------------

// Registers a page: render(main, params) fills main; params are the hash
// path's segments after the page name.
Weft.page = function page(name, render) {
  Weft.pages[name] = render;
};

// Runs fn when the current page is left (closing event streams, timers).
Weft.onLeave = (fn) => Weft.cleanups.push(fn);

Weft.route = async function route() {
  for (const fn of Weft.cleanups.splice(0)) {
    try {
      fn();
    } catch (_) {
      /* a cleanup failing must not stop navigation */
    }
  }
  const hash = location.hash.replace(/^#\/?/, "") || "overview";
  const decode = (part) => {
    try {
      return decodeURIComponent(part);
    } catch (_) {
      return part;
    }
  };
  const [name, ...rest] = hash.split("?")[0].split("/").map(decode);
  const params = new URLSearchParams(hash.split("?")[1] || "");
  const render = Weft.pages[name] || Weft.pages.overview;
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.page === name);
  }
  const main = Weft.clear(document.getElementById("main"));
  main.dataset.page = name;
  try {
    await render(main, rest, params);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    main.appendChild(Weft.errorBox(error));
  }
};

Weft.title = (text, ...extra) => Weft.h("div", { class: "page-title" }, Weft.h("h1", null, text), extra);

// ---- live execution events ---------------------------------------------

// Opens the API's event stream with `filters`; calls onReady() once it
// watches (load the list then: nothing is missed) and onExecution(summary)
// for each new or changed execution. Closed when the page is left.
Weft.watchExecutions = function watchExecutions(filters, onExecution, onReady) {
  const source = new EventSource("/console/api/executions/events" + Weft.query(filters || {}));
  source.addEventListener("ready", () => onReady && onReady());
  source.addEventListener("execution", (ev) => {
    try {
      onExecution(JSON.parse(ev.data));
    } catch (_) {
      /* a malformed event is skipped */
    }
  });
  Weft.onLeave(() => source.close());
  return source;
};
