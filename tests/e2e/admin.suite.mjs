// Issue #4: admins govern a workspace through the admin page and API; the system explains itself.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ADMIN_TOKEN, BASE, authorizeUrl, browse, callbacks, exchange, mcp, newContext, pkce, policy, putPolicies, register, rpc } from "./harness.mjs";

const NEW_CALLBACK = "http://localhost:3118/callback-admin";
export const POLICIES = {
  adm: policy({ name: "Admin Co", members: [{ email: "alice@example.com", name: "Alice", role: "admin" }, { email: "mel@example.com", role: "member" }, { email: "sid@example.com", role: "member", sub: "sid-sub-1" }] }),
  other: policy({ name: "Other Co", members: [{ email: "oscar@example.com", role: "admin" }] }),
  race: policy({ name: "Race Co", members: [{ email: "rae@example.com", role: "admin" }] }),
  breaks: policy({ name: "Breaks Co", members: [{ email: "bea@example.com", role: "admin" }] }),
  hand: policy({ name: "Hand Co", members: [{ email: "hal@example.com", role: "admin" }] }),
  broken: JSON.stringify({ schema: 1, name: "Broken Co", mcp_enabled: true, allowed_redirect_uris: ["http://localhost:3118/callback"], scope_ceiling: ["CONTACTS_EVERYTHING"], members: [{ email: "bo@example.com", role: "admin" }] }),
};

