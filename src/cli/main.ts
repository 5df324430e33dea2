// The `tpo` command line: the same engine as the browser, on Dawn.

import { TpoError } from '../errors';
import { cliGpu } from './gpu';
import { generateCommand, GENERATE_HELP } from './generate';
import { rmCommand, trainCommand, TRAIN_HELP } from './train';
import { runCommand, RUN_HELP } from './run';
import { evalCommand, EVAL_HELP } from './eval';
import { judgeCommand, JUDGE_HELP } from './judge';

const HELP = `tpo — Thought Preference Optimization on WebGPU

Commands:
  ${GENERATE_HELP.replace(/\n/g, '\n  ')}

  ${TRAIN_HELP.replace(/\n/g, '\n  ')}

  ${RUN_HELP.replace(/\n/g, '\n  ')}

  ${EVAL_HELP.replace(/\n/g, '\n  ')}

  ${JUDGE_HELP.replace(/\n/g, '\n  ')}

Environment: TPO_HUB_URL (hub base URL), TPO_CACHE (download cache folder), HF_TOKEN (gated repos).`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const commands: Record<string, (args: string[], gpu: Awaited<ReturnType<typeof cliGpu>> & object) => Promise<void>> =
    {
      generate: generateCommand,
      dpo: (args, gpu) => trainCommand('dpo', args, gpu),
      sft: (args, gpu) => trainCommand('sft', args, gpu),
      rm: rmCommand,
      run: runCommand,
      eval: evalCommand,
      judge: judgeCommand,
    };
  const run = commands[cmd];
  if (!run) {
    process.stderr.write(`tpo: unknown command "${cmd}"\n\n${HELP}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    const help: Record<string, string> = { generate: GENERATE_HELP, run: RUN_HELP, eval: EVAL_HELP, judge: JUDGE_HELP };
    process.stdout.write((help[cmd] ?? TRAIN_HELP) + '\n');
    return 0;
  }
  try {
    const gpu = await cliGpu(process.argv.slice(1));
    if (typeof gpu === 'number') return gpu;
    await run(rest, gpu);
    return 0;
  } catch (e) {
    const err = e as Error;
    if (
      err instanceof TpoError ||
      (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
      (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(
        `tpo: ${err.name === 'Error' || err.name === 'TypeError' ? '' : err.name + ': '}${err.message}\n`,
      );
      return 2;
    }
    throw err;
  }
}
