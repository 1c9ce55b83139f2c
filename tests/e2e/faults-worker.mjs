// The worker under fault injection (faults.test.mjs): our build, unchanged, given bindings that
// fail on command. Test-only — `wrangler dev` runs it through a configuration the test derives
// from wrangler.toml with this file as `main`; the product's own entry point never sees it.
//
// `POST /__faults` with `{"BINDING": "error message", …}` makes every call through those
// bindings (a KV namespace's reads and writes, a Durable Object stub's requests) throw that
// error, as the runtime throws when a store is down or an object is overloaded; `null` heals
// one, `{}` changes nothing. The answer is the bindings failing now.
import { WorkerEntrypoint } from "cloudflare:workers";
import Worker, { AuthCodes, Connections, Workspaces } from "../../build/index.js";

export { AuthCodes, Connections, Workspaces };

const failing = new Map();

function failOr(binding, call) {
  const message = failing.get(binding);
  return message ? Promise.reject(new Error(message)) : call();
}

// workers-rs checks a binding's constructor name (`KvNamespace`, `DurableObjectNamespace`)
// before it uses it, so the wrappers carry the runtime's names.
class KvNamespace {
  constructor(binding, inner) {
    for (const method of ["get", "getWithMetadata", "put", "delete", "list"]) {
      this[method] = (...args) => failOr(binding, () => inner[method](...args));
    }
  }
}

class DurableObjectStub {
  constructor(binding, inner) {
    this.id = inner.id;
    this.name = inner.name;
    this.fetch = (...args) => failOr(binding, () => inner.fetch(...args));
  }
}

class DurableObjectNamespace {
  constructor(binding, inner) {
    this.idFromName = (name) => inner.idFromName(name);
    this.idFromString = (id) => inner.idFromString(id);
    this.newUniqueId = (options) => inner.newUniqueId(options);
    this.get = (id, options) => new DurableObjectStub(binding, inner.get(id, options));
  }
}

const WRAPPERS = { POLICIES: KvNamespace, CLIENTS: KvNamespace, AUTH_CODES: DurableObjectNamespace, CONNECTIONS: DurableObjectNamespace, WORKSPACES: DurableObjectNamespace };

export default class extends WorkerEntrypoint {
  async fetch(request) {
    if (new URL(request.url).pathname === "/__faults") {
      for (const [binding, message] of Object.entries(await request.json())) {
        if (!(binding in WRAPPERS)) return new Response(`no binding ${binding} to fail`, { status: 400 });
        if (message) failing.set(binding, message);
        else failing.delete(binding);
      }
      return Response.json(Object.fromEntries(failing));
    }
    const env = { ...this.env };
    for (const [binding, Wrapper] of Object.entries(WRAPPERS)) env[binding] = new Wrapper(binding, this.env[binding]);
    return new Worker(this.ctx, env).fetch(request);
  }
}
