// A real OpenID provider on loopback for the production rehearsal: panva's `oidc-provider` (a
// certified OpenID Connect implementation) with the accounts and the one confidential client a
// test gives it, its development login and consent pages (clicked by Chromium), key rotation, and
// a hook on the token endpoint through which a test replaces the ID token it answers with.
import crypto from "node:crypto";
import http from "node:http";
import * as jose from "jose";
import Provider from "oidc-provider";

export const OIDC_PORT = Number(process.env.E2E_OIDC_PORT || 8901);
export const OIDC_ISSUER = `http://127.0.0.1:${OIDC_PORT}`;

/**
 * The claims configuration: which claims each scope releases. `workspaces` rides on `openid`, so
 * it is in every ID token this provider issues, whatever other scopes the relying party asks for.
 */
const CLAIMS = {
  acr: null,
  sid: null,
  auth_time: null,
  iss: null,
  openid: ["sub", "workspaces"],
  email: ["email", "email_verified"],
  profile: ["name"],
};

/** A signing key the test owns: `alg` RS256 (RSA 2048) or ES256 (EC P-256), with its `kid`. */
export async function signingKey(alg, kid) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const privateJwk = { ...(await jose.exportJWK(privateKey)), kid, alg, use: "sig" };
  const publicJwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: "sig" };
  return { alg, kid, privateKey, publicKey, privateJwk, publicJwk };
}

/**
 * One provider on 127.0.0.1:OIDC_PORT. `client`: `{client_id, client_secret, redirect_uris}`;
 * `accounts`: `[{sub, email, email_verified, name, workspaces}]` (the dev login form's "login" is
 * the `sub`; any password). `start(key)` serves with that key only (the client's
 * `id_token_signed_response_alg` follows it); `rotate(key)` restarts with another one, same
 * client, accounts and stored grants.
 */
export class TestProvider {
  constructor({ client, accounts = [] }) {
    this.client = client;
    this.accounts = new Map(accounts.map((a) => [a.sub, a]));
    this.cookieKeys = [crypto.randomBytes(32).toString("base64url")];
    /** Every ID token the token endpoint issued, before any hook: `{issued, sent}`. */
    this.tokenResponses = [];
    this.nextIdTokenHooks = [];
    this.server = null;
    this.key = null;
    this.downOnReturn = false;
  }

  /** The provider stops (an outage) once it has sent the next browser back to the client with a
   * code, before the client can redeem it. */
  goDownOnReturn() {
    this.downOnReturn = true;
  }

  /** Adds or replaces an account (takes effect at the next sign-in). */
  setAccount(account) {
    this.accounts.set(account.sub, account);
  }

  /** `fn(idToken, provider)` → the ID token to send instead, for the next token response only. */
  replaceNextIdToken(fn) {
    this.nextIdTokenHooks.push(fn);
  }

  clearHooks() {
    this.nextIdTokenHooks = [];
  }

