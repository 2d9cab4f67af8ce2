// The API client: JSON requests with the session's CSRF token, and the URLs of reels and frame images.

import { toast } from "./dom.js";
import { state } from "./state.js";

class HttpError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

// Called on 401 (the session ended): main.js shows the sign-in form; this module knows no views.
let unauthorized = () => {};
export function onUnauthorized(fn) { unauthorized = fn; }

export async function api(path, body) {
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
    unauthorized();
    throw new HttpError(401, "sign in first");
  }
  if (!r.ok) {
    let detail = data && data.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; ");
    throw new HttpError(r.status, detail || r.statusText);
  }
  return data;
}

export const reelPath = (id) => id.split("/").map(encodeURIComponent).join("/");
export const imgUrl = (id, n, kind, v) => `/api/reels/${reelPath(id)}/frames/${n}/${kind}.png${v ? "?v=" + v : ""}`;

export async function act(reelId, action, frames, note) {
  const res = await api(`/api/reels/${reelPath(reelId)}/actions`, { action, frames, note: note || "" });
  let msg = `${action}: ${frames.length} frame(s) → ${res.status}`;
  if (res.reprocess) msg += ` (${res.reprocess.backend}${res.reprocess.error ? ": " + res.reprocess.error : ""})`;
  toast(msg, res.reprocess && res.reprocess.backend === "failed");
  return res;
}
