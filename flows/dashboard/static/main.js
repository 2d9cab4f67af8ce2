// Operator review dashboard: plain JavaScript modules, no build step, no external resources.
// Routes (location.hash): #/  |  #/reel/<id>  |  #/frame/<id>/<n>

import { api, onUnauthorized } from "./api.js";
import { $ } from "./dom.js";
import { frameView } from "./frame.js";
import { showLogin } from "./login.js";
import { reelView } from "./reel.js";
import { reelsView } from "./reels.js";
import { state, stopView } from "./state.js";

const signIn = (message) => showLogin(message, signedIn);

function route() {
  stopView();
  if (!state.me) return signIn();
  const hash = location.hash || "#/";
  let m;
  if ((m = hash.match(/^#\/frame\/(.+)\/(\d+)$/))) return frameView(decodeURIComponent(m[1]), Number(m[2]));
  if ((m = hash.match(/^#\/reel\/(.+)$/))) return reelView(decodeURIComponent(m[1]));
  return reelsView();
}

function signedIn() {
  $("#who").textContent = `${state.me.user} (${state.me.role})`;
  $("#logout").hidden = false;
  document.body.classList.toggle("viewer", !state.me.can_act);
  route();
}

// -- start ---------------------------------------------------------------------------------------
onUnauthorized(() => signIn());
window.addEventListener("hashchange", route);
$("#logout").addEventListener("click", async () => {
  try { await api("/api/logout", {}); } catch (e) { /* signed out anyway */ }
  state.me = null;
  signIn("Signed out.");
});
(async () => {
  try {
    state.me = await api("/api/me");
    signedIn();
  } catch (e) {
    if (e.status !== 401) signIn(e.message);
  }
})();
