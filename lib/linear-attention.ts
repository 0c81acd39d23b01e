/**
 * Linear attention — the article's "fast weight programmers" (Schlag, Irie & Schmidhuber 2021;
 * Katharopoulos et al. 2020): with a positive feature map phi,
 *
 *   out_i = (S_i^T phi(q_i)) / (z_i . phi(q_i) + eps),   S_i = sum_j phi(k_j) v_j^T,   z_i = sum_j phi(k_j),
 *
 * summed over j <= i (causal) or over every key. S is a dk x dv matrix — fast weights written by
 * outer products — so time is O(L dk dv) and memory O(dk dv) per head, however long the sequence.
 * Native SIMD kernel: causal by chunks of 64 tokens (a masked intra-chunk product plus the carried
 * state), parallel over batch x heads (and over token ranges when there are fewer heads than threads).
 */
import type { AbortSignalLike } from './abort';
import { raceAbort } from './abort';
import { abortError, rangeError } from './errors';
import { headsOf, HeadLayout, resultShape, resultStrides } from './head-layout';
import { allocFloat32, formatShape, numel } from './shape';
import { Tensor } from './tensor';
import {
  expectOptions,
  expectTensor,
  optionalBoolean,
  optionalEnum,
  optionalFiniteNumber,
  signalOf,
  positiveInteger,
} from './validate';
import { native, runNative } from './binding';
import { callFormOf, optionKeys } from './option-keys';
import { descriptorFor, LINEAR_ATTENTION, writeHeadsView } from './native-layout';

export type FeatureMapName = 'elu+1' | 'relu';

export interface LinearAttentionOptions {
  /** phi: 'elu+1' (elu(x) + 1, always positive; the default) or 'relu'. */
  featureMap?: FeatureMapName;
  /** Sum over j <= i only (the autoregressive form). Default false. */
  isCausal?: boolean;
  /** Added to the normaliser z . phi(q). Default 1e-6. */
  eps?: number;
  /** 'BHLD' ([B, H, L, d]; also [L, d], [N, L, d]; the default) or 'BLHD' ([B, L, H, d]; also [L, H, d]). */
  layout?: HeadLayout;
  /** Promise form only: aborting it rejects the call with an AbortError and stops its kernel. */
  signal?: AbortSignalLike;
}

const LINEAR_ATTENTION_OPTION_KEYS = optionKeys<LinearAttentionOptions>({
  featureMap: true,
  isCausal: true,
  eps: true,
  layout: true,
});

export interface LinearAttentionStateOptions {
  batch: number;
  heads: number;
  keyDim: number;
  valueDim: number;
  featureMap?: FeatureMapName;
  eps?: number;
}

const LINEAR_ATTENTION_STATE_OPTION_KEYS = optionKeys<LinearAttentionStateOptions>({
  batch: true,
  heads: true,
  keyDim: true,
  valueDim: true,
  featureMap: true,
  eps: true,
});

export interface LinearAttentionStepOptions {
  /** Layout of q, k, v and the output: 'BHLD' ([B, H, T, d], the default) or 'BLHD' ([B, T, H, d]). */
  layout?: HeadLayout;
  /**
   * step() only: aborting it rejects the step with an AbortError; a step aborted once its kernel was
   * issued may leave the state partly updated, so the state then refuses steps until reset().
   */
  signal?: AbortSignalLike;
}

const LINEAR_ATTENTION_STEP_OPTION_KEYS = optionKeys<LinearAttentionStepOptions>({ layout: true });

/** Head dimensions up to this (the per-thread state scratch is then at most 4 MiB). */
const MAX_HEAD_DIM = 1024;
const DEFAULT_EPS = 1e-6;

function featureMapCode(name: FeatureMapName): number {
  return name === 'relu' ? 1 : 0;
}

function checkEps(value: number | undefined, op: string): number {
  const eps = value ?? DEFAULT_EPS;
  if (!(eps >= 0)) throw rangeError('ERR_INVALID_OPTION', `${op}: eps must be a finite number >= 0 but is ${eps}`);
  return eps;
}

