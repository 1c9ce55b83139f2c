// Issue #9: the production rehearsal. A second `wrangler dev` with the production profile — no
// DEV_SIGN_IN, PUBLIC_ORIGIN=https://mcp.rehearsal.test:8443, served over https (wrangler's
// self-signed certificate) — signing people in through a real OpenID provider on loopback
// (`oidc-provider`, tests/e2e/oidc-provider.mjs). The name mcp.rehearsal.test exists only inside
// the clients: Chromium maps it with --host-resolver-rules, Node clients with an undici Agent
// whose lookup answers 127.0.0.1. Nothing here uses the ports of e2e.test.mjs.
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import crypto from "node:crypto";
import dns from "node:dns";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium } from "playwright-core";
import { Agent, fetch as undiciFetch } from "undici";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { MemoryProvider, ROOT, pkce, policy, rpc } from "./harness.mjs";
import { OIDC_ISSUER, TestProvider, expired, providerSignIn, chromiumResolverArgs, signingKey, tamperPayload, unknownKid, wrongAudience, wrongNonce } from "./oidc-provider.mjs";

const HOST = "mcp.rehearsal.test";
const PORT = Number(process.env.E2E_PROD_PORT || 8443);
const ORIGIN = `https://${HOST}:${PORT}`;
const OIDC_REDIRECT = `${ORIGIN}/oidc/callback`;
const CALLBACK_PORT = Number(process.env.E2E_PROD_CALLBACK_PORT || 3128);
const CALLBACK = `http://localhost:${CALLBACK_PORT}/callback`;
const SESSION_COOKIE = "__Host-mcp_edge_session";
const CSRF_COOKIE = "__Host-mcp_edge_csrf";

const BIN = path.join(ROOT, "node_modules/.bin");
const STATE = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-edge-prod-"));
// For running this file against another build: a wrangler config of your own (same bindings).
const CONFIG = process.env.E2E_WRANGLER_CONFIG ? ["--config", process.env.E2E_WRANGLER_CONFIG] : [];
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", PATH: `${BIN}:${process.env.PATH}` };

const OIDC_CLIENT = { client_id: "mcp-edge-rehearsal", client_secret: crypto.randomBytes(32).toString("base64url"), redirect_uris: [OIDC_REDIRECT] };
const VARS = {
  PUBLIC_ORIGIN: ORIGIN,
  SIGNING_KEY: crypto.randomBytes(32).toString("base64url"),
  ADMIN_TOKEN: crypto.randomBytes(24).toString("hex"),
  OIDC_ISSUER,
  OIDC_CLIENT_ID: OIDC_CLIENT.client_id,
  OIDC_CLIENT_SECRET: OIDC_CLIENT.client_secret,
  OIDC_WORKSPACES_CLAIM: "workspaces",
  SIGN_IN_HELP: "it@rehearsal.test",
};

// The people at the provider. `login` on its dev page is the `sub`.
const NORA = { sub: "nora-7f3a", email: "nora@rehearsal.test", email_verified: true, name: "Nora North", workspaces: ["north", "south"] };
const VIC = { sub: "vic-91c2", email: "vic@rehearsal.test", email_verified: false, name: "Vic Unverified", workspaces: ["north"] };
const SAM = { sub: "sam-5d10", email: "sam.personal@elsewhere.test", email_verified: false, name: "Sam East", workspaces: ["east"] };

const rehearsal = (overrides) => policy({ allowed_redirect_uris: [CALLBACK], ...overrides });
const POLICIES = {
  north: rehearsal({ name: "North", members: [{ email: NORA.email, name: NORA.name, role: "admin" }, { email: VIC.email, name: VIC.name, role: "member" }] }),
  south: rehearsal({ name: "South", members: [{ email: NORA.email, name: NORA.name, role: "member" }] }),
  // Sam's e-mail at the provider is neither verified nor this one: only `sub` can match him.
  east: rehearsal({ name: "East", members: [{ email: "sam@rehearsal.test", sub: SAM.sub, name: SAM.name, role: "member" }] }),
};

// --- Node clients: mcp.rehearsal.test → 127.0.0.1, wrangler's self-signed certificate accepted ---

