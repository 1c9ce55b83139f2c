// Issue #12: faults. Our build under `wrangler dev` through a test-only configuration whose KV
// and Durable Object bindings fail on command (faults-worker.mjs), and an upstream API that is
// not there. Every failure is a 503 with Retry-After and a message naming the store — or, for a
// tool call, a tool error naming the API — and nothing is half done: the code, the refresh token
// and the registration that met the failure work once the store is back.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ADMIN_TOKEN, BASE, ROOT, authorizeUrl, browse, closeBrowser, connect, exchange, getCode, launchBrowser, mcp, newContext, pkce, policy, putPolicies, register, rpc, startCallbackListener, startServer, stopCallbackListener, stopServer, token } from "./harness.mjs";

/** wrangler.toml's development configuration with faults-worker.mjs as `main` (in build/). */
function faultsConfig() {
  const development = fs.readFileSync(path.join(ROOT, "wrangler.toml"), "utf8").split(/^\[env\.production\]/m)[0];
  // `main` is relative to the configuration's directory; the build command runs in ours.
  const derived = development.replace(/^main = "build\/worker\/shim\.mjs"$/m, 'main = "../tests/e2e/faults-worker.mjs"');
  assert.notEqual(derived, development, "wrangler.toml's main changed: update faultsConfig");
  const file = path.join(ROOT, "build", "faults.wrangler.toml");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, derived);
  return file;
}

/** Makes these bindings fail (a message) or heal (null); returns those failing now. */
async function faults(bindings) {
  const r = await fetch(`${BASE}/__faults`, { method: "POST", body: JSON.stringify(bindings) });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}
const heal = () => faults({ POLICIES: null, CLIENTS: null, AUTH_CODES: null, CONNECTIONS: null, WORKSPACES: null });

const OVERLOADED = "Durable Object is overloaded. Too many requests queued.";
const KV_DOWN = "KV GET failed: 503 Service Unavailable";
/** What a JSON endpoint answers when `store` fails. */
const unavailable = (store) => ({ error: "temporarily_unavailable", error_description: `${store} is temporarily unavailable; try again in a few seconds` });
const refresh = (tokens, client) => token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id });
const whoami = (at) => mcp(at, rpc("tools/call", { name: "mcp_whoami", arguments: {} }));

function assertUnavailable(r, store, what) {
  assert.equal(r.status, 503, `${what}: ${JSON.stringify(r.body ?? r.text)}`);
  assert.equal(r.headers.get("retry-after"), "5", what);
  assert.deepEqual(r.body, unavailable(store), what);
}

