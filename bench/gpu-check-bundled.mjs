#!/usr/bin/env node
// gpu-check from the bundled dist-cli/ as it is, never rebuilt: for a lent GPU machine, which has
// no build tools (scripts/device-pack.sh packs the bundle; docs/benchmarks.md has the command).
const { main } = await import('../dist-cli/gpu-check.js');
process.exitCode = await main(process.argv.slice(2));
