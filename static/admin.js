// The admin page: reads and writes through /admin/api with the page's CSRF token.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let ws = "", csrf = "", etag = "", current = null;

  const api = async (path, options = {}) => {
    const headers = { ...(options.headers || {}) };
    if (options.method && options.method !== "GET") headers["x-csrf-token"] = csrf;
    const res = await fetch(`/admin/api/${path}`, { ...options, headers, credentials: "same-origin" });
    const body = await res.json().catch(() => ({}));
    return { res, body };
  };
  const time = (s) => (s ? new Date(s * 1000).toLocaleString() : "—");
  const cell = (row, text) => { const td = row.insertCell(); td.textContent = text; return td; };
  const lines = (id) => $(id).value.split("\n").map((l) => l.trim()).filter(Boolean);
  const showError = (msg) => { const e = $("page-error"); e.textContent = msg; e.hidden = !msg; };

  async function loadPolicy() {
    const { res, body } = await api(`workspaces/${ws}/policy`);
    if (!res.ok) { showError(body.error_description || body.error || `HTTP ${res.status}`); return; }
    etag = body.etag; current = body.policy;
    $("workspace-name").textContent = current.name;
    $("mcp-enabled").checked = current.mcp_enabled;
    $("redirect-uris").value = current.allowed_redirect_uris.join("\n");
    $("client-ids").value = (current.allowed_client_ids || []).join("\n");
    for (const box of document.querySelectorAll("#scopes input")) box.checked = current.scope_ceiling.includes(box.value);
    $("members").value = current.members.map((m) => [m.email, m.role, m.name || ""].join(", ").replace(/, $/, "")).join("\n");
  }

  async function save(event) {
    event.preventDefault();
    $("save-status").textContent = "Saving…";
    // The editor shows e-mail, role and name; a member's `sub` (set by hand or the API) is kept.
    const subs = new Map(current.members.filter((m) => m.sub).map((m) => [m.email.toLowerCase(), m.sub]));
    const members = lines("members").map((l) => {
      const [email, role, ...name] = l.split(",").map((x) => x.trim());
      const m = { email, role: role || "member" };
      if (name.join(", ")) m.name = name.join(", ");
      if (subs.has(email.toLowerCase())) m.sub = subs.get(email.toLowerCase());
      return m;
    });
    const policy = {
      schema: 1, name: current.name, mcp_enabled: $("mcp-enabled").checked,
      allowed_redirect_uris: lines("redirect-uris"), allowed_client_ids: lines("client-ids"),
      scope_ceiling: [...document.querySelectorAll("#scopes input:checked")].map((b) => b.value), members,
    };
    const { res, body } = await api(`workspaces/${ws}/policy`, {
      method: "PUT", headers: { "content-type": "application/json", "if-match": etag }, body: JSON.stringify(policy),
    });
    if (res.ok) { etag = body.etag; current = policy; $("save-status").textContent = "Saved"; }
    else if (res.status === 412) {
      $("save-status").textContent = "Not saved: someone else changed the settings since this page loaded them. " +
        "Copy your changes, reload the page to see the current settings, then apply your changes again and save.";
    } else $("save-status").textContent = `Not saved: ${body.error_description || res.status}`;
  }

  // One revocation request; a failure is shown, the table is reloaded either way.
  async function revoke(request) {
    const { res, body } = await api(`workspaces/${ws}/connections/revoke`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(request),
    });
    showError(res.ok ? "" : `Not revoked: ${body.error_description || `HTTP ${res.status}`}`);
    await loadConnections();
  }

  const button = (text, className, label, onClick) => {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.className = className; b.setAttribute("aria-label", label);
    b.addEventListener("click", async () => { b.disabled = true; await onClick(); });
    return b;
  };

  async function loadConnections() {
    const { res, body } = await api(`workspaces/${ws}/connections`);
    const tbody = $("connections").tBodies[0];
    tbody.replaceChildren();
    if (!res.ok) return;
    const offered = new Set(); // users whose "Revoke all" button is shown (on their first active row)
    for (const c of body.connections) {
      const row = tbody.insertRow();
      row.dataset.id = c.id; row.dataset.user = c.user;
      cell(row, c.member === false ? `${c.user} (no longer a member)` : c.user);
      cell(row, `${c.client_name} (${c.client_id})`); cell(row, c.scopes.join(" "));
      cell(row, time(c.created_at)); cell(row, time(c.last_used_at)); cell(row, c.active ? "active" : "revoked");
      const td = row.insertCell();
      if (!c.active) continue;
      td.append(button("Revoke", "revoke", `Revoke the connection of ${c.client_name} for ${c.user}, created ${time(c.created_at)}`,
        () => revoke({ user: c.user, id: c.id })));
      if (!offered.has(c.user)) {
        offered.add(c.user);
        td.append(" ", button("Revoke all of this user", "revoke-all", `Revoke all connections of ${c.user}`,
          () => revoke({ user: c.user })));
      }
    }
  }

  async function loadOutcomes() {
    const { res, body } = await api(`workspaces/${ws}/outcomes`);
    if (!res.ok) return;
    for (const kind of ["rejected", "approved"]) {
      const tbody = $(kind).tBodies[0];
      tbody.replaceChildren();
      for (const o of body[kind]) {
        const row = tbody.insertRow();
        cell(row, time(o.at)); cell(row, o.user); cell(row, `${o.client_name} (${o.client_id})`);
        cell(row, o.redirect_uri); cell(row, o.scopes.join(" ") || (kind === "rejected" ? "(none requested)" : ""));
        if (kind === "rejected") cell(row, o.rule || "").className = "rule";
      }
    }
  }

  async function start() {
    const { res, body } = await api("session");
    if (!res.ok) { location.href = "/signin?next=%2Fadmin"; return; }
    ws = body.workspace; csrf = body.csrf || "";
    $("workspace-id").textContent = ws; $("admin-email").textContent = body.email;
    const cat = await api("catalog");
    for (const s of cat.body.scopes || []) {
      const label = document.createElement("label"); label.className = "inline";
      const box = document.createElement("input"); box.type = "checkbox"; box.value = s.name;
      const code = document.createElement("code"); code.textContent = s.name;
      label.append(box, " ", code, ` — ${s.description || ""}`);
      $("scopes").append(label);
    }
    $("policy-form").addEventListener("submit", save);
    await loadPolicy();
    await Promise.all([loadConnections(), loadOutcomes()]);
  }
  start();
})();
