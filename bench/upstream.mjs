// The fast local upstream of `make bench`: serves the ~300-operation OpenAPI document our worker
// reads (OPENAPI_URL) — the sample config/openapi.json with its paths repeated under /v{n}
// prefixes, as src/bin/bench-catalog.rs builds it — and answers every other request at once
// with a small JSON object. Usage: node bench/upstream.mjs PORT [OPERATIONS]
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
const port = Number(process.argv[2] || 8814);
const target = Number(process.argv[3] || 300);
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** The sample's paths repeated under /v0, /v1, … until there are at least `target` operations. */
export function document(target) {
  const doc = JSON.parse(fs.readFileSync(path.join(ROOT, "config/openapi.json"), "utf8"));
  const paths = doc.paths;
  const perCopy = Object.values(paths).reduce((n, item) => n + Object.keys(item).filter((k) => METHODS.includes(k)).length, 0);
  const out = {};
  for (let copy = 0; copy < Math.ceil(target / perCopy); copy++) for (const [p, item] of Object.entries(paths)) out[`/v${copy}${p}`] = item;
  doc.paths = out;
  doc.servers = [{ url: `http://127.0.0.1:${port}` }];
  const operations = Object.values(out).reduce((n, item) => n + Object.keys(item).filter((k) => METHODS.includes(k)).length, 0);
  return { text: JSON.stringify(doc), operations };
}

const { text, operations } = document(target);
const etag = `"${crypto.createHash("sha256").update(text).digest("base64url").slice(0, 16)}"`;
// What GET /v0/contacts/{id} returns in the sample (its example), small.
const CONTACT = JSON.stringify({ id: "ct_8f3a2c", email: "grace@hopper.example", first_name: "Grace", last_name: "Hopper", status: "active", company_id: "co_51b2", tags: ["vip", "navy"], created_at: "2026-03-01T09:30:00Z" });
let served = 0;

http
  .createServer((req, res) => {
    if (req.url === "/openapi.json") {
      if (req.headers["if-none-match"] === etag) return res.writeHead(304, { etag }).end();
      return res.writeHead(200, { "content-type": "application/json", etag }).end(text);
    }
    if (req.url === "/_stats") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ served, operations, bytes: text.length }));
    served++;
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end(CONTACT));
  })
  .listen(port, "127.0.0.1", () => console.log(`upstream on http://127.0.0.1:${port}: ${operations} operations, ${text.length} bytes`));
