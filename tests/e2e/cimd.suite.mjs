// Issue #11: Client ID Metadata Documents. The documents are served from loopback by a small
// server here (plain http: the e2e server has no PUBLIC_ORIGIN, which is local development,
// the only case where an http document is accepted). The good one lists a port-less loopback
// callback, as Anthropic's documents do; the client asks for port 3118.
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { BASE, CALLBACK, MemoryProvider, STATE_DIR, authorizeUrl, browse, mcp, pkce, policy, rpc, token } from "./harness.mjs";

const PORT = 4031;
const DOCS = `http://127.0.0.1:${PORT}`;
const GOOD = `${DOCS}/oauth/e2e-client-metadata`;
// Served with no-store, so nothing is kept between requests: each use fetches it again.
const UNCACHED = `${DOCS}/oauth/uncached-client-metadata`;
const document = (url, extra = {}) => ({ client_id: url, client_name: "E2E CIMD Client", redirect_uris: ["http://localhost/callback", "http://127.0.0.1/callback"], grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none", application_type: "native", ...extra });
const LYING = {
  "/lies": { body: () => document(GOOD), why: `its client_id is \`${GOOD}\`; it must be the document's own URL` },
  "/big": { body: (url) => document(url, { padding: "x".repeat(8000) }), why: "it is larger than 5120 bytes" },
  "/secret": { body: (url) => document(url, { client_secret: "s3cr3t" }), why: "it contains `client_secret`; a metadata document is public and must not carry secrets" },
  "/slow": { body: (url) => document(url), delayMs: 5000, why: "could not be fetched: no answer within 3000 ms" },
};

export const POLICIES = {
  cimd: policy({ name: "CIMD", allowed_client_ids: [GOOD, UNCACHED], members: [{ email: "cid@example.com", name: "Cid", role: "member" }] }),
};

export function cimdSuite() {
  describe("Client ID Metadata Documents", () => {
    let server;
    let documentHostDown = false;
    const fetched = [];
    before(async () => {
      server = http.createServer((req, res) => {
        fetched.push(req.url);
        const url = `${DOCS}${req.url}`;
        const lie = LYING[req.url];
        if (url === UNCACHED) {
          if (documentHostDown) return res.writeHead(503).end();
          return res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(document(UNCACHED)));
        }
        const body = req.url === "/oauth/e2e-client-metadata" ? document(GOOD) : lie?.body(url);
        if (!body) return res.writeHead(404).end();
        setTimeout(() => res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=300" }).end(JSON.stringify(body)), lie?.delayMs ?? 0);
      });
      await new Promise((ok) => server.listen(PORT, "127.0.0.1", ok));
    });
    after(() => {
      server?.closeAllConnections();
      server?.close();
    });

    it("the metadata says documents are supported", async () => {
      const m = await (await fetch(`${BASE}/.well-known/oauth-authorization-server`)).json();
      assert.equal(m.client_id_metadata_document_supported, true);
    });

    it("the SDK client, identified by its document's URL: consent shows the document's host, the port-ful callback matches the port-less one, mcp_whoami names the client", async () => {
      let consent;
      // The SDK's own CIMD branch takes https document URLs only; a provider that already holds
      // its client ID (the URL) makes it present that ID the same way, without registering.
      const provider = new MemoryProvider((url) => { consent = browse(url, { workspace: "cimd", email: "cid@example.com" }); });
      provider.client = { client_id: GOOD };
      const before = fetched.length;
      await assert.rejects(new Client({ name: "e2e", version: "1" }).connect(new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { authProvider: provider })), UnauthorizedError);
      const seen = await consent;
      assert.equal(seen.clientName, "E2E CIMD Client");
      assert.equal(seen.callbacks.length, 1, seen.error ?? "");
      const params = Object.fromEntries(new URL(seen.callbacks[0]).searchParams);
      await new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { authProvider: provider }).finishAuth(params.code);
      const client = new Client({ name: "e2e", version: "1" });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { authProvider: provider }));
      try {
        const who = await client.callTool({ name: "mcp_whoami", arguments: {} });
        assert.deepEqual(who.structuredContent.client, { id: GOOD, name: "E2E CIMD Client" });
      } finally {
        await client.close();
      }
      assert.deepEqual(fetched.slice(before), ["/oauth/e2e-client-metadata"], "fetched once (Cache-Control), at /authorize; /token used the copy");
    });

    it("the consent page names the document's host as the client's verified identity", async () => {
      const { challenge } = pkce();
      const seen = await browse(authorizeUrl({ clientId: GOOD, challenge }), { workspace: "cimd", email: "cid@example.com", decision: "none" });
      try {
        assert.equal(await seen.page.locator("#client-verified").textContent(), "from 127.0.0.1");
        assert.match(await seen.page.locator("#client-identity").textContent(), /^Verified: described by a metadata document published at 127\.0\.0\.1/);
        await seen.page.screenshot({ path: path.join(STATE_DIR, "consent-cimd.png"), fullPage: true });
      } finally {
        await seen.context.close();
      }
    });

    it("claude mcp logout revokes both tokens at the first try while the document's host is down", async () => {
      const { verifier, challenge } = pkce();
      const seen = await browse(authorizeUrl({ clientId: UNCACHED, challenge }), { workspace: "cimd", email: "cid@example.com" });
      assert.equal(seen.callbacks.length, 1, seen.error ?? "");
      const code = new URL(seen.callbacks[0]).searchParams.get("code");
      const issued = await token({ grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: CALLBACK, client_id: UNCACHED });
      assert.equal(issued.status, 200, JSON.stringify(issued.body));
      const { access_token: access, refresh_token: refresh } = issued.body;
      documentHostDown = true;
      const before = fetched.length;
      // What Claude Code 2.1.332 sends (docs/protocol.md §8): each token with its hint and the
      // client_id, no secret; after a 401, again with Authorization: Bearer and no client_id.
      const revoke = (form, headers = {}) => fetch(`${BASE}/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body: new URLSearchParams(form) });
      try {
        for (const [tokenValue, hint] of [[refresh, "refresh_token"], [access, "access_token"]]) {
          const r = await revoke({ token: tokenValue, token_type_hint: hint, client_id: UNCACHED });
          assert.equal(r.status, 200, `${hint}: ${await r.text()}`);
          const retry = await revoke({ token: tokenValue, token_type_hint: hint }, { authorization: `Bearer ${access}` });
          assert.equal(retry.status, 200, `${hint}, the Bearer form: ${await retry.text()}`);
        }
      } finally {
        documentHostDown = false;
      }
      assert.deepEqual(fetched.slice(before), [], "revocation fetches no document");
      assert.equal((await mcp(access, rpc("ping"))).status, 401);
      const again = await token({ grant_type: "refresh_token", refresh_token: refresh, client_id: UNCACHED });
      assert.equal(again.body.error, "invalid_grant");
    });

    for (const [path, lie] of Object.entries(LYING)) {
      it(`a document that cannot be used (${path.slice(1)}) is refused with what failed`, async () => {
        const { challenge } = pkce();
        const seen = await browse(authorizeUrl({ clientId: `${DOCS}${path}`, challenge }), { workspace: "cimd", email: "cid@example.com" });
        assert.equal(seen.status, 400);
        assert.equal(seen.callbacks.length, 0);
        assert.ok(seen.error.includes(lie.why), `${seen.error}\nexpected: ${lie.why}`);
        assert.ok(seen.error.startsWith(`The client's metadata document at ${DOCS}${path} `), seen.error);
      });
    }
  });
}
