// Weft console, start-up: asks who is signed in, shows the sign-in form
// or the app, and routes on hash changes.
"use strict";

(function () {
  const h = Weft.h;
  const signin = document.getElementById("signin");
  const app = document.getElementById("app");

  Weft.signedOut = function signedOut(message) {
    Weft.session = null;
    app.hidden = true;
    signin.hidden = false;
    const error = document.getElementById("signin-error");
    error.textContent = message || "";
    document.getElementById("token").focus();
  };

  function signedIn(session) {
    Weft.session = session;
    signin.hidden = true;
    app.hidden = false;
    const who = Weft.clear(document.getElementById("who"));
    who.appendChild(
      session.role === "operator"
        ? h("span", { class: "role role-operator" }, "operator")
        : h("span", { class: "role role-tenant" }, "tenant ", h("strong", null, session.tenant))
    );
    Weft.route();
  }

  document.getElementById("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = document.getElementById("token");
    const error = document.getElementById("signin-error");
    const button = document.getElementById("signin-button");
    error.textContent = "";
    button.disabled = true;
    try {
      const response = await fetch("/console/session", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ token: input.value }),
        credentials: "same-origin",
      });
      const data = await response.json().catch(() => null);
      if (!response.ok) {
        error.textContent = "Sign-in refused: " + ((data && data.error) || response.statusText);
        input.select();
        return;
      }
      input.value = "";
      signedIn(data);
    } catch (e) {
      error.textContent = "Cannot reach the server: " + e.message;
    } finally {
      button.disabled = false;
    }
  });

  document.getElementById("signout").addEventListener("click", async () => {
    await fetch("/console/session", {
      method: "DELETE",
      headers: { "X-Weft-Csrf": Weft.session ? Weft.session.csrf : "" },
      credentials: "same-origin",
    }).catch(() => null);
    for (const fn of Weft.cleanups.splice(0)) fn();
    Weft.clear(document.getElementById("main"));
    Weft.signedOut("Signed out.");
  });

  window.addEventListener("hashchange", () => {
    if (Weft.session) Weft.route();
  });

  fetch("/console/session", { credentials: "same-origin", cache: "no-store" })
    .then(async (response) => {
      if (response.ok) signedIn(await response.json());
      else Weft.signedOut();
    })
    .catch(() => Weft.signedOut("Cannot reach the server."));
})();
