// Every command in the README and docs/ against the real parsers: each `npx tpo <command>` names a
// command the CLI has and only flags it accepts, each `npm run <script>` a script package.json
// has (and, for the benchmark and the demo scripts, only their flags). A renamed flag breaks the
// build, not the reader. (The commands themselves run in the CLI, app and demo tests, and the
// pictures come from `npm run screenshots`.)

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPTIONS as BENCH } from '../bench/bench';
import { OPTIONS as GPU_CHECK } from '../bench/gpu-check-all';
import { OPTIONS as EVAL } from '../src/cli/eval';
import { OPTIONS as GENERATE } from '../src/cli/generate';
import { OPTIONS as JUDGE } from '../src/cli/judge';
import { OPTIONS as RUN } from '../src/cli/run';
import { OPTIONS as TRAIN } from '../src/cli/train';
import { OPTIONS as EXPERIMENT } from '../src/demo/experiment';
import { OPTIONS as TRAIN_DEMO } from '../src/demo/train-demo';
import { OPTIONS as TRAIN_DEMO_RM } from '../src/demo/train-rm';
import { OPTIONS as TRAIN_DEMO_JUDGE } from '../src/demo/train-judge';

const ROOT = join(__dirname, '..');
const FILES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const TPO: Record<string, object> = {
  ...{ generate: GENERATE, run: RUN, eval: EVAL, judge: JUDGE },
  ...{ dpo: TRAIN, sft: TRAIN, rm: TRAIN },
};
const SCRIPT_FLAGS: Record<string, object> = {
  ...{ bench: BENCH, experiment: EXPERIMENT, 'gpu-check': GPU_CHECK },
  ...{ 'train:demo': TRAIN_DEMO, 'train:demo-rm': TRAIN_DEMO_RM, 'train:demo-judge': TRAIN_DEMO_JUDGE },
};
const SCRIPTS = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;

/** The commands of a markdown file: code-block lines (with their indented continuation lines) and inline code. */
function commands(md: string): string[] {
  const out: string[] = [];
  const blocks = md.split('```');
  blocks.forEach((text, i) => {
    if (i % 2 === 1) {
      for (const line of text.split('\n')) {
        if (/^\s+[[-]/.test(line) && out.length) out[out.length - 1] += ` ${line.trim()}`;
        else for (const part of line.split('&&')) if (/^(npx tpo|npm )/.test(part.trim())) out.push(part.trim());
      }
    } else for (const m of text.matchAll(/`((?:npx tpo|npm run) [^`]*)`/g)) out.push(m[1]);
  });
  return out.map((c) => c.replace(/\s+#.*$/, ''));
}

const flagsOf = (cmd: string) => [...cmd.matchAll(/(?:^|[\s[])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]);

describe('the commands in the README and docs', () => {
  const all = FILES.flatMap((f) => commands(readFileSync(join(ROOT, f), 'utf8')).map((c) => ({ f, c })));

  it('are found (the check cannot pass on nothing)', () => {
    expect(all.filter((x) => x.c.startsWith('npx tpo')).length).toBeGreaterThanOrEqual(10);
    expect(all.filter((x) => x.c.startsWith('npm run')).length).toBeGreaterThanOrEqual(8);
  });

  it('name tpo commands and flags that the CLI accepts', () => {
    for (const { f, c } of all.filter((x) => x.c.startsWith('npx tpo '))) {
      const name = c.split(/\s+/)[2];
      const options = TPO[name];
      expect(options, `${f}: unknown command in "${c}"`).toBeDefined();
      for (const flag of flagsOf(c)) expect(flag in options, `${f}: "${c}" uses --${flag}`).toBe(true);
    }
  });

  it('name npm scripts that exist, with flags their script accepts', () => {
    for (const { f, c } of all.filter((x) => x.c.startsWith('npm run '))) {
      const script = c.split(/\s+/)[2].replace(/,$/, '');
      expect(SCRIPTS[script], `${f}: no npm script "${script}" ("${c}")`).toBeDefined();
      const options = SCRIPT_FLAGS[script];
      const flags = flagsOf(c.split(' -- ')[1] ?? '');
      if (flags.length) expect(options, `${f}: "${c}" passes flags to a script without flags`).toBeDefined();
      for (const flag of flags) expect(flag in (options ?? {}), `${f}: "${c}" uses --${flag}`).toBe(true);
    }
  });
});
