// Imported first by conformance.test.mjs: its `wrangler dev` takes a port of its own, so that
// harness.mjs (which reads E2E_PORT when it loads) serves this file's server, not e2e.test.mjs's.
process.env.E2E_PORT = process.env.E2E_CONFORMANCE_PORT || "8797";