const agent = new Agent({
  connect: {
    rejectUnauthorized: false,
    lookup(hostname, options, cb) {
      if (hostname !== HOST) return dns.lookup(hostname, options, cb);
      return options?.all ? cb(null, [{ address: "127.0.0.1", family: 4 }]) : cb(null, "127.0.0.1", 4);
    },
  },
});
/** `fetch` for the rehearsal's Node clients (the MCP SDK gets this one too). */
const rfetch = (url, init = {}) => undiciFetch(url, { ...init, dispatcher: agent });

/** One https request to 127.0.0.1:PORT with exactly the `Host` given. */
function rawHttps(pathname, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port: PORT, servername: HOST, path: pathname, method, headers, rejectUnauthorized: false, setHost: !Object.keys(headers).some((k) => k.toLowerCase() === "host") }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

// --- the deployment -------------------------------------------------------------------------------

let server;
let serverLog = "";
const logTail = () => `\n--- wrangler dev (production profile), last lines ---\n${serverLog.slice(-3000)}`;

function putPolicies(policies) {
  const file = path.join(STATE, `bulk-${crypto.randomUUID()}.json`);
  fs.writeFileSync(file, JSON.stringify(Object.entries(policies).map(([ws, doc]) => ({ key: `policy:${ws}`, value: JSON.stringify(doc) }))));
  execFileSync(path.join(BIN, "wrangler"), ["kv", "bulk", "put", ...CONFIG, "--local", "--persist-to", STATE, "--binding", "POLICIES", file], { cwd: ROOT, env, stdio: "pipe" });
}

