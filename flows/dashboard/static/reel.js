// The reel view (#/reel/<id>): plot, flagged frames and why, actions, sign-off, frames by status, events.

import { act, api, reelPath } from "./api.js";
import { $, crumbs, h, toast } from "./dom.js";
import { byText, fmt, shortTime } from "./format.js";
import { plot } from "./plot.js";
import { progressBar } from "./reels.js";
import { poll, state } from "./state.js";

const STATUS_ORDER = ["pending", "done", "flagged", "approved", "reprocess"];

export async function reelView(id) {
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
