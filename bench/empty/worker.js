// The ceiling of `make bench`: no authentication, no storage, no parsing beyond finding the
// method. Each answer is a constant, made once per isolate from what our worker answered
// (bench/.gen/, written by bench/run.mjs before this worker starts), so the bytes on the wire
// are the same as ours: `tools/list` gets the same ~300-tool list, anything else the same
// `mcp_whoami` result.
import tools from "../.gen/tools.json";
import whoami from "../.gen/whoami.json";

const LIST = JSON.stringify({ jsonrpc: "2.0", id: 1, result: { tools } });
const WHOAMI = JSON.stringify({ jsonrpc: "2.0", id: 1, result: whoami });
const HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

export default {
  async fetch(request) {
    if (request.method !== "POST") return new Response("POST only\n", { status: 405 });
    const body = await request.text();
    return new Response(body.includes('"tools/list"') ? LIST : WHOAMI, { headers: HEADERS });
  },
};
