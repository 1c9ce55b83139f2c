// Issue #5: the product's API becomes MCP tools. The upstream is Prism (an OpenAPI mock server
// that validates every request it receives against the document), behind a recording proxy that
// can also misbehave on demand.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { describe, it } from "node:test";
import * as jose from "jose";
import { BASE, ROOT, connect, mcp, policy, rpc } from "./harness.mjs";

const PRISM_PORT = 4010;
export const PROXY_PORT = 4011;
export const UPSTREAM_VARS = { UPSTREAM_BASE_URL: `http://127.0.0.1:${PROXY_PORT}`, UPSTREAM_TIMEOUT_MS: "2000", UPSTREAM_MAX_BYTES: "65536" };

export const POLICIES = {
  reader: policy({ scope_ceiling: ["CONTACTS_READ", "COMPANIES_READ"], members: [{ email: "rita@example.com", role: "member" }] }),
  writer: policy({ scope_ceiling: ["CONTACTS_WRITE", "CAMPAIGNS_WRITE"], members: [{ email: "walt@example.com", role: "member" }] }),
};

export const recorded = [];
let mode = "pass";
let prism, proxy;

export async function startUpstream() {
  prism = spawn(path.join(ROOT, "node_modules/.bin/prism"), ["mock", "config/openapi.json", "-p", String(PRISM_PORT), "-h", "127.0.0.1", "--errors"], { cwd: ROOT, detached: true, stdio: "ignore" });
  proxy = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    recorded.push({ method: req.method, url: req.url, headers: req.headers, body: body.toString() });
    if (mode.startsWith("status:")) return res.writeHead(Number(mode.slice(7)), { "content-type": "application/json" }).end(JSON.stringify({ error: "simulated", message: `upstream answered ${mode.slice(7)}` }));
    if (mode === "slow") return setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end("{}"), 4000);
    if (mode === "huge") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data: "x".repeat(2 << 20) }));
    const upstream = await fetch(`http://127.0.0.1:${PRISM_PORT}${req.url}`, { method: req.method, headers: { ...req.headers, host: `127.0.0.1:${PRISM_PORT}` }, body: ["GET", "HEAD"].includes(req.method) ? undefined : body });
    const headers = Object.fromEntries([...upstream.headers].filter(([k]) => !["content-encoding", "transfer-encoding", "content-length", "connection"].includes(k)));
    res.writeHead(upstream.status, headers).end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise((ok) => proxy.listen(PROXY_PORT, "127.0.0.1", ok));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      await fetch(`http://127.0.0.1:${PRISM_PORT}/workspace`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  throw new Error("Prism did not start");
}

export function stopUpstream() {
  try { process.kill(-prism.pid, "SIGTERM"); } catch {}
  proxy?.close();
}

const call = async (at, name, args) => (await mcp(at, rpc("tools/call", { name, arguments: args }))).body.result;
const text = (result) => result.content.map((c) => c.text ?? "").join("\n");