interface Prepared {
  q: Tensor<Float32Array>;
  k: Tensor<Float32Array>;
  v: Tensor<Float32Array>;
  out: Tensor<Float32Array>;
  descriptor: Float64Array;
  batch: number;
  heads: number;
  /** Query tokens (Lq). */
  tokens: number;
  dk: number;
  dv: number;
}

interface PrepareSettings {
  featureMap: FeatureMapName;
  causal: boolean;
  eps: number;
  layout: HeadLayout;
}

function prepare(qIn: unknown, kIn: unknown, vIn: unknown, s: PrepareSettings, op: string): Prepared {
  const q = expectTensor(qIn, 'query', ['float32'], op) as Tensor<Float32Array>;
  const k = expectTensor(kIn, 'key', ['float32'], op) as Tensor<Float32Array>;
  const v = expectTensor(vIn, 'value', ['float32'], op) as Tensor<Float32Array>;
  const shapes = () => `query ${formatShape(q.shape)}, key ${formatShape(k.shape)}, value ${formatShape(v.shape)}`;
  if (q.rank !== k.rank || v.rank !== q.rank) {
    throw rangeError('ERR_SHAPE_MISMATCH', `${op}: query, key and value must have the same rank; received ${shapes()}`);
  }
  const qh = headsOf(q, 'query', s.layout, op),
    kh = headsOf(k, 'key', s.layout, op),
    vh = headsOf(v, 'value', s.layout, op);
  if (qh.dim !== kh.dim) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: query and key must share their last dimension (dk); received ${shapes()}`,
    );
  }
  if (kh.batch !== vh.batch || kh.heads !== vh.heads || kh.rows !== vh.rows) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: key and value must agree on batch, heads and length; received ${shapes()}`,
    );
  }
  if (qh.batch !== kh.batch || qh.heads !== kh.heads) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: query and key/value must agree on batch and heads; received ${shapes()}`,
    );
  }
  if (s.causal && qh.rows !== kh.rows) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: causal linear attention needs as many queries as keys; received ${shapes()}`,
    );
  }
  const dk = qh.dim,
    dv = vh.dim;
  if (dk < 1 || dk > MAX_HEAD_DIM || dv < 1 || dv > MAX_HEAD_DIM) {
    throw rangeError(
      'ERR_INVALID_SHAPE',
      `${op}: head dimensions must lie in [1, ${MAX_HEAD_DIM}]; received ${shapes()}`,
    );
  }
  const outShape = resultShape(q, s.layout, qh, qh.rows, dv);
  const out = new Tensor(allocFloat32(numel(outShape, 'the output'), 'the output'), outShape);
  const os = resultStrides(s.layout, qh, qh.rows, dv);
  const F = LINEAR_ATTENTION.fields;
  const d = descriptorFor(LINEAR_ATTENTION);
  d[F.batch] = qh.batch;
  d[F.heads] = qh.heads;
  d[F.Lq] = qh.rows;
  d[F.Lk] = kh.rows;
  d[F.dk] = dk;
  d[F.dv] = dv;
  d[F.featureMap] = featureMapCode(s.featureMap);
  d[F.causal] = s.causal ? 1 : 0;
  d[F.eps] = s.eps;
  writeHeadsView(d, F, 'q', qh.offset, qh.strides);
  writeHeadsView(d, F, 'k', kh.offset, kh.strides);
  writeHeadsView(d, F, 'v', vh.offset, vh.strides);
  writeHeadsView(d, F, 'out', 0, os);
  return { q, k, v, out, descriptor: d, batch: qh.batch, heads: qh.heads, tokens: qh.rows, dk, dv };
}

function settingsFrom(optionsIn: unknown, op: string): PrepareSettings {
  const o = expectOptions(optionsIn, op, LINEAR_ATTENTION_OPTION_KEYS, callFormOf(op));
  return {
    featureMap: optionalEnum<FeatureMapName>(o, 'featureMap', ['elu+1', 'relu'], op, 'elu+1'),
    causal: optionalBoolean(o, 'isCausal', op, false),
    eps: checkEps(optionalFiniteNumber(o, 'eps', op), op),
    layout: optionalEnum<HeadLayout>(o, 'layout', ['BHLD', 'BLHD'], op, 'BHLD'),
  };
}