  #configuration(key) {
    const accounts = this.accounts;
    return {
      clients: [
        {
          client_id: this.client.client_id,
          client_secret: this.client.client_secret,
          redirect_uris: this.client.redirect_uris,
          response_types: ["code"],
          grant_types: ["authorization_code"],
          token_endpoint_auth_method: "client_secret_basic",
          id_token_signed_response_alg: key.alg,
        },
      ],
      jwks: { keys: [key.privateJwk] },
      claims: CLAIMS,
      // Scope-released claims go into the ID token of the code flow too (by default, with an
      // access token issued alongside, they are only at the userinfo endpoint).
      conformIdTokenClaims: false,
      async findAccount(ctx, sub) {
        const account = accounts.get(sub);
        if (!account) return undefined;
        return {
          accountId: sub,
          async claims() {
            const { sub: _ignored, ...rest } = account;
            return { sub, ...rest };
          },
        };
      },
      cookies: { keys: this.cookieKeys },
      pkce: { required: () => true },
      features: { devInteractions: { enabled: true } },
      // Keep ID tokens at their default lifetime; authorization codes a bit longer than default
      // so a slow CI does not race them.
      ttl: { AuthorizationCode: 120, IdToken: 3600, AccessToken: 3600, Session: 3600, Interaction: 600, Grant: 3600 },
    };
  }

  #provider(key) {
    const provider = new Provider(OIDC_ISSUER, this.#configuration(key));
    provider.on("server_error", (ctx, err) => console.error("oidc-provider server_error:", err));
    provider.use(async (ctx, next) => {
      await next();
      if (this.downOnReturn && String(ctx.response.get("location") ?? "").startsWith(`${this.client.redirect_uris[0]}?`)) {
        this.downOnReturn = false;
        ctx.res.once("finish", () => this.stop());
      }
      if (ctx.method !== "POST" || ctx.path !== "/token" || ctx.status !== 200) return;
      const body = ctx.body;
      if (!body || typeof body !== "object" || typeof body.id_token !== "string") return;
      const issued = body.id_token;
      const hook = this.nextIdTokenHooks.shift();
      if (hook) body.id_token = await hook(issued, this);
      this.tokenResponses.push({ issued, sent: body.id_token });
    });
    return provider;
  }

  async start(key) {
    if (this.server) throw new Error("provider already running");
    this.key = key;
    this.provider = this.#provider(key);
    this.server = http.createServer(this.provider.callback());
    // Longer than any client's idle pool time, so no client reuses a connection we just closed.
    this.server.keepAliveTimeout = 120_000;
    await new Promise((ok, ko) => this.server.once("error", ko).listen(OIDC_PORT, "127.0.0.1", ok));
    return this;
  }

  async stop() {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    });
  }

  /**
   * Re-keys: a new provider instance (same client, accounts and stored grants and sessions)
   * with `key` alone in its JWKS, and the client's `id_token_signed_response_alg` set to
   * `key.alg`. It takes over the same listening socket, so the connections clients keep open
   * stay usable (a restart would cut them, and a client's next request on one would fail).
   */
  async rotate(key) {
    if (!this.server) return this.start(key);
    const next = this.#provider(key);
    this.server.removeAllListeners("request");
    this.server.on("request", next.callback());
    this.provider = next;
    this.key = key;
    return this;
  }

  /** Signs `payload` with the provider's current private key and kid (`header` overrides). */
  async sign(payload, header = {}, key = this.key) {
    return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
      .sign(key.privateKey);
  }
}

// --- ID-token replacements (for `replaceNextIdToken`) -------------------------------------------

export const decodeIdToken = (jwt) => ({ header: jose.decodeProtectedHeader(jwt), payload: jose.decodeJwt(jwt) });

/**
 * One character of the payload changed, header and signature kept: the payload still parses and
 * its claims are all plausible (one letter of `name`, else of `email`, differs), so only the
 * signature check can refuse it.
 */
export function tamperPayload(jwt) {
  const [h, p, s] = jwt.split(".");
  const json = Buffer.from(p, "base64url").toString("utf8");
  const claim = ['"name":"', '"email":"'].find((c) => json.includes(c));
  if (!claim) throw new Error("tamperPayload: the ID token has neither name nor email");
  const i = json.indexOf(claim) + claim.length;
  const changed = json.slice(0, i) + (json[i] === "X" ? "Y" : "X") + json.slice(i + 1);
  return [h, Buffer.from(changed, "utf8").toString("base64url"), s].join(".");
}

/**
 * `changes` merged into the payload (a value `undefined` removes the claim), re-signed with the
 * provider's own key and kid: a validly signed token with, for example, another `aud`.
 */
export const resign = (changes) => async (jwt, op) => {
  const { header, payload } = decodeIdToken(jwt);
  const next = { ...payload, ...changes };
  for (const [k, v] of Object.entries(changes)) if (v === undefined) delete next[k];
  return op.sign(next, { typ: header.typ });
};

export const wrongAudience = () => resign({ aud: "some-other-client" });
export const wrongNonce = () => resign({ nonce: "not-the-nonce-that-was-sent" });
/** Issued two hours ago, expired one hour ago (well beyond any clock-skew allowance). */
export const expired = () => {
  const now = Math.floor(Date.now() / 1000);
  return resign({ iat: now - 7200, auth_time: now - 7200, exp: now - 3600 });
};

