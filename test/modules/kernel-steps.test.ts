/** kernel-steps: one generator block run by the sync runner and by the async runner. */
import { Block, Kernel, runAll, runAsync, runSync, step } from '../../lib/kernel-steps';

function recordingKernel(log: string[]): Kernel<[string, number], number> {
  return {
    sync: (name, x) => {
      log.push(`sync ${name}`);
      return x * 2;
    },
    async: async (name, x) => {
      log.push(`start ${name}`);
      await new Promise((resolve) => setImmediate(resolve));
      log.push(`end ${name}`);
      return x * 2;
    },
  };
}

function* block(k: Kernel<[string, number], number>, log: string[]): Block<number, number> {
  const a = yield step(k, 'a', 1);
  const [b, c] = yield* runAll([step(k, 'b', a), step(k, 'c', a + 1)]);
  log.push('between');
  return yield step(k, 'd', b + c);
}

test('a block yields only steps whose result is its Next type (checked by the compiler)', () => {
  const text: Kernel<[], string> = { sync: () => 'x', async: async () => 'x' };
  function* numbers(): Block<number, number> {
    // @ts-expect-error a string step in a block of number steps
    yield step(text);
    const [s] = yield* runAll([step(text)]); // runAll's steps may give another type
    return s.length;
  }
  expect(runSync(numbers())).toBe(1);
});

test('the sync runner calls the sync kernels in order and returns the block result', () => {
  const log: string[] = [];
  expect(runSync(block(recordingKernel(log), log))).toBe(20);
  expect(log).toEqual(['sync a', 'sync b', 'sync c', 'between', 'sync d']);
});

test('the async runner awaits each call and starts the calls of runAll together', async () => {
  const log: string[] = [];
  expect(await runAsync(block(recordingKernel(log), log))).toBe(20);
  expect(log).toEqual(['start a', 'end a', 'start b', 'start c', 'end b', 'end c', 'between', 'start d', 'end d']);
});

describe("a kernel's error is thrown into the block, so its finally runs, then reaches the caller", () => {
  const failing: Kernel<[], number> = {
    sync: () => {
      throw new RangeError('sync failure');
    },
    async: async () => {
      throw new RangeError('async failure');
    },
  };
  function* guarded(log: string[]): Block<number, number> {
    try {
      return yield step(failing);
    } finally {
      log.push('finally');
    }
  }

  test('sync', () => {
    const log: string[] = [];
    expect(() => runSync(guarded(log))).toThrow('sync failure');
    expect(log).toEqual(['finally']);
  });

  test('async', async () => {
    const log: string[] = [];
    await expect(runAsync(guarded(log))).rejects.toThrow('async failure');
    expect(log).toEqual(['finally']);
  });

  test('async: a failing call of runAll reaches the block only once the calls beside it have finished', async () => {
    const log: string[] = [];
    const slow = recordingKernel(log);
    function* pair(): Block<number, number> {
      try {
        const [x] = yield* runAll([step(failing), step(slow, 'slow', 1)]);
        return x;
      } finally {
        log.push('finally');
      }
    }
    await expect(runAsync(pair())).rejects.toThrow('async failure');
    expect(log).toEqual(['start slow', 'end slow', 'finally']);
  });

  test('a block may catch the error and go on', () => {
    function* recovering(): Block<string, number> {
      try {
        yield step(failing);
        return 'not reached';
      } catch (e) {
        return `caught ${(e as Error).message}`;
      }
    }
    expect(runSync(recovering())).toBe('caught sync failure');
    return expect(runAsync(recovering())).resolves.toBe('caught async failure');
  });
});
