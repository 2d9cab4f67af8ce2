// The mask editor of the frame view: a canvas over the picture, started from the stored mask; paint
// adds damage, erase removes it (x swaps); saving posts it as the frame's mask and refills the frame.

import { api, reelPath } from "./api.js";
import { h, toast } from "./dom.js";
import { state } from "./state.js";

// The editor of frame n's mask. overlay: the stored mask's image (red where replaced, transparent
// elsewhere); apply: redraws the frame view after state.editing or state.erase changed; saved: called
// once the mask is saved.
export function maskEditor(id, n, info, overlay, apply, saved) {
  const canvas = h("canvas", { id: "mask-canvas", class: "frame-img mask-canvas", width: info.width, height: info.height });
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
  const start = () => {
    if (!state.me.can_act) return;
    state.editing = true;
    if (state.mode === "side") state.mode = "ab";
    state.showAfter = false;
    if (overlay.complete && overlay.naturalWidth) loadMaskIntoCanvas(); else overlay.addEventListener("load", loadMaskIntoCanvas, { once: true });
    apply();
  };
  const cancel = () => { state.editing = false; apply(); };
  const toggleErase = () => { state.erase = !state.erase; apply(); };
  cancelEdit.addEventListener("click", cancel);
  eraseBtn.addEventListener("click", toggleErase);
  saveMask.addEventListener("click", async () => {
    if (!canvasReady) return toast("The mask is still loading.", true);
    try {
      const res = await api(`/api/reels/${reelPath(id)}/frames/${n}/mask`, { png: canvas.toDataURL("image/png") });
      toast(`mask saved (+${res.mask.added} / −${res.mask.removed} px); refill: ${res.reprocess ? res.reprocess.backend : "?"}`);
      state.editing = false;
      saved();
    } catch (e) { toast(e.message, true); }
  });
  const show = () => {
    canvas.hidden = !state.editing;
    editBar.hidden = !state.editing;
    eraseBtn.textContent = state.erase ? "Erasing (x)" : "Painting (x)";
  };
  return { canvas, editBar, start, cancel, toggleErase, show };
}
