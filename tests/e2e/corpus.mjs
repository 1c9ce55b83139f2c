// The hostile corpus (corpus.test.mjs): malformed and malicious requests across every endpoint.
// A case is `[title, request]`, made from the live fixture (registered clients, a connection, an
// unredeemed code, the policy) so that the hostile part is the only thing wrong with it. The
// answer each must get is in corpus.expected.json, as `answer()` reads any response: an OAuth or
// admin JSON error (`error`, `error_description`), a JSON-RPC error (`code`, `message`), a bearer
// challenge (`WWW-Authenticate`), an error page (`#error-title`, `#error-message`), a redirect
// carrying an error, or plain text.
import crypto from "node:crypto";
import { PORT, derivedKey } from "./harness.mjs";

const CALLBACK = "http://localhost:3118/callback";
const JSON_TYPE = { "content-type": "application/json" };
const FORM_TYPE = { "content-type": "application/x-www-form-urlencoded" };

/** What a response says, in one shape (see the file's comment). */
export function answer(r) {
  const type = String(r.headers["content-type"] ?? "");
  const a = { status: r.status };
  const challenge = r.headers["www-authenticate"];
  if (challenge && /error="/.test(challenge)) {
    a.error = /error="([^"]*)"/.exec(challenge)[1];
    a.message = /error_description="([^"]*)"/.exec(challenge)?.[1];
    return a;
  }
  const location = r.headers.location;
  if (location) {
    const u = new URL(location, "http://x.invalid");
    if (u.searchParams.has("error")) return { ...a, error: u.searchParams.get("error"), message: u.searchParams.get("error_description") ?? undefined };
    return { ...a, location: location.replace(/[?].*$/, "") };
  }
  if (type.includes("json")) {
    let body;
    try {
      body = JSON.parse(r.text);
    } catch {
      return { ...a, message: `unparseable JSON: ${r.text.slice(0, 80)}` };
    }
    if (typeof body?.error === "string") return { ...a, error: body.error, message: body.error_description };
    if (body?.error && typeof body.error === "object") return { ...a, error: body.error.code, message: body.error.message };
    if (body?.result?.isError) return { ...a, error: "tool error", message: body.result.content?.[0]?.text };
    // Metadata names its issuer: a forwarded or foreign host must not show up there.
    return { ...a, message: "ok", ...(typeof body?.issuer === "string" ? { issuer: body.issuer } : {}) };
  }
  if (type.includes("html")) {
    const text = (id) => new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(r.text)?.[1];
    const unescape = (s) => s?.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
    // A sign-in form carries where it leads afterwards: a hostile `next` must not survive.
    const next = /name="next" value="([^"]*)"/.exec(r.text)?.[1];
    return { ...a, error: unescape(text("error-title")), message: unescape(text("error-message")), ...(next !== undefined ? { next: unescape(next) } : {}) };
  }
  return { ...a, message: r.text.slice(0, 200) };
}

// --- JWTs ------------------------------------------------------------------------------------

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const decode = (part) => JSON.parse(Buffer.from(part, "base64url").toString());

