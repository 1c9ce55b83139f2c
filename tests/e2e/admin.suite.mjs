// Issue #4: admins govern a workspace through the admin page and API; the system explains itself.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ADMIN_TOKEN, BASE, authorizeUrl, browse, exchange, mcp, newContext, pkce, policy, register, rpc } from "./harness.mjs";

const NEW_CALLBACK = "http://localhost:3118/callback-admin";
export const POLICIES = {
  adm: policy({ name: "Admin Co", members: [{ email: "alice@example.com", name: "Alice", role: "admin" }, { email: "mel@example.com", role: "member" }] }),
  other: policy({ name: "Other Co", members: [{ email: "oscar@example.com", role: "admin" }] }),
  race: policy({ name: "Race Co", members: [{ email: "rae@example.com", role: "admin" }] }),
  broken: JSON.stringify({ schema: 1, name: "Broken Co", mcp_enabled: true, allowed_redirect_uris: ["http://localhost:3118/callback"], scope_ceiling: ["CONTACTS_EVERYTHING"], members: [{ email: "bo@example.com", role: "admin" }] }),
};

const api = (path, { method = "GET", body, headers = {} } = {}) =>
  fetch(`${BASE}/admin/api/${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { "content-type": "application/json" } : {}), ...headers }, body: body && JSON.stringify(body) });

async function adminPage(workspace, email) {
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(`${BASE}/admin`);
  await page.fill("#workspace", workspace);
  await page.fill("#email", email);
  await Promise.all([page.waitForURL(`${BASE}/admin`), page.click("button:has-text('Sign in')")]);
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
        await page.fill("#redirect-uris", `http://localhost:3118/callback\n${NEW_CALLBACK}`);
        await page.click("#save");
        await page.waitForFunction(() => document.querySelector("#save-status").textContent === "Saved");

        const seen = await browse(authorizeUrl({ clientId: client.client_id, challenge, redirectUri: NEW_CALLBACK }), { workspace: "adm", email: "alice@example.com" });
        assert.equal(seen.callbacks.length, 1, seen.error);
        const code = new URL(seen.callbacks[0]).searchParams.get("code");
        const r = (await exchange({ client, code, verifier, redirectUri: NEW_CALLBACK })).body;
        assert.ok(r.access_token, JSON.stringify(r));
        assert.equal((await mcp(r.access_token, rpc("ping"))).status, 200);

        await page.reload();
        const connection = page.locator("#connections tbody tr", { hasText: client.client_id });
        await connection.waitFor();
        assert.match(await connection.innerText(), /alice@example.com[\s\S]*Cursor \(e2e\)[\s\S]*active/);
        await connection.locator("button.revoke").click();
        await page.waitForFunction((id) => [...document.querySelectorAll("#connections tbody tr")].some((tr) => tr.dataset.id && tr.innerText.includes(id) && tr.innerText.includes("revoked")), client.client_id);
        const after = await mcp(r.access_token, rpc("ping"));
        assert.equal(after.status, 401);
        assert.match(after.body.error_description, /^Token validation failed: connection/);
        await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS || "/tmp"}/admin-page.png`, fullPage: true });
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

    it("a hand-written malformed policy fails closed on the authorize page and in the API, naming the field", async () => {
      const r = await api("workspaces/broken/policy");
      assert.equal(r.status, 422);
      assert.match((await r.json()).error, /workspace `broken`.*`scope_ceiling`: unknown scope `CONTACTS_EVERYTHING`/);
      const client = await register();
      const seen = await browse(authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge }), { workspace: "broken", email: "bo@example.com" });
      assert.deepEqual(seen.callbacks, []);
      assert.match(seen.error, /The policy of workspace `broken` is invalid: `scope_ceiling`: unknown scope `CONTACTS_EVERYTHING`/);
    });

    it("a non-admin member and an admin of another workspace are refused and learn nothing", async () => {
      const signedIn = async (workspace, email) => {
        const { page, context } = await adminPage(workspace, email);
        const status = async (path) => page.evaluate(async (p) => (await fetch(p)).status, path);
        const result = { policy: await status("/admin/api/workspaces/adm/policy"), connections: await status("/admin/api/workspaces/adm/connections"), outcomes: await status("/admin/api/workspaces/adm/outcomes"), missing: await status("/admin/api/workspaces/does-not-exist/policy") };
        await context.close();
        return result;
      };
      assert.deepEqual(await signedIn("adm", "mel@example.com"), { policy: 403, connections: 403, outcomes: 403, missing: 403 });
      assert.deepEqual(await signedIn("other", "oscar@example.com"), { policy: 403, connections: 403, outcomes: 403, missing: 403 });
      assert.equal((await fetch(`${BASE}/admin/api/workspaces/adm/policy`)).status, 401);
      assert.equal((await api("workspaces/adm/policy", { headers: { authorization: "Bearer wrong" } })).status, 401);
    });
  });
}
