// Issue #12: hostile and malformed requests. Each gets a clear answer (never a 5xx), and the
// worker never holds more of a request than its limits.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import { describe, it } from "node:test";
import { BASE, rawRequest } from "./harness.mjs";

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

/** A request sent from `address` (any 127.0.0.0/8 address is this machine): wrangler dev, like
 * Cloudflare, tells the worker the peer's address in `CF-Connecting-IP`. */
async function from(address, method, path, headers = {}, body = "") {
  const r = await rawRequest(`${BASE}${path}`, { method, headers, body, localAddress: address });
  return { ...r, body: r.body.toString() };
}

/** Rate-limit windows are aligned to the wall clock (Cloudflare's, and wrangler dev's
 * simulation): a count that must fall inside one window starts in a fresh one when fewer than
 * `seconds` of the current one are left. */
async function withinOneWindow(seconds, period = 60) {
  const left = period - ((Date.now() / 1000) % period);
  if (left < seconds) await new Promise((r) => setTimeout(r, left * 1000 + 100));
}

export function hostileSuite() {
  describe("abuse limits (wrangler.toml [[ratelimits]], simulated by wrangler dev)", () => {
    it("the 61st registration in a minute from one address is 429 with Retry-After; another address is not limited", async () => {
      const body = JSON.stringify({ redirect_uris: ["http://localhost:3118/callback"], client_name: "Limited", token_endpoint_auth_method: "none" });
      const send = (address) => from(address, "POST", "/register", { "content-type": "application/json" }, body);
      const answers = [];
      await withinOneWindow(15);
      for (let i = 0; i < 61; i++) answers.push(await send("127.0.0.61"));
      assert.deepEqual(answers.slice(0, 60).map((r) => r.status), Array(60).fill(201));
      const refused = answers[60];
      assert.equal(refused.status, 429);
      assert.equal(refused.headers["retry-after"], "60");
      assert.deepEqual(JSON.parse(refused.body), { error: "too_many_requests", error_description: "Too many client registrations from this address; try again in 60 seconds" });
      assert.equal((await send("127.0.0.62")).status, 201);
    });

    it("token requests count per client, from any address: the 301st in a minute is 429", async () => {
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: "rt2.nothing", client_id: `limited-${crypto.randomUUID()}` }).toString();
      const headers = { "content-type": "application/x-www-form-urlencoded" };
      const statuses = [];
      await withinOneWindow(30);
      for (let i = 0; i < 301; i++) statuses.push((await from(`127.0.1.${1 + (i % 3)}`, "POST", "/token", headers, form)).status);
      assert.deepEqual([...new Set(statuses.slice(0, 300))], [401], "unknown client, counted all the same");
      assert.equal(statuses[300], 429);
    });
  });

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
