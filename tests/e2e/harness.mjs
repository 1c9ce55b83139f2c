// The end-to-end harness: one `wrangler dev` (real workerd, local KV and Durable Objects) with
// its own fresh state directory, headless Chromium, and helpers that act as an OAuth client.
import { spawn, execFileSync } from "node:child_process";
import http from "node:http";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "node_modules/.bin");
export const PORT = Number(process.env.E2E_PORT || 8799);
export const BASE = `http://127.0.0.1:${PORT}`;
export const CALLBACK = "http://localhost:3118/callback";
export const SIGNING_KEY = crypto.randomBytes(32).toString("base64url");
export const ADMIN_TOKEN = crypto.randomBytes(24).toString("hex");
export const CODE_TTL = 8;
/** The server's `POLICY_CACHE_SECONDS` here: a hand edit of a policy is in force this long after
 * it is written (local KV has no propagation delay). */
export const POLICY_CACHE_SECONDS = 2;
export const STATE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-edge-e2e-"));

const env = { ...process.env, WRANGLER_SEND_METRICS: "false", PATH: `${BIN}:${process.env.PATH}` };
let server;
let serverLog = "";

/** The policies every suite starts from; suites change them with `putPolicy`. */
export function policy(overrides = {}) {
  return {
    schema: 1,
    name: "Acme",
    mcp_enabled: true,
    allowed_redirect_uris: [CALLBACK],
    allowed_client_ids: [],
    scope_ceiling: ["WORKSPACE_READ", "CONTACTS_READ"],
    members: [{ email: "ada@example.com", name: "Ada Lovelace", role: "admin" }],
    ...overrides,
  };
}

/** Writes policies into local KV the way an admin does by hand, and waits until the running
 * server must decide by them (`POLICY_CACHE_SECONDS`: until then it may use what it read before). */
export async function putPolicies(policies) {
  const file = path.join(STATE_DIR, `bulk-${crypto.randomUUID()}.json`);
  const entries = Object.entries(policies).map(([ws, doc]) => ({ key: `policy:${ws}`, value: typeof doc === "string" ? doc : JSON.stringify(doc) }));
  fs.writeFileSync(file, JSON.stringify(entries));
  execFileSync(path.join(BIN, "wrangler"), ["kv", "bulk", "put", "--local", "--persist-to", STATE_DIR, "--binding", "POLICIES", file], { cwd: ROOT, env, stdio: "pipe" });
  await new Promise((r) => setTimeout(r, POLICY_CACHE_SECONDS * 1000 + 100));
}

/** Starts `wrangler dev` with these vars over the defaults; `config`: another wrangler
 * configuration than wrangler.toml (the fault-injection one). */