export const api = (path, { method = "GET", body, headers = {} } = {}) =>
  fetch(`${BASE}/admin/api/${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { "content-type": "application/json" } : {}), ...headers }, body: body && JSON.stringify(body) });

/** The tests read the DOM; waiting for "load" only adds a way to stall (see harness.browse). */
const READY = { waitUntil: "domcontentloaded" };

export async function adminPage(workspace, email) {
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(`${BASE}/admin`, READY);
  await page.fill("#workspace", workspace);
  await page.fill("#email", email);
  await Promise.all([page.waitForURL(`${BASE}/admin`, READY), page.click("button:has-text('Sign in')")]);
  await page.locator("body[data-ready]").waitFor({ state: "attached" });
  return { page, context };
}

export function adminSuite() {
  describe("the admin page, in Chromium", () => {
    it("a rejection shows its rule; the admin adds the redirect URI; the client connects; the admin revokes it", async () => {
      // A client whose callback the workspace does not allow yet.
      const client = await register([NEW_CALLBACK], "Cursor (e2e)");
      const { verifier, challenge } = pkce();
      const refused = await browse(authorizeUrl({ clientId: client.client_id, challenge, redirectUri: NEW_CALLBACK }), { workspace: "adm", email: "alice@example.com" });
      assert.equal(refused.error, "redirect_uri is not allowed");

      const { page, context } = await adminPage("adm", "alice@example.com");
      try {
        await page.waitForSelector("#rejected tbody tr");
        const row = await page.locator("#rejected tbody tr").first().innerText();
        assert.match(row, /redirect_uri is not allowed/);
        assert.match(row, /callback-admin/);
        assert.match(row, /Cursor \(e2e\)/);
        assert.equal(await page.locator("#mcp-enabled").isChecked(), true);
        await page.fill("#redirect-uris-new", NEW_CALLBACK);
        await page.click("button:has-text('Add redirect URI')");
        await page.locator("#redirect-uris li", { hasText: NEW_CALLBACK }).waitFor();
        await page.click("#save");
        await page.waitForFunction(() => document.querySelector("#save-status").textContent === "Saved");
        const saved = await (await api("workspaces/adm/policy")).json();
        assert.equal(saved.policy.members.find((m) => m.email === "sid@example.com")?.sub, "sid-sub-1", "the page keeps a member's sub it does not show");

        const seen = await browse(authorizeUrl({ clientId: client.client_id, challenge, redirectUri: NEW_CALLBACK }), { workspace: "adm", email: "alice@example.com" });
        assert.equal(seen.callbacks.length, 1, seen.error);
        const code = new URL(seen.callbacks[0]).searchParams.get("code");
        const r = (await exchange({ client, code, verifier, redirectUri: NEW_CALLBACK })).body;
        assert.ok(r.access_token, JSON.stringify(r));
        assert.equal((await mcp(r.access_token, rpc("ping"))).status, 200);

        await page.reload();
        const connection = page.locator(`#connections tbody tr[data-client-id="${client.client_id}"]`);
        await connection.waitFor();
        assert.match(await connection.innerText(), /alice@example.com[\s\S]*Cursor \(e2e\)[\s\S]*active/);
        await connection.locator("button.revoke").click();
        await page.waitForFunction((id) => [...document.querySelectorAll("#connections tbody tr")].some((tr) => tr.dataset.clientId === id && tr.innerText.includes("revoked")), client.client_id);
        const after = await mcp(r.access_token, rpc("ping"));
        assert.equal(after.status, 401);
        assert.match(after.body.error_description, /^Token validation failed: connection/);
        await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS || "/tmp"}/admin-page.png`, fullPage: true });
      } finally {
        await context.close();
      }
    });
  });

  describe("the admin page's defences, in Chromium", () => {
    it("shows a hostile client name literally, runs none of it, and cannot be framed", async () => {
      // Markup that the page's CSP would not stop if it were ever inserted as HTML: only the
      // element check can catch that, so it is what the test asserts.
      const hostile = '<b id="injected">bold</b><img src=x>';
      const client = await register(undefined, hostile);
      // Above the ceiling of `adm`: refused, so it is recorded in the outcomes with its name.
      const refused = await browse(authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge, scope: "CONTACTS_WRITE" }), { workspace: "adm", email: "alice@example.com" });
      assert.equal(refused.error, "Requested scopes are not allowed");

      const { page, context } = await adminPage("adm", "alice@example.com");
      try {
        const response = await page.goto(`${BASE}/admin`, READY);
        assert.equal(response.status(), 200);
        assert.equal(response.headers()["x-frame-options"], "DENY");
        assert.match(response.headers()["content-security-policy"], /frame-ancestors 'none'/);
        const row = page.locator(`#rejected tbody tr[data-client-id="${client.client_id}"]`);
        await row.waitFor();
        assert.equal(await row.locator("td[data-label=Client] .name").textContent(), hostile, await row.innerText());
        assert.equal(await page.locator("#injected, #rejected img, #approved img, #connections img").count(), 0, "no element was made from the name");
      } finally {
        await context.close();
      }
    });
  });

  describe("the admin API", () => {
    it("two concurrent writes with the same ETag: one succeeds, the other gets 412, nothing is lost", async () => {
      const read = await (await api("workspaces/race/policy")).json();
      const a = { ...read.policy, allowed_redirect_uris: [...read.policy.allowed_redirect_uris, "http://localhost:5001/callback"] };
      const b = { ...read.policy, mcp_enabled: false };
      const [ra, rb] = await Promise.all([
        api("workspaces/race/policy", { method: "PUT", body: a, headers: { "if-match": read.etag } }),
        api("workspaces/race/policy", { method: "PUT", body: b, headers: { "if-match": read.etag } }),
      ]);
      assert.deepEqual([ra.status, rb.status].sort(), [200, 412]);
      const now = await (await api("workspaces/race/policy")).json();
      const winner = ra.status === 200 ? a : b;
      assert.deepEqual(now.policy, winner, "the stored policy is exactly the winner's");
      assert.equal((await api("workspaces/race/policy", { method: "PUT", body: winner })).status, 428, "no precondition, no write");
    });

    it("a hand-written malformed policy fails closed: the API names the field, an anonymous sign-in learns nothing", async () => {
      const r = await api("workspaces/broken/policy");
      assert.equal(r.status, 422);
      assert.match((await r.json()).error, /workspace `broken`.*`scope_ceiling\[0\]`: unknown scope `CONTACTS_EVERYTHING`/);
      const client = await register();
      const seen = await browse(authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge }), { workspace: "broken", email: "bo@example.com" });
      assert.deepEqual(seen.callbacks, []);
      assert.equal(seen.status, 403);
      assert.match(seen.error, /^Sign-in refused: check the workspace ID and the e-mail address/);
      assert.doesNotMatch(seen.html, /CONTACTS_EVERYTHING|invalid/);
    });

    it("a policy broken by hand after sign-in fails closed on the next authorization, naming the workspace and the field", async () => {
      const client = await register();
      const context = await newContext();
      try {
        const page = await context.newPage();
        const url = String(authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge }));
        await page.goto(url, READY);
        assert.equal(new URL(page.url()).pathname, "/signin");
        await page.fill("#workspace", "breaks");
        await page.fill("#email", "bea@example.com");
        await Promise.all([page.waitForNavigation(READY), page.click("button:has-text('Sign in')")]);
        assert.equal(await page.locator("ul#scopes").count(), 1, "the policy is valid: the consent page is shown");

        await putPolicies({ breaks: JSON.stringify({ ...POLICIES.breaks, mcp_enabled: "yes" }) });
        const before = callbacks.length;
        const response = await page.goto(url, READY);
        assert.equal(response.status(), 403);
        assert.equal(new URL(page.url()).pathname, "/authorize", "still signed in: no detour through sign-in");
        const message = (await page.locator("#error-message").textContent()).trim();
        assert.match(message, /^The policy of workspace `breaks` is invalid: `mcp_enabled` must be a boolean \(true or false\), not the string `yes`/);
        assert.equal(await page.locator("ul#scopes").count(), 0);
        await page.waitForTimeout(300);
        assert.equal(callbacks.length, before, "no callback");
      } finally {
        await context.close();
      }
      const api422 = await api("workspaces/breaks/policy");
      assert.equal(api422.status, 422);
      assert.match((await api422.json()).error, /workspace `breaks`.*`mcp_enabled` must be a boolean/);
    });

    it("a hand edit made after an admin API write is adopted at once", async () => {
      const read = await (await api("workspaces/hand/policy")).json();
      const mine = { ...read.policy, name: "Hand Co (via API)" };
      const put = await api("workspaces/hand/policy", { method: "PUT", body: mine, headers: { "if-match": read.etag } });
      assert.equal(put.status, 200);
      const { etag } = await put.json();
      await putPolicies({ hand: { ...mine, name: "Hand Co (by hand)" } });
      const now = await (await api("workspaces/hand/policy")).json();
      assert.equal(now.policy.name, "Hand Co (by hand)", "not hidden for 60 s behind the admin API's own write");
      assert.notEqual(now.etag, etag);
      const stale = await api("workspaces/hand/policy", { method: "PUT", body: mine, headers: { "if-match": etag } });
      assert.equal(stale.status, 412, "a write based on the text before the hand edit does not overwrite it");
    });

    it("a non-admin member and an admin of another workspace are refused and learn nothing", async () => {
      const signedIn = async (workspace, email) => {
        const { page, context } = await adminPage(workspace, email);
        const status = async (path) => page.evaluate(async (p) => (await fetch(p)).status, path);
        // Changes carry the page's valid CSRF token, so only the role check can refuse them.
        const send = async (path, method, headers, body) => page.evaluate(async ([p, m, h, b]) => {
          const csrf = (await (await fetch("/admin/api/session")).json()).csrf;
          return (await fetch(p, { method: m, headers: { ...h, "x-csrf-token": csrf, "content-type": "application/json" }, body: JSON.stringify(b) })).status;
        }, [path, method, headers, body]);
        const result = {
          policy: await status("/admin/api/workspaces/adm/policy"), connections: await status("/admin/api/workspaces/adm/connections"),
          outcomes: await status("/admin/api/workspaces/adm/outcomes"), missing: await status("/admin/api/workspaces/does-not-exist/policy"),
          put: await send("/admin/api/workspaces/adm/policy", "PUT", { "if-match": before.etag }, { ...before.policy, mcp_enabled: false }),
          revoke: await send("/admin/api/workspaces/adm/connections/revoke", "POST", {}, { user: "alice@example.com" }),
        };
        await context.close();
        return result;
      };
      const before = await (await api("workspaces/adm/policy")).json();
      const refused = { policy: 403, connections: 403, outcomes: 403, missing: 403, put: 403, revoke: 403 };
      assert.deepEqual(await signedIn("adm", "mel@example.com"), refused);
      assert.deepEqual(await signedIn("other", "oscar@example.com"), refused);
      assert.equal((await (await api("workspaces/adm/policy")).json()).etag, before.etag, "the policy did not change");
      assert.equal((await fetch(`${BASE}/admin/api/workspaces/adm/policy`)).status, 401);
      assert.equal((await api("workspaces/adm/policy", { headers: { authorization: "Bearer wrong" } })).status, 401);
    });
  });
}
