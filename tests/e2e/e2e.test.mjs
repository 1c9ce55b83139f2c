// One wrangler dev for every suite (node --test runs each file in its own process).
import { after, before, describe } from "node:test";
import { closeBrowser, launchBrowser, putPolicies, startCallbackListener, startServer, stopCallbackListener, stopServer } from "./harness.mjs";
import { POLICIES as OAUTH, oauthSuite } from "./oauth.suite.mjs";
import { POLICIES as TOKENS, tokensSuite } from "./tokens.suite.mjs";
import { POLICIES as ADMIN, adminSuite } from "./admin.suite.mjs";
import { siteSuite } from "./site.suite.mjs";
import { POLICIES as CIMD, cimdSuite } from "./cimd.suite.mjs";
import { hostileSuite } from "./hostile.suite.mjs";
import { POLICIES as TOOLS, UPSTREAM_VARS, startUpstream, stopUpstream, toolsSuite } from "./tools.suite.mjs";

describe("mcp-edge end to end (wrangler dev)", { timeout: 900_000 }, () => {
  before(async () => {
    await putPolicies({ ...OAUTH, ...TOKENS, ...ADMIN, ...TOOLS, ...CIMD });
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
  toolsSuite();
  siteSuite();
  hostileSuite();
});