async function startServer() {
  // An empty env file instead of the project's .dev.vars, which wrangler dev would otherwise
  // load: after `make dev` it holds DEV_SIGN_IN=on, and this is the profile without it.
  const noDevVars = path.join(STATE, "empty.env");
  fs.writeFileSync(noDevVars, "");
  const args = ["dev", ...CONFIG, "--ip", "127.0.0.1", "--port", String(PORT), "--local-protocol", "https", "--persist-to", STATE, "--env-file", noDevVars, "--log-level", "log"];
  for (const [k, v] of Object.entries(VARS)) args.push("--var", `${k}:${v}`);
  server = spawn(path.join(BIN, "wrangler"), args, { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  server.stdout.on("data", (d) => (serverLog += d));
  server.stderr.on("data", (d) => (serverLog += d));
  const deadline = Date.now() + 240_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`wrangler dev exited${logTail()}`);
    try {
      if ((await rfetch(`${ORIGIN}/.well-known/oauth-authorization-server`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`wrangler dev did not answer within 240 s${logTail()}`);
}

async function stopServer() {
  if (server && server.exitCode === null) {
    try { process.kill(-server.pid, "SIGTERM"); } catch {}
    await new Promise((r) => setTimeout(r, 300));
  }
}

// --- the MCP client's loopback listener (as Claude Code's --callback-port) -------------------------

const callbacks = [];
const listeners = [];
async function startCallbackListener() {
  const handler = (req, res) => {
    const u = new URL(req.url, `http://localhost:${CALLBACK_PORT}`);
    if (u.pathname !== "/callback") return res.writeHead(404).end();
    callbacks.push(u.toString());
    res.writeHead(200, { "content-type": "text/plain" }).end("Authentication complete. You can close this window.");
  };
  for (const host of ["127.0.0.1", "::1"]) {
    const s = http.createServer(handler);
    await new Promise((ok) => s.once("error", () => ok()).listen(CALLBACK_PORT, host, () => { listeners.push(s); ok(); }));
  }
  if (!listeners.length) throw new Error(`cannot listen on port ${CALLBACK_PORT}`);
}
async function newCallbacks(seen, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (callbacks.length <= seen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return callbacks.slice(seen);
}

// --- the browser --------------------------------------------------------------------------------

let browser;
const newContext = () => browser.newContext({ ignoreHTTPSErrors: true });
const ready = { waitUntil: "domcontentloaded" };
const text = async (page, sel) => (await page.locator(sel).first().textContent({ timeout: 1000 }).catch(() => null))?.trim() ?? null;

/**
 * A person in Chromium: opens `url` (our /authorize), signs in at the provider as `login` (or
 * cancels there: `cancelAt`), and lands on our consent page or one of our error pages. With
 * `workspace`, switches the consent page to it when it shows another one. `decision`: approve,
 * deny, or "none" (returns with the page and context open). Returns what the person saw, the
 * status of the last page, the callbacks the loopback listener got and the browser's cookies.
 */
async function signIn(url, { login, cancelAt, workspace, decision = "approve", context } = {}) {
  const ownContext = !context;
  context ??= await newContext();
  const page = await context.newPage();
  const pages = []; // our server's documents, in order (redirects included when reported)
  page.on("response", (r) => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame() && new URL(r.url()).origin === ORIGIN) pages.push({ url: r.url(), status: r.status(), retryAfter: r.headers()["retry-after"] });
  });
  const before = callbacks.length;
  const seen = async () => {
    const last = pages.filter((p) => p.status < 300 || p.status >= 400).at(-1);
    return { status: last?.status, url: page.url(), pages: [...pages], cookies: await context.cookies(ORIGIN) };
  };
  try {
    await page.goto(String(url), ready);
    if (new URL(page.url()).origin === ORIGIN) {
      // Not sent on to the provider: one of our error pages, or something this test does not know.
      const error = await text(page, "#error-message");
      if (error !== null) return { ...(await seen()), sentTo: null, error, title: await text(page, "#error-title"), hint: await text(page, "#error-hint"), callbacks: callbacks.slice(before), html: await page.content() };
      const body = (await page.locator("body").textContent().catch(() => "")).replace(/\s+/g, " ").trim();
      throw new Error(`our server did not send the browser to the provider: at ${page.url()} (${JSON.stringify(pages)}): ${body.slice(0, 600)}${logTail()}`);
    }
    const sentTo = await providerSignIn(page, { login, cancelAt });
    // Back at our server: the consent page or an error page.
    const landed = await page.locator("#error-message, ul#scopes").first().waitFor({ state: "attached", timeout: 20_000 }).then(() => true, () => false);
    if (!landed) throw new Error(`neither a consent page nor an error page after the provider sent the browser to ${sentTo}: at ${page.url()}\n${(await page.content()).slice(0, 1500)}${logTail()}`);
    const error = await text(page, "#error-message");
    if (error !== null) {
      return { ...(await seen()), sentTo, error, title: await text(page, "#error-title"), hint: await text(page, "#error-hint"), callbacks: callbacks.slice(before), html: await page.content() };
    }
    if (workspace && (await text(page, "#workspace-id")) !== workspace) {
      assert.ok(await page.locator("#workspace-choice").count(), `the consent page shows ${await text(page, "#workspace-id")} and offers no other workspace`);
      await page.selectOption("#workspace-choice", workspace);
      await Promise.all([page.waitForNavigation(ready), page.click("form:has(#workspace-choice) button[type=submit]")]);
      await page.locator("#error-message, ul#scopes").first().waitFor({ state: "attached", timeout: 10_000 });
      const switchError = await text(page, "#error-message");
      if (switchError !== null) return { ...(await seen()), sentTo, error: switchError, hint: await text(page, "#error-hint"), callbacks: callbacks.slice(before) };
    }
    const consent = {
      sentTo,
      scopes: await page.locator("ul#scopes li[data-scope]").evaluateAll((els) => els.map((e) => e.dataset.scope)),
      clientName: await text(page, "#client-name"),
      workspaceName: await text(page, "#workspace-name"),
      workspaceId: await text(page, "#workspace-id"),
      userEmail: await text(page, "#user-email"),
      choices: await page.locator("#workspace-choice option").evaluateAll((els) => els.map((e) => e.value)),
      hasSignOut: (await page.locator("form[action='/signout']").count()) > 0,
    };
    if (decision === "none") return { ...(await seen()), ...consent, page, context };
    await page.click(`button[name=decision][value=${decision}]`);
    const got = await newCallbacks(before);
    return { ...(await seen()), ...consent, callbacks: got };
  } finally {
    if (ownContext && decision !== "none") await context.close();
  }
}

// --- a plain OAuth client of our server (through rfetch) ------------------------------------------

async function register(name = "Rehearsal client") {
  const r = await rfetch(`${ORIGIN}/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: [CALLBACK], client_name: name, token_endpoint_auth_method: "none" }) });
  assert.equal(r.status, 201, `register: ${await r.clone().text()}`);
  return r.json();
}

function authorizeUrl(client, challenge, state = "st-" + crypto.randomUUID()) {
  const u = new URL(`${ORIGIN}/authorize`);
  for (const [k, v] of Object.entries({ response_type: "code", client_id: client.client_id, redirect_uri: CALLBACK, code_challenge: challenge, code_challenge_method: "S256", state, resource: `${ORIGIN}/mcp` })) u.searchParams.set(k, v);
  return u;
}

async function mcpCall(accessToken, message) {
  const r = await rfetch(`${ORIGIN}/mcp`, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25", authorization: `Bearer ${accessToken}` }, body: JSON.stringify(message) });
  const body = await r.text();
  return { status: r.status, body: JSON.parse(body) };
}

/** Register → sign in at the provider → consent → code → token → mcp_whoami. */
async function connect({ login, workspace }) {
  const client = await register();
  const { verifier, challenge } = pkce();
  const seen = await signIn(authorizeUrl(client, challenge), { login, workspace });
  assert.equal(seen.error, undefined, `refused: ${seen.error} ${seen.hint}${logTail()}`);
  assert.equal(seen.callbacks.length, 1, "the loopback listener got the callback");
  const cb = new URL(seen.callbacks[0]);
  assert.equal(cb.searchParams.get("iss"), ORIGIN);
  const r = await rfetch(`${ORIGIN}/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ grant_type: "authorization_code", code: cb.searchParams.get("code"), client_id: client.client_id, redirect_uri: CALLBACK, code_verifier: verifier, resource: `${ORIGIN}/mcp` }) });
  const tokens = await r.json();
  assert.equal(r.status, 200, JSON.stringify(tokens));
  const who = await mcpCall(tokens.access_token, rpc("tools/call", { name: "mcp_whoami", arguments: {} }));
  assert.equal(who.status, 200, JSON.stringify(who.body));
  return { seen, whoami: who.body.result.structuredContent, tokens };
}


