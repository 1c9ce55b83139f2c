// A KV namespace for the plain-workerd mode of `make bench`: workerd's KV binding speaks HTTP to
// a service (GET/PUT/DELETE https://fake-host/<key>?urlencoded=true, the metadata in
// CF-KV-Metadata, expiration and expiration_ttl in the query; GET /?prefix&key_count_limit&cursor
// lists; POST /bulk/get), and this worker answers it from memory (one isolate, so one map).
// `SEED`: JSON [{key, value}] stored before the first request (the workspace policy).
const store = new Map(); // key → { value: Uint8Array, metadata: string | null, expiration: number | null }
let seeded = false;

const now = () => Date.now() / 1000;
function live(key) {
  const entry = store.get(key);
  if (entry && entry.expiration !== null && entry.expiration <= now()) {
    store.delete(key);
    return null;
  }
  return entry ?? null;
}

function list(url) {
  const prefix = url.searchParams.get("prefix") ?? "";
  const limit = Number(url.searchParams.get("key_count_limit") || 1000);
  const after = url.searchParams.get("cursor") ? atob(url.searchParams.get("cursor")) : null;
  const names = [...store.keys()].filter((k) => k.startsWith(prefix) && (after === null || k > after) && live(k)).sort();
  const page = names.slice(0, limit);
  const keys = page.map((name) => {
    const e = store.get(name);
    return { name, ...(e.expiration !== null ? { expiration: Math.floor(e.expiration) } : {}), ...(e.metadata !== null ? { metadata: e.metadata } : {}) };
  });
  const complete = names.length <= limit;
  return Response.json({ keys, list_complete: complete, ...(complete ? {} : { cursor: btoa(page[page.length - 1]) }) });
}

export default {
  async fetch(request, env) {
    if (!seeded) {
      seeded = true;
      for (const { key, value } of JSON.parse(env.SEED || "[]")) store.set(key, { value: new TextEncoder().encode(value), metadata: null, expiration: null });
    }
    const url = new URL(request.url);
    const key = decodeURIComponent(url.pathname.slice(1));
    if (request.method === "GET" && key === "") return list(url);
    if (request.method === "POST" && url.pathname === "/bulk/get") {
      const { keys, type, withMetadata } = await request.json();
      const out = {};
      for (const k of keys) {
        const e = live(k);
        let value = e ? new TextDecoder().decode(e.value) : null;
        if (value !== null && type === "json") value = JSON.parse(value);
        out[k] = withMetadata ? { value, metadata: e?.metadata ? JSON.parse(e.metadata) : null } : value;
      }
      return Response.json(out);
    }
    switch (request.method) {
      case "GET": {
        const e = live(key);
        if (!e) return new Response(null, { status: 404 });
        return new Response(e.value, { headers: e.metadata !== null ? { "CF-KV-Metadata": e.metadata } : {} });
      }
      case "PUT": {
        const value = new Uint8Array(await request.arrayBuffer());
        const at = url.searchParams.get("expiration");
        const ttl = url.searchParams.get("expiration_ttl");
        const expiration = at ? Number(at) : ttl ? now() + Number(ttl) : null;
        store.set(key, { value, metadata: request.headers.get("CF-KV-Metadata"), expiration });
        return new Response(null, { status: 200 });
      }
      case "DELETE":
        store.delete(key);
        return new Response(null, { status: 200 });
      default:
        return new Response(null, { status: 405 });
    }
  },
};
