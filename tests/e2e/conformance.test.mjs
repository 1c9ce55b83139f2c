// Issue #11: both MCP eras on /mcp. A `wrangler dev` of its own whose API tools come from the
// conformance fixture document (tests/conformance/openapi.json) through the product's own
// OpenAPI mapping, answered by the fixture upstream (tests/conformance/upstream.mjs). Then:
//
// - the MCP conformance suite (@modelcontextprotocol/conformance 0.2.0-alpha.12), server mode:
//   the 2026-07-28 requirement set, and the 2025-11-25 scenarios. Its scenarios do not
//   authenticate, so they talk to a loopback proxy that adds a real access token (obtained the
//   way clients get one: sign-in and consent in Chromium, code, token) and forwards everything
//   else as sent, `Host` and `Origin` included. What does not apply to a tools server is listed,
//   with a reason, in tests/conformance/expected-failures-*.yaml; the suite's exit code (which
//   also fails on an entry that now passes) decides;
// - the suite's authorization mode against our authorization server: its metadata scenario, and
//   its code grant with a client registered here, the consent driven in Chromium (sign-in,
//   Approve), its own loopback listener receiving the callback;
// - the MCP Inspector CLI (2.12, tests/inspector) in both eras, with a token in --header;
// - one end-to-end test per revision with the official SDK clients: v2 (2026-07-28, probing
//   with server/discover) and v1 (initialize, 2025-11-25), and raw requests for the errors.
import "./conformance-port.mjs";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { BASE, MemoryProvider, ROOT, browse, closeBrowser, connect, launchBrowser, logTail, policy, putPolicies, rawRequest, register, startCallbackListener, startServer, stopCallbackListener, stopServer } from "./harness.mjs";
import { startFixtureUpstream } from "../conformance/upstream.mjs";

const run = promisify(execFile);
const UPSTREAM_PORT = 4021;
const UPSTREAM = `http://127.0.0.1:${UPSTREAM_PORT}`;
const PROXY_PORT = Number(process.env.E2E_CONFORMANCE_PROXY_PORT || 8798);
const PROXY = `http://127.0.0.1:${PROXY_PORT}`;
const MODERN = "2026-07-28";
// The authorization mode's own callback listener: http://127.0.0.1:<port>/callback.
const AS_CALLBACK_PORT = 4022;
const AS_CALLBACK = `http://127.0.0.1:${AS_CALLBACK_PORT}/callback`;
const META = { "io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "e2e", version: "1" } };
const FIXTURE_TOOLS = ["test_simple_text", "test_image_content", "test_audio_content", "test_error_handling", "test_json_object", "test_step_up"];

let upstream, proxy, access;
// The JSON-RPC methods that reached the proxy, in order.
const proxied = [];

/** One POST to /mcp (through the proxy, which adds the token) with exactly these headers. */
async function post(message, headers = {}) {
  const r = await rawRequest(`${PROXY}/mcp`, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers }, body: JSON.stringify(message) });
  return { status: r.status, body: JSON.parse(r.body.toString() || "null") };
}
const modernHeaders = (method, name) => ({ "mcp-protocol-version": MODERN, "mcp-method": method, ...(name ? { "mcp-name": name } : {}) });

/** Runs the suite and returns its output; asserts its exit code (0: every failure expected). */
async function conformance(args, baseline) {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-conformance-"));
  const cli = path.join(ROOT, "node_modules/.bin/conformance");
  const all = ["server", "--url", `${PROXY}/mcp`, ...args, "--expected-failures", path.join(ROOT, "tests/conformance", baseline), "-o", outDir];
  const result = await run(process.execPath, [cli, ...all], { cwd: ROOT, timeout: 600_000, maxBuffer: 64 << 20 }).then((r) => ({ ...r, code: 0 }), (e) => e);
  const out = `${result.stdout ?? ""}\n${result.stderr ?? ""}`;
  fs.writeFileSync(path.join(outDir, "output.txt"), out);
  assert.equal(result.code, 0, `conformance ${all.join(" ")} exited ${result.code} (whole output: ${outDir}/output.txt):\n${out.slice(-6000)}`);
  assert.match(out, /Baseline check passed/);
  return out;
}