describe("fault injection (a test-only wrangler configuration whose bindings fail on command)", { timeout: 600_000 }, () => {
  before(async () => {
    await putPolicies({ acme: policy({ scope_ceiling: ["WORKSPACE_READ", "COMPANIES_READ"] }) });
    // Every request reads the policy and the connection (no per-isolate grace), and tool calls
    // go to a port nothing listens on.
    await startServer({ POLICY_CACHE_SECONDS: "0", REVOCATION_CHECK_SECONDS: "0", UPSTREAM_BASE_URL: "http://127.0.0.1:9", UPSTREAM_TIMEOUT_MS: "2000" }, { config: faultsConfig() });
    await startCallbackListener();
    await launchBrowser();
  });
  after(async () => {
    await closeBrowser();
    stopCallbackListener();
    await stopServer();
  });

  it("the connection store overloaded while a code is redeemed: 503, and the same code gives tokens once it is back", async () => {
    const got = await getCode();
    assert.deepEqual(await faults({ CONNECTIONS: OVERLOADED }), { CONNECTIONS: OVERLOADED });
    assertUnavailable(await exchange(got), "The connection store", "the exchange");
    await heal();
    const r = await exchange(got);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await whoami(r.body.access_token)).status, 200);
  });

  it("the code store overloaded: the approval is a 503 page, and /token a 503 that leaves the code redeemable", async () => {
    const client = await register();
    const { challenge } = pkce();
    const seen = await browse(authorizeUrl({ clientId: client.client_id, challenge }), { decision: "none" });
    try {
      await faults({ AUTH_CODES: OVERLOADED });
      const [response] = await Promise.all([seen.page.waitForNavigation({ waitUntil: "domcontentloaded" }), seen.page.click("button[name=decision][value=approve]")]);
      assert.equal(response.status(), 503);
      assert.equal(response.headers()["retry-after"], "5");
      assert.equal((await seen.page.locator("#error-message").textContent()).trim(), "The authorization code store is temporarily unavailable; try again in a few seconds");
      assert.deepEqual(seen.callbacks, [], "no code was sent to the client");
    } finally {
      await heal();
      await seen.context.close();
    }
    const got = await getCode();
    await faults({ AUTH_CODES: OVERLOADED });
    assertUnavailable(await exchange(got), "The authorization code store", "the exchange");
    await heal();
    assert.equal((await exchange(got)).status, 200, "the code was not consumed by the failed attempt");
  });

  it("the policy store unreadable: /mcp, a refresh and sign-in answer 503; the same refresh token works afterwards", async () => {
    const { client, tokens } = await connect();
    await faults({ POLICIES: KV_DOWN });
    try {
      const call = await whoami(tokens.access_token);
      assert.equal(call.status, 503, call.text);
      assert.equal(call.headers.get("retry-after"), "5");
      assert.deepEqual(call.body, unavailable("The workspace policy store"));
      assertUnavailable(await refresh(tokens, client), "The workspace policy store", "the refresh");
      const signIn = await browse(authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge }));
      assert.deepEqual([signIn.status, signIn.error, signIn.headers["retry-after"]], [503, "The workspace policy store is temporarily unavailable; try again in a few seconds", "5"]);
    } finally {
      await heal();
    }
    const r = await refresh(tokens, client);
    assert.equal(r.status, 200, `the family was not moved on by the failed refresh: ${JSON.stringify(r.body)}`);
    assert.equal((await whoami(r.body.access_token)).status, 200);
  });

  it("the connection store overloaded: /mcp and a refresh answer 503; the refresh token is not spent", async () => {
    const { client, tokens } = await connect();
    await faults({ CONNECTIONS: OVERLOADED });
    try {
      const call = await whoami(tokens.access_token);
      assert.deepEqual([call.status, call.headers.get("retry-after"), call.body], [503, "5", unavailable("The connection store")]);
      assertUnavailable(await refresh(tokens, client), "The connection store", "the refresh");
    } finally {
      await heal();
    }
    const r = await refresh(tokens, client);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await refresh(r.body, client)).status, 200, "and the family moves on from there");
  });

  it("the client registry down: registration answers 503 and stores nothing; a registered client's authorization is a 503 page", async () => {
    const client = await register();
    await faults({ CLIENTS: "KV PUT failed: 503 Service Unavailable" });
    try {
      const r = await fetch(`${BASE}/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: ["http://localhost:3118/callback"], client_name: "During the outage", token_endpoint_auth_method: "none" }) });
      assert.deepEqual([r.status, r.headers.get("retry-after"), await r.json()], [503, "5", unavailable("The client registry")]);
      const page = await newContext().then(async (context) => {
        const p = await context.newPage();
        const response = await p.goto(String(authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge })));
        const seen = { status: response.status(), error: (await p.locator("#error-message").textContent()).trim() };
        await context.close();
        return seen;
      });
      assert.deepEqual(page, { status: 503, error: "The client registry is temporarily unavailable; try again in a few seconds" });
    } finally {
      await heal();
    }
    assert.equal((await register()).client_name, "E2E Client", "registration works again");
  });

  it("the workspace store overloaded: the admin API answers 503 and changes nothing", async () => {
    const api = (method = "GET", headers = {}, body) => fetch(`${BASE}/admin/api/workspaces/acme/policy`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers }, body: body && JSON.stringify(body) });
    const before = await (await api()).json();
    await faults({ WORKSPACES: OVERLOADED });
    try {
      const put = await api("PUT", { "content-type": "application/json", "if-match": before.etag }, { ...before.policy, name: "Renamed during the outage" });
      assert.deepEqual([put.status, put.headers.get("retry-after")], [503, "5"], await put.clone().text());
    } finally {
      await heal();
    }
    const after = await (await api()).json();
    assert.deepEqual([after.policy.name, after.etag], ["Acme", before.etag], "nothing was changed");
  });

  it("the upstream API down: a tool call is a tool error naming it, and the connection goes on", async () => {
    const { tokens } = await connect({ scope: "COMPANIES_READ WORKSPACE_READ" });
    const r = await mcp(tokens.access_token, rpc("tools/call", { name: "list_companies", arguments: {} }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.result.isError, true);
    assert.match(r.body.result.content[0].text, /^The API could not be reached: /);
    assert.equal((await whoami(tokens.access_token)).status, 200);
  });
});