/** The same claims signed by a fresh key of the same type whose kid the JWKS never had. */
export const unknownKid = (kid = "k-unknown-9") => async (jwt, op) => {
  const { header, payload } = decodeIdToken(jwt);
  const stranger = await signingKey(header.alg, kid);
  return op.sign(payload, { typ: header.typ }, stranger);
};

// --- the provider's development pages in Chromium -----------------------------------------------

const atProvider = (u) => new URL(String(u)).origin === OIDC_ISSUER;

/**
 * Drives the dev login and consent pages, starting wherever `page` is (on its way to the
 * provider): types `login` (a `sub`) and any password, clicks Sign-in, then Continue on the
 * consent page. `cancelAt`: "login" or "consent" clicks "[ Cancel ]" there instead, and the
 * provider answers the authorization with `error=access_denied`. Returns the URL the provider
 * sent the browser to (the relying party's redirect URI with `code` or `error`, `state`, `iss`)
 * once the browser has left the provider — also when that URL could not be loaded.
 * Selectors: login form `form:has(input[name=prompt][value=login])` with `input[name=login]`,
 * `input[name=password]`, `button[type=submit]` ("Sign-in"); consent form
 * `form:has(input[name=prompt][value=consent]) button[type=submit]` ("Continue"); cancel
 * `.login-help a` ("[ Cancel ]"). A provider session in the same browser context skips login,
 * an earlier grant skips consent: both are handled.
 */
export async function providerSignIn(page, { login, cancelAt = null, timeout = 20_000 } = {}) {
  const ready = { waitUntil: "domcontentloaded", timeout };
  let sentTo = null;
  const onRequest = (request) => {
    if (!sentTo && request.isNavigationRequest() && request.frame() === page.mainFrame() && request.redirectedFrom() && atProvider(request.redirectedFrom().url()) && !atProvider(request.url())) sentTo = request.url();
  };
  page.on("request", onRequest);
  // A navigation that ends off the provider may fail to load (nothing listening there): that is
  // the end of this helper's part, not an error.
  const step = async (selector) => {
    try {
      await Promise.all([page.waitForNavigation(ready), page.click(selector)]);
    } catch (e) {
      if (!(sentTo && /net::ERR_/.test(e.message))) throw e;
    }
  };
  try {
    if (!atProvider(page.url())) await page.waitForURL((u) => atProvider(u) || sentTo !== null, ready);
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      if (sentTo) return sentTo;
      if (!atProvider(page.url())) return page.url();
      const prompt = await page
        .locator("input[name=prompt]")
        .getAttribute("value", { timeout: 1000 })
        .catch(() => null);
      if (prompt === null) {
        // Between redirects, or the provider's own error page.
        const text = await page.locator("body").textContent({ timeout: 500 }).catch(() => "");
        if (/oops! something went wrong/.test(text)) throw new Error(`provider error page: ${text.replace(/\s+/g, " ").slice(0, 600)}`);
        await page.waitForTimeout(100);
        continue;
      }
      if (cancelAt === prompt) {
        await step(".login-help a");
      } else if (prompt === "login") {
        if (!login) throw new Error("the provider asks for a login and none was given");
        await page.fill("input[name=login]", login);
        await page.fill("input[name=password]", "any password");
        await step("form:has(input[name=prompt][value=login]) button[type=submit]");
      } else if (prompt === "consent") {
        await step("form:has(input[name=prompt][value=consent]) button[type=submit]");
      } else {
        throw new Error(`unexpected provider prompt ${prompt}`);
      }
    }
    throw new Error(`still at the provider after ${timeout} ms: ${page.url()}`);
  } finally {
    page.off("request", onRequest);
  }
}

/**
 * Chromium flags for the rehearsal: `mcp.rehearsal.test` resolves to 127.0.0.1, and no other
 * name resolves at all (the provider's dev pages @import a web font; nothing leaves the machine).
 */
export const chromiumResolverArgs = (host) => [`--host-resolver-rules=MAP ${host} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1`];
