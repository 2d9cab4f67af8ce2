// The reels list (#/): every reel under the root with its progress, refreshed while shown.

import { api } from "./api.js";
import { $, crumbs, h } from "./dom.js";
import { pct, shortTime } from "./format.js";
import { poll } from "./state.js";

export function progressBar(p, counts, frames) {
  const bar = h("div", { class: "bar", title: pct(p) });
  for (const st of ["done", "approved", "flagged", "reprocess"]) {
    const n = (counts && counts[st]) || 0;
    if (n) bar.append(h("span", { class: "seg st-" + st, style: { width: `${(100 * n) / frames}%` } }));
  }
  return h("div", { class: "progress" }, bar, h("span", { class: "pct" }, pct(p)));
}

export async function reelsView() {
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
