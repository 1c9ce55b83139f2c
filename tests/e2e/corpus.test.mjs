// Issue #12: the hostile corpus (corpus.mjs) against its own `wrangler dev`, so that its store
// holds only this file's fixture. Every case gets exactly the answer in corpus.expected.json —
// never a 5xx — and afterwards every KV entry and Durable Object row is as it was, nothing in
// the worker's log says it panicked, and the fixture's code and tokens still work. Then the
// payloads that are stored on purpose (names with markup) are shown inert in Chromium.
//
// After a deliberate change of an answer: CORPUS_RECORD=1 rewrites corpus.expected.json from
// this run; review its diff like code.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, it } from "node:test";
import { ADMIN_TOKEN, BASE, PORT, SIGNING_KEY, STATE_DIR, closeBrowser, connect, exchange, getCode, launchBrowser, mcp, newContext, pkce, policy, putPolicies, rawRequest, register, authorizeUrl, rpc, serverOutput, startCallbackListener, startServer, stopCallbackListener, stopServer, token } from "./harness.mjs";
import { answer, corpus } from "./corpus.mjs";

const EXPECTED = path.join(import.meta.dirname, "corpus.expected.json");
const RECORD = process.env.CORPUS_RECORD === "1";
const WORKSPACE = "corpus";
const CORA = "cora@example.com";

/** One request exactly as given (`Host` included), from its own loopback address so that no
 * abuse limit is what answers. */
async function send({ method, path: target, headers = {}, body }, localAddress) {
  const r = await rawRequest(BASE, { method, headers, body, target, localAddress });
  return { ...r, text: r.body.toString() };
}

/** Every KV entry and Durable Object row in the local store, as text. */
function snapshot() {
  const root = path.join(STATE_DIR, "v3");
  const state = {};
  for (const kind of ["kv", "do"]) {
    const dir = path.join(root, kind);
    if (!fs.existsSync(dir)) continue;
    for (const file of fs.readdirSync(dir, { recursive: true }).map(String).sort()) {
      const full = path.join(dir, file);
      if (!fs.statSync(full).isFile() || /-(wal|shm)$/.test(file)) continue;
      if (!file.endsWith(".sqlite")) {
        state[`${kind}/${file}`] = crypto.createHash("sha256").update(fs.readFileSync(full)).digest("hex");
        continue;
      }
      const db = new DatabaseSync(full, { readOnly: true });
      const tables = {};
      try {
        for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all()) {
          const select = db.prepare(`SELECT * FROM "${name}"`);
          select.setReadBigInts(true);
          const rows = select.all().map((row) => JSON.stringify(row, (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("base64") : typeof v === "bigint" ? String(v) : v)));
          tables[`${kind}/${file}#${name}`] = rows.sort();
        }
      } finally {
        db.close();
      }
      // Reading a Durable Object that holds nothing (an unknown workspace's policy, the
      // connections of a user who has none) creates it with empty tables: that is no state.
      const holdsRows = Object.entries(tables).some(([key, rows]) => rows.length > 0 && !/#(__miniflare_do_name|sqlite_sequence)$/.test(key));
      if (kind === "kv" || holdsRows) Object.assign(state, tables);
    }
  }
  return state;
}

/** What changed between two snapshots, entry by entry. */
function changes(before, after) {
  const out = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = JSON.stringify(before[key] ?? null);
    const b = JSON.stringify(after[key] ?? null);
    if (a !== b) out.push(`${key}: ${a.slice(0, 300)} → ${b.slice(0, 300)}`);
  }
  return out;
}

let fixture;

