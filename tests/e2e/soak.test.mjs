// The short soak in `make test` (issue #12; the long one is `make soak`, scripts/soak.mjs): its
// own wrangler dev with Prism behind the OpenAPI tools, 45 s of tool calls on three connections
// with refreshes every 10 s and a revocation every 15 s. Zero errors but the revoked
// connections' 401s; the figures go to the test's output.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { serverOutput } from "./harness.mjs";
import { setUp, soak, tearDown } from "./soak.mjs";

describe("the soak, short form", { timeout: 300_000 }, () => {
  before(setUp);
  after(tearDown);

  it("45 s of whoami and OpenAPI tool calls with refreshes and revocations: no error but the revoked connections' 401s", async (t) => {
    const figures = await soak({ seconds: 45, connections: 3, workers: 4, refreshEvery: 10, revokeEvery: 15, log: (line) => t.diagnostic(line) });
    t.diagnostic(JSON.stringify(figures));
    assert.deepEqual(figures.errors, []);
    assert.ok(figures.toolCalls > 200, `${figures.toolCalls} tool calls`);
    assert.ok(figures.refreshes >= 6, `${figures.refreshes} refreshes`);
    assert.ok(figures.revocations >= 2 && figures.revokedRefused >= figures.revocations, JSON.stringify(figures));
    assert.deepEqual(serverOutput().split("\n").filter((l) => /panicked|RuntimeError|Uncaught/.test(l)), [], "the worker's log");
  });
});
