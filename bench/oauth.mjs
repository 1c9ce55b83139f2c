// OAuth clients made of plain HTTP for `make bench`: they get codes and tokens the way a client
// and a person do — dynamic registration, /authorize, sign-in and consent (ours: the
// development sign-in; the provider peer: its auto-approving /authorize), then /token. Nothing
// is minted behind the server's back.
import crypto from "node:crypto";

export const CALLBACK = "http://localhost:3118/callback";

export function pkce() {
  const verifier = crypto.randomBytes(32).toString("base64url");
  return { verifier, challenge: crypto.createHash("sha256").update(verifier).digest("base64url") };
}

/** A cookie jar for one browser: name → value, from every Set-Cookie seen. */
class Jar {
  cookies = new Map();
  take(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const at = pair.indexOf("=");
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

const unescapeHtml = (s) =>
  s.replace(/&(#x?[0-9a-f]+|amp|lt|gt|quot|apos);/gi, (_, e) => {
    const named = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[e.toLowerCase()];
    if (named) return named;
    return String.fromCodePoint(e[1].toLowerCase() === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });

/** The hidden inputs of the form posting to `action` in `html`. */
function formFields(html, action) {
  const start = html.indexOf(`<form method="post" action="${action}"`);
  if (start < 0) return null;
  const form = html.slice(start, html.indexOf("</form>", start));
  const fields = {};
  for (const m of form.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) fields[unescapeHtml(m[1])] = unescapeHtml(m[2]);
  return fields;
}

const pageError = (html) => (html.match(/id="error-message"[^>]*>([^<]*)</)?.[1] ?? html.slice(0, 300)).trim();

async function register(base, name) {
  const r = await fetch(`${base}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [CALLBACK], client_name: name, token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"], response_types: ["code"] }),
  });
  if (r.status !== 201) throw new Error(`${base}/register answered ${r.status}: ${await r.text()}`);
  return r.json();
}

function authorizeUrl(base, clientId, challenge, extra = {}) {
  const u = new URL(`${base}/authorize`);
  const p = { response_type: "code", client_id: clientId, redirect_uri: CALLBACK, code_challenge: challenge, code_challenge_method: "S256", state: "st-" + crypto.randomUUID(), resource: `${base}/mcp`, ...extra };
  for (const [k, v] of Object.entries(p)) u.searchParams.set(k, v);
  return u;
}

function codeFrom(location, base) {
  if (!location?.startsWith(CALLBACK)) throw new Error(`${base}/authorize did not redirect to the client: ${location}`);
  const u = new URL(location);
  const code = u.searchParams.get("code");
  if (!code) throw new Error(`${base}/authorize redirected without a code: ${location}`);
  return code;
}

/** The token request body (form) that redeems `code`. */
export function exchangeBody(base, clientId, code, verifier) {
  return new URLSearchParams({ grant_type: "authorization_code", code, client_id: clientId, redirect_uri: CALLBACK, code_verifier: verifier, resource: `${base}/mcp` }).toString();
}

export async function token(base, body) {
  const r = await fetch(`${base}/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, body: json, text };
}

/** Runs `fn(i)` for i < n, `width` at a time. */
async function pool(n, width, fn) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

/**
 * Our worker: one registered client; one signed-in browser per member (development sign-in);
 * `mint(n)` goes through consent n times and returns n code-exchange bodies.
 */
export class OursClient {
  constructor(base, { workspace, members }) {
    this.base = base;
    this.workspace = workspace;
    this.members = members;
  }

  async setup() {
    this.client = await register(this.base, "mcp-edge bench");
    this.browsers = [];
    for (const email of this.members) this.browsers.push(await this.signIn(email));
  }

  async get(jar, url) {
    const r = await fetch(url, { redirect: "manual", headers: { cookie: jar.header() } });
    jar.take(r);
    return r;
  }

  async post(jar, url, form) {
    const r = await fetch(url, { method: "POST", redirect: "manual", headers: { cookie: jar.header(), "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form) });
    jar.take(r);
    return r;
  }

  /** /authorize → /signin → the sign-in form → back to /authorize: a browser with a session. */
  async signIn(email) {
    const jar = new Jar();
    const { challenge } = pkce();
    const start = authorizeUrl(this.base, this.client.client_id, challenge);
    let r = await this.get(jar, start);
    const toSignIn = r.headers.get("location");
    if (r.status !== 303 || !toSignIn?.startsWith("/signin")) throw new Error(`ours: /authorize did not send to sign-in (${r.status} ${toSignIn ?? ""}): ${pageError(await r.text())}`);
    r = await this.get(jar, new URL(toSignIn, this.base));
    const html = await r.text();
    const fields = formFields(html, "/signin");
    if (r.status !== 200 || !fields) throw new Error(`ours: no development sign-in form (${r.status}): ${pageError(html)} — is DEV_SIGN_IN=on?`);
    r = await this.post(jar, `${this.base}/signin`, { ...fields, workspace: this.workspace, email });
    if (r.status !== 303) throw new Error(`ours: sign-in as ${email} in ${this.workspace} refused (${r.status}): ${pageError(await r.text())}`);
    await r.arrayBuffer();
    return { email, jar };
  }

  /** One approval: the consent page, then Approve; returns the code. */
  async code(browser, challenge) {
    const url = authorizeUrl(this.base, this.client.client_id, challenge);
    let r = await this.get(browser.jar, url);
    const html = await r.text();
    const fields = formFields(html, "/authorize");
    if (r.status !== 200 || !fields?.shown) throw new Error(`ours: no consent page for ${browser.email} (${r.status}): ${pageError(html)}`);
    r = await this.post(browser.jar, `${this.base}/authorize`, { ...fields, decision: "approve" });
    if (r.status !== 302) throw new Error(`ours: approval refused (${r.status}): ${pageError(await r.text())}`);
    return codeFrom(r.headers.get("location"), this.base);
  }

  /** `n` code-exchange bodies (distinct codes, verifiers and members round robin). */
  async mint(n, width = 8) {
    return pool(n, width, async (i) => {
      const { verifier, challenge } = pkce();
      const code = await this.code(this.browsers[i % this.browsers.length], challenge);
      return exchangeBody(this.base, this.client.client_id, code, verifier);
    });
  }

  /** A connection: code → tokens (the access token the /mcp workloads use). */
  async connect() {
    const [body] = await this.mint(1);
    const r = await token(this.base, body);
    if (r.status !== 200 || !r.body?.access_token) throw new Error(`ours: the code exchange answered ${r.status}: ${r.text}`);
    return r.body;
  }

  refreshBody() {
    return `grant_type=refresh_token&refresh_token=%s&client_id=${encodeURIComponent(this.client.client_id).replace(/%/g, "%%")}`;
  }
}

/** The provider peer: one registered client; its /authorize approves at once (login_hint = user). */
export class ProviderClient {
  constructor(base, { members }) {
    this.base = base;
    this.members = members;
  }

  async setup() {
    this.client = await register(this.base, "mcp-edge bench");
  }

  async code(email, challenge) {
    const r = await fetch(authorizeUrl(this.base, this.client.client_id, challenge, { login_hint: email, scope: "ALL" }), { redirect: "manual" });
    if (r.status !== 302) throw new Error(`provider: /authorize answered ${r.status}: ${await r.text()}`);
    await r.arrayBuffer();
    return codeFrom(r.headers.get("location"), this.base);
  }

  async mint(n, width = 8) {
    return pool(n, width, async (i) => {
      const { verifier, challenge } = pkce();
      const code = await this.code(this.members[i % this.members.length], challenge);
      return exchangeBody(this.base, this.client.client_id, code, verifier);
    });
  }

  async connect() {
    const [body] = await this.mint(1);
    const r = await token(this.base, body);
    if (r.status !== 200 || !r.body?.access_token) throw new Error(`provider: the code exchange answered ${r.status}: ${r.text}`);
    return r.body;
  }

  refreshBody() {
    return `grant_type=refresh_token&refresh_token=%s&client_id=${encodeURIComponent(this.client.client_id).replace(/%/g, "%%")}`;
  }
}
