// The MCP conformance suite (@modelcontextprotocol/conformance) against /mcp. Its server
// scenarios do not authenticate, so they talk to a small proxy that adds a real access token,
// obtained the way clients get one (sign-in and consent in Chromium, code, token), and
// otherwise forwards each request unchanged. The
// scenarios run are those for a server of this kind; the rest exercise fixture tools, prompts,
// resources and server-to-client requests that a stateless tool server does not have.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, it, before, after } from "node:test";
import { BASE, ROOT, connect, rawRequest } from "./harness.mjs";

const run = promisify(execFile);
const PROXY_PORT = 8800;
const PROXY = `http://127.0.0.1:${PROXY_PORT}`;
const SCENARIOS = ["server-initialize", "ping", "tools-list", "logging-set-level", "dns-rebinding-protection"];

export function conformanceSuite() {
  describe("MCP conformance suite (server scenarios)", () => {
    let proxy;
    before(async () => {
      // The token is obtained through the proxy, so it is issued for the origin the suite talks
      // to; the proxy forwards every header as sent (Host and Origin included) and adds only
      // the token, so the suite's DNS-rebinding requests reach the server as they were made.
      let access;
      proxy = http.createServer(async (req, res) => {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const headers = { ...req.headers };
        if (req.url.startsWith("/mcp") && access) headers.authorization ??= `Bearer ${access}`;
        try {
          const r = await rawRequest(`${BASE}${req.url}`, { method: req.method, headers, body: Buffer.concat(chunks) });
          const out = Object.fromEntries(Object.entries(r.headers).filter(([k]) => !["transfer-encoding", "content-length", "connection"].includes(k)));
          res.writeHead(r.status, out).end(r.body);
        } catch (e) {
          res.writeHead(502).end(String(e));
        }
      });
      await new Promise((ok) => proxy.listen(PROXY_PORT, "127.0.0.1", ok));
      access = (await connect({ base: PROXY })).tokens.access_token;
    });
    after(() => proxy?.close());

    for (const scenario of SCENARIOS) {
      it(scenario, async () => {
        const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-conformance-"));
        const args = [path.join(ROOT, "node_modules/.bin/conformance"), "server", "--url", `http://127.0.0.1:${PROXY_PORT}/mcp`, "--scenario", scenario, "-o", outDir];
        const { stdout } = await run("node", args, { cwd: ROOT, timeout: 120_000 }).catch((e) => e);
        const summary = /Passed: (\d+)\/(\d+), (\d+) failed/.exec(stdout ?? "");
        assert.ok(summary, `no summary in the suite's output:\n${stdout}`);
        const [, passed, total, failed] = summary.map(Number);
        assert.equal(failed, 0, stdout);
        assert.equal(passed, total);
        assert.ok(total > 0);
      });
    }
  });
}
