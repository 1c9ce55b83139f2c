// Issue #13: admins fix what they see — in Chromium, on the admin page: a fix from a rejected
// attempt (then the same client connects), pinning a client seen, the history with a revert and
// a hand edit, a concurrent edit reported, the last admin kept, the editors' inline validation,
// and a layout that holds at 1000 px and 400 px (screenshots saved, no word broken in a cell).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { BASE, MemoryProvider, ROOT, authorizeUrl, browse, exchange, mcp, pkce, policy, putPolicies, register, rpc } from "./harness.mjs";
import { adminPage, api } from "./admin.suite.mjs";

const FIX_CALLBACK = "http://localhost:3118/callback-fix";
const admin = (email, name) => [{ email, name, role: "admin" }];
export const POLICIES = {
  fixr: policy({ name: "Fix Redirect Co", members: admin("fay@example.com", "Fay") }),
  fixs: policy({ name: "Fix Scope Co", scope_ceiling: ["WORKSPACE_READ"], members: admin("sam@example.com", "Sam") }),
  pin: policy({ name: "Pin Co", members: admin("pia@example.com", "Pia") }),
  race2: policy({ name: "Race Two Co", members: admin("ray@example.com", "Ray") }),
  hist: policy({ name: "Hist Co", members: admin("hil@example.com", "Hil") }),
  last: policy({ name: "Last Co", members: [...admin("lou@example.com", "Lou"), { email: "max@example.com", role: "member" }] }),
};

const SCREENSHOTS = process.env.E2E_SCREENSHOTS || path.join(ROOT, "target", "screenshots");
const dialog = (page) => page.locator("#confirm");
const rejectedRow = (page, clientId) => page.locator(`#rejected tbody tr[data-client-id="${clientId}"]`);
const whoami = (token) => mcp(token, rpc("tools/call", { name: "mcp_whoami", arguments: {} }));

/** Applies the change the open dialog shows, and waits until it closed (done). */
async function confirm(page) {
  await page.locator("#confirm-apply").click();
  await dialog(page).waitFor({ state: "hidden" });
}

/** Cells whose text overflows or whose words break across lines, and sideways page scrolling. */
const brokenCells = (page) => page.evaluate(() => {
  const bad = [];
  for (const c of document.querySelectorAll("td, th")) {
    if (!c.getClientRects().length) continue;
    if (c.scrollWidth > c.clientWidth + 1) bad.push(`overflows: ${c.textContent.slice(0, 60)}`);
    const walker = document.createTreeWalker(c, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      for (const m of n.data.matchAll(/[\p{L}\p{N}]+/gu)) {
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const lines = new Set([...r.getClientRects()].map((x) => Math.round(x.top)));
        if (lines.size > 1) bad.push(`“${m[0]}” broken across lines in: ${c.textContent.slice(0, 60)}`);
      }
    }
  }
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width) {
    const wide = [...document.querySelectorAll("body *")].filter((e) => !e.closest("thead") && e.getBoundingClientRect().right > width + 0.5).slice(0, 3);
    bad.push(`the page scrolls sideways (${document.documentElement.scrollWidth} > ${width}): ${wide.map((e) => e.outerHTML.slice(0, 80)).join(" | ")}`);
  }
  return bad;
});

/** Visible controls without an accessible name. */
const unlabelled = (page) => page.evaluate(() => [...document.querySelectorAll("input, select, textarea, button, a")]
  .filter((e) => e.getClientRects().length)
  .filter((e) => !([...(e.labels || [])].map((l) => l.textContent).join("").trim() || e.getAttribute("aria-label") || (["BUTTON", "A"].includes(e.tagName) && e.textContent.trim())))
  .map((e) => e.outerHTML.slice(0, 100)));

