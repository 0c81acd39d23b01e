/**
 * The native functions behind the other attention variants (linear attention, rotary embedding,
 * soft alignment, channel/spatial attention), typed. Same addon as ./binding; every call passes
 * typed arrays where they lie plus a Float64Array descriptor (see native/binding/*_binding.cc).
 * With `async` true each returns a Promise that settles when the kernel pool is done.
 */
import { native } from './binding';

type Maybe<T> = T | null;

export interface VariantsAddon {
  linearAttention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, state: Maybe<Float32Array>,
    descriptor: Float64Array, async: boolean): unknown;
  rotary(x: Float32Array, out: Float32Array, positions: Maybe<Int32Array>, descriptor: Float64Array, async: boolean): unknown;
  softAlign(weightsAB: Float32Array, weightsBA: Float32Array, maskA: Maybe<Uint8Array>, maskB: Maybe<Uint8Array>,
    descriptor: Float64Array, async: boolean): unknown;
  channelPool(x: Float32Array, avg: Float32Array, max: Maybe<Float32Array>, descriptor: Float64Array, async: boolean): unknown;
  channelGate(x: Float32Array, logits: Float32Array, logits2: Maybe<Float32Array>, out: Float32Array, descriptor: Float64Array,
    async: boolean): unknown;
  spatialGate(x: Float32Array, weight: Float32Array, out: Float32Array, descriptor: Float64Array, async: boolean): unknown;
  activate(data: Float32Array, descriptor: Float64Array, async: boolean): unknown;
}

export function variantsNative(): VariantsAddon {
  return native() as unknown as VariantsAddon;
}

/** Calls `call(async)`: synchronously, or awaiting the Promise the native side returns. */
export function runNative(call: (async: boolean) => unknown, async: false): void;
export function runNative(call: (async: boolean) => unknown, async: true): Promise<void>;
export function runNative(call: (async: boolean) => unknown, async: boolean): void | Promise<void> {
  if (!async) {
    call(false);
    return;
  }
  return (call(true) as Promise<unknown>).then(() => undefined);
}