export async function startServer(vars = {}, { config } = {}) {
  const allVars = { SIGNING_KEY, ADMIN_TOKEN, DEV_SIGN_IN: "on", AUTH_CODE_TTL_SECONDS: String(CODE_TTL), POLICY_CACHE_SECONDS: String(POLICY_CACHE_SECONDS), ...vars };
  const args = ["dev", ...(config ? ["--config", config] : []), "--ip", "127.0.0.1", "--port", String(PORT), "--persist-to", STATE_DIR, "--log-level", "log"];
  for (const [k, v] of Object.entries(allVars)) args.push("--var", `${k}:${v}`);
  // A server left over from another run would answer instead of ours (other keys, other state).
  const stale = await fetch(`${BASE}/`).then(() => true, () => false);
  if (stale) throw new Error(`something already answers at ${BASE}: stop it (a leftover wrangler dev?) or set E2E_PORT`);
  server = spawn(path.join(BIN, "wrangler"), args, { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  server.stdout.on("data", (d) => (serverLog += d));
  server.stderr.on("data", (d) => (serverLog += d));
  const deadline = Date.now() + 240_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`wrangler dev exited:\n${serverLog}`);
    try {
      const r = await fetch(`${BASE}/.well-known/oauth-authorization-server`);
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`wrangler dev did not answer within 240 s:\n${serverLog.slice(-4000)}`);
}

export async function stopServer() {
  if (server && server.exitCode === null) {
    try { process.kill(-server.pid, "SIGTERM"); } catch {}
    await new Promise((r) => setTimeout(r, 300));
  }
}

export const logTail = () => serverLog.slice(-3000);
/** Everything the worker (and wrangler) printed so far. */
export const serverOutput = () => serverLog;
/** wrangler dev's process (and process group) ID, for the soak's memory figures. */
export const serverPid = () => server?.pid;

/** Every secret this run handled — tokens, codes, verifiers, cookies, keys — for the log scan
 * (e2e.test.mjs): the worker's log must contain none of them. */
export const SECRETS = new Set([SIGNING_KEY, ADMIN_TOKEN]);
export function remember(...values) {
  for (const v of values) if (typeof v === "string" && v.length >= 16) SECRETS.add(v);
}

// Claude Code's loopback listener (`--callback-port 3118`): a real server that records every
// callback the browser is sent to.
export const callbacks = [];
let listeners = [];
export async function startCallbackListener() {
  const handler = (req, res) => {
    const u = new URL(req.url, "http://localhost:3118");
    if (!u.pathname.startsWith("/callback")) return res.writeHead(404).end();
    callbacks.push(u.toString());
    remember(u.searchParams.get("code"));
    res.writeHead(200, { "content-type": "text/plain" }).end("Authentication complete. You can close this window.");
  };
  for (const host of ["127.0.0.1", "::1"]) {
    const s = http.createServer(handler);
    await new Promise((ok) => s.once("error", () => ok()).listen(3118, host, () => { listeners.push(s); ok(); }));
  }
  if (!listeners.length) throw new Error("cannot listen on port 3118");
}
export function stopCallbackListener() {
  for (const s of listeners) s.close();
  listeners = [];
}
/** Waits until the listener has received more than `seen` callbacks; returns the new ones. */
export async function newCallbacks(seen, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (callbacks.length <= seen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return callbacks.slice(seen);
}

let browser;
export async function launchBrowser() {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return browser;
}
export const newContext = () => browser.newContext();
export async function closeBrowser() {
  await browser?.close();
}

/**
 * An OAuthClientProvider kept in memory, as Claude Code keeps one per server (for the official
 * SDK client). `callback`: its loopback redirect URI; `name`: the client name it registers.
 */
export class MemoryProvider {
  constructor(onRedirect, { callback = CALLBACK, name = "Claude Code (e2e)" } = {}) {
    this.onRedirect = onRedirect;
    this.callback = callback;
    this.name = name;
  }
  get redirectUrl() { return this.callback; }
  get clientMetadata() {
    return { client_name: this.name, redirect_uris: [this.callback], grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none" };
  }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.savedTokens; }
  saveTokens(tokens) { remember(tokens?.access_token, tokens?.refresh_token); this.savedTokens = tokens; }
  redirectToAuthorization(url) { this.onRedirect(url); }
  state() { return (this.sentState = crypto.randomUUID()); }
  saveCodeVerifier(v) { remember(v); this.verifier = v; }
  codeVerifier() { return this.verifier; }
}

// --- an OAuth client made of plain HTTP, for the negative paths ---------------------------------

export function pkce() {
  const verifier = crypto.randomBytes(32).toString("base64url");
  const challenge = crypto.createHash("sha256").update(verifier).digest("base64url");
  remember(verifier);
  return { verifier, challenge };
}

export async function register(redirectUris = [CALLBACK], name = "E2E Client", base = BASE) {
  const r = await fetch(`${base}/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: redirectUris, client_name: name, token_endpoint_auth_method: "none" }) });
  if (r.status !== 201) throw new Error(`register: ${r.status} ${await r.text()}`);
  return r.json();
}

export function authorizeUrl({ clientId, challenge, redirectUri = CALLBACK, scope, state = "st-" + crypto.randomUUID(), base = BASE, resource = `${base}/mcp` }) {
  const u = new URL(`${base}/authorize`);
  const p = { response_type: "code", client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256", state, resource };
  if (scope !== undefined) p.scope = scope;
  for (const [k, v] of Object.entries(p)) u.searchParams.set(k, v);
  return u;
}

/**
 * Drives the browser through sign-in and consent. Returns what the person saw and the callbacks
 * the loopback listener received meanwhile (none, when the server refused; with
 * `returnToClient`, a refusal's "Return to <client>" is clicked and its callback awaited). With
 * `callbackAt`, the redirect goes to another client's listener: Approve waits until the page is
 * there instead.
 */
export async function browse(url, { workspace = "acme", email = "ada@example.com", decision = "approve", returnToClient = false, callbackAt } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const before = callbacks.length;
  const received = () => callbacks.slice(before);
  try {
    // The tests read the DOM; waiting for "load" (the stylesheet too) only adds a way to stall.
    const ready = { waitUntil: "domcontentloaded" };
    let response = await page.goto(String(url), ready);
    if (new URL(page.url()).pathname === "/signin") {
      await page.fill("#workspace", workspace);
      await page.fill("#email", email);
      [response] = await Promise.all([page.waitForNavigation(ready), page.click("button:has-text('Sign in')")]);
    }
    const seen = { status: response?.status(), url: page.url(), headers: response?.headers() ?? {} };
    const error = await page.locator("#error-message").textContent({ timeout: 500 }).catch(() => null);
    if (error !== null || !(await page.locator("ul#scopes").count())) {
      const back = page.locator("#return-to-client");
      const returnLabel = (await back.count()) ? (await back.textContent()).trim() : null;
      const failed = { ...seen, error: error?.trim(), hint: (await page.locator("#error-hint").textContent().catch(() => ""))?.trim(), returnLabel, html: await page.content() };
      if (returnToClient && returnLabel) {
        await back.click();
        return { ...failed, callbacks: await newCallbacks(before) };
      }
      await page.waitForTimeout(200);
      return { ...failed, callbacks: received() };
    }
    const scopes = await page.locator("ul#scopes li[data-scope]").evaluateAll((els) => els.map((e) => e.dataset.scope));
    const consent = {
      ...seen,
      scopes,
      clientName: (await page.locator("#client-name").textContent()).trim(),
      workspaceName: (await page.locator("#workspace-name").textContent()).trim(),
      userEmail: (await page.locator("#user-email").textContent()).trim(),
      redirectHost: (await page.locator("#redirect-host").textContent()).trim(),
    };
    if (decision === "none") return { ...consent, callbacks: received(), page, context };
    if (callbackAt) {
      await Promise.all([page.waitForURL((u) => String(u).startsWith(`${callbackAt}?`), { timeout: 15_000 }), page.click(`button[name=decision][value=${decision}]`)]);
      return { ...consent, finalUrl: page.url() };
    }
    await page.click(`button[name=decision][value=${decision}]`);
    const got = await newCallbacks(before);
    return { ...consent, callbacks: got, finalUrl: page.url() };
  } finally {
    remember(...(await context.cookies().catch(() => [])).map((c) => c.value));
    if (decision !== "none") await context.close();
  }
}

/** Register, sign in, approve, and return the code (not yet redeemed); `base`: the origin to use. */
export async function getCode({ workspace = "acme", email = "ada@example.com", scope, base = BASE } = {}) {
  const client = await register(undefined, undefined, base);
  const { verifier, challenge } = pkce();
  const state = "s-" + crypto.randomUUID();
  const seen = await browse(authorizeUrl({ clientId: client.client_id, challenge, scope, state, base }), { workspace, email });
  if (!seen.callbacks?.length) throw new Error(`no callback: ${seen.error ?? ""} ${seen.hint ?? ""}`);
  const cb = new URL(seen.callbacks[0]);
  return { client, verifier, code: cb.searchParams.get("code"), state: cb.searchParams.get("state"), iss: cb.searchParams.get("iss"), sentState: state, consent: seen, base };
}

export async function token(form, base = BASE) {
  remember(form.code, form.code_verifier, form.refresh_token);
  const r = await fetch(`${base}/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form) });
  const body = await r.json().catch(() => null);
  remember(body?.access_token, body?.refresh_token);
  return { status: r.status, headers: r.headers, body };
}

