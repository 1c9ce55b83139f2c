#!/usr/bin/env node
// `make soak [SOAK_SECONDS=300]`: the soak of tests/e2e/soak.mjs for as long as asked, on its own
// wrangler dev (port 8796) with Prism behind the OpenAPI tools; prints the figures as JSON and
// exits 1 if anything but a revoked connection's 401 went wrong.
process.env.E2E_PORT ??= "8796";
const seconds = Number(process.argv[2] ?? process.env.SOAK_SECONDS ?? 300);
if (!(seconds > 0)) {
  console.error("usage: scripts/soak.mjs [seconds]");
  process.exit(2);
}
const { BASE } = await import("../tests/e2e/harness.mjs");
const { setUp, soak, tearDown } = await import("../tests/e2e/soak.mjs");

let figures;
try {
  await setUp();
  console.error(`soak: ${seconds} s against ${BASE}`);
  figures = await soak({ seconds, connections: 4, workers: 4, refreshEvery: 15, revokeEvery: 30, log: (line) => console.error(`soak: ${line}`) });
} finally {
  await tearDown();
}
console.log(JSON.stringify(figures, null, 2));
process.exit(figures.errors.length ? 1 : 0);
