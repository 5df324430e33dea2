// `tpo judge`: a judge on its own, to check it before a run. A point-wise judge scores each item;
// a pair-wise judge groups the items by instruction, is asked every ordered pair in both orders
// and gives each response its Bradley–Terry score — exactly what `tpo run` does with it.

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Gpu } from '../gpu/device';
import { UsageError } from '../errors';
import { parseJsonl } from '../train/data';
import { scoreGroup, type Judge } from '../tpo/judges';
import { cliJudge, cliJudgeSpec } from './judge-arg';
import { dtypeFlag } from './model-arg';

export const JUDGE_HELP = `tpo judge --judge <rules:<spec.json>|http:<url>#<model>|pairwise:<model>|rm:<model>> --items items.jsonl
        [--judge-mode pairwise|pointwise] [--judge-dtype auto|f32|bf16|f16|q8|q4] [--json]

  items.jsonl rows: {"instruction": "...", "response": "...", ...fields for a rules judge, e.g. "answer"}
  A point-wise judge prints each item's score (none: the judge gave no score); a pair-wise judge groups the
  items by instruction, compares every ordered pair in both orders and prints each response's Bradley–Terry score.
  --judge-dtype: how a local judge model (pairwise:, rm:) stores its weights (see tpo generate --dtype).`;

/** The command's flags (the docs test checks every documented flag against them). */
export const OPTIONS = {
  judge: { type: 'string' },
  items: { type: 'string' },
  'judge-mode': { type: 'string' },
  'judge-dtype': { type: 'string' },
  'hub-url': { type: 'string' },
  json: { type: 'boolean' },
} as const;

interface Item {
  instruction: string;
  response: string;
  meta: Record<string, unknown>;
}

function parseItems(text: string, file: string): Item[] {
  return parseJsonl<Record<string, unknown>>(text, file).map((r, i) => {
    const { instruction, response, ...meta } = r;
    if (typeof instruction !== 'string' || typeof response !== 'string')
      throw new UsageError(`${file}, row ${i + 1}: needs "instruction" and "response" strings`);
    return { instruction, response, meta };
  });
}

/** Each item's score: its own for a point-wise judge, Bradley–Terry within its instruction for a pair-wise one. */
async function scoreItems(judge: Judge, items: Item[]): Promise<(number | null)[]> {
  if (judge.kind === 'pointwise') return judge.score(items);
  const groups = new Map<string, number[]>();
  items.forEach((it, i) => groups.set(it.instruction, [...(groups.get(it.instruction) ?? []), i]));
  const out = new Array<number | null>(items.length).fill(null);
  for (const [instruction, idx] of groups) {
    const s = await scoreGroup(
      judge,
      instruction,
      idx.map((i) => items[i].response),
    );
    idx.forEach((i, k) => (out[i] = s[k]));
  }
  return out;
}

export async function judgeCommand(argv: string[], gpu: Gpu): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  if (!a.judge) throw new UsageError('tpo judge needs --judge', 'e.g. --judge rules:judge.json');
  if (!a.items) throw new UsageError('tpo judge needs --items <items.jsonl>');
  const text = await readFile(a.items, 'utf8').catch((e: Error) => {
    throw new UsageError(`cannot read ${a.items}: ${e.message}`);
  });
  const items = parseItems(text, a.items);
  const from = {
    judge: a.judge,
    mode: a['judge-mode'],
    hubUrl: a['hub-url'],
    dtype: dtypeFlag(a['judge-dtype'], '--judge-dtype'),
  };
  const judge = await cliJudge(await cliJudgeSpec(from), gpu, from);
  const scores = await scoreItems(judge, items);
  items.forEach((it, i) => {
    const score = scores[i];
    if (a.json)
      process.stdout.write(
        `${JSON.stringify({ instruction: it.instruction, response: it.response, ...it.meta, score })}\n`,
      );
    else {
      const cut = (s: string) => JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);
      process.stdout.write(
        `${score === null ? 'none' : score.toFixed(4)}\t${cut(it.instruction)}\t${cut(it.response)}\n`,
      );
    }
  });
  process.stderr.write(`tpo: ${items.length} items judged by ${judge.name}\n`);
}