export async function exchange({ client, code, verifier, redirectUri = CALLBACK, base = BASE }) {
  return token({ grant_type: "authorization_code", code, client_id: client.client_id, redirect_uri: redirectUri, code_verifier: verifier, resource: `${base}/mcp` }, base);
}

/** A full connection: code → tokens. */
export async function connect(opts = {}) {
  const got = await getCode(opts);
  const r = await exchange(got);
  if (r.status !== 200) throw new Error(`token: ${r.status} ${JSON.stringify(r.body)}`);
  return { ...got, tokens: r.body };
}

export async function mcp(accessToken, message, headers = {}) {
  remember(accessToken);
  const r = await fetch(`${BASE}/mcp`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25", ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}), ...headers },
    body: typeof message === "string" ? message : JSON.stringify(message),
  });
  const text = await r.text();
  let body = null;
  try { body = JSON.parse(text); } catch {}
  return { status: r.status, headers: r.headers, body, text };
}

/**
 * One HTTP request with exactly the headers given — `Host` included (fetch always sends the
 * URL's own host). For the DNS-rebinding tests, the conformance proxy and the corpus: `target`
 * sends a request target as is (no URL normalisation of `..` or `%00`), `localAddress` picks
 * the loopback address it comes from. A body without `Content-Length` (or `Transfer-Encoding`)
 * among the headers gets one, not chunked framing. No answer within 20 s is an error.
 */
export function rawRequest(url, { method = "GET", headers = {}, body, target, localAddress } = {}) {
  const u = new URL(url);
  const has = (name) => Object.keys(headers).some((k) => k.toLowerCase() === name);
  const length = body !== undefined && !has("content-length") && !has("transfer-encoding") ? { "content-length": Buffer.byteLength(body) } : {};
  return new Promise((resolve, reject) => {
    const options = { host: u.hostname, port: u.port, path: target ?? u.pathname + u.search, method, localAddress, headers: { ...headers, ...length }, setHost: !has("host") };
    const req = http.request(options, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.setTimeout(20_000, () => req.destroy(new Error("no answer within 20 s")));
    req.end(body);
  });
}

/** The Ed25519 private key the server derives from `secret` for `label` (src/core/oauth/keys.rs),
 * for tests that must sign a token exactly as this server would, then change one thing. */
export function derivedKey(secret, label) {
  const seed = crypto.createHmac("sha256", Buffer.from(secret, "base64url")).update(label).digest();
  return crypto.createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
}

export const rpc = (method, params, id = 1) => ({ jsonrpc: "2.0", id, method, ...(params ? { params } : {}) });