function arraysOf(p: Prepared, state: Float32Array | null) {
  return { query: p.q.data, key: p.k.data, value: p.v.data, out: p.out.data, state };
}

function run(p: Prepared, state: Float32Array | null, async: boolean, signal?: AbortSignalLike): void | Promise<void> {
  return runNative('linearAttention', arraysOf(p, state), p.descriptor, async, signal);
}

/**
 * Linear attention on the calling thread (the kernel pool still splits the work).
 * query [..., Lq, dk], key [..., Lk, dk], value [..., Lk, dv] (BHLD; or BLHD), the same batch and
 * heads; causal needs Lq == Lk. @returns [..., Lq, dv] in the input's layout.
 */
export function linearAttentionSync(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  options?: LinearAttentionOptions,
): Tensor<Float32Array> {
  const op = 'linearAttentionSync';
  const p = prepare(query, key, value, settingsFrom(options, op), op);
  run(p, null, false);
  return p.out;
}

/** As linearAttentionSync, off the event loop (inputs are kept alive until it settles). */
export async function linearAttention(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  options?: LinearAttentionOptions,
): Promise<Tensor<Float32Array>> {
  const op = 'linearAttention';
  const p = prepare(query, key, value, settingsFrom(options, op), op);
  await run(p, null, true, signalOf(options, op));
  return p.out;
}

/**
 * The streaming (recurrent) form of causal linear attention: per (batch, head) the fast weights
 * S [dk, dv] and the normaliser z [dk], updated by every new token's outer product phi(k) v^T.
 * step(q, k, v) takes T >= 1 new tokens ([B, H, T, d], or [B, T, H, d] with layout 'BLHD') and
 * returns their outputs — exactly what causal linearAttention gives for those positions of the
 * whole sequence — in O(T dk dv), whatever came before.
 */