function sign(header, payload, key) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${crypto.sign(null, Buffer.from(input), key).toString("base64url")}`;
}

/** Tokens that must never open `/mcp`: each a variation of the fixture's real access token. */
export function forgedTokens(real, signingKey, upstreamKid) {
  const [h, p] = real.split(".");
  const header = decode(h);
  const claims = decode(p);
  const access = derivedKey(signingKey, "mcp-edge access-token signing key v1");
  const upstream = derivedKey(signingKey, "mcp-edge upstream-assertion signing key v1");
  const foreign = crypto.generateKeyPairSync("ed25519").privateKey;
  const now = Math.floor(Date.now() / 1000);
  const hmac = (hdr, body, secret) => {
    const input = `${b64(hdr)}.${b64(body)}`;
    return `${input}.${crypto.createHmac("sha256", secret).update(input).digest("base64url")}`;
  };
  return [
    ["alg none, no signature", `${b64({ ...header, alg: "none" })}.${p}.`],
    ["alg none, the real signature kept", `${b64({ ...header, alg: "none" })}.${p}.${real.split(".")[2]}`],
    ["HS256 keyed with the published public key (x)", hmac({ ...header, alg: "HS256" }, claims, Buffer.from(String(header.kid)))],
    ["HS256 keyed with the JWKS text", hmac({ ...header, alg: "HS256" }, claims, "jwks")],
    ["signed by a foreign key under our kid", sign(header, claims, foreign)],
    ["signed by a foreign key under a foreign kid", sign({ ...header, kid: "attacker-1" }, claims, foreign)],
    ["our key, a foreign kid", sign({ ...header, kid: "attacker-1" }, claims, access)],
    ["our key, no kid", sign({ alg: header.alg, typ: header.typ }, claims, access)],
    ["expired an hour ago (validly signed)", sign(header, { ...claims, iat: now - 7200, exp: now - 3600 }, access)],
    ["issued an hour in the future (validly signed)", sign(header, { ...claims, iat: now + 3600, exp: now + 7200 }, access)],
    ["another audience (validly signed)", sign(header, { ...claims, aud: "https://api.example.com" }, access)],
    ["another issuer (validly signed)", sign(header, { ...claims, iss: "https://evil.example" }, access)],
    ["typ JWT instead of at+jwt (validly signed)", sign({ ...header, typ: "JWT" }, claims, access)],
    ["another connection id (validly signed)", sign(header, { ...claims, cid: "c-does-not-exist" }, access)],
    ["another workspace (validly signed)", sign(header, { ...claims, ws: "acme" }, access)],
    ["an upstream assertion for this user", sign({ alg: header.alg, typ: "mcp-edge-assertion+jwt", kid: upstreamKid }, { ...claims, aud: "https://api.example.com" }, upstream)],
    ["an upstream assertion re-labelled at+jwt with the access kid", sign(header, claims, upstream)],
    ["the payload with one character changed", `${h}.${p.slice(0, -2)}${p.at(-2) === "A" ? "B" : "A"}${p.at(-1)}.${real.split(".")[2]}`],
    ["two parts only", `${h}.${p}`],
    ["four parts", `${real}.x`],
    ["not base64", "!!!.@@@.###"],
    ["a JSON header that is an array", `${b64([1])}.${p}.${real.split(".")[2]}`],
    ["a 6 KB token", `${h}.${"A".repeat(6000)}.${real.split(".")[2]}`],
  ];
}

// --- the corpus -------------------------------------------------------------------------------

/**
 * Every case, from the fixture `f`: `{ clientId, code, verifier }` (a pending code and its
 * client), `{ refreshClientId, refreshToken, accessToken }` (a connection), `otherClientId`,
 * `{ signingKey, upstreamKid, adminToken }`, `{ workspace, policy, etag }` and `base`.
 */
export function corpus(f) {
  const cases = [];
  const add = (title, request) => cases.push([title, request]);
  const json = (path, body, headers = {}) => ({ method: "POST", path, headers: { ...JSON_TYPE, ...headers }, body: typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body) });
  const form = (path, fields, headers = {}) => ({ method: "POST", path, headers: { ...FORM_TYPE, ...headers }, body: typeof fields === "string" ? fields : new URLSearchParams(fields).toString() });
  const registration = (overrides = {}) => ({ redirect_uris: [CALLBACK], client_name: "Corpus", token_endpoint_auth_method: "none", ...overrides });

  // /register: broken JSON, wrong types, hostile redirect URIs and names, sizes.
  for (const [title, body] of [
    ["empty body", ""],
    ["a lone brace", "{"],
    ["an array", "[]"],
    ["null", "null"],
    ["a string", '"redirect_uris"'],
    ["trailing garbage", `${JSON.stringify(registration())}x`],
    ["single quotes", "{'redirect_uris': ['http://localhost:3118/callback']}"],
    ["a comment", '{/* c */"redirect_uris":["http://localhost:3118/callback"]}'],
    ["NaN", '{"redirect_uris":["http://localhost:3118/callback"],"client_name":NaN}'],
    ["10,000 nested arrays", "[".repeat(10000) + "]".repeat(10000)],
    ["a UTF-16 BOM", "\ufeff" + JSON.stringify(registration())],
    ["invalid UTF-8", Buffer.concat([Buffer.from('{"client_name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","redirect_uris":["http://localhost:3118/callback"]}')])],
  ]) add(`register: ${title}`, json("/register", body));
  for (const [title, headers] of [
    ["text/plain", { "content-type": "text/plain" }],
    ["a form", FORM_TYPE],
    ["no content type", { "content-type": "" }],
    ["multipart", { "content-type": "multipart/form-data; boundary=x" }],
    ["application/json-patch+json", { "content-type": "application/json-patch+json" }],
  ]) add(`register: ${title}`, { method: "POST", path: "/register", headers, body: JSON.stringify(registration()) });
  for (const [title, uris] of [
    ["no redirect_uris", undefined],
    ["redirect_uris a string", CALLBACK],
    ["redirect_uris empty", []],
    ["redirect_uris of numbers", [1, 2]],
    ["a host that only starts with localhost", ["http://localhost:3118.evil.com/callback"]],
    ["userinfo before localhost", ["http://evil@localhost:3118/callback"]],
    ["javascript:", ["javascript:alert(document.domain)"]],
    ["data:", ["data:text/html,<script>alert(1)</script>"]],
    ["file:", ["file:///etc/passwd"]],
    ["plain http off loopback", ["http://evil.example/callback"]],
    ["a fragment", ["http://localhost:3118/callback#x"]],
    ["a relative URI", ["/callback"]],
    ["an empty string", [""]],
    ["spaces inside", ["http://localhost:3118/call back"]],
    ["a newline inside", ["http://localhost:3118/callback\r\nSet-Cookie: x=1"]],
    ["eleven URIs", Array.from({ length: 11 }, (_, i) => `http://localhost:${3000 + i}/callback`)],
    ["a URI of 600 characters", [`http://localhost:3118/${"a".repeat(578)}`]],
  ]) add(`register: ${title}`, json("/register", registration({ redirect_uris: uris })));
  for (const [title, name] of [
    ["a bidi override in the name", "Claude\u202eedualC"],
    ["a zero-width space in the name", "Claude\u200bCode"],
    ["a NUL in the name", "Claude\u0000Code"],
    ["a newline in the name", "Claude\nCode"],
    ["a name of 101 characters", "N".repeat(101)],
    ["a name that is a number", 42],
    ["a name that is an object", { en: "Claude" }],
  ]) add(`register: ${title}`, json("/register", registration({ client_name: name })));
  for (const [title, overrides] of [
    ["the implicit grant", { grant_types: ["implicit"] }],
    ["the password grant", { grant_types: ["password"] }],
    ["client_credentials", { grant_types: ["client_credentials"] }],
    ["response type token", { response_types: ["token"] }],
    ["a client_uri that is javascript:", { client_uri: "javascript:alert(1)" }],
    ["a client_uri of 600 characters", { client_uri: `https://example.com/${"a".repeat(580)}` }],
  ]) add(`register: ${title}`, json("/register", registration(overrides)));
  add("register: GET", { method: "GET", path: "/register" });
  add("register: PUT", json("/register", registration()));
  cases.at(-1)[1].method = "PUT";

  // /authorize: every parameter wrong in turn (no session: nothing is shown but errors).
  const authorize = (overrides = {}, drop = []) => {
    const p = new URLSearchParams({ response_type: "code", client_id: f.clientId, redirect_uri: CALLBACK, code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256", state: "corpus-state", resource: `${f.base}/mcp` });
    for (const [k, v] of Object.entries(overrides)) p.set(k, v);
    for (const k of drop) p.delete(k);
    return { method: "GET", path: `/authorize?${p}` };
  };
  for (const [title, uri] of [
    ["a host that only starts with localhost", "http://localhost:3118.evil.com/callback"],
    ["userinfo before localhost", "http://evil@localhost:3118/callback"],
    ["dot segments", "http://localhost:3118/callback/../x"],
    ["an encoded dot segment", "http://localhost:3118/callback/%2e%2e/x"],
    ["upper-case scheme and host", "HTTP://LOCALHOST:3118/callback"],
    ["an upper-case path", "http://localhost:3118/Callback"],
    ["a trailing slash", "http://localhost:3118/callback/"],
    ["a fragment", "http://localhost:3118/callback#frag"],
    ["an extra query", "http://localhost:3118/callback?next=https://evil.example"],
    ["javascript:", "javascript:alert(1)"],
    ["another loopback host", "http://127.0.0.1:3118/callback"],
    ["IPv6 loopback", "http://[::1]:3118/callback"],
    ["another port", "http://localhost:3119/callback"],
    ["no port", "http://localhost/callback"],
    ["https instead of http", "https://localhost:3118/callback"],
    ["a percent-encoded path", "http://localhost:3118/%63allback"],
    ["an encoded colon in the authority", "http://localhost%3A3118/callback"],
    ["a Greek omicron for the o", "http://l\u03bfcalhost:3118/callback"],
    ["a full-width colon", "http://localhost\uff1a3118/callback"],
    ["a NUL after the path", "http://localhost:3118/callback\u0000"],
    ["a leading space", " http://localhost:3118/callback"],
    ["a CRLF and a header", "http://localhost:3118/callback\r\nSet-Cookie: x=1"],
    ["a backslash for the slash", "http://localhost:3118\\callback"],
    ["an empty value", ""],
    ["evil.example", "https://evil.example/callback"],
  ]) add(`authorize: redirect_uri with ${title}`, authorize({ redirect_uri: uri }));
  add("authorize: no redirect_uri", authorize({}, ["redirect_uri"]));
  add("authorize: no client_id", authorize({}, ["client_id"]));
  add("authorize: an unknown client_id", authorize({ client_id: "c-unknown-0000" }));
  add("authorize: a client_id with a NUL", authorize({ client_id: `${f.clientId}\u0000` }));
  add("authorize: a client_id of 2,000 characters", authorize({ client_id: "c".repeat(2000) }));
  add("authorize: a client_id that is an http URL on evil", authorize({ client_id: "http://evil.example/client.json" }));
  add("authorize: a client_id that is a metadata URL of a private address", authorize({ client_id: "https://169.254.169.254/latest/meta-data" }));
  add("authorize: two client_ids", { method: "GET", path: `${authorize().path}&client_id=c-other` });
  add("authorize: two redirect_uris", { method: "GET", path: `${authorize().path}&redirect_uri=${encodeURIComponent("https://evil.example/cb")}` });
  for (const [title, overrides, drop] of [
    ["response_type token", { response_type: "token" }],
    ["response_type code token", { response_type: "code token" }],
    ["response_type id_token", { response_type: "id_token" }],
    ["no response_type", {}, ["response_type"]],
    ["no code_challenge", {}, ["code_challenge"]],
    ["code_challenge_method plain", { code_challenge_method: "plain" }],
    ["code_challenge_method S512", { code_challenge_method: "S512" }],
    ["no code_challenge_method", {}, ["code_challenge_method"]],
    ["a challenge of 42 characters", { code_challenge: "a".repeat(42) }],
    ["a challenge of 129 characters", { code_challenge: "a".repeat(129) }],
    ["a challenge with + and /", { code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+c/" }],
    ["a challenge with padding", { code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=" }],
    ["a scope with a comma", { scope: "WORKSPACE_READ,CONTACTS_READ" }],
    ["a scope with a tab", { scope: "WORKSPACE_READ\tCONTACTS_READ" }],
    ["a scope with a NUL", { scope: "WORKSPACE_READ\u0000CONTACTS_READ" }],
    ["a scope with a newline", { scope: "WORKSPACE_READ\nADMIN" }],
    ["a scope with a double quote", { scope: 'WORKSPACE_READ"' }],
    ["a scope with a backslash", { scope: "WORKSPACE\\READ" }],
    ["a scope with non-ASCII", { scope: "WORKSPACE_RE\u00c4D" }],
    ["another resource", { resource: "https://evil.example/mcp" }],
    ["a resource with a fragment", { resource: `${f.base}/mcp#x` }],
    ["a relative resource", { resource: "/mcp" }],
    ["a state of 2,000 characters", { state: "s".repeat(2000) }],
    ["a prompt=none", { prompt: "none" }],
    ["a request object", { request: "eyJhbGciOiJub25lIn0.e30." }],
    ["a request_uri", { request_uri: "https://evil.example/req" }],
  ]) add(`authorize: ${title}`, authorize(overrides, drop));
  add("authorize: DELETE", { ...authorize(), method: "DELETE" });

  // /token: forms, grants, the live code with every presentation wrong in turn.
  const exchange = (overrides = {}, drop = []) => {
    const fields = { grant_type: "authorization_code", code: f.code, client_id: f.clientId, redirect_uri: CALLBACK, code_verifier: f.verifier, resource: `${f.base}/mcp`, ...overrides };
    for (const k of drop) delete fields[k];
    return form("/token", fields);
  };
  for (const [title, request] of [
    ["JSON instead of a form", json("/token", { grant_type: "authorization_code", code: f.code, client_id: f.clientId, code_verifier: f.verifier })],
    ["no content type", { method: "POST", path: "/token", headers: { "content-type": "" }, body: "grant_type=authorization_code" }],
    ["multipart", { method: "POST", path: "/token", headers: { "content-type": "multipart/form-data; boundary=x" }, body: "--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nauthorization_code\r\n--x--" }],
    ["an empty form", form("/token", "")],
    ["a form of one ampersand", form("/token", "&")],
    ["a form with broken percent-encoding", form("/token", "grant_type=%ZZ&code=%")],
    ["no grant_type", form("/token", { code: f.code, client_id: f.clientId })],
    ["the password grant", form("/token", { grant_type: "password", username: "ada@example.com", password: "x", client_id: f.clientId })],
    ["client_credentials", form("/token", { grant_type: "client_credentials", client_id: f.clientId })],
    ["the implicit grant", form("/token", { grant_type: "implicit", client_id: f.clientId })],
    ["a device code", form("/token", { grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: "x", client_id: f.clientId })],
    ["a JWT bearer grant", form("/token", { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: f.accessToken })],
    ["token exchange of the access token", form("/token", { grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", subject_token: f.accessToken, subject_token_type: "urn:ietf:params:oauth:token-type:access_token" })],
    ["two grant_types", form("/token", `grant_type=authorization_code&grant_type=refresh_token&code=${f.code}&client_id=${f.clientId}`)],
    ["GET", { method: "GET", path: `/token?grant_type=authorization_code&code=${f.code}` }],
  ]) add(`token: ${title}`, request);
  for (const [title, overrides, drop] of [
    ["no code", {}, ["code"]],
    ["a garbage code", { code: "not-a-code" }],
    ["a code of 3,000 characters", { code: "c".repeat(3000) }],
    ["the code with one character changed", { code: f.code.slice(0, -1) + (f.code.at(-1) === "A" ? "B" : "A") }],
    ["the code plus a suffix", { code: `${f.code}x` }],
    ["no client_id", {}, ["client_id"]],
    ["another registered client", { client_id: f.otherClientId }],
    ["an unknown client", { client_id: "c-unknown-0000" }],
    ["no verifier", {}, ["code_verifier"]],
    ["a wrong verifier", { code_verifier: crypto.randomBytes(32).toString("base64url") }],
    ["a verifier of 42 characters", { code_verifier: "a".repeat(42) }],
    ["a verifier of 129 characters", { code_verifier: "a".repeat(129) }],
    ["a verifier with + and /", { code_verifier: `${f.verifier.slice(0, -2)}+/` }],
    ["a verifier with a space", { code_verifier: `${f.verifier.slice(0, -1)} ` }],
    ["a verifier with non-ASCII", { code_verifier: `${f.verifier.slice(0, -1)}\u00e9` }],
    ["the challenge as the verifier", { code_verifier: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" }],
    ["no redirect_uri", {}, ["redirect_uri"]],
    ["another redirect_uri", { redirect_uri: "http://localhost:3118/other" }],
    ["a redirect_uri with a trailing slash", { redirect_uri: `${CALLBACK}/` }],
    ["an upper-case redirect_uri", { redirect_uri: CALLBACK.toUpperCase() }],
    ["another resource", { resource: "https://evil.example/mcp" }],
  ]) add(`token: code with ${title}`, exchange(overrides, drop));
  add("token: the code with two verifiers", form("/token", `${new URLSearchParams({ grant_type: "authorization_code", code: f.code, client_id: f.clientId, redirect_uri: CALLBACK, code_verifier: "a".repeat(43) })}&code_verifier=${f.verifier}`));
  add("token: the code with Basic credentials of another client", { ...exchange({}, ["client_id"]), headers: { ...FORM_TYPE, authorization: `Basic ${Buffer.from(`${f.otherClientId}:`).toString("base64")}` } });
  const refresh = (overrides = {}, drop = []) => {
    const fields = { grant_type: "refresh_token", refresh_token: f.refreshToken, client_id: f.refreshClientId, ...overrides };
    for (const k of drop) delete fields[k];
    return form("/token", fields);
  };
  const [rtPrefix] = f.refreshToken.split(".");
  for (const [title, overrides, drop] of [
    ["no refresh_token", {}, ["refresh_token"]],
    ["a garbage refresh token", { refresh_token: "garbage" }],
    ["a refresh token with one character changed", { refresh_token: f.refreshToken.slice(0, -1) + (f.refreshToken.at(-1) === "A" ? "B" : "A") }],
    ["the refresh token cut short", { refresh_token: f.refreshToken.slice(0, 20) }],
    ["the refresh token's prefix only", { refresh_token: `${rtPrefix}.` }],
    ["the access token as a refresh token", { refresh_token: f.accessToken }],
    ["another registered client", { client_id: f.otherClientId }],
    ["no client_id", {}, ["client_id"]],
    ["a scope wider than the grant", { scope: "WORKSPACE_READ CONTACTS_READ CONTACTS_WRITE" }],
    ["a scope with a NUL", { scope: "WORKSPACE_READ\u0000" }],
    ["another resource", { resource: "https://evil.example/mcp" }],
    ["a refresh token of 5,000 characters", { refresh_token: "r".repeat(5000) }],
  ]) add(`token: refresh with ${title}`, refresh(overrides, drop));

  // /revoke: wrong forms and someone else's revocation (RFC 7009: 200, and nothing happens).
  for (const [title, request] of [
    ["JSON", json("/revoke", { token: f.refreshToken, client_id: f.clientId })],
    ["no token", form("/revoke", { client_id: f.clientId })],
    ["another client revoking our refresh token", form("/revoke", { token: f.refreshToken, client_id: f.otherClientId })],
    ["another client revoking our access token", form("/revoke", { token: f.accessToken, client_id: f.otherClientId })],
    ["an unknown client revoking our refresh token", form("/revoke", { token: f.refreshToken, client_id: "c-unknown-0000" })],
    ["a garbage token", form("/revoke", { token: "garbage", client_id: f.clientId })],
    ["a forged token", form("/revoke", { token: forgedTokens(f.accessToken, f.signingKey, f.upstreamKid)[4][1], client_id: f.clientId })],
    ["an upstream assertion", form("/revoke", { token: forgedTokens(f.accessToken, f.signingKey, f.upstreamKid)[16][1], client_id: f.clientId })],
    ["no client and no bearer", form("/revoke", { token: f.refreshToken })],
    ["a token_type_hint that lies", form("/revoke", { token: "garbage", token_type_hint: "refresh_token", client_id: f.clientId })],
    ["GET", { method: "GET", path: `/revoke?token=${f.refreshToken}` }],
  ]) add(`revoke: ${title}`, request);

  // /mcp: tokens that are not ours, then ours with broken messages and headers.
  const mcp = (token, body = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "mcp_whoami", arguments: {} } }, headers = {}) => ({
    method: "POST",
    path: "/mcp",
    headers: { ...JSON_TYPE, accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  for (const [title, token] of forgedTokens(f.accessToken, f.signingKey, f.upstreamKid)) add(`mcp: a token that is ${title}`, mcp(token));
  add("mcp: the refresh token as a bearer token", mcp(f.refreshToken));
  add("mcp: the code as a bearer token", mcp(f.code));
  add("mcp: Basic credentials", mcp(null, undefined, { authorization: `Basic ${Buffer.from("ada:pw").toString("base64")}` }));
  add("mcp: Bearer and nothing", mcp(null, undefined, { authorization: "Bearer" }));
  add("mcp: Bearer and a space", mcp(null, undefined, { authorization: "Bearer " }));
  add("mcp: the token in the query", { ...mcp(null), path: `/mcp?access_token=${f.accessToken}` });
  add("mcp: the token in a cookie", mcp(null, undefined, { cookie: `access_token=${f.accessToken}` }));
  const valid = f.accessToken;
  for (const [title, body] of [
    ["broken JSON", "{"],
    ["an empty body", ""],
    ["an empty batch", "[]"],
    ["a batch of two", [{ jsonrpc: "2.0", id: 1, method: "ping" }, { jsonrpc: "2.0", id: 2, method: "ping" }]],
    ["no jsonrpc member", { id: 1, method: "ping" }],
    ["jsonrpc 1.0", { jsonrpc: "1.0", id: 1, method: "ping" }],
    ["an object as id", { jsonrpc: "2.0", id: { x: 1 }, method: "ping" }],
    ["a method that is a number", { jsonrpc: "2.0", id: 1, method: 7 }],
    ["an unknown method", { jsonrpc: "2.0", id: 1, method: "admin/delete" }],
    ["params that are a string", { jsonrpc: "2.0", id: 1, method: "tools/call", params: "mcp_whoami" }],
    ["an unknown tool", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "../../etc/passwd", arguments: {} } }],
    ["a tool name with a script", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "<script>alert(1)</script>", arguments: {} } }],
    ["arguments that are an array", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "mcp_whoami", arguments: [] } }],
    ["a response instead of a request", { jsonrpc: "2.0", id: 1, result: {} }],
    ["10,000 nested objects", "{\"a\":".repeat(10000) + "1" + "}".repeat(10000)],
    ["a string of 900 KB", { jsonrpc: "2.0", id: 1, method: "ping", params: { pad: "x".repeat(900_000) } }],
  ]) add(`mcp: ${title}`, mcp(valid, body));
  add("mcp: text/plain", mcp(valid, undefined, { "content-type": "text/plain" }));
  add("mcp: a form", mcp(valid, undefined, FORM_TYPE));
  add("mcp: an Accept of text/html only", mcp(valid, undefined, { accept: "text/html" }));
  add("mcp: an unknown protocol version", mcp(valid, undefined, { "mcp-protocol-version": "1999-01-01" }));
  add("mcp: two protocol versions in one header", mcp(valid, undefined, { "mcp-protocol-version": "2025-11-25, 2025-06-18" }));
  add("mcp: Origin evil.example", mcp(valid, undefined, { origin: "https://evil.example" }));
  add("mcp: Origin null", mcp(valid, undefined, { origin: "null" }));
  add("mcp: a Host of evil.example (DNS rebinding)", mcp(valid, undefined, { host: "evil.example" }));
  add("mcp: a Host of localhost.evil.example", mcp(valid, undefined, { host: "localhost.evil.example" }));
  add("mcp: a Host with userinfo", mcp(valid, undefined, { host: "evil@127.0.0.1" }));
  add("mcp: a session id that was never issued", mcp(valid, undefined, { "mcp-session-id": "forged-session" }));
  add("mcp: GET", { method: "GET", path: "/mcp", headers: { accept: "text/event-stream", authorization: `Bearer ${valid}` } });
  add("mcp: DELETE", { method: "DELETE", path: "/mcp", headers: { authorization: `Bearer ${valid}` } });
  add("mcp: PUT", { ...mcp(valid), method: "PUT" });

  // The admin API: credentials that are not the admin's, paths, bodies, preconditions.
  const admin = (path, { method = "GET", token = f.adminToken, headers = {}, body } = {}) => ({ method, path: `/admin/api/${path}`, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? JSON_TYPE : {}), ...headers }, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  const ws = `workspaces/${f.workspace}/policy`;
  for (const [title, token] of [
    ["no credentials", null],
    ["a wrong operator token", "0".repeat(48)],
    ["the operator token with a suffix", `${f.adminToken}x`],
    ["an MCP access token", f.accessToken],
    ["a refresh token", f.refreshToken],
    ["an upstream assertion", forgedTokens(f.accessToken, f.signingKey, f.upstreamKid)[16][1]],
  ]) add(`admin: read the policy with ${title}`, admin(ws, { token }));
  add("admin: Basic credentials", admin(ws, { token: null, headers: { authorization: `Basic ${Buffer.from(`admin:${f.adminToken}`).toString("base64")}` } }));
  add("admin: a session cookie that is forged", admin(ws, { token: null, headers: { cookie: "mcp_edge_session=eyJ3cyI6ImNvcnB1cyJ9.forged" } }));
  for (const [title, path] of [
    ["an unknown workspace", "workspaces/does-not-exist/policy"],
    ["a workspace ID with dot segments", "workspaces/../corpus/policy"],
    ["an encoded slash in the workspace ID", "workspaces/corpus%2F..%2Facme/policy"],
    ["a workspace ID with a NUL", "workspaces/corpus%00/policy"],
    ["a workspace ID of upper-case letters", "workspaces/CORPUS/policy"],
    ["a workspace ID of 300 characters", `workspaces/${"w".repeat(300)}/policy`],
    ["an unknown resource", `workspaces/${f.workspace}/secrets`],
    ["nothing after the workspace", `workspaces/${f.workspace}`],
    ["the API root", ""],
  ]) add(`admin: ${title}`, admin(path));
  const put = (body, headers = { "if-match": f.etag }) => admin(ws, { method: "PUT", headers, body });
  for (const [title, request] of [
    ["a PUT without If-Match", put({ ...f.policy, name: "Changed" }, {})],
    ["a PUT with a stale If-Match", put({ ...f.policy, name: "Changed" }, { "if-match": '"stale"' })],
    ["a PUT with If-None-Match: * of an existing policy", put({ ...f.policy, name: "Changed" }, { "if-none-match": "*" })],
    ["a PUT of broken JSON", put("{")],
    ["a PUT of an array", put([])],
    ["a PUT of invalid UTF-8", { ...put(f.policy), body: Buffer.from([0x7b, 0xff, 0x7d]) }],
    ["a PUT with a bidi override in the name", put({ ...f.policy, name: "Acme\u202e" })],
    ["a PUT with a zero-width space in a member's name", put({ ...f.policy, members: [{ ...f.policy.members[0], name: "Cora\u200b" }] })],
    ["a PUT with an unknown field", put({ ...f.policy, mcp_disabled: true })],
    ["a PUT with a redirect URI that is javascript:", put({ ...f.policy, allowed_redirect_uris: ["javascript:alert(1)"] })],
    ["a PUT with a redirect URI with a fragment", put({ ...f.policy, allowed_redirect_uris: ["http://localhost:3118/callback#x"] })],
    ["a PUT with a member e-mail with a newline", put({ ...f.policy, members: [{ email: "cora@example.com\nbcc: x@evil.example", role: "admin" }] })],
    ["a PUT with a role of owner", put({ ...f.policy, members: [{ ...f.policy.members[0], role: "owner" }] })],
    ["a PUT with schema 2", put({ ...f.policy, schema: 2 })],
    ["a PUT with a scope ceiling of a string", put({ ...f.policy, scope_ceiling: "ALL" })],
    ["a PUT with a name of 201 characters", put({ ...f.policy, name: "n".repeat(201) })],
    ["a PUT with text/plain", { ...put(f.policy), headers: { authorization: `Bearer ${f.adminToken}`, "content-type": "text/plain", "if-match": f.etag } }],
    ["a DELETE of the policy", admin(ws, { method: "DELETE" })],
    ["a POST to the policy", admin(ws, { method: "POST", body: f.policy })],
    ["a revocation without a user", admin(`workspaces/${f.workspace}/connections/revoke`, { method: "POST", body: {} })],
    ["a revocation of a user who is no one", admin(`workspaces/${f.workspace}/connections/revoke`, { method: "POST", body: { user: "nobody@example.com", connection: "c-none" } })],
    ["a revocation with broken JSON", admin(`workspaces/${f.workspace}/connections/revoke`, { method: "POST", body: "{" })],
    ["an upstream key of a number", admin(`workspaces/${f.workspace}/upstream-key`, { method: "PUT", body: { key: 5 } })],
    ["an upstream key PUT of an empty body", admin(`workspaces/${f.workspace}/upstream-key`, { method: "PUT", body: "" })],
  ]) add(`admin: ${title}`, request);
  // Issue #13: the last admin, validation, history and revert, the connection check.
  const at = (rest, options) => admin(`workspaces/${f.workspace}/${rest}`, options);
  const revert = (body, headers = { "if-match": f.etag }) => at("policy/revert", { method: "POST", headers, body });
  const check = (body) => at("check", { method: "POST", body });
  for (const [title, request] of [
    ["a PUT with no admin left", put({ ...f.policy, members: [{ email: "someone@example.com", role: "member" }] })],
    ["a PUT that demotes the last admin", put({ ...f.policy, members: [{ ...f.policy.members[0], role: "member" }] })],
    ["a PUT with no members at all", put({ ...f.policy, members: [] })],
    ["a PUT of 200 KiB", put({ ...f.policy, allowed_redirect_uris: Array.from({ length: 6000 }, (_, i) => `http://127.0.0.1:${1024 + i}/callback`) })],
    ["validate: broken JSON", at("policy/validate", { method: "POST", body: "{" })],
    ["validate: no admin left", at("policy/validate", { method: "POST", body: { ...f.policy, members: [] } })],
    ["validate: text/plain", { ...at("policy/validate", { method: "POST", body: f.policy }), headers: { authorization: `Bearer ${f.adminToken}`, "content-type": "text/plain" } }],
    ["history: a version of letters", at("policy/history/abc")],
    ["history: a version of 20 digits", at("policy/history/99999999999999999999")],
    ["history: a negative version", at("policy/history/-1")],
    ["history: a version never kept", at("policy/history/9999")],
    ["history: a path below a version", at("policy/history/1/text")],
    ["history: a POST", at("policy/history", { method: "POST", body: {} })],
    ["revert: without If-Match", revert({ version: 1 }, {})],
    ["revert: with a stale If-Match", revert({ version: 1 }, { "if-match": '"stale"' })],
    ["revert: to a version never kept", revert({ version: 9999 })],
    ["revert: a version that is a string", revert({ version: "1" })],
    ["revert: a version that is a fraction", revert({ version: 1.5 })],
    ["revert: broken JSON", revert("{")],
    ["revert: a GET", at("policy/revert")],
    ["check: nothing", check({})],
    ["check: a javascript: redirect URI", check({ redirect_uri: "javascript:alert(1)", client_id: "c" })],
    ["check: a client ID with a space", check({ redirect_uri: "http://localhost:3118/callback", client_id: "a b" })],
    ["check: an unknown scope", check({ redirect_uri: "http://localhost:3118/callback", client_id: "c", scope: "CONTACTS_READ EVERYTHING" })],
    ["check: a user who is no address", check({ redirect_uri: "http://localhost:3118/callback", client_id: "c", user: "not-an-address" })],
    ["check: a redirect URI that is a number", check({ redirect_uri: 5, client_id: "c" })],
    ["check: broken JSON", check("{")],
    ["clients: a POST", at("clients", { method: "POST", body: {} })],
  ]) add(`admin: ${title}`, request);
  add("admin: the page with a Host of evil.example", { method: "GET", path: "/admin", headers: { host: "evil.example" } });
  add("admin: a cross-site PUT", { ...put({ ...f.policy, name: "Changed" }), headers: { ...put({}).headers, origin: "https://evil.example" } });

  // Sign-in and the browser steps, without a session or with forged ones.
  for (const [title, request] of [
    ["POST /signin without a CSRF token", form("/signin", { workspace: f.workspace, email: "cora@example.com" })],
    ["POST /signin with a forged CSRF token", form("/signin", { workspace: f.workspace, email: "cora@example.com", csrf: "forged" }, { cookie: "mcp_edge_csrf=forged" })],
    ["POST /signin as JSON", json("/signin", { workspace: f.workspace, email: "cora@example.com" })],
    ["POST /signin from another site", form("/signin", { workspace: f.workspace, email: "cora@example.com" }, { origin: "https://evil.example" })],
    ["GET /signin with an absolute next", { method: "GET", path: "/signin?next=https%3A%2F%2Fevil.example%2F" }],
    ["GET /signin with a protocol-relative next", { method: "GET", path: "/signin?next=%2F%2Fevil.example%2F" }],
    ["GET /signin with a backslash next", { method: "GET", path: "/signin?next=%2F%5Cevil.example" }],
    ["POST /authorize without a session", form("/authorize", { decision: "approve" })],
    ["POST /authorize with a forged session", form("/authorize", { decision: "approve", csrf: "x" }, { cookie: "mcp_edge_session=forged.forged; mcp_edge_csrf=x" })],
    ["POST /authorize from another site", form("/authorize", { decision: "approve" }, { origin: "https://evil.example" })],
    ["GET /oidc/callback with no provider configured", { method: "GET", path: "/oidc/callback?code=x&state=y" }],
    ["POST /signin/workspace without a session", form("/signin/workspace", { workspace: "acme" })],
    ["GET /signout", { method: "GET", path: "/signout" }],
  ]) add(`browser: ${title}`, request);

  // Everything else: hosts, methods, paths.
  for (const [title, request] of [
    ["metadata with a Host of evil.example", { method: "GET", path: "/.well-known/oauth-authorization-server", headers: { host: "evil.example" } }],
    ["metadata with a Host of 127.0.0.1.nip.io", { method: "GET", path: "/.well-known/oauth-authorization-server", headers: { host: "127.0.0.1.nip.io" } }],
    ["metadata with X-Forwarded-Host evil.example", { method: "GET", path: "/.well-known/oauth-authorization-server", headers: { "x-forwarded-host": "evil.example" } }],
    ["token with a Host of evil.example", { ...exchange(), headers: { ...FORM_TYPE, host: "evil.example" } }],
    ["register with a Host of evil.example", { ...json("/register", registration()), headers: { ...JSON_TYPE, host: "evil.example" } }],
    // wrangler dev builds the request's URL from `Host` and passes the worker that URL's host:
    // user information is dropped and a path lands in the URL's path (a native test covers the
    // raw header: core::site). Cloudflare's edge refuses both before the worker.
    ["metadata with a Host carrying user information", { method: "GET", path: "/.well-known/oauth-authorization-server", headers: { host: `evil@127.0.0.1:${PORT}` } }],
    ["metadata with a Host carrying a path", { method: "GET", path: "/.well-known/oauth-authorization-server", headers: { host: `127.0.0.1:${PORT}/x` } }],
    ["metadata with a Host of another loopback port", { method: "GET", path: "/.well-known/oauth-authorization-server", headers: { host: "127.0.0.1:1" } }],
    ["POST to the metadata", { method: "POST", path: "/.well-known/oauth-authorization-server" }],
    ["a protected-resource document for another path", { method: "GET", path: "/.well-known/oauth-protected-resource/admin" }],
    ["an OpenID configuration", { method: "GET", path: "/.well-known/openid-configuration" }],
    ["dot segments to the JWKS", { method: "GET", path: "/assets/../.well-known/jwks.json/.." }],
    ["an encoded NUL in the path", { method: "GET", path: "/authorize%00" }],
    ["a path of 4,000 characters", { method: "GET", path: `/${"p".repeat(4000)}` }],
    ["TRACE", { method: "TRACE", path: "/" }],
    ["a script in the path", { method: "GET", path: "/%3Cscript%3Ealert(1)%3C/script%3E" }],
    ["the stylesheet by POST", { method: "POST", path: "/assets/style.css" }],
  ]) add(`site: ${title}`, request);
  return cases;
}
