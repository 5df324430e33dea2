#!/usr/bin/env node
// `tpo` launcher: runs the bundled CLI, rebuilding it first when it is missing or older than
// the sources (so a fresh clone and a source edit both just work).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist-cli', 'main.js');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const stale = !existsSync(bundle) || Math.max(newest(join(root, 'src')), newest(join(root, 'shaders'))) > statSync(bundle).mtimeMs;
if (stale) {
  process.env.VITE_CONFIG_NATIVE_IGNORE_WARNING = 'true';
  const { build } = await import('vite');
  await build({ root, configFile: join(root, 'vite.cli.config.ts') });
}
const { main } = await import(bundle);
process.exitCode = await main(process.argv.slice(2));
