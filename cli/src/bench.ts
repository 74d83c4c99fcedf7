/**
 * `npm run bench -- [flags]` (see USAGE in command.ts): runs the command, exits with its code
 * (0 done, 1 failure, 2 bad flag, 3 answers differ from the reference answers).
 */
import { runBenchCommand } from '@recsys/bench/command';

runBenchCommand(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
