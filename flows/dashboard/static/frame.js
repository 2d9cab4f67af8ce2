// The frame view (#/frame/<id>/<n>): before / after / mask, A/B flip, wipe, overlay, zoom and pan,
// playback, approve / flag / reprocess, the frame's reasons and history, and its keys.

import { act, api, imgUrl, reelPath } from "./api.js";
import { $, crumbs, h, toast } from "./dom.js";
import { byText, fmt, shortTime } from "./format.js";
import { maskEditor } from "./mask-editor.js";
import { state } from "./state.js";

const ZOOMS = ["fit", 1, 2, 4, 8];

export async function frameView(id, n) {
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
  // Mask correction: a canvas over the picture (state.editing), saved as the frame's new mask.
  const editor = maskEditor(id, n, info, overlay, apply, () => frameView(id, n));
  const stage = h("div", { id: "ab-stage", class: "stage" }, abBefore, abAfter, overlay, editor.canvas, wipeLine);
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
    h("button", { id: "edit-mask", type: "button", class: "operator-only", title: "e", onclick: editor.start }, "Edit mask (e)"));
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
    editor.show();
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

  view.replaceChildren(toolbar, actions, editor.editBar, h("div", { class: "images" }, side, ab, wipe), transport, help, reasons || "", history);
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
    else if (k === "e") editor.start();
    else if (k === "x" && state.editing) editor.toggleErase();
    else if (k === "Escape" && state.editing) editor.cancel();
  };
  document.addEventListener("keydown", state.keyHandler);
}
