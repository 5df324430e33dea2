// Runs one of the project's Node entry points (bin/tpo.mjs, scripts/*.mjs) as a user would: a child
// process with this environment; a non-zero exit resolves with its code instead of throwing.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ScriptResult {
  stdout: string;
  stderr: string;
  code?: number;
  /** The signal that ended the process (e.g. SIGKILL), when one did. */
  signal?: string;
}

export function runNodeScript(script: string, args: string[], env: Record<string, string> = {}): Promise<ScriptResult> {
  return run(process.execPath, [script, ...args], { env: { ...process.env, ...env }, maxBuffer: 1 << 24 }).catch(
    (e) => e as ScriptResult,
  );
}
