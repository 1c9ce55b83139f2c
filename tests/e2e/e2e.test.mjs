// One wrangler dev for every suite (node --test runs each file in its own process).
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { it } from "node:test";
import { SECRETS, closeBrowser, launchBrowser, putPolicies, serverOutput, startCallbackListener, startServer, stopCallbackListener, stopServer } from "./harness.mjs";
import { POLICIES as OAUTH, oauthSuite } from "./oauth.suite.mjs";
import { POLICIES as TOKENS, tokensSuite } from "./tokens.suite.mjs";
import { POLICIES as ADMIN, adminSuite } from "./admin.suite.mjs";
import { POLICIES as FIXES, fixesSuite } from "./fixes.suite.mjs";
import { siteSuite } from "./site.suite.mjs";
import { POLICIES as CIMD, cimdSuite } from "./cimd.suite.mjs";
import { hostileSuite } from "./hostile.suite.mjs";
import { POLICIES as TOOLS, UPSTREAM_VARS, startUpstream, stopUpstream, toolsSuite } from "./tools.suite.mjs";

describe("mcp-edge end to end (wrangler dev)", { timeout: 900_000 }, () => {
  before(async () => {
    await putPolicies({ ...OAUTH, ...TOKENS, ...ADMIN, ...FIXES, ...TOOLS, ...CIMD });
    await startUpstream();
    await startServer(UPSTREAM_VARS);
    await startCallbackListener();
    await launchBrowser();
  });
  after(async () => {
    await closeBrowser();
    stopCallbackListener();
    stopUpstream();
    await stopServer();
  });
  oauthSuite();
  cimdSuite();
  tokensSuite();
  adminSuite();
  fixesSuite();
  toolsSuite();
  siteSuite();
  hostileSuite();
  // Last: the whole run's worker log against every secret the run handled (issue #12).
  describe("the worker's log", () => {
    it("holds audit events, and none of the tokens, codes, verifiers, cookies or keys the run saw", () => {
      const log = serverOutput();
      for (const kind of ["approved", "token_issued", "refreshed", "reuse_detected", "revoked", "policy_changed", "tool_called", "denied"]) {
        assert.ok(log.includes(`{"audit":"${kind}"`), `no ${kind} event in the log`);
      }
      assert.ok(SECRETS.size > 200, `the run handled ${SECRETS.size} secrets`);
      const leaked = [...SECRETS].filter((s) => log.includes(s));
      assert.deepEqual(leaked.map((s) => `${s.slice(0, 6)}… at ${log.indexOf(s)}`), [], "secrets in the worker log");
    });
  });
});
