// Operator review dashboard: plain JavaScript, no build step, no external resources.
// Routes (location.hash): #/  |  #/reel/<id>  |  #/frame/<id>/<n>
"use strict";

const state = {
  me: null,          // {user, role, can_act, csrf, poll_seconds}
  timer: null,       // polling timer of the current view
  mode: "side",      // frame view: "side" (before | after | mask), "ab" (one place, flipped by a key) or "wipe"
  showAfter: false,  // A/B: which image is visible
  zoom: "fit",       // "fit" or 1, 2, 4, 8 (screen pixels per image pixel)
  overlay: false,    // the mask laid over the picture (key m)
  wipe: 50,          // wipe divider, % from the left: before left of it, after right
  play: null,        // {from, to} while a range plays
  editing: false,    // correcting the mask on a canvas over the picture (key e)
  erase: false,      // the brush erases (key x)
  brush: 5,          // brush diameter in image pixels
  selected: new Set(),
  reel: null,        // last reel detail (for neighbours and flagged navigation)
  renderKey: "",
  keyHandler: null,
};

const STATUS_ORDER = ["pending", "done", "flagged", "approved", "reprocess"];

// -- tiny DOM helper: text always goes through textContent -------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else if (k === "style") Object.assign(el.style, v);  // CSSOM: the CSP refuses style attributes
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}
const $ = (sel) => document.querySelector(sel);

function toast(msg, bad) {
  const t = $("#toast");
  t.textContent = msg;
  t.className = bad ? "show bad" : "show";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = ""; }, 4000);
}

// -- API -----------------------------------------------------------------------------------------
class HttpError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, body) {
  const opts = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    if (state.me) opts.headers["X-CSRF-Token"] = state.me.csrf;
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (r.status === 401 && path !== "/api/login") {
    state.me = null;
    showLogin();
    throw new HttpError(401, "sign in first");
  }
  if (!r.ok) {
    let detail = data && data.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; ");
    throw new HttpError(r.status, detail || r.statusText);
  }
  return data;
}

const reelPath = (id) => id.split("/").map(encodeURIComponent).join("/");
const imgUrl = (id, n, kind, v) => `/api/reels/${reelPath(id)}/frames/${n}/${kind}.png${v ? "?v=" + v : ""}`;
const fmt = (x, digits) => (x === null || x === undefined ? "–" : Number(x).toPrecision(digits || 3));
const pct = (x) => (x * 100).toFixed(x < 1 && x > 0.999 ? 2 : 0) + "%";

// -- routing -------------------------------------------------------------------------------------
function stopView() {
  clearInterval(state.timer);
  state.timer = null;
  if (state.keyHandler) document.removeEventListener("keydown", state.keyHandler);
  state.keyHandler = null;
}

