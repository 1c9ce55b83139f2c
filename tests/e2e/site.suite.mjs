// Issue #9: the loopback development server serves loopback hosts only — a DNS-rebinding page
// (its own hostname resolved to 127.0.0.1, so `Host` and `Origin` name the attacker) is refused
// on every route before anything is read or written, and the metadata never names it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BASE, PORT, rawRequest } from "./harness.mjs";

const EVIL = `evil.example.com:${PORT}`;
const ROUTES = [
  ["POST", "/mcp", '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}', "application/json"],
  ["GET", "/signin?next=%2Fadmin"],
  ["POST", "/signin", "workspace=acme&email=ada%40example.com", "application/x-www-form-urlencoded"],
  ["GET", "/authorize?response_type=code&client_id=x"],
  ["POST", "/authorize", "decision=approve", "application/x-www-form-urlencoded"],
  ["GET", "/admin/api/workspaces/acme/policy"],
  ["PUT", "/admin/api/workspaces/acme/policy", "{}", "application/json"],
  ["POST", "/register", '{"redirect_uris":["http://localhost:3118/callback"]}', "application/json"],
  ["POST", "/token", "grant_type=authorization_code&code=x", "application/x-www-form-urlencoded"],
  ["GET", "/.well-known/oauth-authorization-server"],
  ["GET", "/.well-known/oauth-protected-resource/mcp"],
];

export function siteSuite() {
  describe("DNS rebinding against the loopback server", () => {
    for (const [method, path, body, type] of ROUTES) {
      it(`${method} ${path.split("?")[0]} with Host ${EVIL} and a matching Origin is refused`, async () => {
        const headers = { host: EVIL, origin: `http://${EVIL}`, ...(type ? { "content-type": type } : {}) };
        const r = await rawRequest(`${BASE}${path}`, { method, headers, body });
        const text = r.body.toString();
        assert.equal(r.status, 421, text);
        assert.match(text, /Server misconfigured: PUBLIC_ORIGIN is required off loopback/);
        assert.doesNotMatch(text, /"issuer"|"authorization_servers"/);
        assert.equal(r.headers["set-cookie"], undefined);
      });
    }

    it("loopback names of the same server are served, each as its own origin", async () => {
      for (const host of [`localhost:${PORT}`, `127.0.0.1:${PORT}`]) {
        const r = await rawRequest(`${BASE}/.well-known/oauth-authorization-server`, { headers: { host } });
        assert.equal(r.status, 200);
        assert.equal(JSON.parse(r.body).issuer, `http://${host}`);
      }
    });
  });
}
