// The sign-in form.

import { api } from "./api.js";
import { $, crumbs, h } from "./dom.js";
import { state, stopView } from "./state.js";

// onSignedIn: called once the sign-in succeeded (state.me is set).
export function showLogin(message, onSignedIn) {
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
      onSignedIn();
    } catch (e) {
      err.textContent = e.status === 401 ? "Wrong name or password." : e.message;
    }
  });
  $("#view").replaceChildren(form);
  $("#login-name").focus();
}
