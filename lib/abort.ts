/**
 * AbortSignal support of the Promise forms. A call under a signal passes its native job a cancel
 * flag (an Int32Array(1)); on abort the promise rejects at once with an AbortError and the flag
 * tells the native job to skip its work (still queued) or stop at the kernel pool's next task
 * (running). The job holds its inputs until it has really finished, whatever the promise did.
 */
import { abortError } from './errors';

/**
 * What the package reads of an AbortSignal (Node's and the DOM's both fit it), declared here so that
 * its types need neither @types/node nor the DOM library in the consumer's compilation.
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** The options of a Promise form that has no others. */
export interface SignalOptions {
  /** Aborting it rejects the call with an AbortError and stops its kernels. */
  signal?: AbortSignalLike;
}

/** A flag for a native job: element 0 set to 1 asks it to stop. */
export type CancelFlag = Int32Array;

/** The calls pending on each signal, and the one listener they share on it. */
const pending = new WeakMap<AbortSignalLike, { calls: Set<() => void>; listener: () => void }>();

/** Calls `fn` when `signal` aborts; returns the unsubscribe (the listener goes with the last call). */
function subscribe(signal: AbortSignalLike, fn: () => void): () => void {
  let entry = pending.get(signal);
  if (entry === undefined) {
    const calls = new Set<() => void>();
    const listener = (): void => {
      pending.delete(signal);
      for (const call of calls) call();
    };
    entry = { calls, listener };
    pending.set(signal, entry);
    signal.addEventListener('abort', listener, { once: true });
  }
  const e = entry;
  e.calls.add(fn);
  return () => {
    e.calls.delete(fn);
    if (e.calls.size === 0 && pending.get(signal) === e) {
      pending.delete(signal);
      signal.removeEventListener('abort', e.listener);
    }
  };
}

/**
 * Settles as `work` does, or rejects with an AbortError as soon as `signal` aborts (at once if it
 * already has), calling `onAbort` first. The calls pending on a signal share one listener, removed
 * when the last of them settles.
 */
export function raceAbort<T>(signal: AbortSignalLike | undefined, work: Promise<T>, onAbort: () => void): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    onAbort();
    work.catch(() => undefined); // its outcome no longer reaches anyone
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const unsubscribe = subscribe(signal, () => {
      onAbort();
      reject(abortError(signal));
    });
    work.then(
      (value) => {
        unsubscribe();
        resolve(value);
      },
      (err: unknown) => {
        unsubscribe();
        reject(err);
      },
    );
  });
}

/** The native jobs started under each signal and not finished yet (settling, never rejecting). */
const unfinished = new WeakMap<AbortSignalLike, Set<Promise<void>>>();

function track(signal: AbortSignalLike, job: Promise<unknown>): void {
  let jobs = unfinished.get(signal);
  if (jobs === undefined) unfinished.set(signal, (jobs = new Set()));
  const done = job.then(
    () => undefined,
    () => undefined,
  );
  jobs.add(done);
  void done.then(() => jobs.delete(done));
}

/**
 * Resolves when every native job started under `signal` has finished: what must come before
 * reusing a buffer an aborted job may still write (its promise settled at the abort).
 */
export function jobsFinished(signal: AbortSignalLike): Promise<void> {
  const jobs = unfinished.get(signal);
  return jobs === undefined || jobs.size === 0 ? Promise.resolve() : Promise.all(jobs).then(() => undefined);
}

/**
 * Runs `start(cancel)` (an async native call) under `signal`: an already-aborted signal rejects
 * without starting it; an abort while it is pending sets its cancel flag and rejects at once.
 */
export function abortable<T>(
  signal: AbortSignalLike | undefined,
  start: (cancel?: CancelFlag) => Promise<T>,
): Promise<T> {
  if (signal === undefined) return start();
  if (signal.aborted) return Promise.reject(abortError(signal));
  const cancel: CancelFlag = new Int32Array(1);
  const job = start(cancel);
  track(signal, job);
  return raceAbort(signal, job, () => Atomics.store(cancel, 0, 1));
}
