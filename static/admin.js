// The admin page: reads and writes through /admin/api with the page's CSRF token. Every write
// of the policy is a PUT with If-Match: the settings form, a fix from a rejected attempt, a pin,
// a revert. A change made elsewhere meanwhile is reported (412), never overwritten.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let ws = "", csrf = "", etag = "", current = null, catalog = [], dirty = false;
  // The editors' drafts of the policy's lists and members.
  const draft = { allowed_redirect_uris: [], allowed_client_ids: [], members: [] };

  const api = async (path, options = {}) => {
    const headers = { ...(options.headers || {}) };
    if (options.method && options.method !== "GET") headers["x-csrf-token"] = csrf;
    if (options.json !== undefined) { headers["content-type"] = "application/json"; options = { ...options, body: JSON.stringify(options.json) }; }
    const res = await fetch(`/admin/api/${path}`, { ...options, headers, credentials: "same-origin" });
    const body = await res.json().catch(() => ({}));
    return { res, body };
  };
  const wsApi = (path, options) => api(`workspaces/${ws}/${path}`, options);
  const describe = (r) => r.body.error_description || r.body.error || `HTTP ${r.res.status}`;

  const time = (s) => {
    if (!s) return "—";
    const d = new Date(s * 1000);
    const year = d.getFullYear() === new Date().getFullYear() ? undefined : "numeric";
    return d.toLocaleString(undefined, { year, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  };
  const el = (tag, props = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "class") e.className = v; else if (k.startsWith("aria-") || k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
    }
    e.append(...children.filter((c) => c !== null && c !== undefined));
    return e;
  };
  // An identifier that may break only after its separators (/ . @ - _ ? & = :), never inside a word.
  const breakable = (text) => {
    const out = document.createDocumentFragment();
    for (const part of String(text).split(/(?<=[/.@\-_?&=:])/)) { out.append(part, document.createElement("wbr")); }
    return out;
  };
  const code = (text, title) => el("code", title ? { title } : {}, breakable(text));
  // A registered client's 43-character ID is shown short here (in full under "Clients seen");
  // a metadata-document client's ID is its URL, shown whole.
  const shortId = (id) => (!id || id.startsWith("https://") || id.length <= 16 ? code(id || "") : el("code", { title: id }, `${id.slice(0, 8)}…`));
  const clientCell = (name, id) => el("span", {}, el("span", { class: "name" }, name), " ", shortId(id));
  const cell = (row, label, ...content) => {
    const td = row.insertCell();
    td.dataset.label = label;
    td.append(...content.filter((c) => c !== null && c !== undefined));
    return td;
  };
  const timeCell = (row, label, s) => cell(row, label, el("span", { class: "time" }, time(s)));
  const showError = (msg) => { const e = $("page-error"); e.textContent = msg; e.hidden = !msg; };
  const showStatus = (msg) => { const e = $("page-status"); e.textContent = msg; e.hidden = !msg; };
  const empty = (id, isEmpty) => { const p = document.querySelector(`.empty[data-for="${id}"]`); if (p) p.hidden = !isEmpty; };
  const button = (text, props, onClick) => {
    const b = el("button", { type: "button", ...props }, text);
    b.addEventListener("click", onClick);
    return b;
  };
  const scopesText = (list, none) => (list && list.length ? list.join(" ") : none);

  // --- Policy changes as a person reads them -------------------------------------------------
  const FIELDS = {
    schema: "Schema", name: "Workspace name", mcp_enabled: "MCP enabled", allowed_redirect_uris: "Allowed redirect URIs",
    allowed_client_ids: "Pinned client IDs", scope_ceiling: "Scope ceiling", members: "Members",
  };
  const shown = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  function renderChanges(changes) {
    const list = el("ul", { class: "changes" });
    const item = (cls, ...content) => list.append(el("li", { class: cls }, ...content));
    if (changes.created) item("", "Policy created");
    else if (changes.deleted) item("removed", "Policy deleted");
    else if (changes.document) item("", "Document replaced (it was not a JSON object)");
    else if (changes.large) item("", `A large change (${changes.large.bytes} bytes of differences, not kept) to: ${changes.large.fields.map((f) => FIELDS[f] || f).join(", ")}`);
    else {
      for (const [field, c] of Object.entries(changes)) {
        const label = el("span", { class: "field" }, `${FIELDS[field] || field}: `);
        if (field === "members" && (c.added || c.removed || c.changed)) {
          for (const m of c.added || []) item("added", label.cloneNode(true), "+ ", code(m));
          for (const m of c.removed || []) item("removed", label.cloneNode(true), "− ", code(m));
          for (const m of c.changed || []) {
            const what = Object.entries(m).filter(([k]) => k !== "member").map(([k, v]) => `${k} ${shown(v.from ?? "none")} → ${shown(v.to ?? "none")}`);
            item("", label.cloneNode(true), code(m.member), ` ${what.join(", ")}`);
          }
        } else if (c.added || c.removed) {
          for (const v of c.added || []) item("added", label.cloneNode(true), "+ ", code(v));
          for (const v of c.removed || []) item("removed", label.cloneNode(true), "− ", code(v));
        } else item("", label, `${shown(c.from ?? "none")} → ${shown(c.to ?? "none")}`);
      }
    }
    if (!list.children.length) item("", "No change");
    return list;
  }

  // --- The confirmation dialog: the exact change, then an ETag-guarded write -----------------
  // `applying`: the write the dialog offers; `pending`: it is under way (the dialog stays open);
  // `refused`: it was refused, so closing shows what is current (the editors' drafts are kept).
  let applying = null, pending = false, refused = false;
  function confirmChange({ title, text, changes, apply, label = "Apply" }) {
    $("confirm-title").textContent = title;
    const unsaved = dirty ? " You have unsaved edits in Settings or Members: applying this discards them (save them first to keep them)." : "";
    $("confirm-text").textContent = text + unsaved;
    $("confirm-changes").replaceChildren(el("h3", {}, "The change"), renderChanges(changes));
    $("confirm-error").textContent = "";
    $("confirm-apply").textContent = label;
    $("confirm-apply").hidden = false;
    $("confirm-cancel").textContent = "Cancel";
    applying = apply;
    refused = false;
    $("confirm").showModal();
    $("confirm-apply").focus();
  }
  async function onApply() {
    const apply = applying;
    if (!apply || pending) return;
    pending = true;
    $("confirm-apply").disabled = true;
    const r = await apply();
    pending = false;
    $("confirm-apply").disabled = false;
    applying = null;
    if (r.res.ok) {
      $("confirm").close();
      showStatus(`${$("confirm-title").textContent}: done.`);
      await loadAll();
      return;
    }
    refused = true;
    $("confirm-apply").hidden = true;
    $("confirm-cancel").textContent = "Close";
    $("confirm-error").textContent = r.res.status === 412
      ? "Not applied: someone else changed the settings since this was prepared, and their change was kept. Close this to see the current settings; apply it again if it is still needed."
      : `Not applied: ${describe(r)}`;
  }

  const writePolicy = (doc, ifMatch) => wsApi("policy", { method: "PUT", headers: { "if-match": ifMatch }, json: doc });

  // --- Settings and members ------------------------------------------------------------------
  const validate = (doc) => wsApi("policy/validate", { method: "POST", json: doc });
  function documentFromEditors() {
    // The editor shows e-mail, name and role; a member's `sub` (set by hand or the API) is kept.
    const members = draft.members.map((m) => {
      const out = { email: m.email, role: m.role };
      if (m.name) out.name = m.name;
      if (m.sub) out.sub = m.sub;
      return out;
    });
    return {
      schema: 1, name: current.name, mcp_enabled: $("mcp-enabled").checked,
      allowed_redirect_uris: [...draft.allowed_redirect_uris], allowed_client_ids: [...draft.allowed_client_ids],
      scope_ceiling: [...document.querySelectorAll("#scopes input:checked")].map((b) => b.value), members,
    };
  }
  const changed = () => { dirty = true; $("save-status").textContent = "Unsaved changes"; };

  // Where a message about `path` (allowed_redirect_uris[1], members[0].email, …) is shown.
  const errorFor = (path) => {
    const field = (path || "").split(/[[.]/)[0];
    return { allowed_redirect_uris: "redirect-uris-error", allowed_client_ids: "client-ids-error", members: "members-error" }[field];
  };
  const clearErrors = () => { for (const id of ["redirect-uris-error", "client-ids-error", "members-error"]) $(id).textContent = ""; };
  // Whether the editors' draft changed by `edit` passes the worker's checks as far as the field
  // whose message goes to `error` is concerned; if not, the worker's message is shown there.
  async function passes(edit, error) {
    const doc = documentFromEditors();
    edit(doc);
    const r = await validate(doc);
    const message = !r.res.ok ? describe(r) : !r.body.valid && errorFor(r.body.path) === error.id ? r.body.message : "";
    error.textContent = message;
    return !message;
  }

  function renderList(editor) {
    const field = editor.dataset.field;
    const items = editor.querySelector(".items");
    items.replaceChildren();
    for (const [i, value] of draft[field].entries()) {
      items.append(el("li", {}, el("span", { class: "value" }, code(value)),
        button("Remove", { class: "remove", "aria-label": `Remove ${value}` }, () => { draft[field].splice(i, 1); changed(); renderList(editor); })));
    }
    if (!draft[field].length) items.append(el("li", { class: "muted" }, field === "allowed_client_ids" ? "None: any client may connect." : "None."));
  }
  async function addToList(editor) {
    const field = editor.dataset.field;
    const input = editor.querySelector("input");
    const error = editor.querySelector(".field-error");
    const value = input.value.trim();
    if (!value) { error.textContent = "Type a value first."; input.focus(); return; }
    if (!(await passes((doc) => { doc[field] = [...doc[field], value]; }, error))) { input.focus(); return; }
    draft[field].push(value);
    input.value = "";
    changed();
    renderList(editor);
    input.focus();
  }

  const admins = () => draft.members.filter((m) => m.role === "admin").length;
  function renderMembers() {
    const tbody = $("members").tBodies[0];
    tbody.replaceChildren();
    for (const [i, m] of draft.members.entries()) {
      const row = tbody.insertRow();
      row.dataset.email = m.email;
      const last = m.role === "admin" && admins() === 1;
      const note = last ? el("span", { class: "muted", id: `last-admin-${i}` }, " (the last admin: make another member an admin first)") : null;
      cell(row, "E-mail", code(m.email), note);
      const name = el("input", { type: "text", value: m.name || "", "aria-label": `Name of ${m.email}` });
      name.addEventListener("input", () => { m.name = name.value.trim(); changed(); });
      cell(row, "Name", name);
      const role = el("select", { "aria-label": `Role of ${m.email}` }, el("option", { value: "member" }, "member"), el("option", { value: "admin" }, "admin"));
      role.value = m.role;
      role.disabled = last;
      if (last) role.setAttribute("aria-describedby", `last-admin-${i}`);
      role.addEventListener("change", () => { m.role = role.value; changed(); renderMembers(); });
      cell(row, "Role", role);
      const remove = button("Remove", { class: "remove", "aria-label": `Remove ${m.email}`, disabled: last }, () => { draft.members.splice(i, 1); changed(); renderMembers(); });
      if (last) remove.setAttribute("aria-describedby", `last-admin-${i}`);
      cell(row, "Actions", remove);
    }
  }
  async function addMember() {
    const email = $("member-email").value.trim();
    if (!email) { $("members-error").textContent = "Type the member's e-mail address first."; $("member-email").focus(); return; }
    const member = { email, role: $("member-role").value };
    if ($("member-name").value.trim()) member.name = $("member-name").value.trim();
    if (!(await passes((doc) => { doc.members = [...doc.members, member]; }, $("members-error")))) { $("member-email").focus(); return; }
    draft.members.push(member);
    $("member-email").value = ""; $("member-name").value = ""; $("member-role").value = "member";
    changed();
    renderMembers();
    $("member-email").focus();
  }

  async function save(event) {
    event.preventDefault();
    clearErrors();
    $("save-status").textContent = "Saving…";
    const doc = documentFromEditors();
    const r = await writePolicy(doc, etag);
    if (r.res.ok) {
      dirty = false;
      await loadAll();
      $("save-status").textContent = "Saved";
      return;
    }
    if (r.res.status === 412) {
      $("save-status").textContent = "Not saved: someone else changed the settings since this page loaded them. " +
        "Your edits are still here: note them, reload the page to see the current settings, then apply your edits again and save.";
      return;
    }
    // The field the refusal is about, as the worker names it (validate gives its path).
    const checked = await validate(doc);
    const where = checked.res.ok && !checked.body.valid ? errorFor(checked.body.path) : null;
    if (where) $(where).textContent = checked.body.message;
    $("save-status").textContent = `Not saved: ${describe(r)}`;
  }

  function renderPolicy() {
    $("workspace-name").textContent = current.name;
    $("mcp-enabled").checked = current.mcp_enabled;
    draft.allowed_redirect_uris = [...current.allowed_redirect_uris];
    draft.allowed_client_ids = [...(current.allowed_client_ids || [])];
    draft.members = current.members.map((m) => ({ ...m }));
    for (const box of document.querySelectorAll("#scopes input")) box.checked = current.scope_ceiling.includes(box.value);
    for (const editor of document.querySelectorAll(".list-editor")) renderList(editor);
    renderMembers();
    clearErrors();
    dirty = false;
    $("save-status").textContent = "";
  }

  async function loadPolicy() {
    const r = await wsApi("policy");
    if (!r.res.ok) { showError(describe(r)); return false; }
    etag = r.body.etag; current = r.body.policy;
    renderPolicy();
    return true;
  }

  // --- Fixes, pins, the check ----------------------------------------------------------------
  // The verdict of an attempt: a button with the fix, "passes now", or why there is none.
  function verdictContent(verdict, fixEtag, what) {
    if (!verdict) return el("span", { class: "muted" }, "—");
    if (verdict.verdict === "passes") return el("span", { class: "passes" }, `Passes now (grants ${scopesText(verdict.scopes, "the ceiling")})`);
    if (verdict.fix) {
      const fix = verdict.fix;
      return button(fix.label, { class: "fix" }, () => confirmChange({
        title: fix.label, text: `This change to the workspace policy lets ${what} through.`, changes: fix.changes,
        apply: () => writePolicy(fix.policy, fixEtag),
      }));
    }
    return el("span", { class: "muted" }, `No policy change here fixes it: ${verdict.why}`);
  }

  const withPin = (doc, id, pinned) => {
    const ids = (doc.allowed_client_ids || []).filter((c) => c !== id);
    return { ...doc, allowed_client_ids: pinned ? [...ids, id] : ids };
  };
  function pin(client, pinned) {
    const doc = withPin(current, client.client_id, pinned);
    const others = (current.allowed_client_ids || []).length === 0;
    const text = pinned
      ? `Only pinned clients may connect${others ? "; every other client is then refused with “OAuth client_id is not allowed”" : ""}. Existing connections of other clients stop working.`
      : doc.allowed_client_ids.length ? "This client can no longer connect; its connections stop working." : "Nothing is pinned any more: any client may connect.";
    confirmChange({
      title: `${pinned ? "Pin" : "Unpin"} ${client.name}`, text, label: pinned ? "Pin" : "Unpin",
      changes: { allowed_client_ids: { added: pinned ? [client.client_id] : [], removed: pinned ? [] : [client.client_id] } },
      apply: () => writePolicy(doc, etag),
    });
  }

  async function check(event) {
    event.preventDefault();
    const body = { redirect_uri: $("check-redirect").value, client_id: $("check-client").value, scope: $("check-scope").value };
    if ($("check-user").value.trim()) body.user = $("check-user").value.trim();
    const r = await wsApi("check", { method: "POST", json: body });
    const out = $("check-result");
    if (!r.res.ok) { out.replaceChildren(el("p", { class: "error" }, describe(r))); return; }
    const v = r.body;
    if (v.verdict === "passes") { out.replaceChildren(el("p", { class: "passes" }, `Would be approved, granting ${scopesText(v.scopes, "nothing")}.`)); return; }
    out.replaceChildren(el("p", {}, el("strong", { class: "rule" }, v.rule), ". ", v.hint), el("p", {}, verdictContent(v, v.etag, "this connection")));
  }

  // --- Lists ---------------------------------------------------------------------------------
  async function loadOutcomes() {
    const r = await wsApi("outcomes");
    if (!r.res.ok) return;
    for (const kind of ["rejected", "approved"]) {
      const tbody = $(kind).tBodies[0];
      tbody.replaceChildren();
      for (const o of r.body[kind]) {
        const row = tbody.insertRow();
        row.dataset.clientId = o.client_id;
        timeCell(row, "Time", o.at); cell(row, "User", code(o.user)); cell(row, "Client", clientCell(o.client_name, o.client_id));
        cell(row, "Redirect URI", o.redirect_uri ? code(o.redirect_uri) : "—");
        cell(row, "Scopes", scopesText(o.scopes, kind === "rejected" ? "(none requested)" : ""));
        if (kind === "rejected") {
          cell(row, "Rule", o.rule || "").classList.add("rule");
          cell(row, "Fix", verdictContent(o.verdict, r.body.etag, `${o.user}'s attempt with ${o.client_name} (${time(o.at)})`));
        }
      }
      empty(kind, !r.body[kind].length);
    }
  }

  async function loadClients() {
    const r = await wsApi("clients");
    if (!r.res.ok) return;
    const tbody = $("clients").tBodies[0];
    tbody.replaceChildren();
    for (const c of r.body.clients) {
      const row = tbody.insertRow();
      row.dataset.clientId = c.client_id;
      cell(row, "Client", el("span", { class: "name" }, c.name), " ", code(c.client_id));
      cell(row, "Metadata document", c.metadata_document ? code(c.metadata_document) : el("span", { class: "muted" }, "none (registered)"));
      cell(row, "Connections", String(c.connections));
      cell(row, "Seen", el("span", { class: "time" }, `first ${time(c.first_seen)}`), el("br"), el("span", { class: "time" }, `last ${time(c.last_seen)}`));
      cell(row, "Pinned", c.pinned ? "Pinned " : "",
        button(c.pinned ? "Unpin" : "Pin", { class: c.pinned ? "unpin" : "pin", "aria-label": `${c.pinned ? "Unpin" : "Pin"} ${c.name} (${c.client_id})` }, () => pin(c, !c.pinned)));
    }
    empty("clients", !r.body.clients.length);
    const suggested = r.body.clients.find((c) => c.client_id === r.body.suggest_pin);
    $("pin-suggestion").hidden = !suggested;
    if (suggested) {
      $("pin-suggestion-text").replaceChildren(`${suggested.name} (`, code(suggested.client_id), ") was the first client approved here.");
      $("pin-suggested").onclick = () => pin(suggested, true);
    }
  }

  // One revocation request; a failure is shown, the table is reloaded either way.
  async function revoke(request) {
    const r = await wsApi("connections/revoke", { method: "POST", json: request });
    showError(r.res.ok ? "" : `Not revoked: ${describe(r)}`);
    await loadConnections();
  }

  async function loadConnections() {
    const r = await wsApi("connections");
    const tbody = $("connections").tBodies[0];
    tbody.replaceChildren();
    if (!r.res.ok) return;
    const offered = new Set(); // users whose "Revoke all" button is shown (on their first active row)
    for (const c of r.body.connections) {
      const row = tbody.insertRow();
      row.dataset.id = c.id; row.dataset.user = c.user; row.dataset.clientId = c.client_id;
      cell(row, "User", code(c.user), c.member === false ? " (no longer a member)" : "");
      cell(row, "Client", clientCell(c.client_name, c.client_id)); cell(row, "Scopes", c.scopes.join(" "));
      timeCell(row, "Created", c.created_at); timeCell(row, "Last used", c.last_used_at); cell(row, "Status", c.active ? "active" : "revoked");
      const td = cell(row, "Actions");
      if (!c.active) continue;
      td.append(button("Revoke", { class: "revoke", "aria-label": `Revoke the connection of ${c.client_name} for ${c.user}, created ${time(c.created_at)}` },
        () => revoke({ user: c.user, id: c.id })));
      if (!offered.has(c.user)) {
        offered.add(c.user);
        td.append(" ", button("Revoke all of this user", { class: "revoke-all", "aria-label": `Revoke all connections of ${c.user}` }, () => revoke({ user: c.user })));
      }
    }
    empty("connections", !r.body.connections.length);
  }

  const SOURCES = { page: "admin page", api: "admin API (operator)", hand_edit: "hand edit (KV)", unrecorded: "before history" };
  async function loadHistory() {
    const r = await wsApi("policy/history");
    if (!r.res.ok) return;
    const tbody = $("history").tBodies[0];
    tbody.replaceChildren();
    for (const [i, v] of r.body.versions.entries()) {
      const row = tbody.insertRow();
      row.dataset.version = v.version;
      cell(row, "Version", String(v.version), v.reverts ? el("span", { class: "muted" }, ` (reverts ${v.reverts})`) : null);
      timeCell(row, "When", v.at); cell(row, "Who", v.by ? code(v.by) : "—"); cell(row, "From", SOURCES[v.source] || v.source);
      cell(row, "Changes", renderChanges(v.changes));
      const td = cell(row, "Actions");
      if (i > 0 && v.etag) td.append(button(`Revert to version ${v.version}`, { class: "revert" }, () => revertTo(v)));
    }
  }
  async function revertTo(v) {
    const r = await wsApi(`policy/history/${v.version}`);
    if (!r.res.ok) { showError(describe(r)); return; }
    confirmChange({
      title: `Revert to version ${v.version}`, label: "Revert",
      text: `Restores the settings and members as they were at version ${v.version} (${time(v.at)}). The revert is recorded as a new change.`,
      changes: r.body.restores, apply: () => wsApi("policy/revert", { method: "POST", headers: { "if-match": etag }, json: { version: v.version } }),
    });
  }

  async function loadAll() {
    if (!(await loadPolicy())) return;
    await loadLists();
  }
  const loadLists = () => Promise.all([loadOutcomes(), loadClients(), loadConnections(), loadHistory()]);
  // After a refused write: what is current. Unsaved edits stay in the editors, with the ETag they
  // were made from, so saving them reports the other change (412) rather than overwriting it.
  const afterRefusal = () => (dirty ? loadLists() : loadAll());

  async function start() {
    const r = await api("session");
    if (!r.res.ok) { location.href = "/signin?next=%2Fadmin"; return; }
    ws = r.body.workspace; csrf = r.body.csrf || "";
    $("workspace-id").textContent = ws; $("admin-email").textContent = r.body.email;
    const cat = await api("catalog");
    catalog = cat.body.scopes || [];
    for (const s of catalog) {
      const box = el("input", { type: "checkbox", value: s.name });
      box.addEventListener("change", changed);
      $("scopes").append(el("label", { class: "inline" }, box, " ", el("code", {}, s.name), ` — ${s.description || ""}`));
    }
    $("mcp-enabled").addEventListener("change", changed);
    for (const editor of document.querySelectorAll(".list-editor")) {
      editor.querySelector("button.add").addEventListener("click", () => addToList(editor));
      editor.querySelector("input").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addToList(editor); } });
    }
    $("add-member").addEventListener("click", addMember);
    $("member-email").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addMember(); } });
    $("policy-form").addEventListener("submit", save);
    $("check-form").addEventListener("submit", check);
    $("confirm-apply").addEventListener("click", onApply);
    $("confirm-cancel").addEventListener("click", () => { if (!pending) $("confirm").close(); });
    $("confirm").addEventListener("cancel", (e) => { if (pending) e.preventDefault(); }); // Escape waits for the answer
    $("confirm").addEventListener("close", () => { if (refused) afterRefusal(); applying = null; refused = false; });
    await loadAll();
    document.body.dataset.ready = "true"; // everything is shown (tests wait for this)
  }
  start();
})();
