// The fixture upstream for the MCP conformance run (tests/e2e/conformance.test.mjs): it serves
// tests/conformance/openapi.json, from which mcp-edge makes the fixture tools the suite calls
// (test_simple_text, test_image_content, …), and answers those tools' calls as an API would.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

const DOCUMENT = fs.readFileSync(path.join(import.meta.dirname, "openapi.json"));
// A 1×1 red PNG.
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==", "base64");

/** A WAV file of `samples` 8-bit mono samples of silence at 8 kHz. */
function wav(samples = 80) {
  const header = Buffer.alloc(44);
  header.write("RIFF", 0);
  header.writeUInt32LE(36 + samples, 4);
  header.write("WAVEfmt ", 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(8000, 28);
  header.writeUInt16LE(1, 32);
  header.writeUInt16LE(8, 34);
  header.write("data", 36);
  header.writeUInt32LE(samples, 40);
  return Buffer.concat([header, Buffer.alloc(samples, 128)]);
}

const ANSWERS = {
  "/openapi.json": () => [200, "application/json", DOCUMENT],
  "/simple-text": () => [200, "text/plain; charset=utf-8", "This is a simple text response for testing."],
  "/image": () => [200, "image/png", PNG],
  "/audio": () => [200, "audio/wav", wav()],
  "/error": () => [500, "application/json", JSON.stringify({ error: "This tool intentionally returns an error for testing" })],
  "/json-object": () => [200, "application/json", JSON.stringify({ id: "fx_1", count: 3 })],
  "/step-up": () => [200, "text/plain; charset=utf-8", "Called with the scopes it needs."],
};

/** Every request it received: method, path and the assertion it carried. */
export const received = [];

export async function startFixtureUpstream(port) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://fixture");
    received.push({ method: req.method, path: url.pathname, authorization: req.headers.authorization });
    const answer = ANSWERS[url.pathname];
    if (!answer || req.method !== "GET") return res.writeHead(404, { "content-type": "text/plain" }).end(`no fixture at ${req.method} ${url.pathname}`);
    const [status, type, body] = answer();
    res.writeHead(status, { "content-type": type }).end(body);
  });
  await new Promise((ok, fail) => server.once("error", fail).listen(port, "127.0.0.1", ok));
  return server;
}
