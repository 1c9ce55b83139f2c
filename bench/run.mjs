// `make bench` (after scripts/bench.sh has installed wrk and bench/'s packages and built the
// worker): starts three workers and a fast upstream, gets tokens through the real OAuth flows,
// loads each workload with wrk on loopback, and writes BENCHMARKS.md.
//
//   ours      the repo's worker (wrangler dev from the repo root), port 8811
//   empty     bench/empty: a constant JSON-RPC answer, the ceiling, port 8812
//   provider  bench/provider: @cloudflare/workers-oauth-provider guarding a minimal /mcp, 8813
//   upstream  bench/upstream.mjs: the ~300-operation OpenAPI document and instant answers, 8814
//
// Knobs (environment): BENCH_DURATION seconds per run (3), BENCH_ROUNDS (2),
// BENCH_CONNECTIONS (1,8), BENCH_ONLY (workload ids, comma-separated), BENCH_MEMBERS (8),
// BENCH_RUNTIME (wrangler | workerd | both: which server runs the workers; default both),
// BENCH_OUT (BENCHMARKS.md; empty: do not write), BENCH_KEEP=1 (keep the state and logs).
import { spawn, execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { OursClient, ProviderClient } from "./oauth.mjs";
import { startWorkerd } from "./workerd.mjs";
import { wasmFacts } from "./wasm.mjs";

const ROOT = path.resolve(import.meta.dirname, "..");
const BENCH = path.join(ROOT, "bench");
const GEN = path.join(BENCH, ".gen");
const BIN = path.join(ROOT, "node_modules/.bin");
const WRANGLER = path.join(BIN, "wrangler");
const LUA = path.join(BENCH, "wrk/load.lua");
const E = process.env;

const cfg = {
  duration: Number(E.BENCH_DURATION || 3),
  rounds: Number(E.BENCH_ROUNDS || 2),
  conns: (E.BENCH_CONNECTIONS || "1,8").split(",").map(Number),
  only: E.BENCH_ONLY ? E.BENCH_ONLY.split(",") : null,
  members: Number(E.BENCH_MEMBERS || 8),
  runtimes: { wrangler: ["wrangler"], workerd: ["workerd"], both: ["wrangler", "workerd"] }[E.BENCH_RUNTIME || "both"],
  out: E.BENCH_OUT ?? path.join(ROOT, "BENCHMARKS.md"),
  ports: { ours: 8811, empty: 8812, provider: 8813, upstream: 8814 },
  inspector: { ours: 9311, empty: 9312, provider: 9313 },
};
if (!cfg.runtimes) throw new Error(`BENCH_RUNTIME must be wrangler, workerd or both, not ${E.BENCH_RUNTIME}`);
const PEERS = ["ours", "empty", "provider"];
const WORKSPACE = "acme";
const MEMBERS = Array.from({ length: cfg.members }, (_, i) => (i === 0 ? "ada@example.com" : `member${i}@example.com`));
const SIGNING_KEY = crypto.randomBytes(32).toString("base64url");
const ADMIN_TOKEN = crypto.randomBytes(24).toString("hex");
const CODE_TTL = 600; // the most AUTH_CODE_TTL_SECONDS allows (README, Configuration)

const STATE = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-edge-bench-"));
const PIDS = E.BENCH_PIDS_FILE || path.join(STATE, "pids");
const started = Date.now();
const log = (...a) => console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s]`, ...a);

// --- processes ------------------------------------------------------------------------------------

const children = [];
/** Starts a process in its own group (so the group can be ended whole), output to a log file. */
function start(name, cmd, args, opts = {}) {
  const logFile = path.join(STATE, `${name}.log`);
  const fd = fs.openSync(logFile, "a");
  const child = spawn(cmd, args, { detached: true, stdio: ["ignore", fd, fd], ...opts });
  fs.closeSync(fd);
  fs.appendFileSync(PIDS, `${child.pid}\n`);
  children.push({ name, child, logFile });
  return { child, logFile, tail: () => fs.readFileSync(logFile, "utf8").slice(-4000) };
}
function stopAll(signal = "SIGTERM") {
  for (const { child } of children) {
    try { process.kill(-child.pid, signal); } catch {}
  }
}
async function stopChildren(names) {
  const these = children.filter((c) => names.includes(c.name) && c.child.exitCode === null && c.child.signalCode === null);
  for (const { child } of these) try { process.kill(-child.pid, "SIGTERM"); } catch {}
  const deadline = Date.now() + 5000;
  while (these.some((c) => c.child.exitCode === null && c.child.signalCode === null) && Date.now() < deadline) await sleep(100);
  for (const { child } of these) try { process.kill(-child.pid, "SIGKILL"); } catch {}
  for (const c of these) children.splice(children.indexOf(c), 1);
  writePids();
}
/** The pids file lists only the groups still running, so scripts/bench.sh's trap ends no other. */
const writePids = () => fs.writeFileSync(PIDS, children.map((c) => `${c.child.pid}\n`).join(""));
process.on("exit", () => stopAll("SIGKILL"));
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => { stopAll(); process.exit(130); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it is true; fails at once if the process exits. */
async function waitFor(name, proc, probe, timeoutMs = 240_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${name} exited (${proc.child.exitCode}) before answering:\n${proc.tail()}`);
    try {
      if (await probe()) return;
    } catch {}
    await sleep(300);
  }
  throw new Error(`${name} did not answer within ${timeoutMs / 1000} s; log ${proc.logFile}:\n${proc.tail()}`);
}

