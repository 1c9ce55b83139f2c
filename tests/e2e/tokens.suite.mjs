// Issue #3: rotating refresh tokens, revocation that takes effect, policy that keeps governing.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { refreshAuthorization, discoverAuthorizationServerMetadata } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { BASE, connect, mcp, policy, putPolicies, register, rpc, token } from "./harness.mjs";

export const POLICIES = {
  rot: policy({ members: [{ email: "rosa@example.com", role: "member" }] }),
  off: policy({ members: [{ email: "otto@example.com", role: "member" }] }),
  gov: policy({ scope_ceiling: ["WORKSPACE_READ", "CONTACTS_READ"], members: [{ email: "gus@example.com", role: "member" }, { email: "gia@example.com", role: "member" }] }),
};

const refresh = (client, refreshToken) => token({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: client.client_id });
const revoke = async (form) => {
  const r = await fetch(`${BASE}/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form) });
  return { status: r.status, body: await r.json().catch(() => null) };
};
const whoamiScopes = async (at) => (await mcp(at, rpc("tools/call", { name: "mcp_whoami", arguments: {} }))).body.result.structuredContent.scopes;

export function tokensSuite() {
  describe("refresh tokens rotate", () => {
    it("the SDK refreshes: new tokens, one grace retry, reuse of an older token revokes the connection", async () => {
      const { client, tokens } = await connect({ workspace: "rot", email: "rosa@example.com" });
      const metadata = await discoverAuthorizationServerMetadata(BASE);
      const sdkRefresh = (refreshToken) => refreshAuthorization(BASE, { metadata, clientInformation: { client_id: client.client_id }, refreshToken, resource: new URL(`${BASE}/mcp`) });
      const second = await sdkRefresh(tokens.refresh_token);
      assert.notEqual(second.refresh_token, tokens.refresh_token);
      assert.notEqual(second.access_token, tokens.access_token);
      assert.equal((await mcp(second.access_token, rpc("ping"))).status, 200);
      // A client that lost the response retries with the token it still has: same successor.
      const retry = await sdkRefresh(tokens.refresh_token);
      assert.equal(retry.refresh_token, second.refresh_token);
      // The successor is used; now the first token is an old token of the family.
      const third = await sdkRefresh(second.refresh_token);
      const reused = await refresh(client, tokens.refresh_token);
      assert.equal(reused.status, 400);
      assert.equal(reused.body.error, "invalid_grant");
      const r = await mcp(third.access_token, rpc("ping"));
      assert.equal(r.status, 401, "the whole connection is revoked");
      assert.match(r.body.error_description, /^Token validation failed: connection/);
      assert.match((await refresh(client, third.refresh_token)).body.error_description, /^Token validation failed: connection: the connection was revoked\. Reconnect/);
    });

    it("the SDK transport refreshes by itself when its access token stops working, as Claude Code does", async () => {
      const { client, tokens } = await connect({ workspace: "rot", email: "rosa@example.com" });
      const saved = [];
      const provider = {
        get redirectUrl() { return "http://localhost:3118/callback"; },
        get clientMetadata() { return { client_name: "E2E Client", redirect_uris: ["http://localhost:3118/callback"], token_endpoint_auth_method: "none" }; },
        clientInformation: () => ({ client_id: client.client_id }),
        tokens: () => saved.at(-1) ?? { ...tokens, access_token: "an-access-token-that-no-longer-works" },
        saveTokens: (t) => saved.push(t),
        redirectToAuthorization: (url) => { throw new Error(`the SDK should have refreshed, not re-authorized: ${url}`); },
        saveCodeVerifier: () => {},
        codeVerifier: () => { throw new Error("no authorization in progress"); },
      };
      const sdk = new Client({ name: "e2e-refresh", version: "1.0.0" });
      await sdk.connect(new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { authProvider: provider }));
      const who = await sdk.callTool({ name: "mcp_whoami", arguments: {} });
      assert.equal(who.structuredContent.user.email, "rosa@example.com");
      assert.equal(saved.length, 1, "one refresh");
      assert.notEqual(saved[0].refresh_token, tokens.refresh_token, "rotated");
      assert.notEqual(saved[0].access_token, tokens.access_token);
      await sdk.close();
    });

    it("20 concurrent refreshes with one token: no 500, one family, consistent afterwards", async () => {
      const { client, tokens } = await connect({ workspace: "rot", email: "rosa@example.com" });
      const results = await Promise.all(Array.from({ length: 20 }, () => refresh(client, tokens.refresh_token)));
      assert.ok(results.every((r) => r.status === 200), `statuses: ${results.map((r) => r.status)}`);
      const families = new Set(results.map((r) => r.body.refresh_token));
      assert.equal(families.size, 1, "every response carries the same successor: the family did not fork");
      const [successor] = families;
      const next = await refresh(client, successor);
      assert.equal(next.status, 200);
      assert.equal((await mcp(next.body.access_token, rpc("ping"))).status, 200, "the connection is alive and usable");
      assert.equal((await refresh(client, tokens.refresh_token)).body.error, "invalid_grant", "the pre-race token is now reuse");
      assert.equal((await mcp(next.body.access_token, rpc("ping"))).status, 401);
    });
  });

  describe("revocation takes effect at the next call", () => {
    it("/revoke with the refresh token or the access token ends the connection; unknown tokens get 200; other and anonymous clients cannot", async () => {
      const other = await register();
      for (const which of ["refresh_token", "access_token"]) {
        const { client, tokens } = await connect({ workspace: "rot", email: "rosa@example.com" });
        const anonymous = await revoke({ token: tokens[which] });
        assert.deepEqual([anonymous.status, anonymous.body.error], [400, "invalid_request"], which);
        const unknown = await revoke({ token: tokens[which], client_id: "nobody-registered-this" });
        assert.deepEqual([unknown.status, unknown.body.error], [400, "unauthorized_client"], which);
        const wrong = await revoke({ token: tokens[which], client_id: other.client_id });
        assert.deepEqual([wrong.status, wrong.body.error], [400, "unauthorized_client"], which);
        assert.equal((await mcp(tokens.access_token, rpc("ping"))).status, 200, "refused revocations changed nothing");
        assert.equal((await revoke({ token: tokens[which], client_id: client.client_id, token_type_hint: which === "access_token" ? "refresh_token" : "access_token" })).status, 200, "a wrong hint is only a hint");
        assert.equal((await mcp(tokens.access_token, rpc("ping"))).status, 401, which);
        assert.equal((await refresh(client, tokens.refresh_token)).body.error, "invalid_grant");
      }
      assert.equal((await revoke({ token: "not-a-token-we-issued", client_id: other.client_id })).status, 200);
    });

    it("MCP disabled: the next call and the next refresh fail with Token validation failed; re-enabled, the same refresh token works again", async () => {
      const { client, tokens } = await connect({ workspace: "off", email: "otto@example.com" });
      await putPolicies({ off: { ...POLICIES.off, mcp_enabled: false } });
      try {
        const call = await mcp(tokens.access_token, rpc("ping"));
        assert.equal(call.status, 401);
        assert.match(call.body.error_description, /^Token validation failed: policy: MCP is disabled for the workspace\. /);
        const r = await refresh(client, tokens.refresh_token);
        assert.equal(r.status, 400);
        assert.equal(r.body.error, "invalid_grant");
        assert.match(r.body.error_description, /^Token validation failed: policy: MCP is disabled for the workspace\. /);
      } finally {
        await putPolicies({ off: POLICIES.off });
      }
      const again = await refresh(client, tokens.refresh_token);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal((await mcp(again.body.access_token, rpc("ping"))).status, 200);
    });

    it("a removed member and a lowered ceiling govern the next call and the next refresh", async () => {
      const gus = await connect({ workspace: "gov", email: "gus@example.com" });
      const gia = await connect({ workspace: "gov", email: "gia@example.com" });
      assert.deepEqual(await whoamiScopes(gus.tokens.access_token), ["CONTACTS_READ", "WORKSPACE_READ"]);
      await putPolicies({ gov: { ...POLICIES.gov, scope_ceiling: ["CONTACTS_READ"] } });
      assert.deepEqual(await whoamiScopes(gus.tokens.access_token), ["CONTACTS_READ"], "effective = granted ∩ ceiling once POLICY_CACHE_SECONDS passed");
      const narrowed = await refresh(gus.client, gus.tokens.refresh_token);
      assert.equal(narrowed.body.scope, "CONTACTS_READ", "the token response says the scopes narrowed");
      assert.deepEqual(await whoamiScopes(narrowed.body.access_token), ["CONTACTS_READ"]);
      await putPolicies({ gov: { ...POLICIES.gov, scope_ceiling: ["CONTACTS_READ"], members: [{ email: "gus@example.com", role: "member" }] } });
      const gone = await mcp(gia.tokens.access_token, rpc("ping"));
      assert.equal(gone.status, 401);
      assert.match(gone.body.error_description, /^Token validation failed: user is no longer a member of the workspace\. /);
      const gone2 = await refresh(gia.client, gia.tokens.refresh_token);
      assert.match(gone2.body.error_description, /^Token validation failed: user is no longer a member of the workspace\. /);
      assert.equal((await mcp(narrowed.body.access_token, rpc("ping"))).status, 200, "the other member is unaffected");
      await putPolicies({ gov: POLICIES.gov });
    });
  });
}