describe("the hostile corpus (issue #12)", { timeout: 600_000 }, () => {
  before(async () => {
    await putPolicies({ [WORKSPACE]: policy({ name: "Corpus", members: [{ email: CORA, name: "Cora", role: "admin" }] }) });
    // Codes live ten minutes here: the corpus attacks one that must still be redeemable after.
    await startServer({ AUTH_CODE_TTL_SECONDS: "600" });
    await startCallbackListener();
    await launchBrowser();
    const connected = await connect({ workspace: WORKSPACE, email: CORA });
    const pending = await getCode({ workspace: WORKSPACE, email: CORA });
    const other = await register(undefined, "Another client");
    const read = await (await fetch(`${BASE}/admin/api/workspaces/${WORKSPACE}/policy`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
    const upstreamKid = (await (await fetch(`${BASE}/.well-known/upstream-jwks.json`)).json()).keys[0].kid;
    fixture = {
      clientId: pending.client.client_id,
      connectedClient: connected.client,
      refreshClientId: connected.client.client_id,
      otherClientId: other.client_id,
      code: pending.code,
      verifier: pending.verifier,
      pending,
      accessToken: connected.tokens.access_token,
      refreshToken: connected.tokens.refresh_token,
      signingKey: SIGNING_KEY,
      upstreamKid,
      adminToken: ADMIN_TOKEN,
      workspace: WORKSPACE,
      policy: read.policy,
      etag: read.etag,
      base: BASE,
    };
  });
  after(async () => {
    await closeBrowser();
    stopCallbackListener();
    await stopServer();
  });

  it("≥ 300 malformed or malicious requests: each its exact answer, none a 5xx, no state changed, no panic", async () => {
    const cases = corpus(fixture);
    assert.ok(cases.length >= 300, `${cases.length} cases`);
    assert.equal(new Set(cases.map(([t]) => t)).size, cases.length, "titles are unique");
    // A live connection's last use is written at most once a minute: this call is that write,
    // so none falls inside the corpus.
    assert.equal((await mcp(fixture.accessToken, rpc("tools/call", { name: "mcp_whoami", arguments: {} }))).status, 200);
    const logFrom = serverOutput().length;
    const stateBefore = snapshot();
    const expected = RECORD ? {} : JSON.parse(fs.readFileSync(EXPECTED, "utf8"));
    // Values that differ from run to run are compared by name.
    const names = [[fixture.otherClientId, "{otherClientId}"], [fixture.clientId, "{clientId}"], [fixture.connectedClient.client_id, "{connectedClientId}"], [BASE, "{base}"], [String(PORT), "{port}"]];
    const generic = (v) => (typeof v === "string" ? names.reduce((s, [value, name]) => s.split(value).join(name), v) : v);
    const got = {};
    const wrong = [];
    let i = 0;
    for (const [title, request] of cases) {
      const r = await send(request, `127.0.4.${1 + (i++ % 250)}`);
      const a = Object.fromEntries(Object.entries(answer(r)).map(([k, v]) => [k, generic(v)]));
      got[title] = a;
      if (r.status >= 500) wrong.push(`${title}: ${r.status} ${r.text.slice(0, 200)}`);
      if (r.headers["x-content-type-options"] !== "nosniff") wrong.push(`${title}: no nosniff`);
      if (!RECORD && JSON.stringify(a) !== JSON.stringify(expected[title])) wrong.push(`${title}:\n    got      ${JSON.stringify(a)}\n    expected ${JSON.stringify(expected[title])}`);
    }
    const stateAfter = snapshot();
    if (RECORD) fs.writeFileSync(EXPECTED, `${JSON.stringify(got, null, 1)}\n`);
    else assert.deepEqual(Object.keys(expected).filter((t) => !(t in got)), [], "expected answers of cases that no longer exist");
    assert.deepEqual(wrong, [], `${wrong.length} of ${cases.length} answers wrong`);
    assert.ok(Object.keys(stateBefore).length > 5, `the snapshot sees the store (${Object.keys(stateBefore).length} tables and blobs)`);
    assert.deepEqual(changes(stateBefore, stateAfter), [], "the corpus changed the store");
    const log = serverOutput().slice(logFrom);
    assert.deepEqual(log.split("\n").filter((l) => /panicked|RuntimeError|unreachable executed|Uncaught/.test(l)), [], "the worker's log");
  });

  it("afterwards the attacked code, refresh token and access token still work", async () => {
    const r = await exchange(fixture.pending);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const refreshed = await token({ grant_type: "refresh_token", refresh_token: fixture.refreshToken, client_id: fixture.connectedClient.client_id });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.equal((await mcp(refreshed.body.access_token, rpc("tools/call", { name: "mcp_whoami", arguments: {} }))).status, 200);
  });

  it("markup in a client name and in policy names is shown as text in Chromium, never run", async () => {
    const payload = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>"'&`;
    const client = await register(undefined, payload.slice(0, 100));
    const put = await fetch(`${BASE}/admin/api/workspaces/${WORKSPACE}/policy`, {
      method: "PUT",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", "if-match": fixture.etag },
      body: JSON.stringify({ ...fixture.policy, name: payload, members: [{ email: CORA, name: payload, role: "admin" }] }),
    });
    assert.equal(put.status, 200, await put.clone().text());
    const context = await newContext();
    const page = await context.newPage();
    const dialogs = [];
    page.on("dialog", (d) => (dialogs.push(d.message()), d.dismiss()));
    try {
      await page.goto(String(authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge })), { waitUntil: "domcontentloaded" });
      await page.fill("#workspace", WORKSPACE);
      await page.fill("#email", CORA);
      await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button:has-text('Sign in')")]);
      assert.equal((await page.locator("#client-name").textContent()).trim(), payload.slice(0, 100));
      assert.equal((await page.locator("#workspace-name").textContent()).trim(), payload);
      await page.goto(`${BASE}/admin`, { waitUntil: "load" });
      await page.waitForTimeout(500);
      const shown = await page.locator("body").textContent();
      assert.ok(shown.includes(payload), "the admin page shows the name as text");
      assert.equal(await page.evaluate(() => window.__pwned ?? null), null, "no payload ran");
      assert.equal(await page.locator("img[src=x]").count(), 0, "no element was made of the payload");
      assert.deepEqual(dialogs, []);
    } finally {
      await context.close();
    }
  });
});
