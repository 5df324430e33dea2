// Runs one entry of the bundled Node build (dist-cli/<entry>.js), rebuilding the bundle first
// when it is missing or older than the sources, so a fresh clone and a source edit both just work.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export async function launch(entry) {
  const bundle = join(root, 'dist-cli', `${entry}.js`);
  const sources = Math.max(
    ...['src', 'shaders', 'bench'].map((d) => newest(join(root, d))),
    statSync(join(root, 'vite.cli.config.ts')).mtimeMs,
  );
  if (!existsSync(bundle) || sources > statSync(bundle).mtimeMs) {
    process.env.VITE_CONFIG_NATIVE_IGNORE_WARNING = 'true';
    const { build } = await import('vite');
    await build({ root, configFile: join(root, 'vite.cli.config.ts') });
  }
  const { main } = await import(bundle);
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (e) {
    // The engine's typed errors (they carry `hint`) and bad arguments: the message, not a stack.
    if (!(e && ('hint' in e || String(e.code).startsWith('ERR_PARSE_ARGS')))) throw e;
    process.stderr.write(`tpo: ${e.name}: ${e.message}\n`);
    process.exitCode = 2;
  }
}
