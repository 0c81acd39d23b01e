#!/usr/bin/env node
/**
 * The `simd-attention` command line: info, bench, plot, heatmap (one file per command in this
 * folder). Failures are one line on stderr and a non-zero exit code (2: wrong command line,
 * 1: anything else); SIMD_ATTENTION_DEBUG=1 adds the stack trace.
 */
import { Command, CommanderError } from 'commander';
import { benchCommand } from './bench';
import { CliError, oneLine } from './errors';
import { heatmapCommand } from './heatmap';
import { infoCommand } from './info';
import { plotCommand } from './plot';
import { packageInfo } from './results-file';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('simd-attention')
    .description(
      'SIMD attention kernels for Node.js: machine info, benchmarks beside onnxruntime-node, ' +
        'charts and attention heatmaps',
    )
    .version(packageInfo().version)
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      // commander's own errors (unknown option, missing argument, ...) on one line.
      outputError: (str, write) =>
        write(
          `simd-attention: ${str
            .replace(/^error: /, '')
            .split('\n')
            .map((s) => s.trim())
            .filter(Boolean)
            .join(' ')}\n`,
        ),
    });
  for (const cmd of [infoCommand(), benchCommand(), plotCommand(), heatmapCommand()]) {
    // addCommand does not pass settings down: give each command the exit override and error format.
    program.addCommand(cmd.copyInheritedSettings(program));
  }
  return program;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    // --help / --version end here too, with exit code 0; commander already printed its message.
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (process.env.SIMD_ATTENTION_DEBUG) process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    process.stderr.write(`simd-attention: ${oneLine(e)}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    () => {
      process.exitCode = 1;
    },
  );
}