/**
 * Signs `login` in (or cancels at the provider) and checks the server refused at /oidc/callback:
 * its own error page, a status that is an error but not 500, no session, no callback; with
 * `hooked`, that the server did redeem the code and got the replaced ID token.
 */
async function assertRefused(t, { login, cancelAt, hooked }) {
  const responses = provider.tokenResponses.length;
  const logFrom = serverLog.length;
  const client = await register();
  const seen = await signIn(authorizeUrl(client, pkce().challenge), { login, cancelAt });
  assert.ok(seen.sentTo?.startsWith(`${OIDC_REDIRECT}?`), `the provider sent the browser back to /oidc/callback (${seen.sentTo}; ${seen.error ?? ""})`);
  assert.ok(seen.error, `expected our error page, got the consent page for ${seen.userEmail} in ${seen.workspaceId}${logTail()}`);
  assert.ok(seen.status >= 400 && seen.status < 600 && seen.status !== 500, `status ${seen.status} (pages: ${JSON.stringify(seen.pages)})`);
  assert.ok(seen.error.length > 10, `says what happened: ${seen.error}`);
  assert.equal(new URL(seen.url).origin, ORIGIN, "the error page is ours");
  assert.deepEqual(seen.callbacks, [], "the MCP client's redirect URI was never called");
  assert.ok(!seen.cookies.some((c) => c.name === SESSION_COOKIE), "no session was started");
  if (hooked) {
    assert.equal(provider.nextIdTokenHooks.length, 0, "the server redeemed the code at the provider (the hook ran)");
    assert.equal(provider.tokenResponses.length, responses + 1);
    assert.notEqual(provider.tokenResponses.at(-1).sent, provider.tokenResponses.at(-1).issued);
  }
  if (cancelAt) assert.equal(provider.tokenResponses.length, responses, "no code, so nothing redeemed");
  // What the person was told, and what the server logged meanwhile (the reason it gives itself).
  t.diagnostic(`${seen.status} ${seen.title ?? ""}: ${seen.error} | ${seen.hint ?? ""}`);
  const lines = serverLog.slice(logFrom).replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  for (const line of lines.filter((l) => l.trim() && !/^\[wrangler:info\] (GET|POST)/.test(l))) t.diagnostic(`server: ${line.slice(0, 300)}`);
  return seen;
}

// --- the rehearsal --------------------------------------------------------------------------------