export function fixesSuite() {
  describe("admins fix what they see (issue #13), in Chromium", () => {
    it("a rejected redirect URI: “Allow this redirect URI” shows the diff, is confirmed, and the same SDK client then connects", async () => {
      let consent;
      const provider = new MemoryProvider((url) => { consent = browse(url, { workspace: "fixr", email: "fay@example.com" }); }, { callback: FIX_CALLBACK, name: "Fix Client (e2e)" });
      const transport = () => new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { authProvider: provider });
      await assert.rejects(new Client({ name: "e2e", version: "1" }).connect(transport()), UnauthorizedError);
      const refused = await consent;
      assert.equal(refused.error, "redirect_uri is not allowed");
      assert.deepEqual(refused.callbacks, []);

      const { page, context } = await adminPage("fixr", "fay@example.com");
      try {
        const row = rejectedRow(page, provider.client.client_id);
        await row.waitFor();
        await row.locator("button.fix", { hasText: "Allow this redirect URI" }).click();
        await dialog(page).waitFor();
        const shown = await dialog(page).innerText();
        assert.match(shown, /Allow this redirect URI/);
        assert.ok(shown.includes(`Allowed redirect URIs: + ${FIX_CALLBACK}`), shown);
        await confirm(page);
        await row.locator("text=Passes now").waitFor();
        const saved = await (await api("workspaces/fixr/policy")).json();
        assert.deepEqual(saved.policy.allowed_redirect_uris, ["http://localhost:3118/callback", FIX_CALLBACK]);
        const history = await (await api("workspaces/fixr/policy/history")).json();
        assert.deepEqual([history.versions[0].by, history.versions[0].source], ["fay@example.com", "page"]);
      } finally {
        await context.close();
      }

      await assert.rejects(new Client({ name: "e2e", version: "1" }).connect(transport()), UnauthorizedError);
      const approved = await consent;
      assert.equal(approved.callbacks.length, 1, approved.error ?? "");
      await transport().finishAuth(new URL(approved.callbacks[0]).searchParams.get("code"));
      const client = new Client({ name: "e2e", version: "1" });
      await client.connect(transport());
      try {
        const who = await client.callTool({ name: "mcp_whoami", arguments: {} });
        assert.equal(who.structuredContent.user.email, "fay@example.com");
      } finally {
        await client.close();
      }
    });

    it("a scope above the ceiling: “Add CONTACTS_WRITE to the ceiling”, by keyboard alone; the attempt then gets the scope", async () => {
      const client = await register(undefined, "Scope Client (e2e)");
      const { verifier, challenge } = pkce();
      const url = authorizeUrl({ clientId: client.client_id, challenge, scope: "CONTACTS_WRITE" });
      const refused = await browse(url, { workspace: "fixs", email: "sam@example.com" });
      assert.equal(refused.error, "Requested scopes are not allowed");

      const { page, context } = await adminPage("fixs", "sam@example.com");
      try {
        const fix = rejectedRow(page, client.client_id).locator("button.fix");
        await fix.waitFor();
        assert.equal((await fix.textContent()).trim(), "Add CONTACTS_WRITE to the ceiling");
        await fix.focus();
        await page.keyboard.press("Enter");
        await dialog(page).waitFor();
        assert.match(await dialog(page).innerText(), /Scope ceiling: \+ CONTACTS_WRITE/);
        assert.equal(await page.evaluate(() => document.activeElement.id), "confirm-apply", "the dialog takes the focus");
        await page.keyboard.press("Enter");
        await dialog(page).waitFor({ state: "hidden" });
        await rejectedRow(page, client.client_id).locator("text=Passes now").waitFor();
      } finally {
        await context.close();
      }
      const seen = await browse(url, { workspace: "fixs", email: "sam@example.com" });
      assert.equal(seen.callbacks.length, 1, seen.error ?? "");
      const tokens = (await exchange({ client, code: new URL(seen.callbacks[0]).searchParams.get("code"), verifier })).body;
      assert.equal(tokens.scope, "CONTACTS_WRITE");
      assert.equal((await whoami(tokens.access_token)).status, 200);
    });

    it("pinning: the page suggests pinning after the first approval; pinning a client seen earlier refuses every other client", async () => {
      const first = await register(undefined, "Pinned Client (e2e)");
      const { verifier, challenge } = pkce();
      const seen = await browse(authorizeUrl({ clientId: first.client_id, challenge }), { workspace: "pin", email: "pia@example.com" });
      assert.equal(seen.callbacks.length, 1, seen.error ?? "");
      const connected = await exchange({ client: first, code: new URL(seen.callbacks[0]).searchParams.get("code"), verifier });
      assert.ok(connected.body.access_token, JSON.stringify(connected.body));
      const other = await register(undefined, "Other Client (e2e)");

      const { page, context } = await adminPage("pin", "pia@example.com");
      try {
        await page.locator("#pin-suggestion").waitFor();
        assert.match(await page.locator("#pin-suggestion").innerText(), /Pinned Client \(e2e\).*was the first client approved here/);
        const row = page.locator(`#clients tbody tr[data-client-id="${first.client_id}"]`);
        assert.match(await row.innerText(), /Pinned Client \(e2e\)[\s\S]*none \(registered\)[\s\S]*1/);
        await row.locator("button.pin").click();
        await dialog(page).waitFor();
        const shown = await dialog(page).innerText();
        assert.ok(shown.includes(`Pinned client IDs: + ${first.client_id}`), shown);
        assert.match(shown, /every other client is then refused with “OAuth client_id is not allowed”/);
        await confirm(page);
        await row.locator("button.unpin").waitFor();
        assert.equal(await page.locator("#pin-suggestion").isHidden(), true, "nothing to suggest once a client is pinned");
        assert.equal(await page.locator("#client-ids li", { hasText: first.client_id }).count(), 1, "the settings show the pin");
      } finally {
        await context.close();
      }
      const refused = await browse(authorizeUrl({ clientId: other.client_id, challenge: pkce().challenge }), { workspace: "pin", email: "pia@example.com" });
      assert.equal(refused.error, "OAuth client_id is not allowed");
      const again = await browse(authorizeUrl({ clientId: first.client_id, challenge: pkce().challenge }), { workspace: "pin", email: "pia@example.com" });
      assert.equal(again.callbacks.length, 1, "the pinned client still connects");
    });

    it("an edit made between opening a fix and confirming it is reported (412), and nothing is lost: neither the other edit nor this page's unsaved one", async () => {
      const client = await register(["http://localhost:3118/callback-race"], "Race Client (e2e)");
      await browse(authorizeUrl({ clientId: client.client_id, challenge: pkce().challenge, redirectUri: "http://localhost:3118/callback-race" }), { workspace: "race2", email: "ray@example.com" });
      const { page, context } = await adminPage("race2", "ray@example.com");
      try {
        // An unsaved edit on the page.
        await page.fill("#member-email", "draft@example.com");
        await page.click("#add-member");
        const draft = page.locator('#members tbody tr[data-email="draft@example.com"]');
        await draft.waitFor();
        await rejectedRow(page, client.client_id).locator("button.fix").click();
        await dialog(page).waitFor();
        assert.match(await page.locator("#confirm-text").textContent(), /unsaved edits/);
        const read = await (await api("workspaces/race2/policy")).json();
        const renamed = await api("workspaces/race2/policy", { method: "PUT", body: { ...read.policy, name: "Race Two Co (renamed)" }, headers: { "if-match": read.etag } });
        assert.equal(renamed.status, 200);
        await page.locator("#confirm-apply").click();
        await page.locator("#confirm-error", { hasText: "someone else changed the settings" }).waitFor();
        assert.equal(await page.locator("#confirm-apply").isHidden(), true, "no second try from stale data");
        const now = await (await api("workspaces/race2/policy")).json();
        assert.equal(now.policy.name, "Race Two Co (renamed)", "the other edit stands");
        assert.deepEqual(now.policy.allowed_redirect_uris, read.policy.allowed_redirect_uris, "the fix was not written over it");
        await page.locator("#confirm-cancel").click();
        await dialog(page).waitFor({ state: "hidden" });
        assert.equal(await draft.count(), 1, "the unsaved edit is still on the page");
        await page.click("#save");
        await page.locator("#save-status", { hasText: "Not saved: someone else changed the settings" }).waitFor();
        assert.equal((await (await api("workspaces/race2/policy")).json()).policy.name, "Race Two Co (renamed)", "nor does saving it overwrite the other edit");
        await page.reload();
        await page.locator("#workspace-name", { hasText: "Race Two Co (renamed)" }).waitFor();
        await rejectedRow(page, client.client_id).locator("button.fix").waitFor();
      } finally {
        await context.close();
      }
    });

    it("history: a page change, an API change and a hand edit appear with who, when, from where and the diff; a revert is a new version", async () => {
      const { page, context } = await adminPage("hist", "hil@example.com");
      try {
        await page.locator("#mcp-enabled").uncheck();
        await page.click("#save");
        await page.locator("#save-status", { hasText: "Saved" }).waitFor();
        const read = await (await api("workspaces/hist/policy")).json();
        const extra = "http://127.0.0.1:7001/callback";
        const put = await api("workspaces/hist/policy", { method: "PUT", body: { ...read.policy, allowed_redirect_uris: [...read.policy.allowed_redirect_uris, extra] }, headers: { "if-match": read.etag } });
        assert.equal(put.status, 200);
        await putPolicies({ hist: { ...read.policy, allowed_redirect_uris: [...read.policy.allowed_redirect_uris, extra], name: "Hist Co (by hand)" } });

        await page.reload();
        const rows = page.locator("#history tbody tr");
        await page.locator("#workspace-name", { hasText: "Hist Co (by hand)" }).waitFor();
        await rows.nth(3).waitFor();
        const cells = async (i) => rows.nth(i).locator("td").allInnerTexts();
        const [hand, viaApi, viaPage, seed] = [await cells(0), await cells(1), await cells(2), await cells(3)];
        assert.equal(hand[3], "hand edit (KV)");
        assert.equal(hand[2], "—");
        assert.match(hand[4], /Workspace name: Hist Co → Hist Co \(by hand\)/);
        assert.deepEqual([viaApi[2], viaApi[3]], ["operator", "admin API (operator)"]);
        assert.ok(viaApi[4].includes(`Allowed redirect URIs: + ${extra}`), viaApi[4]);
        assert.deepEqual([viaPage[2], viaPage[3]], ["hil@example.com", "admin page"]);
        assert.match(viaPage[4], /MCP enabled: true → false/);
        assert.match(seed[4], /Policy created/);
        for (const r of [hand, viaApi, viaPage, seed]) assert.match(r[1], /\d/, "when");

        const seedVersion = await rows.nth(3).getAttribute("data-version");
        await rows.nth(3).locator("button.revert").click();
        await dialog(page).waitFor();
        const shown = await dialog(page).innerText();
        assert.match(shown, /MCP enabled: false → true/);
        assert.ok(shown.includes(`Allowed redirect URIs: − ${extra}`), shown);
        await confirm(page);
        await page.locator("#history tbody tr:first-child", { hasText: "reverts" }).waitFor();
        const top = await rows.nth(0).locator("td").allInnerTexts();
        assert.equal(top[0], `${Number(seedVersion) + 4} (reverts ${seedVersion})`);
        assert.deepEqual([top[2], top[3]], ["hil@example.com", "admin page"]);
        const now = await (await api("workspaces/hist/policy")).json();
        assert.deepEqual(now.policy, POLICIES.hist, "exactly the seeded policy again");
      } finally {
        await context.close();
      }
    });

    it("the last admin cannot be removed or demoted, on the page or through the API; the editors validate inline with the worker's messages", async () => {
      const { page, context } = await adminPage("last", "lou@example.com");
      try {
        const lou = page.locator('#members tbody tr[data-email="lou@example.com"]');
        await lou.waitFor();
        assert.match(await lou.innerText(), /the last admin/);
        assert.equal(await lou.locator("select").isDisabled(), true);
        assert.equal(await lou.locator("button.remove").isDisabled(), true);
        // Another admin first: then Lou may step down.
        await page.locator('#members tbody tr[data-email="max@example.com"] select').selectOption("admin");
        assert.equal(await lou.locator("button.remove").isEnabled(), true);
        await page.locator('#members tbody tr[data-email="max@example.com"] select').selectOption("member");
        assert.equal(await lou.locator("button.remove").isDisabled(), true);

        // Inline validation: the worker's own message, before saving; nothing added.
        await page.fill("#redirect-uris-new", "http://example.com/callback");
        await page.click("button:has-text('Add redirect URI')");
        await page.locator("#redirect-uris-error", { hasText: "allowed_redirect_uris[1]" }).waitFor();
        assert.match(await page.locator("#redirect-uris-error").textContent(), /http:\/\/example\.com\/callback/);
        assert.equal(await page.locator("#redirect-uris li", { hasText: "example.com" }).count(), 0);
        await page.fill("#member-email", "not-an-address");
        await page.click("#add-member");
        await page.locator("#members-error", { hasText: "members[2].email" }).waitFor();
        await page.fill("#member-email", "new@example.com");
        await page.fill("#member-name", "New Person");
        await page.click("#add-member");
        await page.locator('#members tbody tr[data-email="new@example.com"]').waitFor();
        assert.equal(await page.locator("#members-error").textContent(), "");
        await page.click("#save");
        await page.locator("#save-status", { hasText: "Saved" }).waitFor();
      } finally {
        await context.close();
      }
      const read = await (await api("workspaces/last/policy")).json();
      assert.deepEqual(read.policy.members.map((m) => m.email), ["lou@example.com", "max@example.com", "new@example.com"]);
      for (const members of [read.policy.members.filter((m) => m.role !== "admin"), read.policy.members.map((m) => ({ ...m, role: "member" }))]) {
        const r = await api("workspaces/last/policy", { method: "PUT", body: { ...read.policy, members }, headers: { "if-match": read.etag } });
        assert.equal(r.status, 409);
        const body = await r.json();
        assert.equal(body.error, "last_admin");
        assert.match(body.error_description, /^`lou@example.com` is the last admin of workspace `last` and cannot be (removed|made a member); make another member an admin first$/);
      }
      assert.equal((await (await api("workspaces/last/policy")).json()).etag, read.etag, "nothing written");
    });

    it("the layout holds at 1000 px and 400 px: no word broken in a cell, nothing scrolls sideways, every control labelled (screenshots saved)", async () => {
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      const { page, context } = await adminPage("fixr", "fay@example.com");
      try {
        await page.locator("#rejected tbody tr").first().waitFor();
        await page.locator("#history tbody tr").nth(1).waitFor();
        await page.locator("#connections tbody tr").first().waitFor();
        for (const width of [1000, 400]) {
          await page.setViewportSize({ width, height: 900 });
          await page.waitForTimeout(100);
          await page.screenshot({ path: path.join(SCREENSHOTS, `admin-${width}px.png`), fullPage: true });
          assert.deepEqual(await brokenCells(page), [], `at ${width} px`);
          assert.deepEqual(await unlabelled(page), [], `at ${width} px`);
        }
        // A registered client ID is 43 random base64url characters, some with no `-` or `_` to
        // break after (a run once failed on one): the widest such ID must fit too.
        await page.evaluate(() => { for (const c of document.querySelectorAll("#clients td[data-label=Client] code")) c.textContent = "W".repeat(43); });
        for (const width of [1000, 400]) {
          await page.setViewportSize({ width, height: 900 });
          assert.deepEqual(await brokenCells(page), [], `at ${width} px, with a client ID that has no separator`);
        }
        await page.setViewportSize({ width: 1000, height: 900 });
        await page.locator("#rejected button.fix, #history button.revert").first().click();
        await dialog(page).waitFor();
        assert.deepEqual(await unlabelled(page), [], "in the dialog");
        await page.screenshot({ path: path.join(SCREENSHOTS, "admin-fix-dialog.png") });
        await page.keyboard.press("Escape");
        await dialog(page).waitFor({ state: "hidden" });
      } finally {
        await context.close();
      }
    });
  });
}
