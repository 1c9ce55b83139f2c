// The soak (issue #12): sustained traffic against one `wrangler dev` — `mcp_whoami` and OpenAPI
// tool calls (answered by Prism) on several connections at once, each connection refreshing its
// tokens every few seconds, and one connection revoked and replaced on a fixed period. It counts
// every request, every error (anything but a success, and the 401s a revoked connection must
// get), and workerd's memory at the start and the end.
//
// Used by `soak.test.mjs` (a short run in `make test`) and `scripts/soak.mjs` (`make soak`).
import { execFileSync } from "node:child_process";
import { BASE, closeBrowser, connect, launchBrowser, mcp, policy, putPolicies, rpc, serverPid, startCallbackListener, startServer, stopCallbackListener, stopServer, token } from "./harness.mjs";
import { UPSTREAM_VARS, startUpstream, stopUpstream } from "./tools.suite.mjs";

export const WORKSPACE = "soak";
export const MEMBER = "sam@example.com";
export const POLICIES = {
  [WORKSPACE]: policy({ name: "Soak", scope_ceiling: ["CONTACTS_READ", "COMPANIES_READ"], members: [{ email: MEMBER, name: "Sam", role: "member" }] }),
};

/** The soak's world: its policy, Prism behind the OpenAPI tools, wrangler dev, the callback
 * listener and Chromium (for each connection's sign-in and consent). */
export async function setUp() {
  await putPolicies(POLICIES);
  await startUpstream();
  await startServer(UPSTREAM_VARS);
  await startCallbackListener();
  await launchBrowser();
}

export async function tearDown() {
  await closeBrowser();
  stopCallbackListener();
  stopUpstream();
  await stopServer();
}

/** workerd's resident memory, in KiB: every workerd process in wrangler dev's process group. */
export function workerdRssKiB() {
  const out = execFileSync("ps", ["-o", "rss=,comm=", "-g", String(serverPid())], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((line) => /workerd/.test(line))
    .reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[0] || 0), 0);
}

const CALLS = [
  ["mcp_whoami", {}],
  ["get_a_contact", { pathParams: { contactId: "ct_8f3a2c" } }],
  ["list_companies", {}],
];

const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : 0);

/**
 * Runs for `seconds` with `connections` live connections, `workers` calls in flight, a refresh
 * of each connection every `refreshEvery` seconds and one revocation every `revokeEvery`
 * seconds. Returns the figures; `errors` lists what went wrong (empty when all went well).
 */
