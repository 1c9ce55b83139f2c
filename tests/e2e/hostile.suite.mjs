// Issue #12: hostile and malformed requests. Each gets a clear answer (never a 5xx), and the
// worker never holds more of a request than its limits.
import assert from "node:assert/strict";
import http from "node:http";
import { describe, it } from "node:test";
import { BASE } from "./harness.mjs";

/** A POST whose body goes out in `chunks` with `Transfer-Encoding: chunked` (no Content-Length). */
function postChunked(path, contentType, chunks) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${BASE}${path}`, { method: "POST", headers: { "content-type": contentType, "transfer-encoding": "chunked" } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    // The server may answer (and close) before the whole body is sent.
    req.on("error", (e) => (e.code === "EPIPE" || e.code === "ECONNRESET" ? null : reject(e)));
    (async () => {
      for (const c of chunks) {
        if (!req.write(c)) await new Promise((r) => req.once("drain", r));
      }
      req.end();
    })().catch(() => {});
  });
}

export function hostileSuite() {
  describe("hostile bodies", () => {
    it("a chunked body is read until 1 MiB and refused past it with 413", async () => {
      const registration = JSON.stringify({ redirect_uris: ["http://localhost:3118/callback"], client_name: "Chunked", token_endpoint_auth_method: "none" });
      const small = await postChunked("/register", "application/json", [registration.slice(0, 10), registration.slice(10)]);
      assert.equal(small.status, 201, small.body);
      const piece = Buffer.alloc(64 * 1024, 0x20);
      const big = await postChunked("/register", "application/json", Array.from({ length: 20 }, () => piece));
      assert.equal(big.status, 413);
      assert.equal(big.body, "Request body larger than 1 MiB");
      assert.equal(big.headers["x-content-type-options"], "nosniff");
    });

    it("a declared Content-Length over 1 MiB is refused before the body is read", async () => {
      const r = await fetch(`${BASE}/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "a=".padEnd((1 << 20) + 1, "b") });
      assert.equal(r.status, 413);
      assert.equal(await r.text(), "Request body larger than 1 MiB");
    });
  });
}