// CLOUDFLARE_CF_FETCH_ENABLED=false: miniflare would otherwise try to download a `Request.cf`
// example from the internet at every start (and wait 3 s for it to fail here).
const childEnv = () => ({ ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", PATH: `${BIN}:${process.env.PATH}` });

// --- the workers ----------------------------------------------------------------------------------

const base = (peer) => `http://127.0.0.1:${cfg.ports[peer]}`;

function policy() {
  return {
    schema: 1,
    name: "Acme (bench)",
    mcp_enabled: true,
    allowed_redirect_uris: ["http://localhost:3118/callback"],
    allowed_client_ids: [],
    // ALL: every one of the ~300 operations is a tool this member may list and call.
    scope_ceiling: ["ALL"],
    members: MEMBERS.map((email, i) => ({ email, name: i === 0 ? "Ada Lovelace" : `Member ${i}`, role: i === 0 ? "admin" : "member" })),
  };
}

const oursVars = () => ({
  SIGNING_KEY,
  ADMIN_TOKEN,
  DEV_SIGN_IN: "on",
  AUTH_CODE_TTL_SECONDS: String(CODE_TTL),
  OPENAPI_URL: `${base("upstream")}/openapi.json`,
  UPSTREAM_BASE_URL: base("upstream"),
});

function seedPolicy(persist) {
  const file = path.join(STATE, "policies.json");
  fs.writeFileSync(file, JSON.stringify([{ key: `policy:${WORKSPACE}`, value: JSON.stringify(policy()) }]));
  execFileSync(WRANGLER, ["kv", "bulk", "put", "--local", "--persist-to", persist, "--binding", "POLICIES", file], { cwd: ROOT, env: childEnv(), stdio: "pipe" });
}

function wranglerDev(peer, dir, vars, persist) {
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(cfg.ports[peer]), "--inspector-port", String(cfg.inspector[peer]), "--persist-to", persist, "--log-level", "warn", "--show-interactive-dev-session=false"];
  if (dir !== ROOT) args.push("--config", path.join(dir, "wrangler.toml"));
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  return start(`${peer}-wrangler`, WRANGLER, args, { cwd: ROOT, env: childEnv() });
}

const ok = async (url, init) => (await fetch(url, init)).ok;
const probes = {
  ours: () => ok(`${base("ours")}/.well-known/oauth-authorization-server`),
  provider: () => ok(`${base("provider")}/.well-known/oauth-authorization-server`),
  empty: () => ok(base("empty"), { method: "POST", body: "{}" }),
};

function upstream() {
  const proc = start("upstream", process.execPath, [path.join(BENCH, "upstream.mjs"), String(cfg.ports.upstream), "300"], { cwd: ROOT });
  return waitFor("upstream", proc, () => ok(`${base("upstream")}/_stats`), 20_000).then(() => proc);
}

// --- MCP requests ---------------------------------------------------------------------------------

const rpc = (method, params) => JSON.stringify({ jsonrpc: "2.0", id: 1, method, ...(params ? { params } : {}) });
const BODIES = {
  whoami: rpc("tools/call", { name: "mcp_whoami", arguments: {} }),
  tools_list: rpc("tools/list"),
  // GET /v0/contacts/{contactId} of the sample (CONTACTS_READ), answered by the upstream at once.
  api_call: rpc("tools/call", { name: "get_a_contact", arguments: { pathParams: { contactId: "ct_8f3a2c" } } }),
};
const mcpHeaders = (tokenValue) => ({
  authorization: `Bearer ${tokenValue}`,
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2025-06-18",
});
async function mcp(peer, tokenValue, body) {
  const r = await fetch(`${base(peer)}/mcp`, { method: "POST", headers: mcpHeaders(tokenValue), body });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, text, json };
}

// --- workloads ------------------------------------------------------------------------------------

