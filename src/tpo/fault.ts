// Crash points for the kill-and-resume tests: with TPO_FAULT=<point>:<n> in the environment of a
// Node process, the n-th time the run reaches <point> the process sends itself SIGKILL — a real
// kill (no cleanup, no flush), at a place a test can name. In a browser worker, where a process
// cannot kill itself, `haltAt(point, n)` (the engine's test hook) makes the run stop at that point
// for good, as a killed worker would, and tells the caller, which then kills the page; the engine's
// `pauseAt` pauses the run there, as Pause pressed at that moment would. Otherwise a crash point
// does nothing.
//
//   sample-stored   after an instruction's samples and scores are appended to the store
//   judged          after an instruction's responses are judged, before they are stored
//   dpo-step        after a DPO optimizer step
//   adapter-file    after each file of an adapter is written into its temporary folder (Node store)
//   adapter-stored  after an iteration's adapter is stored, before its metrics

import { UsageError } from '../errors';

export type CrashPoint = 'sample-stored' | 'judged' | 'dpo-step' | 'adapter-file' | 'adapter-stored';

const seen = new Map<CrashPoint, number>();

/** The points a run awaits (a halt needs one); dpo-step is reached in the trainer's synchronous callback. */
export const HALT_POINTS: CrashPoint[] = ['sample-stored', 'judged', 'adapter-file', 'adapter-stored'];

let hook: { point: CrashPoint; n: number; seen: number; act: () => 'halt' | undefined } | undefined;

/** The n-th time the run reaches `point`, `act` runs there; when it returns 'halt', the run halts
 *  there for good (its promise never settles). One hook at a time; a later call replaces it. */
export function onCrashPoint(point: CrashPoint, n: number, act: () => 'halt' | undefined): void {
  hook = { point, n, seen: 0, act };
}

/** The n-th time the run reaches `point` (one it awaits), it halts there and `reached` is called. */
export function haltAt(point: CrashPoint, n: number, reached: () => void): void {
  if (!HALT_POINTS.includes(point))
    throw new UsageError(`a run cannot halt at ${point}`, `Halt at one of ${HALT_POINTS.join(', ')}.`);
  onCrashPoint(point, n, () => {
    reached();
    return 'halt';
  });
}

/** A crash point: awaited where the run may halt there. */
export function crashPoint(point: CrashPoint): Promise<void> {
  if (hook?.point === point && ++hook.seen === hook.n) {
    const act = hook.act;
    hook = undefined;
    // a halt: the run stops here, holding nothing it would write
    if (act() === 'halt') return new Promise<void>(() => {});
  }
  killAt(point);
  return Promise.resolve();
}

function killAt(point: CrashPoint): void {
  const proc = (
    globalThis as {
      process?: { env?: Record<string, string | undefined>; pid: number; kill(pid: number, sig: string): void };
    }
  ).process;
  const spec = proc?.env?.TPO_FAULT;
  if (!spec) return;
  const [name, n] = spec.split(':');
  if (name !== point) return;
  const count = (seen.get(point) ?? 0) + 1;
  seen.set(point, count);
  if (count === Number(n ?? 1)) proc!.kill(proc!.pid, 'SIGKILL');
}