export async function soak({ seconds = 60, connections = 3, workers = 4, refreshEvery = 10, revokeEvery = 20, log = () => {} } = {}) {
  const open = async () => {
    const c = await connect({ workspace: WORKSPACE, email: MEMBER, scope: "CONTACTS_READ COMPANIES_READ" });
    return { client: c.client.client_id, access: c.tokens.access_token, refresh: c.tokens.refresh_token, refreshedAt: Date.now() };
  };
  const live = [];
  for (let i = 0; i < connections; i++) live.push(await open());
  const counts = { requests: 0, toolCalls: 0, refreshes: 0, revocations: 0, revokedRefused: 0, servedWhileRevocationPropagated: 0, connectionsOpened: connections };
  const errors = [];
  const latencies = [];
  const rssStart = workerdRssKiB();
  const started = Date.now();
  const end = started + seconds * 1000;
  let nextRevocation = started + revokeEvery * 1000;
  let busy = Promise.resolve();

  const fail = (what) => {
    if (errors.length < 50) errors.push(what);
  };

  // Refreshes and revocations are serialised on one chain, so a connection is never refreshed
  // and revoked at once; tool calls go on meanwhile with whatever access token is current.
  const maintain = async () => {
    for (const c of live) {
      if (Date.now() - c.refreshedAt < refreshEvery * 1000) continue;
      const r = await token({ grant_type: "refresh_token", refresh_token: c.refresh, client_id: c.client });
      counts.requests++;
      if (r.status !== 200) {
        fail(`refresh: ${r.status} ${JSON.stringify(r.body)}`);
        continue;
      }
      counts.refreshes++;
      Object.assign(c, { access: r.body.access_token, refresh: r.body.refresh_token, refreshedAt: Date.now() });
    }
    if (Date.now() >= nextRevocation) {
      nextRevocation += revokeEvery * 1000;
      const gone = live.shift();
      const r = await fetch(`${BASE}/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: gone.refresh, client_id: gone.client }) });
      counts.requests++;
      if (r.status !== 200) fail(`revoke: ${r.status} ${await r.text()}`);
      counts.revocations++;
      // Other isolates may serve a revoked connection for REVOCATION_CHECK_SECONDS (README,
      // "Tokens and connections"); within that the token must stop working, and then stay refused.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const probe = await mcp(gone.access, rpc("tools/call", { name: "mcp_whoami", arguments: {} }));
        counts.requests++;
        if (probe.status === 401) {
          counts.revokedRefused++;
          break;
        }
        if (probe.status !== 200 || Date.now() > deadline) {
          fail(`revoked connection: ${probe.status} ${probe.text.slice(0, 200)}`);
          break;
        }
        counts.servedWhileRevocationPropagated++;
        await new Promise((r) => setTimeout(r, 250));
      }
      const again = await token({ grant_type: "refresh_token", refresh_token: gone.refresh, client_id: gone.client });
      counts.requests++;
      if (again.status !== 400 || again.body?.error !== "invalid_grant") fail(`revoked refresh token: ${again.status} ${JSON.stringify(again.body)}`);
      live.push(await open());
      counts.connectionsOpened++;
    }
  };

  const worker = async (n) => {
    let i = n;
    while (Date.now() < end) {
      const c = live[i % live.length];
      const [name, args] = CALLS[i % CALLS.length];
      i++;
      const access = c.access;
      const t0 = performance.now();
      const r = await mcp(access, rpc("tools/call", { name, arguments: args }, i));
      latencies.push(performance.now() - t0);
      counts.requests++;
      counts.toolCalls++;
      // A call that raced its connection's revocation may be refused: that is the expected 401.
      const revoked = !live.some((l) => l.access === access);
      if (r.status === 401 && revoked) counts.revokedRefused++;
      else if (r.status !== 200 || r.body?.result?.isError !== false) fail(`${name}: ${r.status} ${r.text.slice(0, 300)}`);
    }
  };
  let ticks = 0;
  let maintaining = false;
  const ticker = setInterval(() => {
    if (++ticks % 5 === 0) log(`${Math.round((Date.now() - started) / 1000)} s: ${counts.requests} requests, ${errors.length} errors, workerd ${Math.round(workerdRssKiB() / 1024)} MiB`);
    if (maintaining || Date.now() >= end) return;
    maintaining = true;
    busy = maintain()
      .catch((e) => fail(`maintenance: ${e.message}`))
      .finally(() => (maintaining = false));
  }, 1000);
  try {
    await Promise.all(Array.from({ length: workers }, (_, n) => worker(n)));
  } finally {
    clearInterval(ticker);
  }
  await busy;
  const rssEnd = workerdRssKiB();
  latencies.sort((a, b) => a - b);
  return {
    seconds: Math.round((Date.now() - started) / 1000),
    ...counts,
    errors,
    requestsPerSecond: Math.round(counts.requests / ((Date.now() - started) / 1000)),
    latencyMs: { p50: Math.round(percentile(latencies, 0.5)), p95: Math.round(percentile(latencies, 0.95)), p99: Math.round(percentile(latencies, 0.99)) },
    // wrangler dev's workerd grows by tens of KiB per request whatever the worker (README,
    // "Tests"): compare this with that baseline, not with zero.
    workerdRssMiB: { start: Math.round(rssStart / 1024), end: Math.round(rssEnd / 1024) },
    workerdGrowthKiBPerRequest: Math.round((rssEnd - rssStart) / counts.requests),
  };
}
