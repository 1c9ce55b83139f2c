// The worker's wasm for `make bench`: its size raw and gzipped, and how long node takes to compile
// and instantiate it with every import stubbed. Usage alone: node bench/wasm.mjs [file]
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";

// --- the compact import section -------------------------------------------------------------------
// wasm-opt --all-features (binaryen ≥ 132) writes imports in the compact encoding of the
// compact-import-section proposal (a module name once, then its fields), which workerd's V8
// reads and node's may not. For node, only that section is written again in the standard
// encoding: the same imports, the same code.

function leb(bytes, at) {
  let value = 0, shift = 0, b;
  do {
    b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return [value, at];
}
const uleb = (n) => {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const name = (bytes, at) => {
  const [len, p] = leb(bytes, at);
  return [bytes.subarray(at, p + len), p + len]; // the encoded name, length included
};
const skipHeapType = (bytes, at) => leb(bytes, at)[1];
function skipRefOrValType(bytes, at) {
  const t = bytes[at];
  return t === 0x63 || t === 0x64 ? skipHeapType(bytes, at + 1) : at + 1;
}
function skipLimits(bytes, at) {
  const flags = bytes[at++];
  [, at] = leb(bytes, at);
  if (flags & 0x01) [, at] = leb(bytes, at);
  if (flags & 0x08) [, at] = leb(bytes, at); // custom page size
  return at;
}
/** The end of the externtype starting at `at`. */
function skipExternType(bytes, at) {
  const kind = bytes[at++];
  switch (kind) {
    case 0x00: return leb(bytes, at)[1]; // func: type index
    case 0x01: return skipLimits(bytes, skipRefOrValType(bytes, at)); // table
    case 0x02: return skipLimits(bytes, at); // memory
    case 0x03: return skipRefOrValType(bytes, at) + 1; // global: type, mutability
    case 0x04: return leb(bytes, at + 1)[1]; // tag: attribute, type index
    default: throw new Error(`unknown import kind 0x${kind.toString(16)} at ${at - 1}`);
  }
}

/** The import section in the standard encoding, or null when it already is. */
function standardImports(bytes, start, end) {
  let [count, at] = leb(bytes, start);
  const out = [];
  let compact = false;
  for (let i = 0; i < count; i++) {
    let mod, field;
    [mod, at] = name(bytes, at);
    if (bytes[at] === 0x00 && (bytes[at + 1] === 0x7f || bytes[at + 1] === 0x7e)) {
      compact = true;
      const form = bytes[at + 1];
      at += 2;
      if (form === 0x7f) {
        let n;
        [n, at] = leb(bytes, at);
        for (let j = 0; j < n; j++) {
          [field, at] = name(bytes, at);
          const typeEnd = skipExternType(bytes, at);
          out.push([mod, field, bytes.subarray(at, typeEnd)]);
          at = typeEnd;
        }
      } else {
        const typeEnd = skipExternType(bytes, at);
        const type = bytes.subarray(at, typeEnd);
        let n;
        [n, at] = leb(bytes, typeEnd);
        for (let j = 0; j < n; j++) {
          [field, at] = name(bytes, at);
          out.push([mod, field, type]);
        }
      }
    } else {
      [field, at] = name(bytes, at);
      const typeEnd = skipExternType(bytes, at);
      out.push([mod, field, bytes.subarray(at, typeEnd)]);
      at = typeEnd;
    }
  }
  if (at !== end) throw new Error("import section: trailing bytes");
  if (!compact) return null;
  const body = [uleb(out.length), ...out.flatMap(([m, f, t]) => [m, f, t])];
  return Buffer.concat(body.map((p) => Buffer.from(p)));
}

/** `bytes` with a compact import section written in the standard encoding (same otherwise). */
export function withStandardImports(bytes) {
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, body] = leb(bytes, at + 1);
    if (id === 2) {
      const section = standardImports(bytes, body, body + size);
      if (!section) return { bytes, rewritten: false };
      const head = Buffer.from([2, ...uleb(section.length)]);
      return { bytes: Buffer.concat([bytes.subarray(0, at), head, section, bytes.subarray(body + size)]), rewritten: true };
    }
    at = body + size;
  }
  return { bytes, rewritten: false };
}

// --- the measurement ------------------------------------------------------------------------------

function stub(imp) {
  switch (imp.kind) {
    case "function": return () => {};
    case "memory": return new WebAssembly.Memory({ initial: 256 });
    case "table": return new WebAssembly.Table({ initial: 0, element: "anyfunc" });
    case "tag": return imp.name.endsWith("jstag") && WebAssembly.JSTag ? WebAssembly.JSTag : new WebAssembly.Tag({ parameters: ["externref"] });
    default: return new WebAssembly.Global({ value: "i32", mutable: true }, 0);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export async function wasmFacts(file, runs = 20) {
  const original = fs.readFileSync(file);
  const gzip = execFileSync("gzip", ["-9c", file], { maxBuffer: 64 << 20 }).length; // as scripts/build.sh counts
  let bytes = original, rewritten = false;
  try {
    await WebAssembly.compile(original);
  } catch (e) {
    ({ bytes, rewritten } = withStandardImports(original));
    if (!rewritten) throw e;
  }
  const compile = [], instantiate = [], total = [];
  let imports = 0;
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    const module = await WebAssembly.compile(bytes);
    const t1 = performance.now();
    const obj = {};
    const list = WebAssembly.Module.imports(module);
    imports = list.length;
    for (const imp of list) (obj[imp.module] ??= {})[imp.name] = stub(imp);
    await WebAssembly.instantiate(module, obj);
    const t2 = performance.now();
    if (i === 0) continue; // the first run also warms node itself
    compile.push(t1 - t0);
    instantiate.push(t2 - t1);
    total.push(t2 - t0);
  }
  return { raw: original.length, gzip, imports, runs, rewritten, compile: median(compile), instantiate: median(instantiate), total: median(total) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2] || path.resolve(import.meta.dirname, "../build/index_bg.wasm");
  console.log(await wasmFacts(file));
}