const isResult = (j) => j?.result && j.result.isError !== true;
const WORKLOADS = [
  {
    id: "whoami", title: "tools/call mcp_whoami", peers: ["ours", "empty", "provider"], kind: "mcp",
    expect: (j) => isResult(j) && JSON.stringify(j.result).includes("ada@example.com"),
  },
  {
    id: "tools_list", title: "tools/list (~300 tools)", peers: ["ours", "empty", "provider"], kind: "mcp",
    expect: (j) => Array.isArray(j?.result?.tools) && j.result.tools.length >= 300,
  },
  {
    id: "api_call", title: "OpenAPI tool call (get_a_contact → local upstream)", peers: ["ours"], kind: "mcp",
    expect: (j) => isResult(j) && j.result.structuredContent?.email === "grace@hopper.example",
  },
  { id: "code", title: "authorization_code exchange (/token)", peers: ["ours", "provider"], kind: "code" },
  { id: "refresh", title: "refresh_token grant, rotated (/token)", peers: ["ours", "provider"], kind: "refresh" },
  {
    id: "meta_as", title: "GET /.well-known/oauth-authorization-server", peers: ["ours", "provider"], kind: "get",
    path: "/.well-known/oauth-authorization-server", expect: (j, peer) => j?.issuer === base(peer) && !!j.token_endpoint,
  },
  {
    id: "meta_pr", title: "GET /.well-known/oauth-protected-resource/mcp", peers: ["ours", "provider"], kind: "get",
    path: "/.well-known/oauth-protected-resource/mcp", expect: (j, peer) => j?.resource === `${base(peer)}/mcp`,
  },
].filter((w) => !cfg.only || cfg.only.includes(w.id));

// --- wrk ------------------------------------------------------------------------------------------

