// Crash points for the kill-and-resume tests: with TPO_FAULT=<point>:<n> in the environment of a
// Node process, the n-th time the run reaches <point> the process sends itself SIGKILL — a real
// kill (no cleanup, no flush), at a place a test can name. Without TPO_FAULT (and always in the
// browser) a crash point does nothing.
//
//   sample-stored   after an instruction's samples and scores are appended to the store
//   judged          after an instruction's responses are judged, before they are stored
//   dpo-step        after a DPO optimizer step
//   adapter-file    after each file of an adapter is written into its temporary folder (Node store)
//   adapter-stored  after an iteration's adapter is stored, before its metrics

export type CrashPoint = 'sample-stored' | 'judged' | 'dpo-step' | 'adapter-file' | 'adapter-stored';

const seen = new Map<CrashPoint, number>();

export function crashPoint(point: CrashPoint): void {
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