export class LinearAttentionState {
  readonly batch: number;
  readonly heads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly featureMap: FeatureMapName;
  readonly eps: number;
  /** [batch * heads] blocks of dk * dv (S, row-major) + dk (z) floats. */
  private readonly storage: Float32Array;
  private tokens = 0;
  /** Steps called and not yet finished natively (an aborted one counts until its kernel has stopped). */
  private running = 0;
  /** A step was aborted after its kernel was issued: S and z may be partly updated. */
  private interrupted = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: LinearAttentionStateOptions) {
    const op = 'LinearAttentionState';
    const o = expectOptions(options, op, LINEAR_ATTENTION_STATE_OPTION_KEYS);
    this.batch = positiveInteger(o.batch, 'batch', op);
    this.heads = positiveInteger(o.heads, 'heads', op);
    this.keyDim = positiveInteger(o.keyDim, 'keyDim', op);
    this.valueDim = positiveInteger(o.valueDim, 'valueDim', op);
    if (this.keyDim > MAX_HEAD_DIM || this.valueDim > MAX_HEAD_DIM) {
      throw rangeError('ERR_INVALID_ARGUMENT', `${op}: keyDim and valueDim must lie in [1, ${MAX_HEAD_DIM}]`);
    }
    this.featureMap = optionalEnum<FeatureMapName>(o, 'featureMap', ['elu+1', 'relu'], op, 'elu+1');
    this.eps = checkEps(optionalFiniteNumber(o, 'eps', op), op);
    this.storage = allocFloat32(
      numel([this.batch * this.heads, this.keyDim * this.valueDim + this.keyDim], 'the state'),
      'the state',
    );
  }

  /** Tokens consumed since construction or the last reset(). */
  get length(): number {
    return this.tokens;
  }

  /** S, the fast weights, as a live view [batch, heads, keyDim, valueDim] of the state. */
  get fastWeights(): Tensor<Float32Array> {
    const per = this.keyDim * this.valueDim + this.keyDim;
    return new Tensor(this.storage, [this.batch, this.heads, this.keyDim, this.valueDim], {
      strides: [this.heads * per, per, this.valueDim, 1],
      offset: 0,
    });
  }

  /** z = sum of phi(k_j), as a live view [batch, heads, keyDim] of the state. */
  get normalizer(): Tensor<Float32Array> {
    const per = this.keyDim * this.valueDim + this.keyDim;
    return new Tensor(this.storage, [this.batch, this.heads, this.keyDim], {
      strides: [this.heads * per, per, 1],
      offset: this.keyDim * this.valueDim,
    });
  }

  /** Forgets every token: S = 0, z = 0. Not while an async step is running. */
  reset(): void {
    this.checkIdle('LinearAttentionState.reset');
    this.storage.fill(0);
    this.tokens = 0;
    this.interrupted = false;
  }

  private checkIdle(op: string): void {
    if (this.running > 0) {
      throw rangeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: an async step() of this state is still running (or stopping after an abort); await it first`,
      );
    }
  }

  private checkIntact(op: string): void {
    if (this.interrupted) {
      throw rangeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: a step() of this state was aborted while its kernel ran, which may have left it partly ` +
          'updated; call reset() first',
      );
    }
  }

  private prepareStep(q: unknown, k: unknown, v: unknown, optionsIn: unknown, op: string): Prepared {
    const o = expectOptions(optionsIn, op, LINEAR_ATTENTION_STEP_OPTION_KEYS, callFormOf(op));
    const layout = optionalEnum<HeadLayout>(o, 'layout', ['BHLD', 'BLHD'], op, 'BHLD');
    const p = prepare(q, k, v, { featureMap: this.featureMap, causal: true, eps: this.eps, layout }, op);
    if (p.batch !== this.batch || p.heads !== this.heads || p.dk !== this.keyDim || p.dv !== this.valueDim) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `${op}: the state holds batch ${this.batch}, heads ${this.heads}, keyDim ${this.keyDim}, ` +
          `valueDim ${this.valueDim} ` +
          `but the inputs have batch ${p.batch}, heads ${p.heads}, dk ${p.dk}, dv ${p.dv} ` +
          `(query ${formatShape(p.q.shape)}, value ${formatShape(p.v.shape)})`,
      );
    }
    return p;
  }

  /** Feeds T new tokens and returns their outputs, on the calling thread. */
  stepSync(query: Tensor, key: Tensor, value: Tensor, options?: LinearAttentionStepOptions): Tensor<Float32Array> {
    const op = 'LinearAttentionState.stepSync';
    this.checkIdle(op);
    this.checkIntact(op);
    const p = this.prepareStep(query, key, value, options, op);
    run(p, this.storage, false);
    this.tokens += p.tokens;
    return p.out;
  }

  /**
   * As stepSync, off the event loop. Steps of one state run in the order they were called (each
   * waits for the one before, until its kernel has finished); the inputs are checked at the call.
   */
  step(query: Tensor, key: Tensor, value: Tensor, options?: LinearAttentionStepOptions): Promise<Tensor<Float32Array>> {
    const op = 'LinearAttentionState.step';
    let p: Prepared;
    let signal: AbortSignalLike | undefined;
    try {
      p = this.prepareStep(query, key, value, options, op);
      signal = signalOf(options, op);
    } catch (e) {
      return Promise.reject(e);
    }
    const cancel = signal === undefined ? undefined : new Int32Array(1);
    let issued = false;
    this.running++;
    // Settles when the kernel has finished (or was never issued), whenever the returned promise does.
    const work = this.queue
      .then(() => {
        if (signal !== undefined && signal.aborted) throw abortError(signal); // aborted while queued here
        this.checkIntact(op);
        issued = true;
        return native().linearAttentionAsync(arraysOf(p, this.storage), p.descriptor, cancel);
      })
      .then(
        () => {
          this.running--;
          this.tokens += p.tokens;
          return p.out;
        },
        (e: unknown) => {
          this.running--;
          if (issued && cancel !== undefined && cancel[0] !== 0) this.interrupted = true;
          throw e;
        },
      );
    this.queue = work.catch(() => undefined);
    return raceAbort(signal, work, () => {
      if (cancel !== undefined) Atomics.store(cancel, 0, 1);
    });
  }
}