async function wrk(url, conns, vars, duration = cfg.duration) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("BENCH_")));
  const args = ["-t1", `-c${conns}`, `-d${duration}s`, "--latency", "--timeout", "10s", "-s", LUA, url];
  const child = spawn("wrk", args, { env: { ...env, ...vars }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const code = await new Promise((r) => child.on("close", r));
  const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (code !== 0 || !line) throw new Error(`wrk ${args.join(" ")} failed (${code}):\n${out}`);
  return JSON.parse(line.slice("BENCH_RESULT ".length));
}

class BenchError extends Error {}
const fail = (msg) => { throw new BenchError(msg); };

/** The sample request of a workload: the exact request wrk sends, checked by status and body. */
async function sample(w, peer, ctx) {
  if (w.kind === "mcp") {
    const r = await mcp(peer, ctx.tokens[peer], BODIES[w.id]);
    if (r.status !== 200 || !w.expect(r.json, peer)) fail(`${peer} ${w.id}: the sample answered ${r.status}: ${r.text.slice(0, 600)}`);
    return r.text.length;
  }
  const r = await fetch(`${base(peer)}${w.path}`);
  const text = await r.text();
  let j = null;
  try { j = JSON.parse(text); } catch {}
  if (r.status !== 200 || !w.expect(j, peer)) fail(`${peer} ${w.id}: the sample answered ${r.status}: ${text.slice(0, 600)}`);
  return text.length;
}

/** Every response was 2xx, and at least as long as the body that was checked. */
function checkStatic(w, peer, conns, res, bodyBytes) {
  const where = `${peer} ${w.id} @${conns}`;
  if (res.requests === 0) fail(`${where}: no request completed`);
  if (res.non2xx > 0) fail(`${where}: ${res.non2xx} of ${res.requests} responses were not 2xx`);
  if (res.connect + res.read + res.write + res.timeout > 0) fail(`${where}: socket errors ${JSON.stringify(res)}`);
  const perResponse = res.bytes / res.requests;
  if (perResponse < bodyBytes) fail(`${where}: ${perResponse.toFixed(0)} bytes per response, less than the ${bodyBytes}-byte body checked: some answers were something else`);
}

function staticVars(w, peer, ctx) {
  if (w.kind === "mcp") return { BENCH_METHOD: "POST", BENCH_MCP: "1", BENCH_TOKEN: ctx.tokens[peer], BENCH_BODY: ctx.bodyFiles[w.id] };
  return { BENCH_METHOD: "GET" };
}

const codeRates = {}; // peer@conns → the last successful-exchange rate, to size the next batch

/** How many codes to mint for one run: what the last run used, with room to spare. */
function batchSize(peer, conns) {
  const seen = codeRates[`${peer}@${conns}`];
  const fewer = Object.entries(codeRates).filter(([k]) => k.startsWith(`${peer}@`)).map(([, r]) => r);
  // Not yet measured at this width: twice the best rate seen at another, else a guess.
  const rate = seen ?? (fewer.length ? 2 * Math.max(...fewer) : 60);
  return Math.min(6000, Math.ceil(rate * cfg.duration * 1.5) + 30);
}

async function runOnce(w, peer, conns, ctx) {
  const url = w.kind === "get" ? `${base(peer)}${w.path}` : w.kind === "mcp" ? `${base(peer)}/mcp` : `${base(peer)}/token`;
  if (w.kind === "mcp" || w.kind === "get") {
    const bodyBytes = await sample(w, peer, ctx);
    const res = await wrk(url, conns, staticVars(w, peer, ctx));
    checkStatic(w, peer, conns, res, bodyBytes);
    await sample(w, peer, ctx); // still the right answer after the load
    return { rps: res.requests / (res.duration_us / 1e6), p50: res.p50_us, p99: res.p99_us, requests: res.requests };
  }
  for (let attempt = 1; ; attempt++) {
    const r = await tokenRun(w, peer, conns, ctx, url);
    // Codes ran out well before the end: the rate is known now, so mint enough and run again.
    if (w.kind === "code" && r.ranDry && r.ranDry < cfg.duration * 0.6 && attempt < 3) {
      log(`  ${peer} ${w.id} @${conns}: the ${r.requests} codes lasted ${r.ranDry} s; again with more`);
      continue;
    }
    if (r.window < 0.5) fail(`${peer} ${w.id} @${conns}: only ${(r.window * 1000).toFixed(0)} ms of successful requests (${r.requests})`);
    return r;
  }
}

async function tokenRun(w, peer, conns, ctx, url) {
  const where = `${peer} ${w.id} @${conns}`;
  const lines = path.join(STATE, `${peer}-${w.id}-${conns}.txt`);
  let vars;
  if (w.kind === "code") {
    const n = batchSize(peer, conns);
    const t0 = Date.now();
    const bodies = await ctx.clients[peer].mint(n);
    log(`  minted ${n} codes at ${peer} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    fs.writeFileSync(lines, bodies.join("\n") + "\n");
    vars = { BENCH_METHOD: "POST", BENCH_FORM: "1", BENCH_LINES: lines, BENCH_COLLECT: ctx.refreshFiles[peer] };
  } else {
    const seeds = await refreshSeeds(peer, Math.max(32, conns * 4), ctx);
    fs.writeFileSync(lines, seeds.join("\n") + "\n");
    vars = { BENCH_METHOD: "POST", BENCH_FORM: "1", BENCH_LINES: lines, BENCH_CHAIN: ctx.clients[peer].refreshBody() };
  }
  await sleep(500);
  const res = await wrk(url, conns, vars);
  if (res.ok === 0) fail(`${where}: no request succeeded (${res.failed} failed)`);
  if (res.failed > res.exhausted) fail(`${where}: ${res.failed - res.exhausted} of ${res.ok + res.failed} token requests failed`);
  if (res.connect + res.read + res.write + res.timeout > 0) fail(`${where}: socket errors ${JSON.stringify(res)}`);
  const rps = res.ok / (res.window_us / 1e6);
  if (w.kind === "code") codeRates[`${peer}@${conns}`] = rps;
  return { rps, p50: res.p50_us, p99: res.p99_us, requests: res.ok, window: res.window_us / 1e6, ranDry: res.exhausted ? +(res.window_us / 1e6).toFixed(2) : null };
}

/** Unused refresh tokens: those the code-exchange runs collected, else new connections. */
async function refreshSeeds(peer, n, ctx) {
  const file = ctx.refreshFiles[peer];
  const all = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
  const taken = all.slice(0, n);
  fs.writeFileSync(file, all.slice(n).map((l) => l + "\n").join(""));
  while (taken.length < n) {
    const t = await ctx.clients[peer].connect();
    if (!t.refresh_token) fail(`${peer}: the code exchange issued no refresh token`);
    taken.push(t.refresh_token);
  }
  return taken;
}

// --- statistics and the report --------------------------------------------------------------------

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const sh = (cmd, args) => { try { return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim(); } catch (e) { return (e.stdout || e.message || "").trim(); } };

function machine() {
  const cpu = fs.readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? os.cpus()[0]?.model;
  const mem = Number(fs.readFileSync("/proc/meminfo", "utf8").match(/MemTotal:\s*(\d+)/)?.[1] ?? 0) * 1024;
  const pkg = (p) => { try { return JSON.parse(fs.readFileSync(p, "utf8")).version; } catch { return "?"; } };
  const dirty = sh("git", ["-C", ROOT, "status", "--porcelain", "--untracked-files=no"]) ? " (with uncommitted changes)" : "";
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu,
    memory: `${(mem / 2 ** 30).toFixed(1)} GiB`,
    kernel: os.release(),
    load: os.loadavg().map((l) => l.toFixed(2)).join(" "),
    node: process.version,
    wrangler: pkg(path.join(ROOT, "node_modules/wrangler/package.json")),
    workerd: sh(path.join(BIN, "workerd"), ["--version"]) || pkg(path.join(ROOT, "node_modules/workerd/package.json")),
    wrk: sh("wrk", ["-v"]).split("\n")[0].replace(/ Copyright.*/, ""),
    provider: pkg(path.join(BENCH, "node_modules/@cloudflare/workers-oauth-provider/package.json")),
    commit: sh("git", ["-C", ROOT, "rev-parse", "--short=12", "HEAD"]) + dirty,
    branch: sh("git", ["-C", ROOT, "rev-parse", "--abbrev-ref", "HEAD"]),
  };
}

const fmtRps = (x) => (x == null ? "–" : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const fmtMs = (us) => (us == null ? "–" : (us / 1000).toFixed(us < 10_000 ? 2 : 1));
const fmtRatio = (a, b) => (a == null || b == null || !b ? "–" : (a / b).toFixed(2));

/** results[runtime][workload][peer][conns] = [{rps, p50, p99}, …] → medians. */
function summarize(runs) {
  const out = {};
  for (const [k, list] of Object.entries(runs)) {
    out[k] = { rps: median(list.map((r) => r.rps)), p50: median(list.map((r) => r.p50)), p99: median(list.map((r) => r.p99)), n: list.length, ranDry: list.map((r) => r.ranDry).filter((x) => x != null) };
  }
  return out;
}

function table(w, stats) {
  const cols = cfg.conns;
  const head = ["worker", ...cols.flatMap((c) => [`req/s @${c}`, `p50 ms @${c}`, `p99 ms @${c}`])];
  const rows = [head, head.map(() => "---")];
  const get = (peer, c) => stats[`${w.id}/${peer}/${c}`];
  for (const peer of w.peers) rows.push([peer, ...cols.flatMap((c) => { const s = get(peer, c); return [fmtRps(s?.rps), fmtMs(s?.p50), fmtMs(s?.p99)]; })]);
  for (const other of ["empty", "provider"].filter((p) => w.peers.includes(p) && w.peers.includes("ours"))) {
    rows.push([`**ours/${other}**`, ...cols.flatMap((c) => { const a = get("ours", c), b = get(other, c); return [fmtRatio(a?.rps, b?.rps), fmtRatio(a?.p50, b?.p50), fmtRatio(a?.p99, b?.p99)]; })]);
  }
  return rows.map((r) => `| ${r.join(" | ")} |`).join("\n");
}

function summaryTable(stats) {
  const cols = cfg.conns.flatMap((c) => [`ours/empty @${c}`, `ours/provider @${c}`]);
  const rows = [["workload", "ours req/s @" + cfg.conns.join(" / @"), ...cols], []];
  rows[1] = rows[0].map(() => "---");
  for (const w of WORKLOADS) {
    const g = (p, c) => stats[`${w.id}/${p}/${c}`]?.rps;
    rows.push([w.title, cfg.conns.map((c) => fmtRps(g("ours", c))).join(" / "), ...cfg.conns.flatMap((c) => [fmtRatio(g("ours", c), g("empty", c)), fmtRatio(g("ours", c), g("provider", c))])]);
  }
  return rows.map((r) => `| ${r.join(" | ")} |`).join("\n");
}

/** Plain workerd ÷ wrangler dev, per workload and worker: what wrangler dev's proxy costs. */
function proxySection(byRuntime) {
  const a = byRuntime.workerd, b = byRuntime.wrangler;
  const cols = PEERS.flatMap((p) => cfg.conns.map((c) => [p, c]));
  const rows = [["workload", ...cols.map(([p, c]) => `${p} @${c}`)]];
  rows.push(rows[0].map(() => "---"));
  for (const w of WORKLOADS) rows.push([w.title, ...cols.map(([p, c]) => fmtRatio(a[`${w.id}/${p}/${c}`]?.rps, b[`${w.id}/${p}/${c}`]?.rps))]);
  const e = (st, c) => st[`whoami/empty/${c}`];
  const lines = ["## What `wrangler dev` costs", ""];
  if (e(a, 1) && e(b, 1)) {
    lines.push(`The empty worker answers \`mcp_whoami\` at ${fmtRps(e(b, 1).rps)} req/s under \`wrangler dev\` and ${fmtRps(e(a, 1).rps)} under plain workerd (one connection; p50 ${fmtMs(e(b, 1).p50)} ms against ${fmtMs(e(a, 1).p50)} ms): \`wrangler dev\` puts its proxy — a second workerd process per worker — in front of each request, and for a cheap request that proxy is most of the time. Compare workers within one table; the plain-workerd tables show the workers' own costs.`, "");
  }
  lines.push("req/s under plain workerd ÷ req/s under `wrangler dev`:", "", ...rows.map((r) => `| ${r.join(" | ")} |`));
  return lines;
}

function report({ facts, wasm, byRuntime, seconds, notes }) {
  const lines = [];
  lines.push("# Benchmarks", "");
  lines.push(`Generated by \`make bench\` (bench/run.mjs) on ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}, in ${Math.round(seconds)} s. Do not edit: run it again.`, "");
  lines.push("```sh", `make bench${E.BENCH_ROUNDS || E.BENCH_DURATION || E.BENCH_ONLY || E.BENCH_RUNTIME ? `   # with ${["BENCH_ROUNDS", "BENCH_DURATION", "BENCH_CONNECTIONS", "BENCH_ONLY", "BENCH_RUNTIME", "BENCH_MEMBERS"].filter((k) => E[k]).map((k) => `${k}=${E[k]}`).join(" ")}` : ""}`, "```", "");
  lines.push("## Machine and versions", "");
  lines.push("| | |", "|---|---|");
  lines.push(`| machine | ${facts.nproc} cores (\`nproc\`), ${facts.cpu}, ${facts.memory}; Linux ${facts.kernel}; load average at the start ${facts.load} |`);
  lines.push(`| wrangler | ${facts.wrangler} (the repo's \`node_modules/.bin/wrangler\`, for all three workers) |`);
  lines.push(`| workerd | ${facts.workerd} |`);
  lines.push(`| node | ${facts.node} (runs the harness and the upstream) |`);
  lines.push(`| wrk | ${facts.wrk} |`);
  lines.push(`| @cloudflare/workers-oauth-provider | ${facts.provider} |`);
  lines.push(`| mcp-edge | ${facts.commit} (${facts.branch}) |`, "");
  lines.push("## The worker's wasm", "");
  lines.push(`\`build/index_bg.wasm\` (release, wasm-opt -Oz): **${wasm.raw.toLocaleString("en")} bytes**, **${wasm.gzip.toLocaleString("en")} gzipped** (gzip -9).`);
  lines.push(`Compile + instantiate in node ${facts.node} (\`WebAssembly.compile\`, then \`WebAssembly.instantiate\` with each of its ${wasm.imports} imports stubbed), median of ${wasm.runs} runs: **${wasm.total.toFixed(1)} ms** (compile ${wasm.compile.toFixed(1)} ms, instantiate ${wasm.instantiate.toFixed(2)} ms). V8 compiles a module's functions lazily, so this is the cost of starting an isolate, not of compiling every function.${wasm.rewritten ? " The module's imports are in the compact import-section encoding (wasm-opt `--all-features`), which workerd's V8 reads and this node's does not: node is given the same module with only that section written in the standard encoding." : ""}`, "");
  for (const runtime of Object.keys(byRuntime)) {
    const stats = byRuntime[runtime];
    lines.push(`## Under ${runtime === "wrangler" ? "`wrangler dev`" : "plain `workerd`"}`, "");
    lines.push(runtime === "wrangler"
      ? "Each worker under its own `wrangler dev` (local mode: workerd behind wrangler's proxy, local KV and Durable Objects in a fresh `--persist-to` directory)."
      : "The same three workers, each bundled as `wrangler deploy` bundles it and served by its own plain `workerd serve` (the same workerd binary) from a generated capnp config (bench/workerd.mjs): nothing in front of the worker. Durable Objects are workerd's own, SQLite on a local directory (what miniflare uses too); each KV namespace is bench/workerd-kv.js, an in-memory service speaking workerd's KV protocol (under wrangler dev, miniflare's SQLite-backed one).", "");
    lines.push("Ratios: ours ÷ the other; for req/s higher is better for ours, for latency lower is.", "");
    lines.push(summaryTable(stats), "");
    for (const w of WORKLOADS) {
      lines.push(`### ${w.title}`, "", table(w, stats), "");
      const dry = w.peers.flatMap((p) => cfg.conns.flatMap((c) => (stats[`${w.id}/${p}/${c}`]?.ranDry ?? []).map((s) => `${p} @${c}: ${s} s`)));
      if (dry.length) lines.push(`Runs that used every code minted before the end (req/s over the time they ran): ${dry.join(", ")}.`, "");
    }
  }
  if (byRuntime.wrangler && byRuntime.workerd) lines.push(...proxySection(byRuntime), "");
  lines.push("## How the numbers were taken", "");
  lines.push(...[
    `- Three workers, each started fresh (state in a new \`mktemp\` directory): **ours** (this repository's release build, \`make build\`), **empty** (bench/empty: answers every POST with a constant — the bytes our worker answers for \`mcp_whoami\` and \`tools/list\` — the ceiling of the runtime), and **provider** (bench/provider: \`@cloudflare/workers-oauth-provider\` ${facts.provider} as \`OAuthProvider\`, guarding a minimal \`/mcp\` that answers \`mcp_whoami\` from \`ctx.props\` and \`tools/list\` with the same tools, its \`/authorize\` approving at once).`,
    `- Ours runs with \`DEV_SIGN_IN=on\`, \`AUTH_CODE_TTL_SECONDS=${CODE_TTL}\`, \`OPENAPI_URL\` and \`UPSTREAM_BASE_URL\` pointing at bench/upstream.mjs (node, on loopback): the sample \`config/openapi.json\` with its paths repeated under \`/v{n}\` (324 operations, as \`src/bin/bench-catalog.rs\` builds it), every other request answered at once with a small JSON object. Workspace \`${WORKSPACE}\`, ceiling \`ALL\` (so \`tools/list\` lists all 324 tools and \`mcp_whoami\`), ${cfg.members} members.`,
    "- Tokens come through each server's own flow: ours — dynamic registration, `/authorize`, the development sign-in form, the consent page and Approve, `/token`; the provider — its `/register`, `/authorize` (auto-approved, `completeAuthorization` with `revokeExistingGrants: false`, as ours keeps every connection), `/token`.",
    `- Load: \`wrk -t1 -c1\` and \`-t1 -c8\`, ${cfg.duration} s per run, \`--latency\`, on loopback, with bench/wrk/load.lua (POST bodies, \`Authorization: Bearer …\`, \`Content-Type: application/json\`, \`Accept: application/json, text/event-stream\`, \`MCP-Protocol-Version: 2025-06-18\`). ${cfg.rounds} rounds; in each, every workload at each connection count on each worker in turn (the order of the workers reversed every other round); the tables show the **median over the rounds** of req/s, p50 and p99 (wrk's latency distribution, corrected for coordinated omission by wrk).`,
    "- Every run is checked: one sample request (the same request wrk sends) before and after it must answer 200 with the expected body (`mcp_whoami`'s result naming the user, a list of ≥ 300 tools, the upstream's contact, metadata naming the server's own issuer/resource); wrk must see no non-2xx answer and no socket error, and at least as many bytes per response as the checked body. A benchmark of error responses fails instead of producing a number.",
    "- **authorization_code exchange**: codes are single use, so before each run a batch is minted through the real authorize path (ours: consent page + Approve for each code, members round robin; provider: its `/authorize`), sized from the previous run's rate; wrk's `request()` hands out each once. Only 2xx answers count, req/s = successful exchanges ÷ the time from the first request to the last success. A run that uses every code stops early (noted under its table). The refresh tokens issued are kept for the refresh runs.",
    "- **refresh grant**: every refresh token is used once (rotation): each run starts from unused refresh tokens the exchange runs collected (4 per connection, at least 32), and `response()` puts each answer's new refresh token back in the queue, so every request presents a token never presented before — as a client does. Only 2xx count (none may fail).",
    "- The machine is shared (other builds may run): compare numbers from one run, not across runs.",
    ...notes,
  ]);
  lines.push("");
  return lines.join("\n");
}

function printSummary(byRuntime, wasm) {
  console.log(`\nwasm: ${wasm.raw} bytes, ${wasm.gzip} gzipped; compile+instantiate ${wasm.total.toFixed(1)} ms (median of ${wasm.runs})`);
  for (const [runtime, stats] of Object.entries(byRuntime)) {
    console.log(`\n== ${runtime} ==  (req/s, p50 ms, p99 ms; median of ${cfg.rounds} rounds)`);
    for (const w of WORKLOADS) {
      console.log(`  ${w.title}`);
      for (const peer of w.peers) {
        const cells = cfg.conns.map((c) => { const s = stats[`${w.id}/${peer}/${c}`]; return s ? `@${c}: ${fmtRps(s.rps).padStart(6)} req/s ${fmtMs(s.p50).padStart(6)} ${fmtMs(s.p99).padStart(6)}` : `@${c}: –`; });
        console.log(`    ${peer.padEnd(9)} ${cells.join("   ")}`);
      }
      for (const other of ["empty", "provider"].filter((p) => w.peers.includes(p) && w.peers.includes("ours"))) {
        console.log(`    ${("ours/" + other).padEnd(14)} ${cfg.conns.map((c) => `@${c}: ${fmtRatio(stats[`${w.id}/ours/${c}`]?.rps, stats[`${w.id}/${other}/${c}`]?.rps)}`).join("   ")}`);
      }
    }
  }
}

// --- main -----------------------------------------------------------------------------------------

/** Starts the three workers under `runtime`; returns what the workloads need. */
async function bringUp(runtime, first) {
  const persist = Object.fromEntries(PEERS.map((p) => [p, fs.mkdtempSync(path.join(STATE, `${runtime}-${p}-`))]));
  const procs = {};
  if (runtime === "wrangler") {
    seedPolicy(persist.ours);
    procs.ours = wranglerDev("ours", ROOT, oursVars(), persist.ours);
  } else {
    procs.ours = await startWorkerd({ peer: "ours", port: cfg.ports.ours, state: persist.ours, vars: oursVars(), start, policy: { key: `policy:${WORKSPACE}`, value: JSON.stringify(policy()) } });
  }
  await waitFor(`ours (${runtime})`, procs.ours, probes.ours);
  log(`ours is up under ${runtime}`);

  const ours = new OursClient(base("ours"), { workspace: WORKSPACE, members: MEMBERS });
  await ours.setup().catch((e) => fail(`could not sign in at ours: ${e.message}`));
  const oursTokens = await ours.connect().catch((e) => fail(`could not get a token from ours: ${e.message}`));
  // What ours answers becomes the empty worker's constants and the provider's tool list.
  if (first) {
    const list = await mcp("ours", oursTokens.access_token, BODIES.tools_list);
    if (list.status !== 200 || !(list.json?.result?.tools?.length >= 300)) fail(`ours: tools/list did not list ≥ 300 tools (${list.status}): ${list.text.slice(0, 500)}`);
    const who = await mcp("ours", oursTokens.access_token, BODIES.whoami);
    if (who.status !== 200 || !isResult(who.json)) fail(`ours: mcp_whoami failed (${who.status}): ${who.text.slice(0, 500)}`);
    fs.mkdirSync(GEN, { recursive: true });
    fs.writeFileSync(path.join(GEN, "tools.json"), JSON.stringify(list.json.result.tools));
    fs.writeFileSync(path.join(GEN, "whoami.json"), JSON.stringify(who.json.result));
    log(`ours lists ${list.json.result.tools.length} tools (${list.text.length} bytes)`);
  }

  for (const peer of ["empty", "provider"]) {
    const dir = path.join(BENCH, peer);
    const vars = peer === "provider" ? { ORIGIN: base("provider") } : {};
    procs[peer] = runtime === "wrangler" ? wranglerDev(peer, dir, vars, persist[peer]) : await startWorkerd({ peer, port: cfg.ports[peer], state: persist[peer], vars, start });
  }
  for (const peer of ["empty", "provider"]) await waitFor(`${peer} (${runtime})`, procs[peer], probes[peer]);
  log(`empty and provider are up under ${runtime}`);

  const provider = new ProviderClient(base("provider"), { members: MEMBERS });
  await provider.setup().catch((e) => fail(`could not register at the provider: ${e.message}`));
  const providerTokens = await provider.connect().catch((e) => fail(`could not get a token from the provider: ${e.message}`));

  const refreshFiles = { ours: path.join(STATE, `${runtime}-ours-refresh.txt`), provider: path.join(STATE, `${runtime}-provider-refresh.txt`) };
  const bodyFiles = {};
  for (const [id, body] of Object.entries(BODIES)) fs.writeFileSync((bodyFiles[id] = path.join(STATE, `${id}.json`)), body);
  return {
    names: children.map((c) => c.name).filter((n) => n !== "upstream"),
    clients: { ours, provider },
    // The empty worker checks nothing; it gets our token so its requests are the same size.
    tokens: { ours: oursTokens.access_token, empty: oursTokens.access_token, provider: providerTokens.access_token },
    refreshFiles,
    bodyFiles,
  };
}

async function measure(runtime, ctx) {
  const runs = {};
  // Warm-up: one short run per worker of the /mcp workloads (compiles the wasm, builds the catalog).
  for (const peer of PEERS) for (const id of ["whoami", "tools_list"]) {
    const w = WORKLOADS.find((x) => x.id === id);
    if (w?.peers.includes(peer)) await wrk(`${base(peer)}/mcp`, 8, staticVars(w, peer, ctx), 1);
  }
  for (let round = 1; round <= cfg.rounds; round++) {
    log(`${runtime}: round ${round} of ${cfg.rounds}`);
    for (const w of WORKLOADS) {
      for (const conns of cfg.conns) {
        const order = round % 2 ? w.peers : [...w.peers].reverse();
        for (const peer of order) {
          const r = await runOnce(w, peer, conns, ctx);
          (runs[`${w.id}/${peer}/${conns}`] ??= []).push(r);
          log(`  ${w.id.padEnd(10)} ${peer.padEnd(8)} @${conns}: ${fmtRps(r.rps).padStart(6)} req/s  p50 ${fmtMs(r.p50)} ms  p99 ${fmtMs(r.p99)} ms${r.ranDry ? `  (codes ran out after ${r.ranDry} s)` : ""}`);
        }
      }
    }
  }
  return summarize(runs);
}

async function main() {
  log(`state in ${STATE}; ${cfg.rounds} rounds × ${cfg.duration} s; connections ${cfg.conns.join(", ")}; runtimes ${cfg.runtimes.join(", ")}`);
  const facts = machine();
  const wasm = await wasmFacts(path.join(ROOT, "build/index_bg.wasm"));
  log(`wasm: ${wasm.raw} bytes (${wasm.gzip} gzipped), compile+instantiate ${wasm.total.toFixed(1)} ms`);
  await upstream();
  const byRuntime = {};
  const notes = [];
  for (const [i, runtime] of cfg.runtimes.entries()) {
    const ctx = await bringUp(runtime, i === 0);
    byRuntime[runtime] = await measure(runtime, ctx);
    await stopChildren(ctx.names);
  }
  const seconds = (Date.now() - started) / 1000;
  printSummary(byRuntime, wasm);
  if (cfg.out) {
    fs.writeFileSync(cfg.out, report({ facts, wasm, byRuntime, seconds, notes }));
    log(`wrote ${path.relative(process.cwd(), cfg.out) || cfg.out}`);
  }
  await stopChildren(children.map((c) => c.name));
  if (E.BENCH_KEEP) log(`state and logs kept in ${STATE}`);
  else fs.rmSync(STATE, { recursive: true, force: true });
  log(`done in ${Math.round(seconds)} s`);
}

main().catch((e) => {
  console.error(`\nbench failed: ${e instanceof BenchError ? e.message : e.stack}`);
  console.error(`logs and state kept in ${STATE}`);
  stopAll();
  process.exit(1);
});
