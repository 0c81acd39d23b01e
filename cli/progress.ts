/**
 * The benchmark progress bar on stderr (cli-progress), one bar per suite. Nothing is drawn when
 * stderr is not a terminal (pipes, CI logs, tests), so output stays clean there.
 */
import { SingleBar, Presets } from 'cli-progress';
import type { ProgressEvent } from '../bench/suites';

export interface ProgressReporter {
  onProgress(e: ProgressEvent): void;
  /** Prints a note without tearing the bar. */
  note(message: string): void;
  stop(): void;
}

export function createProgress(enabled = process.stderr.isTTY === true): ProgressReporter {
  if (!enabled) {
    return {
      onProgress: () => undefined,
      note: (m) => process.stderr.write(`note: ${m}\n`),
      stop: () => undefined,
    };
  }
  let bar: SingleBar | undefined;
  let suite = '';
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    onProgress(e) {
      if (bar === undefined || e.suite !== suite) {
        stop();
        suite = e.suite;
        bar = new SingleBar(
          {
            stream: process.stderr,
            format: '{suite} [{bar}] {value}/{total} {label}',
            barsize: 24,
            hideCursor: true,
            clearOnComplete: true,
          },
          Presets.shades_classic,
        );
        bar.start(e.total, e.done, { suite: e.suite, label: e.label });
      } else {
        bar.setTotal(e.total);
        bar.update(e.done, { label: e.label });
      }
      if (e.done >= e.total && e.label === 'done') stop();
    },
    note(m) {
      const active = bar !== undefined;
      if (active) process.stderr.write('\n');
      process.stderr.write(`note: ${m}\n`);
    },
    stop,
  };
}