describe("MCP eras and the conformance suite", () => {
  before(async () => {
    upstream = await startFixtureUpstream(UPSTREAM_PORT);
    // This deployment asks for missing scopes (STEP_UP=challenge); the main e2e run keeps the
    // default tool error. The suite's token holds WORKSPACE_READ of a ceiling with CONTACTS_READ.
    await startServer({ OPENAPI_URL: `${UPSTREAM}/openapi.json`, UPSTREAM_BASE_URL: UPSTREAM, STEP_UP: "challenge" });
    await putPolicies({
      acme: policy({ scope_ceiling: ["WORKSPACE_READ", "CONTACTS_READ"] }),
      conf: policy({ name: "Conformance", allowed_redirect_uris: [AS_CALLBACK], members: [{ email: "cora@example.com", name: "Cora", role: "member" }] }),
    });
    await startCallbackListener();
    await launchBrowser();
    // The token is obtained through the proxy, so it is issued for the origin the suite talks to.
    proxy = http.createServer(async (req, res) => {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const headers = { ...req.headers };
      if (req.url.startsWith("/mcp") && access) headers.authorization ??= `Bearer ${access}`;
      if (req.method === "POST" && req.url.startsWith("/mcp")) proxied.push(JSON.parse(Buffer.concat(chunks).toString() || "{}").method);
      try {
        const r = await rawRequest(`${BASE}${req.url}`, { method: req.method, headers, body: Buffer.concat(chunks) });
        const out = Object.fromEntries(Object.entries(r.headers).filter(([k]) => !["transfer-encoding", "content-length", "connection"].includes(k)));
        res.writeHead(r.status, out).end(r.body);
      } catch (e) {
        res.writeHead(502).end(String(e));
      }
    });
    await new Promise((ok) => proxy.listen(PROXY_PORT, "127.0.0.1", ok));
    access = (await connect({ base: PROXY, scope: "WORKSPACE_READ" })).tokens.access_token;
  });
  after(async () => {
    proxy?.close();
    upstream?.close();
    await closeBrowser();
    stopCallbackListener();
    await stopServer();
  });

  it("2026-07-28: server/discover, then tools/list and a fixture tool, each result complete", async () => {
    const d = await post({ jsonrpc: "2.0", id: 1, method: "server/discover", params: { _meta: META } }, modernHeaders("server/discover"));
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.deepEqual(d.body.result.supportedVersions, [MODERN, "2025-11-25", "2025-06-18", "2025-03-26"]);
    assert.equal(d.body.result._meta["io.modelcontextprotocol/serverInfo"].name, "mcp-edge");
    // Discovery is not a prerequisite: a stateless client may call straight away.
    const list = await post({ jsonrpc: "2.0", id: 2, method: "tools/list", params: { _meta: META } }, modernHeaders("tools/list"));
    assert.equal(list.status, 200);
    assert.equal(list.body.result.resultType, "complete");
    assert.equal(list.body.result.cacheScope, "private");
    const names = list.body.result.tools.map((t) => t.name);
    assert.deepEqual([names[0], names.slice(1).sort()], ["mcp_whoami", [...FIXTURE_TOOLS].sort()]);
    const text = await post({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "test_simple_text", arguments: {}, _meta: META } }, modernHeaders("tools/call", "test_simple_text"));
    assert.equal(text.status, 200, JSON.stringify(text.body));
    assert.deepEqual(text.body.result.content, [{ type: "text", text: "This is a simple text response for testing." }]);
    assert.equal(text.body.result.resultType, "complete");
  });

  it("2026-07-28: headers that disagree with the body, an unserved version, removed methods", async () => {
    const call = { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "mcp_whoami", arguments: {}, _meta: META } };
    for (const [headers, why] of [
      [modernHeaders("tools/call", "test_simple_text"), "Mcp-Name names another tool"],
      [modernHeaders("tools/list", "mcp_whoami"), "Mcp-Method names another method"],
      [{ "mcp-protocol-version": MODERN, "mcp-method": "tools/call" }, "Mcp-Name missing"],
      [{ ...modernHeaders("tools/call", "mcp_whoami"), "mcp-protocol-version": "2025-11-25" }, "the header's version is not _meta's"],
    ]) {
      const r = await post(call, headers);
      assert.deepEqual([r.status, r.body.error?.code, r.body.id], [400, -32020, 9], `${why}: ${JSON.stringify(r.body)}`);
    }
    const b64 = `=?base64?${Buffer.from("mcp_whoami").toString("base64")}?=`;
    assert.equal((await post(call, modernHeaders("tools/call", b64))).status, 200, "a Base64-encoded Mcp-Name");
    const future = { ...META, "io.modelcontextprotocol/protocolVersion": "2027-01-01" };
    const r = await post({ jsonrpc: "2.0", id: 10, method: "server/discover", params: { _meta: future } }, { ...modernHeaders("server/discover"), "mcp-protocol-version": "2027-01-01" });
    assert.deepEqual([r.status, r.body.error.code, r.body.error.data.requested], [400, -32022, "2027-01-01"]);
    assert.ok(r.body.error.data.supported.includes("2025-11-25"), "a client that speaks only older revisions can fall back");
    const noMeta = await post({ jsonrpc: "2.0", id: 11, method: "tools/list", params: {} }, modernHeaders("tools/list"));
    assert.deepEqual([noMeta.status, noMeta.body.error.code], [400, -32602]);
    for (const method of ["initialize", "ping", "logging/setLevel"]) {
      const removed = await post({ jsonrpc: "2.0", id: 12, method, params: { _meta: META, level: "info" } }, modernHeaders(method));
      assert.deepEqual([removed.status, removed.body.error.code], [404, -32601], method);
    }
  });

  it("2026-07-28: the v2 SDK client probes with server/discover and speaks the modern era", async () => {
    const seen = [];
    const client = new ClientV2({ name: "e2e-v2", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    const transport = new TransportV2(new URL(`${PROXY}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${access}` } },
      fetch: async (url, init) => {
        seen.push(JSON.parse(init.body).method);
        return fetch(url, init);
      },
    });
    await client.connect(transport);
    try {
      assert.equal(seen[0], "server/discover");
      assert.ok(!seen.includes("initialize"), `no handshake: ${seen}`);
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === "test_image_content"));
      const who = await client.callTool({ name: "mcp_whoami", arguments: {} });
      assert.equal(who.structuredContent.user.email, "ada@example.com");
      // Its output schema comes from the documented response; the client checks the answer.
      assert.equal(tools.find((t) => t.name === "test_json_object").outputSchema.required.join(), "id,count");
      const json = await client.callTool({ name: "test_json_object", arguments: {} });
      assert.deepEqual(json.structuredContent, { id: "fx_1", count: 3 });
      const image = await client.callTool({ name: "test_image_content", arguments: {} });
      assert.equal(image.content[0].type, "image");
      assert.equal(image.content[0].mimeType, "image/png");
    } finally {
      await client.close();
    }
  });

  it("step-up (STEP_UP=challenge): the v2 SDK client re-authorizes with the union the 403 names, and the retried call succeeds", async () => {
    // A connection made narrow on purpose: WORKSPACE_READ of the ceiling's two scopes.
    const first = await connect({ base: PROXY, scope: "WORKSPACE_READ" });
    let consent;
    const provider = new MemoryProvider((url) => { consent = browse(url); });
    provider.client = first.client;
    provider.savedTokens = first.tokens;
    const requests = [];
    const transport = () => new TransportV2(new URL(`${PROXY}/mcp`), { authProvider: provider, fetch: async (url, init) => { requests.push(init?.method ?? "GET"); return fetch(url, init); } });
    const client = new ClientV2({ name: "e2e-step-up", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(transport());
    try {
      const who = await client.callTool({ name: "mcp_whoami", arguments: {} });
      assert.deepEqual(who.structuredContent.scopes, ["WORKSPACE_READ"]);
      await assert.rejects(client.callTool({ name: "test_step_up", arguments: {} }), (e) => e.constructor.name === "UnauthorizedError" || /unauthori[sz]ed/i.test(String(e)));
    } finally {
      await client.close();
    }
    const seen = await consent;
    assert.deepEqual(seen.scopes, ["CONTACTS_READ", "WORKSPACE_READ"], "the authorization asked for the union");
    // The v2 client checks the callback's `iss` (RFC 9207): it takes the whole query.
    await transport().finishAuth(new URL(seen.callbacks[0]).searchParams);
    const retried = new ClientV2({ name: "e2e-step-up", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await retried.connect(transport());
    try {
      const r = await retried.callTool({ name: "test_step_up", arguments: {} });
      assert.deepEqual(r.content, [{ type: "text", text: "Called with the scopes it needs." }]);
    } finally {
      await retried.close();
    }
  });

  it("2025-11-25: the v1 SDK client's initialize handshake still works beside it", async () => {
    const client = new Client({ name: "e2e-v1", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${PROXY}/mcp`), { requestInit: { headers: { authorization: `Bearer ${access}` } } }));
    try {
      const who = await client.callTool({ name: "mcp_whoami", arguments: {} });
      assert.equal(who.structuredContent.user.email, "ada@example.com");
      assert.equal(who.resultType, undefined, "legacy results are as the older revisions define them");
      const error = await client.callTool({ name: "test_error_handling", arguments: {} });
      assert.equal(error.isError, true);
    } finally {
      await client.close();
    }
  });

  it("conformance 0.2.0-alpha.12, authorization mode: metadata and the code grant, consent in Chromium", async () => {
    const client = await register([AS_CALLBACK], "MCP conformance");
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-conformance-as-"));
    const args = [path.join(ROOT, "node_modules/.bin/conformance"), "authorization", "--url", BASE, "--client-id", client.client_id, "--resource", `${BASE}/mcp`, "-p", String(AS_CALLBACK_PORT), "-o", outDir];
    const suite = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const exited = new Promise((ok) => suite.on("exit", (code) => ok(code)));
    // It prints the authorization URL, then waits (up to 5 minutes) for its callback.
    const authorizeLine = new Promise((ok) => {
      const seen = (chunk) => {
        out += chunk;
        const line = out.split("\n").find((l) => l.startsWith(`${BASE}/authorize?`));
        if (line) ok(line.trim());
      };
      suite.stdout.on("data", seen);
      suite.stderr.on("data", seen);
      exited.then(() => ok(null));
    });
    try {
      const url = await authorizeLine;
      assert.ok(url, `no authorization URL printed:\n${out}`);
      const seen = await browse(url, { workspace: "conf", email: "cora@example.com", callbackAt: AS_CALLBACK });
      assert.equal(seen.clientName, "MCP conformance", seen.error ?? "");
      assert.equal(new URL(seen.finalUrl).searchParams.get("iss"), BASE);
      const code = await Promise.race([exited, new Promise((ok) => setTimeout(() => ok("timeout"), 30_000))]);
      fs.writeFileSync(path.join(outDir, "output.txt"), out);
      assert.equal(code, 0, `conformance authorization exited ${code} (${outDir}/output.txt):\n${out.slice(-4000)}`);
      assert.match(out, /Total: 3 passed, 0 failed/);
      // Every check of both scenarios, from the files the suite writes (a warning or a skip
      // would not change its exit code).
      const checks = fs.readdirSync(outDir).filter((d) => d.startsWith("authorization-server-")).flatMap((d) => JSON.parse(fs.readFileSync(path.join(outDir, d, "checks.json"))));
      assert.deepEqual(checks.map((c) => [c.id, c.status]).sort(), [["authorization-code-grant", "SUCCESS"], ["authorization-server-metadata", "SUCCESS"], ["authorization-server-metadata-cimd", "SUCCESS"]]);
    } finally {
      suite.kill();
    }
  });

  describe("the MCP Inspector CLI 2.12", () => {
    const inspector = async (url, era, args) => {
      const cli = path.join(ROOT, "node_modules/.inspector/node_modules/.bin/mcp-inspector");
      const all = ["--cli", url, "--transport", "http", "--protocol-era", era, "--format", "json", ...args];
      return run(cli, all, { cwd: ROOT, timeout: 60_000, env: { ...process.env, HOME: fs.mkdtempSync(path.join(os.tmpdir(), "inspector-home-")) } }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    };
    for (const [era, first] of [["modern", "server/discover"], ["legacy", "initialize"]]) {
      it(`--protocol-era ${era}: lists the tools and calls mcp_whoami with a token in --header`, async () => {
        const auth = ["--header", `Authorization: Bearer ${access}`];
        const from = proxied.length;
        const list = await inspector(`${PROXY}/mcp`, era, [...auth, "--method", "tools/list"]);
        assert.equal(list.code, 0, `${list.stdout}\n${list.stderr}`);
        assert.ok(JSON.parse(list.stdout).result?.tools?.some((t) => t.name === "test_json_object"), list.stdout);
        assert.equal(proxied[from], first, `the ${era} era begins with ${first}: ${proxied.slice(from)}`);
        if (era === "modern") assert.ok(!proxied.slice(from).includes("initialize"), `${proxied.slice(from)}`);
        const who = await inspector(`${PROXY}/mcp`, era, [...auth, "--method", "tools/call", "--tool-name", "mcp_whoami", "--tool-args-json", "{}"]);
        assert.equal(who.code, 0, `${who.stdout}\n${who.stderr}`);
        const { result } = JSON.parse(who.stdout);
        assert.equal(result?.structuredContent?.user?.email, "ada@example.com", who.stdout);
        assert.notEqual(result.isError, true, who.stdout);
        assert.equal(result._meta?.["io.modelcontextprotocol/serverInfo"]?.name, era === "modern" ? "mcp-edge" : undefined, "modern results carry serverInfo");
      });
    }
    it("without a token it stops with its authentication exit code, 3", async () => {
      // Straight to the server: the proxy would add a token.
      const r = await inspector(`${BASE}/mcp`, "modern", ["--method", "tools/list", "--connect-timeout", "10000"]);
      assert.equal(r.code, 3, `${r.stdout}\n${r.stderr}`);
      // It found our OAuth metadata and would sign in, given a terminal.
      assert.equal(JSON.parse(r.stderr.trim().split("\n").at(-1)).error.code, "auth_required", r.stderr);
    });
  });

  it("conformance 0.2.0-alpha.12: the 2026-07-28 requirement set", async () => {
    const out = await conformance(["--requirements", MODERN], "expected-failures-2026-07-28.yaml");
    assert.match(out, /tools-call-simple-text/);
  });

  it("conformance 0.2.0-alpha.12: the 2025-11-25 scenarios", async () => {
    const out = await conformance(["--spec-version", "2025-11-25"], "expected-failures-2025-11-25.yaml");
    assert.match(out, /server-initialize/);
  });
});

process.on("exit", (code) => {
  if (code) console.error(logTail());
});
