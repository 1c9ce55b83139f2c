// Issue #2: Claude Code connects and runs mcp_whoami — the whole path, and every way it must fail.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { describe, it } from "node:test";
import * as jose from "jose";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { BASE, CALLBACK, CODE_TTL, MemoryProvider, SIGNING_KEY, authorizeUrl, derivedKey, browse, connect, exchange, getCode, mcp, pkce, policy, putPolicies, register, rpc, token } from "./harness.mjs";

export const POLICIES = {
  acme: policy(),
  pinned: policy({ allowed_client_ids: ["pinned-other-client"], members: [{ email: "pia@example.com", role: "member" }] }),
  elsewhere: policy({ allowed_redirect_uris: ["http://localhost:9999/callback"], members: [{ email: "eli@example.com", role: "member" }] }),
  toggle: policy({ members: [{ email: "tom@example.com", role: "member" }] }),
  disabled: policy({ mcp_enabled: false, members: [{ email: "dan@example.com", role: "member" }] }),
};



export function oauthSuite() {
  describe("discovery and registration", () => {
    it("publishes RFC 9728 / RFC 8414 metadata and the JWKS; no partial OIDC document", async () => {
      const as = await (await fetch(`${BASE}/.well-known/oauth-authorization-server`)).json();
      assert.equal(as.issuer, BASE);
      assert.deepEqual(as.code_challenge_methods_supported, ["S256"]);
      assert.ok(as.token_endpoint_auth_methods_supported.includes("none"));
      assert.equal(as.authorization_response_iss_parameter_supported, true);
      for (const [path, resource] of [["/.well-known/oauth-protected-resource", BASE], ["/.well-known/oauth-protected-resource/mcp", `${BASE}/mcp`]]) {
        const pr = await (await fetch(BASE + path)).json();
        assert.equal(pr.resource, resource, `RFC 9728 §3.3: the identifier ${path} was built from`);
        assert.deepEqual(pr.authorization_servers, [BASE]);
      }
      assert.equal((await fetch(`${BASE}/.well-known/openid-configuration`)).status, 404);
      const jwks = await (await fetch(`${BASE}/.well-known/jwks.json`)).json();
      assert.equal(jwks.keys[0].crv, "Ed25519");
      assert.equal(jwks.keys[0].d, undefined);
      // Upstream assertions have their own key, published apart.
      const upstream = await (await fetch(`${BASE}/.well-known/upstream-jwks.json`)).json();
      assert.equal(upstream.keys[0].crv, "Ed25519");
      assert.equal(upstream.keys[0].d, undefined);
      assert.notEqual(upstream.keys[0].kid, jwks.keys[0].kid);
    });

    it("registers public clients with 201 and no null or empty fields", async () => {
      const r = await fetch(`${BASE}/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: [CALLBACK], client_name: "X", client_uri: null, logo_uri: "" }) });
      assert.equal(r.status, 201);
      const body = await r.json();
      for (const [k, v] of Object.entries(body)) assert.ok(v !== null && v !== "", `${k} is ${JSON.stringify(v)}`);
      assert.equal(body.token_endpoint_auth_method, "none");
      const bad = await fetch(`${BASE}/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: ["javascript:alert(1)"] }) });
      assert.equal(bad.status, 400);
      assert.equal((await bad.json()).error, "invalid_redirect_uri");
    });
  });

  describe("the official MCP TypeScript SDK client, as Claude Code uses it", () => {
    it("401 → discovery → registration → sign-in and consent in Chromium → callback → token → initialize → tools/list → mcp_whoami", async () => {
      let consent;
      const provider = new MemoryProvider((url) => {
        consent = browse(url);
      });
      {
        const first = new Client({ name: "e2e", version: "1.0.0" });
        await assert.rejects(first.connect(new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { authProvider: provider })), UnauthorizedError);
        const seen = await consent;
        assert.equal(seen.callbacks.length, 1, "the loopback listener got the callback");
        const params = Object.fromEntries(new URL(seen.callbacks[0]).searchParams);
        assert.equal(params.iss, BASE);
        assert.equal(params.state, provider.sentState, "state is returned");
        const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { authProvider: provider });
        await transport.finishAuth(params.code);
        const client = new Client({ name: "e2e", version: "1.0.0" });
        await client.connect(new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { authProvider: provider }));
        assert.equal(client.getServerVersion().name, "mcp-edge");
        const { tools } = await client.listTools();
        assert.ok(tools.some((t) => t.name === "mcp_whoami"));
        const who = await client.callTool({ name: "mcp_whoami", arguments: {} });
        assert.equal(who.isError, false);
        const s = who.structuredContent;
        assert.deepEqual(s.scopes, seen.scopes, "whoami shows what the consent page showed");
        assert.deepEqual(seen.scopes, ["CONTACTS_READ", "WORKSPACE_READ"]);
        assert.equal(s.user.email, "ada@example.com");
        assert.equal(s.workspace.id, "acme");
        assert.equal(s.client.name, "Claude Code (e2e)");
        assert.equal(s.client.id, provider.client.client_id);
        assert.equal(seen.clientName, "Claude Code (e2e)");
        assert.equal(seen.redirectHost, "localhost:3118");
        assert.equal(seen.workspaceName, "Acme");
        assert.equal(seen.userEmail, "ada@example.com");
        assert.ok(s.expires_in > 3000 && s.expires_in <= 3600);
        await client.close();
      }
    });
  });

  describe("authorization refusals are pages, never redirects; once the redirect URI is trusted, the person may return to the client with the error", () => {
    const cases = [
      ["redirect URI off the workspace allowlist", "elsewhere", "eli@example.com", undefined, "redirect_uri is not allowed", null],
      ["pinned client-ID list without the client", "pinned", "pia@example.com", undefined, "OAuth client_id is not allowed", "access_denied"],
      ["scopes above the ceiling", "acme", "ada@example.com", "CONTACTS_WRITE", "Requested scopes are not allowed", "invalid_scope"],
      ["MCP disabled for the workspace", "disabled", "dan@example.com", undefined, "MCP is disabled for this workspace", "access_denied"],
    ];
    for (const [title, workspace, email, scope, message, code] of cases) {
      it(title, async () => {
        const client = await register(undefined, "Refused Client");
        const url = authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge, scope, state: "st-refused" });
        const seen = await browse(url, { workspace, email });
        assert.equal(seen.error, message);
        assert.ok(seen.hint.length > 20, "says what to check");
        assert.equal(seen.status, 403);
        assert.deepEqual(seen.callbacks, [], "the browser was not sent to the redirect URI by itself");
        assert.equal(seen.returnLabel, code ? "Return to Refused Client" : null);
        if (!code) return;
        const back = await browse(url, { workspace, email, returnToClient: true });
        assert.equal(back.callbacks.length, 1);
        const params = Object.fromEntries(new URL(back.callbacks[0]).searchParams);
        assert.deepEqual(params, { error: code, error_description: message, state: "st-refused", iss: BASE });
      });
    }

    it("the SDK client's authorization ends with the exact message instead of waiting", async () => {
      let refused;
      const provider = new MemoryProvider((url) => { refused = browse(url, { workspace: "pinned", email: "pia@example.com", returnToClient: true }); });
      await assert.rejects(new Client({ name: "e2e", version: "1" }).connect(new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { authProvider: provider })), UnauthorizedError);
      const seen = await refused;
      assert.equal(seen.callbacks.length, 1, "the loopback listener heard back");
      const params = new URL(seen.callbacks[0]).searchParams;
      // What Claude Code shows: the error and its description, for the state it sent.
      assert.equal(params.get("state"), provider.sentState);
      assert.equal(`${params.get("error")}: ${params.get("error_description")}`, "access_denied: OAuth client_id is not allowed");
      assert.equal(params.get("code"), null);
    });

    it("a redirect URI the client did not register", async () => {
      const client = await register();
      const seen = await browse(authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge, redirectUri: "http://localhost:3119/callback" }));
      assert.equal(seen.status, 400);
      assert.match(seen.error, /not registered for this client/);
      assert.deepEqual(seen.callbacks, []);
    });

    it("Deny sends access_denied with the state", async () => {
      const client = await register();
      const seen = await browse(authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge, state: "keep-me" }), { decision: "deny" });
      const cb = new URL(seen.callbacks[0]);
      assert.equal(cb.searchParams.get("error"), "access_denied");
      assert.equal(cb.searchParams.get("state"), "keep-me");
      assert.equal(cb.searchParams.get("iss"), BASE, "RFC 9207: error responses carry iss too");
      assert.equal(cb.searchParams.get("code"), null);
    });

    it("the consent page cannot be framed, and its form needs the browser's CSRF cookie", async () => {
      const client = await register();
      const seen = await browse(authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge }), { decision: "none" });
      try {
        assert.equal(seen.headers["x-frame-options"], "DENY");
        assert.match(seen.headers["content-security-policy"], /frame-ancestors 'none'/);
        const form = await seen.page.locator("form[action='/authorize']").evaluate((f) => Object.fromEntries(new FormData(f)));
        const cookies = await seen.context.cookies();
        const session = cookies.find((c) => c.name === "mcp_edge_session");
        const post = (cookie) => fetch(`${BASE}/authorize`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", cookie }, body: new URLSearchParams({ ...form, decision: "approve" }) });
        const r = await post(`mcp_edge_session=${session.value}`);
        assert.equal(r.status, 403, "no CSRF cookie");
        assert.equal(r.headers.get("location"), null);
        const r2 = await post(`mcp_edge_session=${session.value}; mcp_edge_csrf=${crypto.randomBytes(32).toString("base64url")}`);
        assert.equal(r2.status, 403, "a cookie the token was not made for");
      } finally {
        await seen.context.close();
      }
    });
  });

  describe("the token endpoint", () => {
    it("answers with no-store, on the aliases too, and refuses unknown clients with 401 invalid_client", async () => {
      const got = await getCode();
      const r = await token({ grant_type: "authorization_code", code: got.code, client_id: got.client.client_id, redirect_uri: CALLBACK, code_verifier: got.verifier });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("cache-control"), "no-store");
      assert.equal(r.body.token_type, "Bearer");
      assert.ok(r.body.refresh_token);
      assert.equal(got.state, got.sentState);
      assert.equal(got.iss, BASE);
      const other = await getCode();
      const aliasForm = { grant_type: "authorization_code", code: other.code, client_id: other.client.client_id, code_verifier: other.verifier };
      const post = (form) => fetch(`${BASE}/oauth/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form) });
      const missing = await post(aliasForm);
      assert.equal(missing.status, 400, "RFC 6749 §4.1.3: the authorization request named redirect_uri, so the token request must");
      assert.match((await missing.json()).error_description, /^redirect_uri is required/);
      const third = await getCode();
      const alias = await post({ grant_type: "authorization_code", code: third.code, client_id: third.client.client_id, code_verifier: third.verifier, redirect_uri: CALLBACK });
      assert.equal(alias.status, 200);
      const unknown = await token({ grant_type: "authorization_code", code: other.code, client_id: "nobody-registered-this", code_verifier: other.verifier });
      assert.equal(unknown.status, 401);
      assert.equal(unknown.body.error, "invalid_client");
    });

    it("a wrong PKCE verifier is invalid_grant", async () => {
      const got = await getCode();
      const r = await exchange({ ...got, verifier: pkce().verifier });
      assert.equal(r.status, 400);
      assert.equal(r.body.error, "invalid_grant");
      assert.match(r.body.error_description, /PKCE/);
    });

    it(`an expired code (lifetime ${CODE_TTL} s here) is invalid_grant`, async () => {
      const got = await getCode();
      await new Promise((r) => setTimeout(r, (CODE_TTL + 1) * 1000));
      const r = await exchange(got);
      assert.equal(r.body.error, "invalid_grant");
      assert.match(r.body.error_description, /expired/);
    });

    it("a replayed code is invalid_grant and revokes what the first redemption issued", async () => {
      const got = await getCode();
      const first = await exchange(got);
      assert.equal(first.status, 200);
      assert.equal((await mcp(first.body.access_token, rpc("ping"))).status, 200);
      const again = await exchange(got);
      assert.equal(again.status, 400);
      assert.equal(again.body.error, "invalid_grant");
      const after = await mcp(first.body.access_token, rpc("ping"));
      assert.equal(after.status, 401);
      assert.match(after.body.error_description, /^Token validation failed: connection/);
    });

    it("a code presented by another client or without the verifier is neither burned nor, once redeemed, a replay", async () => {
      const got = await getCode();
      const intruder = await register();
      const wrong = "w".repeat(43);
      const foreign = [{ ...got, client: intruder }, { ...got, client: intruder, verifier: wrong }, { ...got, verifier: wrong }];
      const expect = ["issued to another client", "issued to another client", "PKCE verification failed"];
      for (const [i, attempt] of foreign.entries()) {
        const r = await exchange(attempt);
        assert.equal(r.status, 400);
        assert.equal(r.body.error, "invalid_grant");
        assert.match(r.body.error_description, new RegExp(expect[i]));
      }
      const first = await exchange(got);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      for (const attempt of foreign) {
        const r = await exchange(attempt);
        assert.doesNotMatch(r.body.error_description, /already used/);
      }
      assert.equal((await mcp(first.body.access_token, rpc("ping"))).status, 200, "the connection survived the foreign presentations");
    });

    it("20 parallel redemptions of one code: exactly one succeeds", async () => {
      const got = await getCode();
      const results = await Promise.all(Array.from({ length: 20 }, () => exchange(got)));
      const statuses = results.map((r) => r.status).sort();
      assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses: ${statuses}`);
      assert.equal(statuses.filter((s) => s === 400).length, 19, `statuses: ${statuses}`);
      assert.ok(results.every((r) => r.status === 200 || r.body.error === "invalid_grant"));
      const winner = results.find((r) => r.status === 200);
      assert.equal((await mcp(winner.body.access_token, rpc("ping"))).status, 401, "the replays revoked the winner's connection");
    });
  });

  describe("/mcp", () => {
    it("401 with the resource_metadata challenge without a token; invalid_token for tampered and foreign-audience tokens", async () => {
      const none = await mcp(null, rpc("ping"));
      assert.equal(none.status, 401);
      assert.equal(none.headers.get("www-authenticate"), `Bearer resource_metadata="${BASE}/.well-known/oauth-protected-resource/mcp"`);
      const { tokens } = await connect();
      const [h, p, s] = tokens.access_token.split(".");
      const claims = JSON.parse(Buffer.from(p, "base64url"));
      const forged = Buffer.from(JSON.stringify({ ...claims, scope: "ALL" })).toString("base64url");
      const tampered = await mcp(`${h}.${forged}.${s}`, rpc("ping"));
      assert.equal(tampered.status, 401);
      assert.match(tampered.headers.get("www-authenticate"), /error="invalid_token"/);
      const jwks = await (await fetch(`${BASE}/.well-known/jwks.json`)).json();
      const key = derivedKey(SIGNING_KEY, "mcp-edge access-token signing key v1");
      const foreign = await new jose.SignJWT({ ...claims, aud: "https://other.example/mcp" }).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid: jwks.keys[0].kid }).sign(key);
      const control = await new jose.SignJWT(claims).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid: jwks.keys[0].kid }).sign(key);
      assert.equal((await mcp(control, rpc("ping"))).status, 200, "the re-signed original is accepted: only the audience differs");
      const r = await mcp(foreign, rpc("ping"));
      assert.equal(r.status, 401);
      assert.match(r.body.error_description, /another resource/);
    });

    it("MCP disabled after the token was issued: the next call fails with Token validation failed", async () => {
      const { tokens } = await connect({ workspace: "toggle", email: "tom@example.com" });
      assert.equal((await mcp(tokens.access_token, rpc("ping"))).status, 200);
      await putPolicies({ toggle: { ...POLICIES.toggle, mcp_enabled: false } });
      const r = await mcp(tokens.access_token, rpc("ping"));
      assert.equal(r.status, 401);
      assert.match(r.body.error_description, /^Token validation failed: policy: MCP is disabled for the workspace\. /);
      assert.match(r.headers.get("www-authenticate"), /Token validation failed/);
      await putPolicies({ toggle: POLICIES.toggle });
    });

    it("transport rules: GET/DELETE 405, foreign Origin 403, unknown protocol version 400, notifications 202, batches 400", async () => {
      const { tokens } = await connect();
      const at = tokens.access_token;
      for (const method of ["GET", "DELETE"]) assert.equal((await fetch(`${BASE}/mcp`, { method, headers: { authorization: `Bearer ${at}` } })).status, 405);
      assert.equal((await mcp(at, rpc("ping"), { origin: "https://evil.example" })).status, 403);
      assert.equal((await mcp(at, rpc("ping"), { origin: BASE })).status, 200);
      assert.equal((await mcp(at, rpc("ping"), { "mcp-protocol-version": "1999-01-01" })).status, 400);
      const note = await mcp(at, { jsonrpc: "2.0", method: "notifications/initialized" });
      assert.equal(note.status, 202);
      assert.equal(note.text, "");
      const batch = await mcp(at, [rpc("ping")]);
      assert.equal(batch.status, 400);
      assert.equal(batch.body.error.code, -32600);
      const garbage = await mcp(at, "{not json");
      assert.equal(garbage.body.error.code, -32700);
    });
  });
}
