// The reel's plot: damage fraction and consistency per frame, flagged frames marked, a status strip.

import { h, s } from "./dom.js";
import { fmt } from "./format.js";

export function plot(detail, onPick) {
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