function route() {
  stopView();
  if (!state.me) return showLogin();
  const hash = location.hash || "#/";
  let m;
  if ((m = hash.match(/^#\/frame\/(.+)\/(\d+)$/))) return frameView(decodeURIComponent(m[1]), Number(m[2]));
  if ((m = hash.match(/^#\/reel\/(.+)$/))) return reelView(decodeURIComponent(m[1]));
  return reelsView();
}

function crumbs(...items) {
  const nav = $("#crumbs");
  nav.replaceChildren(...items.map((it, i) => [i ? h("span", { class: "sep" }, "›") : null,
    it.href ? h("a", { href: it.href }, it.text) : h("span", {}, it.text)]).flat().filter(Boolean));
}

function poll(fn) {
  const every = Math.max(1, (state.me && state.me.poll_seconds) || 3) * 1000;
  state.timer = setInterval(() => fn().catch((e) => { if (e.status !== 401) console.warn(e); }), every);
}

// -- sign-in -------------------------------------------------------------------------------------
function showLogin(message) {
  stopView();
  crumbs();
  $("#who").textContent = "";
  $("#logout").hidden = true;
  const err = h("p", { id: "login-error", class: "error", role: "alert" }, message || "");
  const form = h("form", { id: "login", class: "card login", autocomplete: "on" },
    h("h1", {}, "Sign in"),
    h("label", {}, "Name", h("input", { id: "login-name", name: "username", autocomplete: "username", required: true })),
    h("label", {}, "Password", h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true })),
    err,
    h("button", { id: "login-submit", type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      state.me = await api("/api/login", { name: $("#login-name").value, password: $("#login-password").value });
      signedIn();
    } catch (e) {
      err.textContent = e.status === 401 ? "Wrong name or password." : e.message;
    }
  });
  $("#view").replaceChildren(form);
  $("#login-name").focus();
}

function signedIn() {
  $("#who").textContent = `${state.me.user} (${state.me.role})`;
  $("#logout").hidden = false;
  document.body.classList.toggle("viewer", !state.me.can_act);
  route();
}

// -- reels list ----------------------------------------------------------------------------------
function progressBar(p, counts, frames) {
  const bar = h("div", { class: "bar", title: pct(p) });
  for (const st of ["done", "approved", "flagged", "reprocess"]) {
    const n = (counts && counts[st]) || 0;
    if (n) bar.append(h("span", { class: "seg st-" + st, style: { width: `${(100 * n) / frames}%` } }));
  }
  return h("div", { class: "progress" }, bar, h("span", { class: "pct" }, pct(p)));
}

async function reelsView() {
  crumbs({ text: "Reels" });
  const table = h("table", { id: "reels", class: "grid" },
    h("thead", {}, h("tr", {}, ...["Reel", "Source", "Frames", "Progress", "State", "Flagged", "Approved", "Reprocess", "Last event"].map((t) => h("th", {}, t)))),
    h("tbody"));
  const info = h("p", { class: "muted" });
  $("#view").replaceChildren(h("section", { class: "card" }, h("h1", {}, "Reels"), info, table));
  async function load() {
    const data = await api("/api/reels");
    info.textContent = `${data.reels.length} reel(s) under ${data.root} · refreshed ${new Date().toLocaleTimeString()}`;
    const rows = data.reels.map((r) => {
      if (r.error) return h("tr", {}, h("td", {}, r.id), h("td", { colspan: 8, class: "error" }, r.error));
      const src = r.source;
      const last = r.last_event ? `${r.last_event.kind} · ${r.last_event.user || ""} · ${shortTime(r.last_event.time)}` : "–";
      return h("tr", { class: "reel-row", "data-reel": r.id },
        h("td", {}, h("a", { class: "reel-link", href: "#/reel/" + encodeURIComponent(r.id) }, r.id)),
        h("td", { class: "muted" }, `${r.name} · ${src.width}×${src.height} · ${src.bit_depth} bit · ${src.channels === 1 ? "gray" : "RGB"}`),
        h("td", { class: "num" }, r.frames),
        h("td", {}, progressBar(r.progress, r.counts, r.frames)),
        h("td", {}, h("span", { class: "state state-" + r.state.replace(/ /g, "-") }, r.state)),
        h("td", { class: "num" + (r.counts.flagged ? " hot" : "") }, r.counts.flagged),
        h("td", { class: "num" }, r.counts.approved),
        h("td", { class: "num" }, r.counts.reprocess),
        h("td", { class: "muted small" }, last));
    });
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No provenance stores (*.zarr) under this folder yet.")));
    table.tBodies[0].replaceChildren(...rows);
  }
  await load();
  poll(load);
}

function shortTime(t) {
  if (!t) return "";
  const d = new Date(t);
  return isNaN(d) ? t : d.toLocaleString();
}

// -- reel view -----------------------------------------------------------------------------------
function plot(detail, onPick) {
  const W = 1000, H = 240, L = 56, R = 56, T = 14, B = 40;
  const n = detail.frames;
  const dmg = detail.scores.damage_fraction, con = detail.scores.consistency;
  const maxOf = (a) => Math.max(1e-9, ...a.filter((v) => v !== null));
  const dMax = maxOf(dmg), cMax = maxOf(con);
  const hasCon = con.some((v) => v !== null);
  const x = (i) => L + ((W - L - R) * (i + 0.5)) / n;
  const yD = (v) => T + (H - T - B) * (1 - v / dMax);
  const yC = (v) => T + (H - T - B) * (1 - v / cMax);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img", "aria-label": "damage fraction and consistency per frame" });
  // grid and axes
  for (let k = 0; k <= 4; k++) {
    const y = T + ((H - T - B) * k) / 4;
    svg.append(s("line", { x1: L, x2: W - R, y1: y, y2: y, class: "gridline" }));
    const l = s("text", { x: L - 6, y: y + 4, class: "axis left" }); l.textContent = ((dMax * (4 - k)) / 4).toPrecision(2); svg.append(l);
    if (hasCon) { const r = s("text", { x: W - R + 6, y: y + 4, class: "axis right" }); r.textContent = ((cMax * (4 - k)) / 4).toPrecision(2); svg.append(r); }
  }
  // status strip and markers
  const stripY = H - B + 8;
  const colour = { flagged: "st-flagged", approved: "st-approved", reprocess: "st-reprocess", done: "st-done", pending: "st-pending" };
  let a = 0;
  for (let i = 1; i <= n; i++) {
    if (i === n || detail.status[i] !== detail.status[a]) {
      const name = detail.status_names[detail.status[a]];
      svg.append(s("rect", { x: L + ((W - L - R) * a) / n, y: stripY, width: Math.max(0.5, ((W - L - R) * (i - a)) / n), height: 10, class: "strip " + colour[name] }));
      if (name === "flagged" || name === "reprocess") {
        for (let j = a; j < i; j++) svg.append(s("line", { x1: x(j), x2: x(j), y1: T, y2: H - B, class: "mark " + colour[name] }));
      }
      a = i;
    }
  }
  const line = (vals, y, cls) => {
    let d = "", pen = false;
    vals.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    svg.append(s("path", { d, class: cls }));
  };
  line(dmg, yD, "series damage");
  if (hasCon) line(con, yC, "series consistency");
  // flagged frames: a marker on the damage line
  detail.flagged.forEach((f) => {
    if (f.status !== "flagged") return;
    const v = dmg[f.frame];
    svg.append(s("circle", { cx: x(f.frame), cy: v === null ? T + 4 : yD(v), r: 4, class: "flag-dot" }));
  });
  // x axis labels
  const ticks = Math.min(10, n);
  for (let k = 0; k <= ticks; k++) {
    const i = Math.round(((n - 1) * k) / Math.max(1, ticks));
    const t = s("text", { x: x(i), y: H - 6, class: "axis bottom" }); t.textContent = i; svg.append(t);
  }
  const cursor = s("line", { x1: 0, x2: 0, y1: T, y2: H - B, class: "cursor", visibility: "hidden" });
  svg.append(cursor);
  const frameAt = (ev) => {
    const box = svg.getBoundingClientRect();
    const px = ((ev.clientX - box.left) / box.width) * W;
    return Math.min(n - 1, Math.max(0, Math.floor(((px - L) / (W - L - R)) * n)));
  };
  const readout = h("div", { class: "readout muted" }, "Hover the plot for values; click to open a frame.");
  svg.addEventListener("mousemove", (ev) => {
    const i = frameAt(ev);
    cursor.setAttribute("x1", x(i)); cursor.setAttribute("x2", x(i)); cursor.setAttribute("visibility", "visible");
    readout.textContent = `frame ${i} · ${detail.status_names[detail.status[i]]} · damage ${fmt(dmg[i])} · consistency ${fmt(con[i])}`;
  });
  svg.addEventListener("click", (ev) => onPick(frameAt(ev)));
  const legend = h("div", { class: "legend" },
    h("span", { class: "key damage" }, "damage fraction (left axis)"),
    hasCon ? h("span", { class: "key consistency" }, "consistency (right axis)") : h("span", { class: "muted" }, "no consistency scores yet"),
    h("span", { class: "key flagged" }, "flagged"), h("span", { class: "key reprocess" }, "reprocess"),
    h("span", { class: "key approved" }, "approved"), h("span", { class: "key done" }, "done"), h("span", { class: "key pending" }, "pending"));
  return h("div", { id: "plot" }, svg, legend, readout);
}

async function act(reelId, action, frames, note) {
  const res = await api(`/api/reels/${reelPath(reelId)}/actions`, { action, frames, note: note || "" });
  let msg = `${action}: ${frames.length} frame(s) → ${res.status}`;
  if (res.reprocess) msg += ` (${res.reprocess.backend}${res.reprocess.error ? ": " + res.reprocess.error : ""})`;
  toast(msg, res.reprocess && res.reprocess.backend === "failed");
  return res;
}

async function reelView(id) {
  crumbs({ text: "Reels", href: "#/" }, { text: id });
  state.selected = new Set();
  state.renderKey = "";
  const view = $("#view");
  view.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  const goto = (n) => { location.hash = `#/frame/${encodeURIComponent(id)}/${n}`; };

  async function load() {
    const d = await api(`/api/reels/${reelPath(id)}`);
    state.reel = d;
    const key = JSON.stringify([d.status, d.flagged, d.events.length, d.scores.damage_fraction.length, d.scores.consistency]);
    if (key === state.renderKey) return;
    state.renderKey = key;
    render(d);
  }

  function render(d) {
    const src = d.source;
    const c = d.counts;
    const head = h("section", { class: "card" },
      h("h1", {}, d.id),
      h("p", { class: "muted" }, `${src.path} · ${src.codec} · ${src.width}×${src.height} · ${src.bit_depth} bit · ${src.fps} fps · ${d.frames} frames${src.timecode ? " · TC " + src.timecode : ""}`),
      h("div", { class: "counts" },
        progressBar(d.progress, c, d.frames),
        h("span", { class: "state state-" + d.state.replace(/ /g, "-") }, d.state),
        ...STATUS_ORDER.map((st) => h("span", { class: "count" }, h("i", { class: "dot st-" + st }), `${st} ${c[st]}`))),
      plot(d, goto));

    // flagged frames and their reasons
    const flaggedIds = d.flagged.filter((f) => f.status === "flagged").map((f) => f.frame);
    for (const f of [...state.selected]) if (!d.flagged.some((g) => g.frame === f)) state.selected.delete(f);
    const all = h("input", { type: "checkbox", "aria-label": "select all",
      onchange: (ev) => { d.flagged.forEach((f) => (ev.target.checked ? state.selected.add(f.frame) : state.selected.delete(f.frame))); render(d); } });
    all.checked = d.flagged.length > 0 && d.flagged.every((f) => state.selected.has(f.frame));
    const rows = d.flagged.map((f) => {
      const box = h("input", { type: "checkbox", "aria-label": `select frame ${f.frame}`,
        onchange: (ev) => { ev.target.checked ? state.selected.add(f.frame) : state.selected.delete(f.frame); } });
      box.checked = state.selected.has(f.frame);
      return h("tr", { "data-frame": f.frame },
        h("td", {}, box),
        h("td", { class: "num" }, h("a", { class: "frame-link", href: `#/frame/${encodeURIComponent(id)}/${f.frame}` }, f.frame)),
        h("td", {}, h("span", { class: "badge st-" + f.status }, f.status)),
        h("td", { class: "num" }, fmt(f.damage_fraction)),
        h("td", { class: "num" }, fmt(f.consistency)),
        h("td", {}, f.reasons.length ? h("ul", { class: "reasons" }, ...f.reasons.map((r) =>
          h("li", {}, h("span", {}, r.reason || "(no reason given)"), h("span", { class: "muted small" }, ` — ${byText(r)}, ${shortTime(r.time)}${r.source === "operator" || r.by ? "" : " (" + r.source + ")"}`)))) : h("span", { class: "muted" }, "–")));
    });
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No flagged frames.")));
    const selectedFrames = () => [...state.selected].sort((a, b) => a - b);
    const run = (action, framesFn) => async () => {
      const frames = framesFn();
      if (!frames.length) return toast("Select frames first.", true);
      try { await act(id, action, frames); state.selected.clear(); state.renderKey = ""; await load(); } catch (e) { toast(e.message, true); }
    };
    const actions = h("div", { class: "actions operator-only" },
      h("button", { id: "approve-selected", type: "button", onclick: run("approve", selectedFrames) }, "Approve selected"),
      h("button", { id: "reprocess-selected", type: "button", onclick: run("reprocess", selectedFrames) }, "Reprocess selected"),
      h("button", { id: "reprocess-flagged", type: "button", class: "primary", disabled: flaggedIds.length ? null : true,
        onclick: run("reprocess", () => flaggedIds) }, `Reprocess all flagged (${flaggedIds.length})`));
    // Sign-off of a range or of the whole reel: every processed frame in it (pending ones belong to a run).
    const from = h("input", { id: "approve-from", type: "number", min: 0, max: d.frames - 1, value: 0, "aria-label": "approve from frame" });
    const to = h("input", { id: "approve-to", type: "number", min: 0, max: d.frames - 1, value: d.frames - 1, "aria-label": "approve to frame" });
    const approveRange = async (a, b, what) => {
      const frames = [], pending = [];
      for (let i = Math.max(0, a); i <= Math.min(d.frames - 1, b); i++) (d.status_names[d.status[i]] === "pending" ? pending : frames).push(i);
      if (!frames.length) return toast("No processed frame in that range.", true);
      if (!confirm(`Approve ${frames.length} frame(s) (${what})?${pending.length ? ` ${pending.length} pending frame(s) left out.` : ""}`)) return;
      try { await act(id, "approve", frames); state.renderKey = ""; await load(); } catch (e) { toast(e.message, true); }
    };
    const signOff = h("div", { class: "actions operator-only" },
      h("label", { class: "muted" }, "frames ", from), h("label", { class: "muted" }, "to ", to),
      h("button", { id: "approve-range", type: "button", onclick: () => approveRange(Number(from.value), Number(to.value), `frames ${from.value}–${to.value}`) }, "Approve range"),
      h("button", { id: "approve-reel", type: "button", class: "good", onclick: () => approveRange(0, d.frames - 1, "the whole reel") }, "Approve whole reel"),
      h("span", { class: "spacer" }),
      h("a", { id: "audit-csv", href: `/api/reels/${reelPath(id)}/audit.csv`, download: "" }, "Audit trail (CSV)"),
      h("a", { id: "audit-json", href: `/api/reels/${reelPath(id)}/audit.json`, download: "" }, "Audit trail (PREMIS JSON)"));
    const flagged = h("section", { class: "card" },
      h("h2", {}, "Flagged frames"), actions, signOff,
      h("table", { id: "flagged-table", class: "grid" },
        h("thead", {}, h("tr", {}, h("th", {}, all), ...["Frame", "Status", "Damage", "Consistency", "Reasons"].map((t) => h("th", {}, t)))),
        h("tbody", {}, ...rows)));

    // status of every frame
    const filter = h("select", { id: "status-filter", "aria-label": "status filter" },
      ...["all", ...STATUS_ORDER].map((st) => h("option", { value: st }, st)));
    filter.value = state.filter || "all";
    const chips = h("div", { class: "chips" });
    const fillChips = () => {
      state.filter = filter.value;
      const list = [];
      for (let i = 0; i < d.frames && list.length < 600; i++) {
        const st = d.status_names[d.status[i]];
        if (filter.value === "all" || filter.value === st)
          list.push(h("a", { class: "chip st-" + st, title: `frame ${i}: ${st}`, href: `#/frame/${encodeURIComponent(id)}/${i}` }, i));
      }
      chips.replaceChildren(...(list.length ? list : [h("span", { class: "muted" }, "none")]));
    };
    filter.addEventListener("change", fillChips);
    fillChips();
    const frames = h("section", { class: "card" }, h("h2", {}, "Frames by status ", filter), chips);

    const events = h("section", { class: "card" }, h("h2", {}, "Recent events"),
      h("ul", { class: "events" }, ...d.events.slice(-15).reverse().map((e) => h("li", {},
        h("span", { class: "muted small" }, shortTime(e.time)), " ", h("b", {}, e.kind), ` · ${e.user || "?"}`,
        e.frames ? ` · frames ${e.frames.join(", ")}${e.frame_total > e.frames.length ? " …" : ""}` : "",
        e.reason ? ` · “${e.reason}”` : "", e.note ? ` · “${e.note}”` : "", e.backend ? ` · ${e.backend}` : "",
        e.error ? h("span", { class: "error" }, ` · ${e.error}`) : ""))));
    view.replaceChildren(head, flagged, frames, events);
  }

  await load();
  poll(load);
}

// -- frame view ----------------------------------------------------------------------------------
const ZOOMS = ["fit", 1, 2, 4, 8];
const byText = (r) => (r.by ? `${r.by} (automatic)` : r.user || "?");

async function frameView(id, n) {
  state.editing = false;
  crumbs({ text: "Reels", href: "#/" }, { text: id, href: "#/reel/" + encodeURIComponent(id) }, { text: `frame ${n}` });
  const view = $("#view");
  let info;
  try {
    info = await api(`/api/reels/${reelPath(id)}/frames/${n}`);
  } catch (e) {
    state.play = null;
    view.replaceChildren(h("p", { class: "error" }, e.message));
    return;
  }
  const last = info.frames - 1;
  const version = () => info.version;
  const go = (k) => { if (k >= 0 && k <= last) location.hash = `#/frame/${encodeURIComponent(id)}/${k}`; };
  const flaggedAfter = info.flagged_frames.filter((f) => f > n);
  const flaggedBefore = info.flagged_frames.filter((f) => f < n);
  const nextFlagged = () => (flaggedAfter.length ? go(flaggedAfter[0]) : toast("No flagged frame after this one."));
  const prevFlagged = () => (flaggedBefore.length ? go(flaggedBefore[flaggedBefore.length - 1]) : toast("No flagged frame before this one."));

  const img = (kind, extra) => h("img", { src: imgUrl(id, n, kind, kind === "before" ? null : version()), alt: `${kind} frame ${n}`,
    width: info.width, height: info.height, class: "frame-img", draggable: "false", ...(extra || {}) });
  const side = h("div", { id: "side", class: "side" },
    ...["before", "after", "mask"].map((kind) => h("figure", { class: "panel" },
      h("figcaption", {}, kind === "mask" ? `mask (${info.masked_pixels} px replaced)` : kind),
      h("div", { class: "scroller" }, img(kind, { id: "side-" + kind })))));
  // One stage for A/B flip and wipe: before, after (clipped in wipe) and the mask overlay, stacked.
  const abBefore = img("before", { id: "ab-before" });
  const abAfter = img("after", { id: "ab-after" });
  const overlay = img("overlay", { id: "ab-overlay", class: "frame-img overlay", alt: `mask overlay frame ${n}` });
  const wipeLine = h("div", { id: "wipe-line", class: "wipe-line" });
  const abLabel = h("div", { id: "ab-label", class: "ab-label" });
  // Mask correction: a canvas over the picture, started from the stored mask; paint adds damage, erase removes it.
  const canvas = h("canvas", { id: "mask-canvas", class: "frame-img mask-canvas", width: info.width, height: info.height });
  const stage = h("div", { id: "ab-stage", class: "stage" }, abBefore, abAfter, overlay, canvas, wipeLine);
  const ctx = canvas.getContext("2d");
  let canvasReady = false;
  const loadMaskIntoCanvas = () => {
    ctx.clearRect(0, 0, info.width, info.height);
    ctx.drawImage(overlay, 0, 0);
    canvasReady = true;
    canvas.dataset.ready = "1"; // the stored mask is in: strokes from here on are kept
  };
  const brush = h("select", { id: "brush", "aria-label": "brush size (pixels)" }, ...[1, 3, 5, 9, 15, 25].map((d) => h("option", { value: d }, `${d} px`)));
  brush.value = String(state.brush);
  brush.addEventListener("change", () => { state.brush = Number(brush.value); });
  const eraseBtn = h("button", { id: "erase", type: "button", title: "x: paint / erase" });
  const saveMask = h("button", { id: "save-mask", type: "button", class: "primary" }, "Save mask and refill");
  const cancelEdit = h("button", { id: "cancel-mask", type: "button" }, "Cancel");
  const editBar = h("div", { id: "mask-editor", class: "toolbar card operator-only" },
    h("b", {}, "Mask correction"), h("span", { class: "muted small" }, "paint the damage the detector missed, erase what is not damage (x swaps), then save: the frame is filled again from your mask"),
    h("label", { class: "muted" }, "brush ", brush), eraseBtn, h("span", { class: "spacer" }), cancelEdit, saveMask);
  const paintAt = (ev) => {
    const r = canvas.getBoundingClientRect();
    const x = ((ev.clientX - r.left) * info.width) / r.width, y = ((ev.clientY - r.top) * info.height) / r.height;
    ctx.globalCompositeOperation = state.erase ? "destination-out" : "source-over";
    ctx.fillStyle = "rgb(255, 40, 40)";
    const d = state.brush;
    if (d <= 1) ctx.fillRect(Math.floor(x), Math.floor(y), 1, 1);
    else { ctx.beginPath(); ctx.arc(x, y, d / 2, 0, 2 * Math.PI); ctx.fill(); }
  };
  canvas.addEventListener("pointerdown", (ev) => {
    if (!state.editing || ev.button !== 0) return;
    ev.preventDefault();
    ev.stopPropagation();
    canvas.setPointerCapture(ev.pointerId);
    paintAt(ev);
    const move = (e) => paintAt(e);
    canvas.addEventListener("pointermove", move);
    canvas.addEventListener("pointerup", () => canvas.removeEventListener("pointermove", move), { once: true });
  });
  const startEdit = () => {
    if (!state.me.can_act) return;
    state.editing = true;
    if (state.mode === "side") state.mode = "ab";
    state.showAfter = false;
    if (overlay.complete && overlay.naturalWidth) loadMaskIntoCanvas(); else overlay.addEventListener("load", loadMaskIntoCanvas, { once: true });
    apply();
  };
  cancelEdit.addEventListener("click", () => { state.editing = false; apply(); });
  eraseBtn.addEventListener("click", () => { state.erase = !state.erase; apply(); });
  saveMask.addEventListener("click", async () => {
    if (!canvasReady) return toast("The mask is still loading.", true);
    try {
      const res = await api(`/api/reels/${reelPath(id)}/frames/${n}/mask`, { png: canvas.toDataURL("image/png") });
      toast(`mask saved (+${res.mask.added} / −${res.mask.removed} px); refill: ${res.reprocess ? res.reprocess.backend : "?"}`);
      state.editing = false;
      frameView(id, n);
    } catch (e) { toast(e.message, true); }
  });
  const wipe = h("input", { id: "wipe", type: "range", min: 0, max: 100, value: state.wipe, "aria-label": "wipe position (before left, after right)" });
  const ab = h("div", { id: "ab", class: "ab" }, h("div", { class: "scroller" }, stage), abLabel);

  const statusBadge = h("span", { id: "frame-status", class: "badge st-" + info.status }, info.status);
  const modeBtn = h("button", { id: "mode", type: "button", title: "s: side by side · space: A/B flip · w: wipe" });
  const wipeBtn = h("button", { id: "wipe-mode", type: "button", title: "w" }, "Wipe (w)");
  const overlayBtn = h("button", { id: "overlay", type: "button", title: "m" });
  const zoomOut = h("button", { id: "zoom-out", type: "button", title: "-" }, "−");
  const zoomLabel = h("span", { id: "zoom", class: "zoom-label" });
  const zoomIn = h("button", { id: "zoom-in", type: "button", title: "+ or z" }, "+");
  const note = h("input", { id: "flag-note", placeholder: "what is wrong (required to flag; f, then Enter)", maxlength: 2000 });
  const doAction = async (action, text) => {
    try {
      await act(id, action, [n], text);
      frameView(id, n);
    } catch (e) { toast(e.message, true); }
  };
  const flag = () => {
    if (!note.value.trim()) { note.focus(); return toast("Write a note saying what is wrong.", true); }
    doAction("flag", note.value);
  };
  note.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); flag(); } else if (ev.key === "Escape") note.blur(); });
  const toolbar = h("div", { class: "toolbar card" },
    h("button", { id: "prev-flagged", type: "button", disabled: flaggedBefore.length ? null : true, onclick: prevFlagged, title: "[" }, "⇤ flagged"),
    h("button", { id: "prev", type: "button", disabled: n > 0 ? null : true, onclick: () => go(n - 1), title: "←" }, "← prev"),
    h("span", { id: "frame-number", class: "frame-number" }, `frame ${n}`), h("span", { class: "muted" }, ` / ${last}`),
    h("span", { id: "timecode", class: "timecode", title: `timecode at ${info.fps} fps` }, info.timecode),
    h("button", { id: "next", type: "button", disabled: n < last ? null : true, onclick: () => go(n + 1), title: "→" }, "next →"),
    h("button", { id: "next-flagged", type: "button", disabled: flaggedAfter.length ? null : true, onclick: nextFlagged, title: "]" }, "flagged ⇥"),
    statusBadge,
    h("span", { class: "scores muted" }, `damage ${fmt(info.scores.damage_fraction)} · consistency ${fmt(info.scores.consistency)} · uncertainty ${fmt(info.scores.uncertainty)} · ${info.width}×${info.height} · ${info.bit_depth} bit${info.bit_depth > 8 ? " (shown as 8 bit)" : ""}`),
    h("span", { class: "spacer" }),
    modeBtn, wipeBtn, overlayBtn, zoomOut, zoomLabel, zoomIn,
    h("button", { id: "edit-mask", type: "button", class: "operator-only", title: "e", onclick: startEdit }, "Edit mask (e)"));
  const actions = h("div", { class: "toolbar card operator-only" },
    h("button", { id: "approve", type: "button", class: "good", onclick: () => doAction("approve"), title: "a" }, "Approve (a)"),
    note,
    h("button", { id: "flag", type: "button", class: "warn", onclick: flag, title: "f" }, "Flag (f)"),
    h("button", { id: "reprocess", type: "button", onclick: () => doAction("reprocess", note.value) }, "Send for reprocessing"));

  // Scrubbing bar and playback of a range.
  const scrub = h("input", { id: "scrub", type: "range", min: 0, max: last, value: n, "aria-label": "scrub frames" });
  const scrubLabel = h("span", { id: "scrub-label", class: "muted small" }, `${n}`);
  scrub.addEventListener("input", () => { scrubLabel.textContent = scrub.value; });
  scrub.addEventListener("change", () => go(Number(scrub.value)));
  const playFrom = h("input", { id: "play-from", type: "number", min: 0, max: last, value: state.play ? state.play.from : 0, "aria-label": "play from frame" });
  const playTo = h("input", { id: "play-to", type: "number", min: 0, max: last, value: state.play ? state.play.to : last, "aria-label": "play to frame" });
  const playBtn = h("button", { id: "play", type: "button", title: "p" }, state.play ? "❚❚ Pause (p)" : "▶ Play (p)");
  const togglePlay = () => {
    if (state.play) { state.play = null; playBtn.textContent = "▶ Play (p)"; return; }
    const from = Math.max(0, Math.min(last, Number(playFrom.value))), to = Math.max(0, Math.min(last, Number(playTo.value)));
    if (!(to > from)) return toast("Play needs a range: from < to.", true);
    state.play = { from, to };
    if (n < from || n >= to) go(from); else go(n + 1);
  };
  playBtn.addEventListener("click", togglePlay);
  const transport = h("div", { class: "toolbar card transport" }, playBtn,
    h("label", { class: "muted small" }, "from ", playFrom), h("label", { class: "muted small" }, "to ", playTo),
    h("span", { class: "muted small" }, "0"), scrub, h("span", { class: "muted small" }, `${last}`), scrubLabel);

  const reasons = info.reasons.length ? h("div", { class: "card" }, h("h2", {}, "Why flagged"),
    h("ul", { id: "frame-reasons", class: "reasons" }, ...info.reasons.map((r) => h("li", {}, r.reason || "(no reason)", h("span", { class: "muted small" }, ` — ${byText(r)}, ${shortTime(r.time)}`))))) : null;
  const history = h("div", { class: "card" }, h("h2", {}, "History of this frame"),
    info.events.length ? h("ul", { class: "events" }, ...info.events.slice().reverse().map((e) => h("li", {},
      h("span", { class: "muted small" }, shortTime(e.time)), " ", h("b", {}, e.kind), ` · ${byText(e)}`,
      e.reason ? ` · “${e.reason}”` : "", e.note ? ` · “${e.note}”` : "", e.backend ? ` · ${e.backend}` : ""))) : h("p", { class: "muted" }, "No events."));
  const help = h("p", { class: "muted small keys" },
    "Keys: ← / → previous / next frame · [ / ] previous / next flagged · space or b: flip before / after in place · w: wipe · s: side by side · m: mask overlay · z or + / −: zoom 1x–8x (0: fit; drag to pan) · p: play the range · a: approve · f: flag (type a note, Enter) · e: edit the mask (x: paint / erase, Esc: cancel)");

  function apply() {
    side.hidden = state.mode !== "side";
    ab.hidden = state.mode === "side";
    const wiping = state.mode === "wipe";
    abBefore.classList.toggle("hidden", state.mode === "ab" && state.showAfter);
    abAfter.classList.toggle("hidden", state.mode === "ab" && !state.showAfter);
    abAfter.style.clipPath = wiping ? `inset(0 0 0 ${state.wipe}%)` : "";
    wipeLine.hidden = !wiping;
    wipeLine.style.left = `${state.wipe}%`;
    wipe.hidden = !wiping;
    overlay.hidden = !state.overlay || state.editing;
    canvas.hidden = !state.editing;
    editBar.hidden = !state.editing;
    eraseBtn.textContent = state.erase ? "Erasing (x)" : "Painting (x)";
    abLabel.textContent = wiping ? "BEFORE | AFTER" : state.showAfter ? "AFTER" : "BEFORE";
    abLabel.className = "ab-label " + (wiping ? "wipe" : state.showAfter ? "after" : "before");
    modeBtn.textContent = state.mode === "side" ? "A/B flip (space)" : "Side by side (s)";
    overlayBtn.textContent = state.overlay ? "Hide mask (m)" : "Mask overlay (m)";
    zoomLabel.textContent = state.zoom === "fit" ? "fit" : `${state.zoom}×`;
    view.classList.toggle("zoomed", state.zoom !== "fit");
    // n× means n screen pixels per image pixel (device pixels: 1× shows the scan as it is).
    const dpr = window.devicePixelRatio || 1;
    for (const im of view.querySelectorAll("img.frame-img")) {
      im.style.width = state.zoom === "fit" ? "" : `${(info.width * state.zoom) / dpr}px`;
      im.style.height = state.zoom === "fit" ? "" : `${(info.height * state.zoom) / dpr}px`;
    }
    stage.style.width = state.zoom === "fit" ? "" : `${(info.width * state.zoom) / dpr}px`;
  }
  const setZoom = (z) => { state.zoom = z; apply(); };
  const stepZoom = (d) => { const i = ZOOMS.indexOf(state.zoom); setZoom(ZOOMS[Math.max(0, Math.min(ZOOMS.length - 1, i + d))]); };
  modeBtn.addEventListener("click", () => { state.mode = state.mode === "side" ? "ab" : "side"; apply(); });
  wipeBtn.addEventListener("click", () => { state.mode = "wipe"; apply(); });
  overlayBtn.addEventListener("click", () => { state.overlay = !state.overlay; if (state.mode === "side") state.mode = "ab"; apply(); });
  zoomIn.addEventListener("click", () => stepZoom(1));
  zoomOut.addEventListener("click", () => stepZoom(-1));
  wipe.addEventListener("input", () => { state.wipe = Number(wipe.value); apply(); });

  // Scroll the panels together when zoomed in, so they show the same place; drag to pan.
  const scrollers = [...side.querySelectorAll(".scroller"), ab.querySelector(".scroller")];
  scrollers.forEach((sc) => {
    sc.addEventListener("scroll", () => {
      for (const o of scrollers) if (o !== sc && (o.scrollLeft !== sc.scrollLeft || o.scrollTop !== sc.scrollTop)) { o.scrollLeft = sc.scrollLeft; o.scrollTop = sc.scrollTop; }
      state.scroll = [sc.scrollLeft, sc.scrollTop];
    });
    sc.addEventListener("pointerdown", (ev) => {
      if (state.zoom === "fit" || ev.button !== 0 || state.editing) return;
      const start = [ev.clientX, ev.clientY, sc.scrollLeft, sc.scrollTop];
      sc.setPointerCapture(ev.pointerId);
      sc.classList.add("panning");
      const move = (e) => { sc.scrollLeft = start[2] - (e.clientX - start[0]); sc.scrollTop = start[3] - (e.clientY - start[1]); };
      const up = () => { sc.removeEventListener("pointermove", move); sc.classList.remove("panning"); };
      sc.addEventListener("pointermove", move);
      sc.addEventListener("pointerup", up, { once: true });
    });
  });

  view.replaceChildren(toolbar, actions, editBar, h("div", { class: "images" }, side, ab, wipe), transport, help, reasons || "", history);
  apply();
  if (state.scroll) for (const sc of view.querySelectorAll(".scroller")) { sc.scrollLeft = state.scroll[0]; sc.scrollTop = state.scroll[1]; }

  // Preload the neighbours so arrow keys and playback flip without waiting.
  for (const k of [n - 1, n + 1]) if (k >= 0 && k <= last) for (const kind of ["before", "after"]) new Image().src = imgUrl(id, k, kind, kind === "before" ? null : version());

  // Playback: the next frame once this one's pictures are shown, at most at the reel's rate.
  if (state.play) {
    const shown = state.mode === "side" ? [...side.querySelectorAll("img")] : [abBefore, abAfter];
    const fps = Number(info.fps.split("/")[0]) / Number(info.fps.split("/")[1] || 1);
    const due = Date.now() + 1000 / fps;
    Promise.all(shown.map((im) => im.decode().catch(() => null))).then(() => {
      setTimeout(() => {
        if (!state.play || location.hash !== `#/frame/${encodeURIComponent(id)}/${n}`) return;
        if (n >= state.play.to) { state.play = null; playBtn.textContent = "▶ Play (p)"; return; }
        go(n + 1);
      }, Math.max(0, due - Date.now()));
    });
  }

  // An action re-renders this view without a route change: one key handler, never two.
  if (state.keyHandler) document.removeEventListener("keydown", state.keyHandler);
  state.keyHandler = (ev) => {
    if (ev.target.closest && ev.target.closest("input:not([type=range]), textarea, select")) return;
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const k = ev.key;
    if (k === "ArrowLeft") { ev.preventDefault(); go(n - 1); }
    else if (k === "ArrowRight") { ev.preventDefault(); go(n + 1); }
    else if (k === " " || k === "b") {
      ev.preventDefault();
      if (state.mode !== "ab") { state.mode = "ab"; state.showAfter = false; }
      state.showAfter = !state.showAfter;
      apply();
    } else if (k === "s") { state.mode = "side"; apply(); }
    else if (k === "w") { state.mode = "wipe"; apply(); }
    else if (k === "m") { overlayBtn.click(); }
    else if (k === "z") { const i = ZOOMS.indexOf(state.zoom); setZoom(ZOOMS[(i + 1) % ZOOMS.length]); }
    else if (k === "+" || k === "=") stepZoom(1);
    else if (k === "-") stepZoom(-1);
    else if (k === "0") setZoom("fit");
    else if (k === "]") nextFlagged();
    else if (k === "[") prevFlagged();
    else if (k === "p") { ev.preventDefault(); togglePlay(); }
    else if (k === "a" && state.me.can_act) doAction("approve");
    else if (k === "f" && state.me.can_act) { ev.preventDefault(); note.focus(); }
    else if (k === "e") startEdit();
    else if (k === "x" && state.editing) { state.erase = !state.erase; apply(); }
    else if (k === "Escape" && state.editing) { state.editing = false; apply(); }
  };
  document.addEventListener("keydown", state.keyHandler);
}

// -- start ---------------------------------------------------------------------------------------
window.addEventListener("hashchange", route);
$("#logout").addEventListener("click", async () => {
  try { await api("/api/logout", {}); } catch (e) { /* signed out anyway */ }
  state.me = null;
  showLogin("Signed out.");
});
(async () => {
  try {
    state.me = await api("/api/me");
    signedIn();
  } catch (e) {
    if (e.status !== 401) showLogin(e.message);
  }
})();
