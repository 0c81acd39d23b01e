/**
 * A block of kernel calls written once, as a generator that yields each call, and run either
 * synchronously (runSync) or with the async kernels (runAsync): the sync and async entry points of
 * a module then differ only in the runner, so they cannot drift apart.
 *
 *   function* block(): Block<Tensor, Tensor> { const c = yield step(MATMUL, a, b); return c; }
 *   runSync(block());  await runAsync(block());
 */
import type { AbortSignalLike } from './abort';
import { jobsFinished, raceAbort } from './abort';
import { abortError } from './errors';

/**
 * The two modes of one kernel: same arguments, same result; `abortable`, when given, is the async
 * mode under an AbortSignal (it stops the native work; without it an abort only stops waiting).
 */
export interface Kernel<A extends unknown[], R> {
  sync(...args: A): R;
  async(...args: A): Promise<R>;
  abortable?(signal: AbortSignalLike, ...args: A): Promise<R>;
}

/** One yielded kernel call; the runner sends its result (an `R`) back into the generator. */
export interface Step<R = unknown> {
  kernel: Kernel<never[], R>;
  args: unknown[];
}

/**
 * A block returning `R` whose yielded steps each give back a `Next` (runAll's steps may give any
 * type). Steps are yielded directly rather than through a `yield*` helper, which would add a
 * generator object to every kernel call of a decode step.
 */
export type Block<R, Next = unknown> = Generator<Step<Next> | readonly Step[], R, Next>;

/** What a runner takes: a block of any `Next` (each step's own result is what it gets back). */
type AnyBlock<R> = Generator<Step | readonly Step[], R, never>;

export function step<A extends unknown[], R>(kernel: Kernel<A, R>, ...args: A): Step<R> {
  return { kernel: kernel as unknown as Kernel<never[], R>, args };
}

/** Runs independent kernels, concurrently when async: `const [x, y] = yield* runAll([step(...), step(...)])`. */
export function* runAll<R>(steps: readonly Step<R>[]): Generator<readonly Step[], R[], unknown> {
  return (yield steps) as R[];
}

function callSync(s: Step): unknown {
  return (s.kernel.sync as (...args: unknown[]) => unknown)(...s.args);
}

function callAsync(s: Step): Promise<unknown> {
  return (s.kernel.async as (...args: unknown[]) => Promise<unknown>)(...s.args);
}

/** Runs a block with the sync kernels. A kernel's error is thrown into the block, so its `finally` runs. */
export function runSync<R>(block: AnyBlock<R>): R {
  let next = block.next();
  while (!next.done) {
    const y = next.value;
    let result: unknown;
    try {
      result = isStep(y) ? callSync(y) : y.map(callSync);
    } catch (e) {
      next = block.throw(e);
      continue;
    }
    next = block.next(result as never);
  }
  return next.value;
}

/**
 * Runs a block with the async kernels, awaiting each yielded call (a list of calls together). When
 * `signal` aborts, the promise rejects at once with an AbortError and no further call starts; the
 * error is thrown into the block (like a kernel's) once the cancelled kernels have stopped, so that
 * its `finally` may recycle the buffers they wrote.
 */
export function runAsync<R>(block: AnyBlock<R>, signal?: AbortSignalLike): Promise<R> {
  if (signal === undefined) return drive(block, callAsync);
  return raceAbort(
    signal,
    drive(block, (s) => callUnder(s, signal), signal),
    () => undefined,
  );
}

async function drive<R>(block: AnyBlock<R>, call: (s: Step) => Promise<unknown>, signal?: AbortSignalLike): Promise<R> {
  let next = block.next();
  while (!next.done) {
    const y = next.value;
    let result: unknown;
    try {
      if (signal?.aborted) throw abortError(signal);
      result = await (isStep(y) ? call(y) : allFinished(y.map(call)));
    } catch (e) {
      if (signal?.aborted) await jobsFinished(signal);
      next = block.throw(e);
      continue;
    }
    next = block.next(result as never);
  }
  return next.value;
}

/**
 * Every call's result once all have finished; the first failure only then. Promise.all would reject
 * at the first failure while the other kernels still write into buffers the block's `finally` recycles.
 */
async function allFinished(calls: Promise<unknown>[]): Promise<unknown[]> {
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value);
}

function callUnder(s: Step, signal: AbortSignalLike): Promise<unknown> {
  const k = s.kernel as unknown as Kernel<unknown[], unknown>;
  if (k.abortable !== undefined) return k.abortable(signal, ...s.args);
  return raceAbort(signal, callAsync(s), () => undefined);
}

function isStep(y: Step | readonly Step[]): y is Step {
  return !Array.isArray(y);
}