export function toolsSuite() {
  describe("OpenAPI tools against Prism", () => {
    it("read scopes list only read tools; a read tool returns Prism's example data; a write tool says which scopes it needs", async () => {
      const { tokens } = await connect({ workspace: "reader", email: "rita@example.com" });
      const list = (await mcp(tokens.access_token, rpc("tools/list"))).body.result.tools;
      const names = list.map((t) => t.name);
      assert.equal(names[0], "mcp_whoami");
      for (const n of ["list_contacts", "get_a_contact", "search_contacts", "list_companies", "list_a_company_s_contacts"]) assert.ok(names.includes(n), n);
      for (const n of ["create_a_contact", "delete_a_contact", "list_campaigns", "launch_a_campaign"]) assert.ok(!names.includes(n), n);
      assert.equal(list.find((t) => t.name === "get_a_contact").annotations.readOnlyHint, true);
      assert.equal(list.find((t) => t.name === "get_a_contact").outputSchema.type, "object", "from the documented 200 response");
      const before = recorded.length;
      const got = await call(tokens.access_token, "get_a_contact", { pathParams: { contactId: "ct_8f3a2c" } });
      assert.equal(got.isError, false, text(got));
      assert.equal(got.structuredContent.email, "grace@hopper.example");
      assert.equal(recorded.length, before + 1);
      const denied = await call(tokens.access_token, "create_a_contact", { body: { email: "new@example.com" } });
      assert.equal(denied.isError, true);
      assert.match(text(denied), /^Tool requires scopes: CONTACTS_WRITE\./);
      assert.equal(recorded.length, before + 1, "nothing was sent upstream");
    });

    it("with write scopes a write call succeeds and Prism accepts it as valid; bad arguments are listed and never sent", async () => {
      const { tokens } = await connect({ workspace: "writer", email: "walt@example.com" });
      const created = await call(tokens.access_token, "create_a_contact", { body: { email: "new@example.com", first_name: "New", address: { city: "Oslo", country: "NO" } } });
      assert.equal(created.isError, false, text(created));
      assert.equal(created.structuredContent.id, "ct_8f3a2c");
      const campaign = await call(tokens.access_token, "create_a_campaign", { body: { name: "Q3", list_id: "ls_19e0", steps: [{ order: 1, channel: "email", subject: "Hi" }] } });
      assert.equal(campaign.isError, false, text(campaign));
      const filtered = await call(tokens.access_token, "list_contacts", { query: { status: "active", tags: ["vip", "navy"], limit: 5 } });
      assert.equal(filtered.isError, false, text(filtered));
      assert.equal(recorded.at(-1).url, "/contacts?limit=5&status=active&tags=vip&tags=navy", "form/explode: one tags= per value");
      const before = recorded.length;
      const bad = await call(tokens.access_token, "create_a_contact", { body: { first_name: "No email", status: "maybe" } });
      assert.equal(bad.isError, true);
      assert.match(text(bad), /arguments\.body\.email: is required/);
      assert.match(text(bad), /arguments\.body\.status: is not an accepted property/);
      assert.equal(recorded.length, before);
    });

    it("the client's token never reaches the upstream; the assertion verifies against /.well-known/upstream-jwks.json, the access token does not", async () => {
      const { tokens } = await connect({ workspace: "reader", email: "rita@example.com" });
      await call(tokens.access_token, "list_companies", {});
      const req = recorded.at(-1);
      assert.ok(!JSON.stringify(req).includes(tokens.access_token), "no trace of the client's access token");
      assert.ok(!JSON.stringify(req).includes(tokens.refresh_token));
      const assertion = req.headers.authorization.replace(/^Bearer /, "");
      const jwks = jose.createRemoteJWKSet(new URL(`${BASE}/.well-known/upstream-jwks.json`));
      const checks = { issuer: BASE, audience: `http://127.0.0.1:${PROXY_PORT}`, typ: "mcp-edge-assertion+jwt", algorithms: ["EdDSA"] };
      const { payload } = await jose.jwtVerify(assertion, jwks, checks);
      // An access token is signed by another key: no upstream key verifies it.
      await assert.rejects(jose.jwtVerify(tokens.access_token, jwks, { algorithms: ["EdDSA"] }));
      assert.equal(payload.sub, "rita@example.com");
      assert.equal(payload.ws, "reader");
      assert.equal(payload.scope, "COMPANIES_READ");
      assert.ok(payload.exp - payload.iat <= 60);
    });

    it("upstream 404, 500, timeout and a huge body each become the mapped tool result", async () => {
      const { tokens } = await connect({ workspace: "reader", email: "rita@example.com" });
      const cases = [
        ["status:404", (r) => r.isError && /^The API answered HTTP 404/.test(text(r))],
        ["status:500", (r) => r.isError && /^The API answered HTTP 500/.test(text(r))],
        ["slow", (r) => r.isError && /did not answer within 2000 ms/.test(text(r))],
        // get_a_contact declares an output schema, which a cut answer cannot meet: an error that
        // says so and shows the first part.
        ["huge", (r) => r.isError && /larger than this server passes on/.test(text(r)) && /Response truncated: the first 65536 bytes are shown; the response was larger/.test(text(r)) && text(r).length < 70_000],
      ];
      try {
        for (const [m, ok] of cases) {
          mode = m;
          const r = await call(tokens.access_token, "get_a_contact", { pathParams: { contactId: "ct_1" } });
          assert.ok(ok(r), `${m}: ${JSON.stringify(r).slice(0, 300)}`);
        }
      } finally {
        mode = "pass";
      }
    });
  });
}