const provider = new TestProvider({ client: OIDC_CLIENT, accounts: [NORA, VIC, SAM] });
let firstKey; // RS256, kid k-rsa-1: the provider's key until the rotation test

describe("production rehearsal: https, a pinned public origin, a real OpenID provider", { timeout: 600_000 }, () => {
  before(async () => {
    firstKey = await signingKey("RS256", "k-rsa-1");
    await provider.start(firstKey);
    putPolicies(POLICIES);
    await startServer();
    await startCallbackListener();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      // --ignore-certificate-errors as well as the context's ignoreHTTPSErrors: without it Chromium
      // still aborts one handshake per page with a CertificateUnknown alert (noise in the log).
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--ignore-certificate-errors", ...chromiumResolverArgs(HOST)],
    });
  });
  after(async () => {
    await browser?.close();
    for (const s of listeners) s.close();
    await stopServer();
    await provider.stop();
    await agent.close();
  });

  it("serves its metadata at the public origin, over https, to both kinds of client", async () => {
    const meta = await (await rfetch(`${ORIGIN}/.well-known/oauth-authorization-server`)).json();
    assert.equal(meta.issuer, ORIGIN);
    assert.equal(meta.authorization_endpoint, `${ORIGIN}/authorize`);
    const context = await newContext();
    const page = await context.newPage();
    const r = await page.goto(`${ORIGIN}/.well-known/oauth-protected-resource/mcp`);
    assert.equal(r.status(), 200);
    assert.deepEqual(JSON.parse(await r.text()).authorization_servers, [ORIGIN]);
    await context.close();
  });

  it("the official MCP SDK client: 401 → discovery → registration → provider sign-in and consent → our consent → token → mcp_whoami names the person", async () => {
    let consent;
    const mcpProvider = new MemoryProvider((url) => {
      consent = signIn(url, { login: NORA.sub, workspace: "north" });
    }, { callback: CALLBACK, name: "Claude Code (rehearsal)" });
    const transport = () => new StreamableHTTPClientTransport(new URL(`${ORIGIN}/mcp`), { authProvider: mcpProvider, fetch: rfetch });
    await assert.rejects(new Client({ name: "rehearsal", version: "1.0.0" }).connect(transport()), UnauthorizedError);
    assert.ok(consent, "the SDK sent the person to the authorization endpoint");
    const seen = await consent;
    assert.equal(seen.error, undefined, `refused: ${seen.error} — ${seen.hint}${logTail()}`);
    assert.match(seen.sentTo, new RegExp(`^${OIDC_REDIRECT.replace(/[.?]/g, "\\$&")}\\?`), "the provider sent the browser to our /oidc/callback");
    assert.equal(seen.userEmail, NORA.email);
    assert.equal(seen.workspaceId, "north");
    assert.equal(seen.workspaceName, "North");
    assert.equal(seen.clientName, "Claude Code (rehearsal)");
    assert.ok(seen.hasSignOut, "the consent page has the sign-out form");
    assert.equal(seen.callbacks.length, 1, "the loopback listener got the callback");
    const params = Object.fromEntries(new URL(seen.callbacks[0]).searchParams);
    assert.equal(params.iss, ORIGIN);
    assert.equal(params.state, mcpProvider.sentState);
    await transport().finishAuth(params.code);
    const client = new Client({ name: "rehearsal", version: "1.0.0" });
    await client.connect(transport());
    const who = await client.callTool({ name: "mcp_whoami", arguments: {} });
    assert.equal(who.isError, false);
    assert.equal(who.structuredContent.user.email, NORA.email);
    assert.equal(who.structuredContent.workspace.id, "north");
    assert.equal(who.structuredContent.client.name, "Claude Code (rehearsal)");
    assert.match(who.content.map((c) => c.text ?? "").join("\n"), /nora@rehearsal\.test/);
    await client.close();
  });

  describe("the same deployment is a production one", () => {
    it("answers 421 for any Host but its own, on every kind of route", async () => {
      for (const host of ["127.0.0.1:" + PORT, "localhost:" + PORT, "evil.example.com", `${HOST}.evil.example.com:${PORT}`]) {
        for (const [method, p] of [["GET", "/.well-known/oauth-authorization-server"], ["GET", "/authorize"], ["GET", "/signin?next=%2Fadmin"], ["GET", "/oidc/callback?code=x&state=y"], ["POST", "/mcp"], ["POST", "/token"]]) {
          const r = await rawHttps(p, { method, headers: { host } });
          assert.equal(r.status, 421, `${method} ${p} with Host ${host}: ${r.status} ${r.body.slice(0, 200)}`);
        }
      }
      assert.equal((await rawHttps("/.well-known/oauth-authorization-server", { headers: { host: `${HOST}:${PORT}` } })).status, 200, "its own Host is served");
    });

    it("refuses the development sign-in: POST /signin with a workspace and an e-mail sets no session", async () => {
      const form = await rfetch(`${ORIGIN}/signin?next=%2Fadmin`, { redirect: "manual" });
      assert.notEqual(form.status, 500);
      assert.ok(!(await form.text()).includes('name="email"'), "no development sign-in form is offered");
      for (const origin of [undefined, ORIGIN]) {
        const r = await rfetch(`${ORIGIN}/signin`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", ...(origin ? { origin } : {}) }, body: new URLSearchParams({ workspace: "north", email: NORA.email, next: "/admin" }) });
        const cookies = r.headers.getSetCookie();
        assert.ok(!cookies.some((c) => /mcp_edge_session=/.test(c)), `Origin ${origin}: set ${cookies.join(" | ")}`);
        assert.notEqual(r.status, 500);
        assert.ok(!(r.status >= 300 && r.status < 400 && /\/admin/.test(r.headers.get("location") ?? "")), "not sent on as signed in");
      }
      // And a browser submitting that form from a page of this origin is still not signed in.
      const context = await newContext();
      const page = await context.newPage();
      await page.goto(`${ORIGIN}/.well-known/oauth-authorization-server`, ready);
      const [response] = await Promise.all([
        page.waitForNavigation(ready),
        page.evaluate(({ email }) => {
          const f = Object.assign(document.createElement("form"), { method: "post", action: "/signin" });
          for (const [name, value] of Object.entries({ workspace: "north", email, next: "/admin" })) f.append(Object.assign(document.createElement("input"), { type: "hidden", name, value }));
          document.body.append(f);
          f.submit();
        }, { email: NORA.email }),
      ]);
      assert.notEqual(response?.status(), 500);
      assert.notEqual(new URL(page.url()).pathname, "/admin", "not let into the admin page");
      const names = (await context.cookies(ORIGIN)).map((c) => c.name);
      assert.ok(!names.some((n) => /mcp_edge_session$/.test(n)), `no session cookie: ${names.join(", ")}`);
      await context.close();
    });

    it("sets only __Host- cookies, Secure, HttpOnly, host-only, Path=/ after a provider sign-in", async () => {
      const client = await register();
      const seen = await signIn(authorizeUrl(client, pkce().challenge), { login: NORA.sub, decision: "none" });
      try {
        assert.equal(seen.error, undefined, `${seen.error} ${seen.hint}`);
        const names = seen.cookies.map((c) => c.name);
        assert.ok(names.includes(SESSION_COOKIE), `cookies: ${names.join(", ")}`);
        assert.ok(names.includes(CSRF_COOKIE), `cookies: ${names.join(", ")}`);
        for (const c of seen.cookies) {
          assert.match(c.name, /^__Host-/, `${c.name} is __Host-`);
          assert.equal(c.secure, true, `${c.name} is Secure`);
          assert.equal(c.path, "/", `${c.name} has Path=/`);
          assert.equal(c.domain, HOST, `${c.name} is host-only`);
          assert.equal(c.sameSite, "Lax", `${c.name} is SameSite=Lax`);
          assert.equal(c.httpOnly, true, `${c.name} is HttpOnly`);
        }
      } finally {
        await seen.context?.close();
      }
    });
  });

  describe("who may sign in", () => {
    it("someone in two workspaces gets a chooser and can switch before approving", async () => {
      const { seen, whoami } = await connect({ login: NORA.sub, workspace: "south" });
      assert.equal(seen.workspaceId, "south");
      assert.equal(seen.workspaceName, "South");
      assert.ok(seen.choices.includes("north"), `the chooser offers the other workspace: ${seen.choices}`);
      assert.equal(whoami.workspace.id, "south");
      assert.equal(whoami.user.email, NORA.email);
    });

    it("a member listed with the provider's `sub` signs in although the provider's e-mail is another, unverified one", async () => {
      const { seen, whoami } = await connect({ login: SAM.sub });
      assert.equal(seen.workspaceId, "east");
      assert.equal(whoami.workspace.id, "east");
      assert.ok([SAM.email, "sam@rehearsal.test"].includes(whoami.user.email), `whoami names ${whoami.user.email}`);
    });
  });

  describe("ID tokens and answers the server must refuse: an error page, no session, no callback", () => {
    const refusals = [
      ["a tampered ID token (one character of the payload, signature kept)", NORA.sub, () => tamperPayload],
      ["an ID token for another audience (validly signed)", NORA.sub, wrongAudience],
      ["an ID token with another nonce (validly signed)", NORA.sub, wrongNonce],
      ["an expired ID token (validly signed, iat and exp an hour and more ago)", NORA.sub, expired],
      ["an ID token signed by a key whose kid is not in the provider's JWKS", NORA.sub, () => unknownKid("k-not-published")],
      ["a person whose e-mail the provider has not verified (member by e-mail only)", VIC.sub, null],
      ["the person cancels at the provider (error=access_denied)", NORA.sub, null, "login"],
    ];
    for (const [title, login, hook, cancelAt] of refusals) {
      it(title, async (t) => {
        provider.clearHooks();
        if (hook) provider.replaceNextIdToken(hook());
        await assertRefused(t, { login, cancelAt, hooked: Boolean(hook) });
      });
    }

    it("after those, an ordinary sign-in still works (the refusals were about the tokens)", async () => {
      provider.clearHooks();
      const { whoami } = await connect({ login: NORA.sub, workspace: "north" });
      assert.equal(whoami.user.email, NORA.email);
    });
  });

  describe("key rotation at the provider", () => {
    it("after the provider moves to ES256 with a new kid, the next sign-in works", async () => {
      provider.clearHooks();
      await provider.rotate(await signingKey("ES256", "k-ec-2"));
      const before = provider.tokenResponses.length;
      const { whoami } = await connect({ login: NORA.sub, workspace: "north" });
      assert.equal(whoami.user.email, NORA.email);
      const [header] = provider.tokenResponses.slice(before).map((t) => JSON.parse(Buffer.from(t.sent.split(".")[0], "base64url")));
      assert.deepEqual([header.alg, header.kid], ["ES256", "k-ec-2"], "the ID token the server accepted was the new key's");
    });

    it("and a token signed with the withdrawn RSA key (no longer in the JWKS) is refused", async (t) => {
      provider.clearHooks();
      provider.replaceNextIdToken(async (jwt, op) => op.sign(JSON.parse(Buffer.from(jwt.split(".")[1], "base64url")), {}, firstKey));
      await assertRefused(t, { login: NORA.sub, hooked: true });
    });
  });

  // Issue #12: an outage of the provider is ours to report as one (503, Retry-After), not as a
  // refused sign-in; nothing is left half done, and the next sign-in after it works.
  describe("the identity provider goes down", () => {
    it("between the person's sign-in there and their return: the callback is a 503 page with Retry-After, no session; once it is back, signing in works", async (t) => {
      provider.clearHooks();
      const key = provider.key;
      provider.goDownOnReturn();
      try {
        const seen = await signIn(authorizeUrl(await register(), pkce().challenge), { login: NORA.sub });
        t.diagnostic(`${seen.status} ${seen.title}: ${seen.error} | ${seen.hint}`);
        assert.ok(seen.sentTo?.startsWith(`${OIDC_REDIRECT}?code=`), `the provider signed the person in and sent them back (${seen.sentTo})`);
        assert.equal(provider.server, null, "and went down");
        assert.deepEqual([seen.status, seen.pages.at(-1).retryAfter, seen.title, seen.error], [503, "30", "Identity provider unavailable", "The identity provider could not be reached or is overloaded"]);
        assert.deepEqual(seen.callbacks, []);
        assert.ok(!seen.cookies.some((c) => c.name === SESSION_COOKIE), "no session was started");
      } finally {
        if (!provider.server) await provider.start(key);
      }
      const { whoami } = await connect({ login: NORA.sub, workspace: "north" });
      assert.equal(whoami.user.email, NORA.email);
    });
  });
});
