// The peer of `make bench`: @cloudflare/workers-oauth-provider 1.2.3 as its README shows it
// (`OAuthProvider`, one worker that is both the authorization server and its resource), with
//  - an apiHandler at /mcp that answers `tools/call` of `mcp_whoami` from `ctx.props` and
//    `ctx.auth` (a result shaped like ours) and `tools/list` with the same ~300 tools our worker
//    lists (bench/.gen/tools.json, written by bench/run.mjs before this worker starts);
//  - a defaultHandler whose /authorize approves at once (parseAuthRequest + completeAuthorization),
//    standing in for sign-in and consent, so tokens come through the library's own flow:
//    /register (DCR), /authorize, /token.
import { OAuthProvider } from "@cloudflare/workers-oauth-provider";
import tools from "../.gen/tools.json";

const TOOLS = JSON.stringify(tools);
const SCOPES = ["WORKSPACE_READ", "CONTACTS_READ", "CONTACTS_WRITE", "COMPANIES_READ", "COMPANIES_WRITE", "CAMPAIGNS_READ",
  "CAMPAIGNS_WRITE", "LISTS_READ", "LISTS_WRITE", "INBOX_READ", "INBOX_WRITE", "ALL", "offline_access"];
const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

const rpcError = (id, code, message) => new Response(JSON.stringify({ jsonrpc: "2.0", id, error: { code, message } }), { headers: JSON_HEADERS });

const mcpHandler = {
  async fetch(request, env, ctx) {
    if (request.method !== "POST") return new Response("POST only\n", { status: 405 });
    let msg;
    try {
      msg = await request.json();
    } catch {
      return rpcError(null, -32700, "Parse error");
    }
    const id = msg?.id ?? null;
    if (msg?.method === "tools/list") {
      return new Response(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{"tools":${TOOLS}}}`, { headers: JSON_HEADERS });
    }
    if (msg?.method === "tools/call" && msg.params?.name === "mcp_whoami") {
      // As ours: who, where, which client (its registered name read from storage), the scopes
      // and the token's expiry, as text and structuredContent.
      const props = ctx.props ?? {};
      const clientId = ctx.auth?.clientId ?? null;
      const client = clientId ? await env.OAUTH_PROVIDER.lookupClient(clientId) : null;
      const scopes = ctx.auth?.scope ?? props.scopes ?? [];
      const expiresAt = ctx.auth?.expiresAt ?? 0;
      const expiresIn = Math.max(0, expiresAt - Math.floor(Date.now() / 1000));
      const when = new Date(expiresAt * 1000).toISOString().replace(/\.\d+Z$/, "Z");
      const who = {
        api_tools: { available: tools.length, problems: [], total: tools.length },
        client: { id: clientId, name: client?.clientName ?? clientId },
        expires_at: when,
        expires_in: expiresIn,
        scopes,
        user: { email: props.user, name: props.name },
        workspace: { id: props.workspace, name: props.workspaceName },
      };
      const text = `You are ${props.name} <${props.user}> in workspace ${props.workspaceName} (${props.workspace}), connected through ${who.client.name} (${clientId}).\nScopes: ${scopes.join(" ")}\nAccess token expires at ${when} (in ${expiresIn} s).\nAPI tools: ${tools.length} of ${tools.length} available to this connection.`;
      const result = { content: [{ text, type: "text" }], isError: false, structuredContent: who };
      return new Response(JSON.stringify({ jsonrpc: "2.0", id, result }), { headers: JSON_HEADERS });
    }
    return rpcError(id, -32601, `Method not found: ${msg?.method}`);
  },
};

const defaultHandler = {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/authorize") return new Response("Not found\n", { status: 404 });
    const oauthRequest = await env.OAUTH_PROVIDER.parseAuthRequest(request);
    // Auto-approval: the user is the login_hint the bench sends (one of its members).
    const user = url.searchParams.get("login_hint") || "ada@example.com";
    const { redirectTo } = await env.OAUTH_PROVIDER.completeAuthorization({
      request: oauthRequest,
      userId: user,
      metadata: { label: "bench" },
      scope: oauthRequest.scope,
      props: { user, name: "Ada Lovelace", workspace: "acme", workspaceName: "Acme", scopes: oauthRequest.scope },
      // Ours makes a new connection per approval and leaves the others alone; do the same, so the
      // codes minted ahead (one user, one client) stay redeemable.
      revokeExistingGrants: false,
    });
    return Response.redirect(redirectTo, 302);
  },
};

// Made on the first request: the resource is this origin's /mcp (env.ORIGIN).
let provider;
export default {
  fetch(request, env, ctx) {
    provider ??= new OAuthProvider({
      apiRoute: "/mcp",
      apiHandler: mcpHandler,
      defaultHandler,
      authorizeEndpoint: "/authorize",
      tokenEndpoint: "/token",
      clientRegistrationEndpoint: "/register",
      scopesSupported: SCOPES,
      resourceMetadata: { resource: `${env.ORIGIN}/mcp`, authorization_servers: [env.ORIGIN] },
    });
    return provider.fetch(request, env, ctx);
  },
};
