// The page's state, shared by the views, and the polling timer of the view shown.

export const state = {
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

export function stopView() {
  clearInterval(state.timer);
  state.timer = null;
  if (state.keyHandler) document.removeEventListener("keydown", state.keyHandler);
  state.keyHandler = null;
}

export function poll(fn) {
  const every = Math.max(1, (state.me && state.me.poll_seconds) || 3) * 1000;
  state.timer = setInterval(() => fn().catch((e) => { if (e.status !== 401) console.warn(e); }), every);
}
