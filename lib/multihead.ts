/**
 * MultiHeadAttention with PyTorch nn.MultiheadAttention's weights and semantics (batch_first=True,
 * eval mode). The TypeScript layer owns splitting and concatenating heads — as strided views over
 * the projection results (layout BLHD), never as copies; the kernels do the arithmetic.
 *
 * Mask polarity follows nn.MultiheadAttention, NOT scaled_dot_product_attention: a bool attnMask is
 * TRUE WHERE ATTENDING IS NOT ALLOWED; keyPaddingMask is TRUE AT PADDING. A float mask is added.
 */
import type { AbortSignalLike, SignalOptions } from './abort';
import { AttentionOptions } from './attention';
import { describeValue, rangeError, typeError } from './errors';
import { allocFloat32HugeAdvised } from './huge-pages';
import { KVCache } from './kv-cache';
import { Block, runAll, runAsync, runSync, step } from './kernel-steps';
import { PackedWeight, packWeight } from './packed-weight';
import { readSafetensors } from './safetensors';
import { formatShape } from './shape';
import { isTensor, MaskTensor, Tensor } from './tensor';
import { callFormOf } from './option-keys';
import {
  checkOut,
  expectOptions,
  expectTensor,
  optionalBoolean,
  optionalSignal,
  positiveInteger,
  signalOf,
} from './validate';
import { AttentionBlockStep, stepWeightsOf, StepWeights } from './attention-block-step';
import { PositionalHead, PositionalParameters } from './positional-head';
import { RotaryEmbeddingOptions } from './rotary';
import { rotaryCalls, rotaryOption, scoreOptions } from './multihead-decoder-options';
import { PrecomputedMemory } from './precomputed-memory';
import { LOAD_STATE_DICT_OPTION_KEYS, selectStateDict } from './state-dict-options';
import { bf16Weight } from './bf16-linear';
import { WeightDtype, weightDtypeOf, WeightLoadOptions } from './weight-dtype';
import { ATTENTION, LINEAR, LinearWeight, MATMUL, ROTARY, WEIGHTS } from './multihead-kernels';
import {
  MULTI_HEAD_ATTENTION_OPTION_KEYS,
  MULTI_HEAD_FORWARD_OPTION_KEYS,
  MultiHeadAttentionOptions,
  MultiHeadForwardOptions,
  MultiHeadForwardResult,
  MultiHeadForwardResultWithWeights,
} from './multihead-options';
import { cachedView, cacheRowsOf, inputLengthsOf } from './multihead-cache-rows';

export type {
  MultiHeadAttentionOptions,
  MultiHeadForwardOptions,
  MultiHeadForwardResult,
  MultiHeadForwardResultWithWeights,
} from './multihead-options';

/** The projection weights by state-dict name (the biases and positional parameters are not among them). */
const PROJECTION_WEIGHTS = new Set([
  'in_proj_weight',
  'q_proj_weight',
  'k_proj_weight',
  'v_proj_weight',
  'out_proj.weight',
]);
const LOAD_OPTION_KEYS = [...LOAD_STATE_DICT_OPTION_KEYS, 'dtype'];

type Weights = {
  /** The projection weights' dtype (biases and positional parameters are float32 either way). */
  dtype: WeightDtype;
  qWeight: Tensor; // [E, E]
  kWeight: Tensor; // [Ekv, kdim]
  vWeight: Tensor; // [Ekv, vdim]
  inProj: Tensor | null; // [E + 2 Ekv, E] when packed (self-attention: one matmul)
  qBias?: Tensor<Float32Array>;
  kBias?: Tensor<Float32Array>;
  vBias?: Tensor<Float32Array>;
  inBias?: Tensor<Float32Array>;
  outWeight: Tensor; // [E, E]
  outBias?: Tensor<Float32Array>;
  // The same weights packed once for the matmul kernel (packed-weight.ts). A q/k/v part of a packed
  // inProj shares its panels when it starts on a panel boundary, and is null (the tensor is used) if not.
  // bfloat16 weights are read as they are (Bf16Weight), a part of inProj as its rows.
  inProjPacked: LinearWeight | null;
  qPacked: LinearWeight | null;
  kPacked: LinearWeight | null;
  vPacked: LinearWeight | null;
  outPacked: LinearWeight;
  /** The positional head's parameters by state-dict name (empty without one). */
  positional: PositionalParameters;
};

/** A checked forward call: its tensors, sizes, cache and the fused kernel's options. */
type ForwardPlan = ReturnType<MultiHeadAttention['plan']>;

/** A block of the kernels above: each yielded step gives back a tensor. */
type TensorBlock<R> = Block<R, Tensor<Float32Array>>;

/** Q [B, L, H, d], K and V [B, L, Hkv, d]. */
type Projected = { q: Tensor<Float32Array>; k: Tensor<Float32Array>; v: Tensor<Float32Array> };

/**
 * Reused buffers of a forward's intermediates: the packed QKV projection and the attention output.
 * The four last given back are kept, so a module whose shapes change keeps those of its recent calls.
 * In 2 MiB pages from 2 MiB on: the attention walks K and V through QKV's rows, 9 KiB apart at E = 768,
 * a 4 KiB page per row.
 */
class ScratchPool {
  private free: Float32Array[] = [];
  take(size: number): Float32Array {
    const i = this.free.findIndex((b) => b.length === size);
    if (i >= 0) return this.free.splice(i, 1)[0];
    return allocFloat32HugeAdvised(size, 'the block scratch');
  }
  give(buffer: Float32Array): void {
    this.free.push(buffer);
    if (this.free.length > 4) this.free.shift();
  }
}

export class MultiHeadAttention {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly bias: boolean;
  /** The positional head (the `positional` option), or null. */
  readonly positional: PositionalHead | null;
  private weights: Weights | null = null;
  private readonly scratch = new ScratchPool();
  /** The packed weights as the one-crossing cache step reads them; null when they do not suit it. */
  private stepWeights: StepWeights | null = null;
  private readonly blockStep = new AttentionBlockStep();
  private weightDtype: WeightDtype = 'float32';

  constructor(options: MultiHeadAttentionOptions) {
    const op = 'MultiHeadAttention';
    const o = expectOptions(options, op, MULTI_HEAD_ATTENTION_OPTION_KEYS) as Partial<MultiHeadAttentionOptions>;
    this.embedDim = positiveInteger(o.embedDim, 'embedDim', op);
    this.numHeads = positiveInteger(o.numHeads, 'numHeads', op);
    this.numKeyValueHeads =
      o.numKeyValueHeads === undefined ? this.numHeads : positiveInteger(o.numKeyValueHeads, 'numKeyValueHeads', op);
    this.kdim = o.kdim === undefined ? this.embedDim : positiveInteger(o.kdim, 'kdim', op);
    this.vdim = o.vdim === undefined ? this.embedDim : positiveInteger(o.vdim, 'vdim', op);
    this.bias = optionalBoolean(o as Record<string, unknown>, 'bias', op, true);
    if (this.embedDim % this.numHeads !== 0) {
      throw rangeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: embedDim (${this.embedDim}) must be divisible by numHeads (${this.numHeads})`,
      );
    }
    if (this.numHeads % this.numKeyValueHeads !== 0) {
      throw rangeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: numHeads (${this.numHeads}) must be divisible by numKeyValueHeads (${this.numKeyValueHeads})`,
      );
    }
    this.headDim = this.embedDim / this.numHeads;
    this.positional = o.positional === undefined ? null : PositionalHead.fromOption(o.positional, this.numHeads, op);
  }

  /** Width of the key and value projections: numKeyValueHeads * headDim (embedDim without GQA). */
  get kvEmbedDim(): number {
    return this.numKeyValueHeads * this.headDim;
  }

  /**
   * The dtype of the projection weights: 'float32', or 'bfloat16' after `to('bfloat16')` or a load
   * with `dtype: 'bfloat16'` (activations, biases and outputs stay float32 either way).
   */
  get dtype(): WeightDtype {
    return this.weightDtype;
  }

  /**
   * Keeps the projection weights in `dtype` from now on (PyTorch's module.to): loaded weights are
   * converted (float32 to bfloat16 rounds to nearest even; back is exact), and later loads default
   * to it. Returns the module.
   */
  to(dtype: WeightDtype): this {
    const op = 'MultiHeadAttention.to';
    const wanted = weightDtypeOf(dtype, null, op);
    if (this.weights !== null && this.weights.dtype !== wanted)
      this.loadSelected(this.stateDict(), { dtype: wanted }, op);
    this.weightDtype = wanted;
    return this;
  }

  /**
   * The loaded weights under nn.MultiheadAttention's names (the tensors themselves, not copies): the
   * projection weights in the module's dtype, biases and positional parameters float32.
   * loadStateDict(stateDict()) loads the same weights.
   */
  stateDict(): Record<string, Tensor> {
    const w = this.loadedWeights('MultiHeadAttention.stateDict');
    const out: Record<string, Tensor> = {};
    if (w.inProj !== null) out.in_proj_weight = w.inProj;
    else {
      out.q_proj_weight = w.qWeight;
      out.k_proj_weight = w.kWeight;
      out.v_proj_weight = w.vWeight;
    }
    if (w.inBias) out.in_proj_bias = w.inBias;
    out['out_proj.weight'] = w.outWeight;
    if (w.outBias) out['out_proj.bias'] = w.outBias;
    return Object.assign(out, w.positional);
  }

  private get packed(): boolean {
    return this.kdim === this.embedDim && this.vdim === this.embedDim;
  }

  /**
   * The names and shapes loadStateDict expects; with the `positional` option also positional_logits
   * [numHeads, maxLength, maxLength], or positional_left and positional_right [numHeads, maxLength, rank].
   */
  expectedStateDict(): Record<string, number[]> {
    const E = this.embedDim,
      Ekv = this.kvEmbedDim;
    const out: Record<string, number[]> = {};
    if (this.packed) out.in_proj_weight = [E + 2 * Ekv, E];
    else {
      out.q_proj_weight = [E, E];
      out.k_proj_weight = [Ekv, this.kdim];
      out.v_proj_weight = [Ekv, this.vdim];
    }
    if (this.bias) out.in_proj_bias = [E + 2 * Ekv];
    out['out_proj.weight'] = [E, E];
    if (this.bias) out['out_proj.bias'] = [E];
    if (this.positional) Object.assign(out, this.positional.expectedStateDict());
    return out;
  }

  /**
   * Loads weights under nn.MultiheadAttention's names (y = x W^T + b, W [out, in]): in_proj_weight
   * [3E, E] (Wq; Wk; Wv) — or q_proj_weight, k_proj_weight, v_proj_weight when kdim/vdim differ —,
   * in_proj_bias [3E], out_proj.weight [E, E], out_proj.bias [E]; with the `positional` option also
   * positional_logits, or positional_left and positional_right (used, not copied, when contiguous).
   * The biases are used, not copied; the weights are packed once here into the matmul kernel's
   * layout (one extra copy of each), so writes into the weight tensors after loading are not seen:
   * load them again.
   *
   * `prefix` reads one module's weights from a whole model's state dict ('decoder.layers.3.self_attn.'):
   * only the keys starting with it, without it. `strict: false` ignores the keys the module does not
   * expect (PyTorch's unexpected_keys); a missing or misshapen weight is refused either way, so unlike
   * PyTorch there are no missing keys to report and the module itself is returned.
   *
   * `dtype: 'bfloat16'` keeps the projection weights in bfloat16 (rounded from float32 or float16,
   * BF16 ones used as they are): half the memory, and decoding reads half the bytes. A BF16
   * checkpoint is widened to float32 unless asked: the default is the module's dtype (see `to`).
   */
  loadStateDict(dict: Record<string, Tensor>, options?: WeightLoadOptions): this {
    return this.loadSelected(dict, options, 'MultiHeadAttention.loadStateDict');
  }

  private loadSelected(dictIn: Record<string, Tensor>, options: unknown, op: string): this {
    if (typeof dictIn !== 'object' || dictIn === null) {
      throw typeError(
        'ERR_INVALID_WEIGHTS',
        `${op}: Expected a record of Tensors but received ${describeValue(dictIn)}`,
      );
    }
    const { dtype: dtypeIn, ...selectOptions } = expectOptions(options, op, LOAD_OPTION_KEYS);
    const dtype = weightDtypeOf(dtypeIn, this.weightDtype, op);
    const { entries: selected, strict, prefix } = selectStateDict(dictIn, selectOptions, op);
    // Half-precision tensors (an F16 or BF16 safetensors file) are converted once, here: to float32,
    // or to bfloat16 for the projection weights of a bfloat16 module.
    const dict: Record<string, unknown> = {};
    const dtypeOf = (name: string) => (dtype === 'bfloat16' && PROJECTION_WEIGHTS.has(name) ? 'bfloat16' : 'float32');
    for (const [name, t] of Object.entries(selected)) {
      const want = dtypeOf(name);
      const convert = isTensor(t) && t.dtype !== want && ['float32', 'bfloat16', 'float16'].includes(t.dtype);
      dict[name] = convert ? t.to(want) : t;
    }
    const expected = this.expectedStateDict();
    const problems: string[] = [];
    for (const [name, shape] of Object.entries(expected)) {
      const t = dict[name];
      if (t === undefined) problems.push(`missing ${prefix}${name} ${formatShape(shape)}`);
      else if (!isTensor(t) || t.dtype !== dtypeOf(name))
        problems.push(`${name} must be a ${dtypeOf(name)} Tensor, received ${describeValue(t)}`);
      else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        problems.push(`${name} must be ${formatShape(shape)}, received ${formatShape(t.shape)}`);
      }
    }
    if (strict) {
      for (const name of Object.keys(dict)) {
        if (!(name in expected)) problems.push(`unexpected ${prefix}${name}`);
      }
    }
    if (problems.length > 0) {
      const want = Object.entries(expected)
        .map(([n, s]) => `${prefix}${n} ${formatShape(s)}`)
        .join(', ');
      throw rangeError('ERR_INVALID_WEIGHTS', `${op}: ${problems.join('; ')}. Expected exactly: ${want}`);
    }
    const get = (n: string) => dict[n] as Tensor<Float32Array>;
    const E = this.embedDim,
      Ekv = this.kvEmbedDim;
    const half = dtype === 'bfloat16';
    const pack = (t: Tensor, name: string): LinearWeight =>
      half ? bf16Weight(t as Tensor<Uint16Array>) : packWeight(t, op, name);
    const w: Partial<Weights> = {
      dtype,
      outWeight: get('out_proj.weight'),
      inProj: null,
      inProjPacked: null,
      positional: this.positional ? this.positional.load(dict as Record<string, Tensor>) : {},
    };
    w.outPacked = pack(w.outWeight as Tensor, 'out_proj.weight');
    if (this.packed) {
      const inProj = get('in_proj_weight');
      w.inProj = inProj;
      w.qWeight = inProj.narrow(0, 0, E);
      w.kWeight = inProj.narrow(0, E, Ekv);
      w.vWeight = inProj.narrow(0, E + Ekv, Ekv);
      const packed = pack(inProj, 'in_proj_weight');
      w.inProjPacked = packed;
      w.qPacked = packed.rows(0, E);
      w.kPacked = packed.rows(E, Ekv);
      w.vPacked = packed.rows(E + Ekv, Ekv);
    } else {
      w.qWeight = get('q_proj_weight');
      w.kWeight = get('k_proj_weight');
      w.vWeight = get('v_proj_weight');
      w.qPacked = pack(w.qWeight, 'q_proj_weight');
      w.kPacked = pack(w.kWeight, 'k_proj_weight');
      w.vPacked = pack(w.vWeight, 'v_proj_weight');
    }
    if (this.bias) {
      const inBias = get('in_proj_bias');
      w.inBias = inBias;
      w.qBias = inBias.narrow(0, 0, E);
      w.kBias = inBias.narrow(0, E, Ekv);
      w.vBias = inBias.narrow(0, E + Ekv, Ekv);
      w.outBias = get('out_proj.bias');
    }
    this.weights = w as Weights;
    this.weightDtype = dtype;
    // The one-crossing cache step reads float32 weights through their panels, bfloat16 ones as they are.
    this.stepWeights = stepWeightsOf(
      (w.inProj as Tensor<Float32Array> | Tensor<Uint16Array> | null) ?? null,
      w.inBias,
      this.weights.outWeight as Tensor<Float32Array> | Tensor<Uint16Array>,
      w.outBias,
      half ? null : { inProj: (w.inProjPacked as PackedWeight | null) ?? null, out: w.outPacked as PackedWeight },
    );
    return this;
  }

  /**
   * Builds a module from a .safetensors file or buffer holding nn.MultiheadAttention's state dict
   * (or a model's, with `prefix`): the constructor's options and loadStateDict's.
   */
  static fromSafetensors(
    pathOrBuffer: string | Uint8Array,
    options: MultiHeadAttentionOptions & WeightLoadOptions,
  ): MultiHeadAttention {
    const op = 'MultiHeadAttention';
    const o = expectOptions(options, op, [...MULTI_HEAD_ATTENTION_OPTION_KEYS, ...LOAD_OPTION_KEYS]);
    const { prefix, strict, dtype, ...moduleOptions } = o;
    const mha = new MultiHeadAttention(moduleOptions as unknown as MultiHeadAttentionOptions);
    return mha.loadSelected(
      readSafetensors(pathOrBuffer),
      { prefix, strict, dtype },
      'MultiHeadAttention.fromSafetensors',
    );
  }

  /** loadStateDict from a .safetensors file or buffer. */
  loadSafetensors(pathOrBuffer: string | Uint8Array, options?: WeightLoadOptions): this {
    const op = 'MultiHeadAttention.loadSafetensors';
    expectOptions(options, op, LOAD_OPTION_KEYS);
    return this.loadSelected(readSafetensors(pathOrBuffer), options, op);
  }

  /**
   * Projects a fixed memory (an encoder's output) once: key [B, Lk, kdim] and value [B, Lk, vdim] ->
   * a handle that forward() takes in place of key and value at every step (cross-attention).
   */
  precomputeSync(key: Tensor, value: Tensor): PrecomputedMemory {
    return runSync(this.precomputeBlock(key, value, 'MultiHeadAttention.precomputeSync'));
  }

  /** As precomputeSync, off the event loop. */
  async precompute(key: Tensor, value: Tensor, options?: SignalOptions): Promise<PrecomputedMemory> {
    const op = 'MultiHeadAttention.precompute';
    const signal = optionalSignal(expectOptions(options, op, [], 'promise'), op);
    return runAsync(this.precomputeBlock(key, value, op), signal);
  }

  private *precomputeBlock(keyIn: unknown, valueIn: unknown, op: string): TensorBlock<PrecomputedMemory> {
    const w = this.loadedWeights(op);
    const key = expectTensor(keyIn, 'key', ['float32'], op) as Tensor<Float32Array>;
    const value = expectTensor(valueIn, 'value', ['float32'], op) as Tensor<Float32Array>;
    const [B, Lk] = key.shape;
    if (
      key.rank !== 3 ||
      value.rank !== 3 ||
      key.shape[2] !== this.kdim ||
      value.shape[2] !== this.vdim ||
      value.shape[0] !== B ||
      value.shape[1] !== Lk
    ) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `${op}: Expected key [B, Lk, ${this.kdim}] and value [B, Lk, ${this.vdim}] but received ` +
          `key ${formatShape(key.shape)}, value ${formatShape(value.shape)}`,
      );
    }
    const [k, v] = yield* runAll([
      this.projection(key, w.kPacked, w.kWeight, w.kBias),
      this.projection(value, w.vPacked, w.vWeight, w.vBias),
    ]);
    const Hkv = this.numKeyValueHeads;
    return new PrecomputedMemory(this.headsView(k, Hkv), this.headsView(v, Hkv), this, w);
  }

  forwardSync(
    query: Tensor,
    memory: PrecomputedMemory,
    options: MultiHeadForwardOptions & { needWeights: true },
  ): MultiHeadForwardResultWithWeights;
  forwardSync(query: Tensor, memory: PrecomputedMemory, options?: MultiHeadForwardOptions): MultiHeadForwardResult;
  forwardSync(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    options: MultiHeadForwardOptions & { needWeights: true },
  ): MultiHeadForwardResultWithWeights;
  forwardSync(query: Tensor, key: Tensor, value: Tensor, options?: MultiHeadForwardOptions): MultiHeadForwardResult;
  forwardSync(
    query: Tensor,
    keyOrMemory: Tensor | PrecomputedMemory,
    valueOrOptions?: Tensor | MultiHeadForwardOptions,
    options?: MultiHeadForwardOptions,
  ): MultiHeadForwardResult {
    const op = 'MultiHeadAttention.forwardSync';
    const a = this.callArguments(keyOrMemory, valueOrOptions, options, op);
    const plan = this.plan(query, a.key, a.value, a.options, op);
    plan.cache?.refuseWhileBusy(op);
    if (plan.oneStep) return { output: this.blockStep.runSync(this.stepCall(plan)) };
    return runSync(this.forwardBlock(plan));
  }

  forward(
    query: Tensor,
    memory: PrecomputedMemory,
    options: MultiHeadForwardOptions & { needWeights: true },
  ): Promise<MultiHeadForwardResultWithWeights>;
  forward(query: Tensor, memory: PrecomputedMemory, options?: MultiHeadForwardOptions): Promise<MultiHeadForwardResult>;
  forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    options: MultiHeadForwardOptions & { needWeights: true },
  ): Promise<MultiHeadForwardResultWithWeights>;
  forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    options?: MultiHeadForwardOptions,
  ): Promise<MultiHeadForwardResult>;
  async forward(
    query: Tensor,
    keyOrMemory: Tensor | PrecomputedMemory,
    valueOrOptions?: Tensor | MultiHeadForwardOptions,
    optionsIn?: MultiHeadForwardOptions,
  ): Promise<MultiHeadForwardResult> {
    const op = 'MultiHeadAttention.forward';
    const { key, value, options } = this.callArguments(keyOrMemory, valueOrOptions, optionsIn, op);
    const signal = signalOf(options, op);
    const queuedOn = (options as { cache?: unknown } | undefined)?.cache;
    if (queuedOn instanceof KVCache && queuedOn.busy) {
      // Planned at its turn in the cache's queue: the cache's lengths are only known then.
      return queuedOn.enqueue(() => this.run(this.plan(query, key, value, options, op), signal));
    }
    const plan = this.plan(query, key, value, options, op);
    return plan.cache ? plan.cache.enqueue(() => this.run(plan, signal)) : this.run(plan, signal);
  }

  /** forward's arguments: (query, key, value, options?) or (query, memory, options?). */
  private callArguments(keyOrMemory: unknown, valueOrOptions: unknown, options: unknown, op: string) {
    if (!(keyOrMemory instanceof PrecomputedMemory)) return { key: keyOrMemory, value: valueOrOptions, options };
    if (isTensor(valueOrOptions) || options !== undefined) {
      throw typeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: a PrecomputedMemory stands for both key and value: call ${op.split('.')[1]}(query, memory, options?)`,
      );
    }
    return { key: keyOrMemory, value: undefined, options: valueOrOptions };
  }

  /** Runs a checked plan off the event loop (in its turn on the cache, if any). */
  private async run(plan: ForwardPlan, signal: AbortSignalLike | undefined): Promise<MultiHeadForwardResult> {
    if (plan.oneStep) return { output: await this.blockStep.runAsync(this.stepCall(plan), signal) };
    const result = runAsync(this.forwardBlock(plan), signal);
    plan.cache?.hold(result);
    return result;
  }

  /** The one-crossing cache step of a checked plan (plan.oneStep). */
  private stepCall(plan: ForwardPlan) {
    return {
      query: plan.query,
      out: plan.out,
      cache: plan.cache as KVCache,
      rows: plan.cacheRows,
      weights: this.stepWeights as StepWeights,
      heads: this.numHeads,
      headDim: this.headDim,
    };
  }

  /** The block, written once: projections, cache append, attention, output projection, weights. */
  private *forwardBlock(plan: ForwardPlan): TensorBlock<MultiHeadForwardResult> {
    const w = this.weights as Weights;
    const packedWidth = plan.self && w.inProjPacked !== null ? this.embedDim + 2 * this.kvEmbedDim : 0;
    const qkvBuffer = packedWidth > 0 ? this.scratch.take(plan.B * plan.Lq * packedWidth) : null;
    try {
      return yield* this.attendAndProject(plan, yield* this.project(plan, qkvBuffer));
    } finally {
      if (qkvBuffer !== null) this.scratch.give(qkvBuffer);
    }
  }

  /** The block after the input projections (which may be views of a scratch buffer, valid until it returns). */
  private *attendAndProject(plan: ForwardPlan, projected: Projected): TensorBlock<MultiHeadForwardResult> {
    const w = this.weights as Weights;
    const v = projected.v;
    let { q, k } = projected;
    if (plan.rotary) {
      // In place where the projection is contiguous (its own buffer, or a one-row view of the module's
      // reused packed one, valid until the block returns); a strided view is rotated into a new tensor.
      const rotate = (t: Tensor<Float32Array>, o: RotaryEmbeddingOptions) =>
        step(ROTARY, t, t.isContiguous() ? { ...o, out: t } : o);
      [q, k] = yield* runAll([rotate(q, plan.rotary.q), rotate(k, plan.rotary.k)]);
    }
    if (plan.cache) plan.cache.store(k, v, plan.cacheRows, plan.inputLengths);
    const kAll = plan.cached ? plan.cached.keys : k;
    const vAll = plan.cached ? plan.cached.values : v;
    const buffer = this.scratch.take(plan.B * plan.Lq * this.embedDim);
    try {
      const attn = new Tensor(buffer, [plan.B, plan.Lq, this.numHeads, this.headDim]);
      if (this.positional) {
        const call = { queryStart: plan.queryStart, Lq: plan.Lq, Lk: plan.LkAll, attention: plan.attention };
        const [, ...heads] = yield* runAll([
          step(ATTENTION, q, kAll, vAll, { ...plan.attention, out: attn }),
          // The positional heads read float32 values: a half-width cache's are widened for them.
          ...this.positional.steps(w.positional, (vAll as Tensor).to('float32'), call),
        ]);
        this.positional.addInto(attn, heads);
      } else {
        yield step(ATTENTION, q, kAll, vAll, { ...plan.attention, out: attn });
      }
      const attnRows = attn.reshape([plan.B, plan.Lq, this.embedDim]);
      const output = yield step(LINEAR, attnRows, w.outPacked, { bias: w.outBias, out: plan.out });
      const E = this.embedDim;
      plan.inputLengths?.forEach((n, b) =>
        output.data.fill(0, output.offset + (b * plan.Lq + n) * E, output.offset + (b + 1) * plan.Lq * E),
      );
      const result: MultiHeadForwardResult = { output };
      if (plan.needWeights) {
        const all = yield step(WEIGHTS, q, kAll, plan.attention);
        // A paged cache's tables cover whole blocks: the keys past the longest row are not reported.
        const weights = plan.cached?.blockTable ? all.narrow(3, 0, plan.LkAll).contiguous() : all;
        result.weights = plan.average ? yield* this.averageHeads(weights) : weights;
      }
      return result;
    } finally {
      this.scratch.give(buffer);
    }
  }

  private loadedWeights(op: string): Weights {
    if (this.weights === null)
      throw rangeError('ERR_INVALID_WEIGHTS', `${op}: no weights loaded (call loadStateDict or fromSafetensors)`);
    return this.weights;
  }

  /** A precomputed memory passed for key and value, checked against this module and the query. */
  private memoryOf(keyIn: unknown, B: number, op: string): PrecomputedMemory | null {
    if (!(keyIn instanceof PrecomputedMemory)) return null;
    if (keyIn.owner !== this) {
      throw rangeError('ERR_INVALID_ARGUMENT', `${op}: this PrecomputedMemory belongs to another MultiHeadAttention`);
    }
    if (keyIn.weights !== this.weights) {
      throw rangeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: this PrecomputedMemory was projected with weights since replaced by loadStateDict; precompute it again`,
      );
    }
    if (keyIn.batch !== B) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `${op}: the PrecomputedMemory has batch ${keyIn.batch} but the query has ${B}`,
      );
    }
    return keyIn;
  }

  private plan(queryIn: unknown, keyIn: unknown, valueIn: unknown, optionsIn: unknown, op: string) {
    const w = this.loadedWeights(op);
    const query = expectTensor(queryIn, 'query', ['float32'], op) as Tensor<Float32Array>;
    const memory = this.memoryOf(keyIn, query.shape[0], op);
    const key = memory ? memory.keys : (expectTensor(keyIn, 'key', ['float32'], op) as Tensor<Float32Array>);
    const value = memory ? memory.values : (expectTensor(valueIn, 'value', ['float32'], op) as Tensor<Float32Array>);
    const o = expectOptions(optionsIn, op, MULTI_HEAD_FORWARD_OPTION_KEYS, callFormOf(op));
    const shapes = () =>
      [`query ${formatShape(query.shape)}`, `key ${formatShape(key.shape)}`, `value ${formatShape(value.shape)}`].join(
        ', ',
      );
    if (query.rank !== 3 || (memory === null && (key.rank !== 3 || value.rank !== 3))) {
      throw rangeError(
        'ERR_INVALID_SHAPE',
        `${op}: Expected query [B, Lq, ${this.embedDim}], key [B, Lk, ${this.kdim}], value [B, Lk, ${this.vdim}] ` +
          `(batch_first) but received ${shapes()}`,
      );
    }
    const [B, Lq, E] = query.shape;
    const [Bk, Lk] = key.shape;
    const [Bv, Lv] = value.shape;
    const kd = memory ? this.kdim : key.shape[2];
    const vd = memory ? this.vdim : value.shape[2];
    if (E !== this.embedDim || kd !== this.kdim || vd !== this.vdim || Bk !== B || Bv !== B || Lv !== Lk) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `${op}: Expected query [B, Lq, ${this.embedDim}], key [B, Lk, ${this.kdim}], value [B, Lk, ${this.vdim}] ` +
          `but received ${shapes()}`,
      );
    }
    const needWeights = optionalBoolean(o, 'needWeights', op, false);
    const average = optionalBoolean(o, 'averageAttnWeights', op, true);
    const isCausal = optionalBoolean(o, 'isCausal', op, false);
    let cache: KVCache | undefined;
    if (o.cache !== undefined) {
      if (!(o.cache instanceof KVCache))
        throw typeError(
          'ERR_INVALID_OPTION',
          `${op}: Expected a KVCache for cache but received ${describeValue(o.cache)}`,
        );
      if (memory) {
        throw typeError(
          'ERR_INVALID_OPTION',
          `${op}: a PrecomputedMemory is fixed keys and values; it cannot be appended to a cache (pass one or the other)`,
        );
      }
      cache = o.cache;
      if (cache.batch < B || cache.numKeyValueHeads !== this.numKeyValueHeads || cache.headDim !== this.headDim) {
        throw rangeError(
          'ERR_SHAPE_MISMATCH',
          `${op}: the cache holds [${cache.batch}, *, ${cache.numKeyValueHeads}, ${cache.headDim}] ` +
            `but this call needs [${B} or more, *, ${this.numKeyValueHeads}, ${this.headDim}]`,
        );
      }
    }
    const rows = cache ? cacheRowsOf(o.cacheRows, B, cache, op) : undefined;
    for (const name of ['cacheRows', 'inputLengths'])
      if (!cache && o[name] !== undefined)
        throw typeError('ERR_INVALID_OPTION', `${op}: ${name} needs a cache (pass cache too)`);
    const inputLengths = cache ? inputLengthsOf(o.inputLengths, B, Lq, Lk, op) : undefined;
    const attention: AttentionOptions = { layout: 'BLHD', enableGqa: this.numKeyValueHeads !== this.numHeads };
    let LkAll = Lk;
    let cached: ReturnType<typeof cachedView> | undefined;
    if (cache) {
      cache.checkRoom(inputLengths ?? Lk, rows, op);
      cached = cachedView(cache, B, Lk, rows, inputLengths);
      LkAll = cached.longest;
      if (cached.blockTable) {
        attention.blockTable = cached.blockTable;
        for (const name of ['attnMask', 'keyPaddingMask'])
          if (o[name] !== undefined && o[name] !== null)
            throw rangeError('ERR_INVALID_OPTION', `${op}: ${name} is not supported with a paged cache (blockSize)`);
      }
      attention.isCausal = true;
      attention.causalAlignment = cached.keyLengths ? 'bottom-right-key-lengths' : 'bottom-right';
      if (cached.keyLengths) attention.keyLengths = cached.keyLengths;
      if (rows) attention.keyRows = rows;
      if (inputLengths) attention.queryLengths = inputLengths;
    } else if (isCausal) {
      attention.isCausal = true;
    }
    const queryStart = LkAll - Lk;
    const rotarySettings = rotaryOption(o.rotary, this.headDim, op);
    if (rotarySettings && memory) {
      throw rangeError(
        'ERR_INVALID_OPTION',
        `${op}: rotary with a PrecomputedMemory: its keys are projected once, without positions; ` +
          'rotary is for self-attention',
      );
    }
    let rotary: ReturnType<typeof rotaryCalls> | null = null;
    if (rotarySettings) {
      const lengths = cache?.lengths ?? null;
      const starts = lengths && rows ? Int32Array.from(rows, (r) => lengths[r]) : lengths;
      rotary = rotaryCalls(rotarySettings, starts, Lq, Lk);
    }
    const scores = scoreOptions(o, this.numHeads, op);
    const plainScores = Object.keys(scores).length === 0;
    Object.assign(attention, scores);
    if (this.positional && !plainScores) {
      throw rangeError(
        'ERR_INVALID_OPTION',
        `${op}: alibiSlopes, windowSize and softcap are not supported with a positional head ` +
          '(its attention would not be windowed, biased or capped like the dot-product one)',
      );
    }
    if (this.positional) {
      if (rows !== undefined || cached?.keyLengths !== undefined || inputLengths !== undefined || cache?.paged) {
        throw rangeError(
          'ERR_INVALID_OPTION',
          `${op}: a module with a positional head decodes cache rows of one length, all of them in order: ` +
            'cacheRows, inputLengths, rows of different lengths and paged caches are not supported with it',
        );
      }
      this.positional.checkLengths({ queryStart, Lq, Lk: LkAll }, op);
    }
    this.mapMasks(o, attention, { B, Lq, Lk: LkAll, cached: cache !== undefined }, op);
    let out: Tensor<Float32Array> | undefined;
    if (o.out !== undefined) {
      const inputs = {
        query,
        key,
        value,
        in_proj_weight: w.inProj,
        q_proj_weight: w.inProj === null ? w.qWeight : undefined,
        k_proj_weight: w.inProj === null ? w.kWeight : undefined,
        v_proj_weight: w.inProj === null ? w.vWeight : undefined,
        in_proj_bias: w.inBias,
        'out_proj.weight': w.outWeight,
        'out_proj.bias': w.outBias,
        ...w.positional,
        attnMask: attention.attnMask,
        keyPaddingMask: attention.keyPaddingMask,
        'cache keys': cache?.keyStorage,
        'cache values': cache?.valueStorage,
      };
      out = checkOut(o.out, [B, Lq, this.embedDim], op, inputs).out;
    }
    const self = query === key && key === value;
    // Self-attention over a cache with the packed weights and nothing else asked: one native call.
    const oneStep =
      cache !== undefined &&
      inputLengths === undefined &&
      self &&
      this.positional === null &&
      rotary === null &&
      plainScores &&
      Lq > 0 &&
      this.stepWeights !== null &&
      !needWeights &&
      attention.attnMask === undefined &&
      attention.keyPaddingMask === undefined &&
      (query.strides[2] === 1 || E === 1);
    return {
      query,
      key,
      value,
      B,
      Lq,
      Lk,
      queryStart,
      LkAll,
      cache,
      cacheRows: rows,
      inputLengths,
      cached,
      memory,
      rotary,
      needWeights,
      average,
      attention,
      self,
      out,
      oneStep,
    };
  }

  /** Translates nn.MultiheadAttention's masks into the fused kernel's options. */
  private mapMasks(
    o: Record<string, unknown>,
    attention: AttentionOptions,
    s: { B: number; Lq: number; Lk: number; cached: boolean },
    op: string,
  ): void {
    const H = this.numHeads;
    if (o.attnMask !== undefined && o.attnMask !== null) {
      const m = expectTensor(o.attnMask, 'attnMask', ['bool', 'float32'], op) as MaskTensor;
      const ok2 = m.rank === 2 && m.shape[0] === s.Lq && m.shape[1] === s.Lk;
      const ok3 = m.rank === 3 && m.shape[0] === s.B * H && m.shape[1] === s.Lq && m.shape[2] === s.Lk;
      if (!ok2 && !ok3) {
        throw rangeError(
          'ERR_SHAPE_MISMATCH',
          `${op}: attnMask must be [${s.Lq}, ${s.Lk}] or [${s.B * H}, ${s.Lq}, ${s.Lk}] ` +
            `but has shape ${formatShape(m.shape)}`,
        );
      }
      attention.attnMask = ok3
        ? m.isContiguous()
          ? m.reshape([s.B, H, s.Lq, s.Lk])
          : m.contiguous().reshape([s.B, H, s.Lq, s.Lk])
        : m;
      if (m.dtype === 'bool') attention.maskPolarity = 'true-masks';
    }
    if (o.keyPaddingMask !== undefined && o.keyPaddingMask !== null) {
      const m = expectTensor(o.keyPaddingMask, 'keyPaddingMask', ['bool', 'float32'], op) as MaskTensor;
      if (m.rank !== 2 || m.shape[0] !== s.B || m.shape[1] !== s.Lk) {
        throw rangeError(
          'ERR_SHAPE_MISMATCH',
          `${op}: keyPaddingMask must be [${s.B}, ${s.Lk}] but has shape ${formatShape(m.shape)}`,
        );
      }
      attention.keyPaddingMask = m;
    }
  }

  private projectionViews(plan: { B: number; Lq: number; Lk: number }, qkv: Tensor<Float32Array>) {
    // [B, L, E + 2 Ekv] read as three BLHD views: no copy splits the heads.
    const { B, Lq } = plan;
    const E = this.embedDim,
      Ekv = this.kvEmbedDim,
      W = E + 2 * Ekv,
      d = this.headDim;
    const view = (offset: number, heads: number) =>
      new Tensor(qkv.data, [B, Lq, heads, d], { strides: [Lq * W, W, d, 1], offset });
    return { q: view(0, this.numHeads), k: view(E, this.numKeyValueHeads), v: view(E + Ekv, this.numKeyValueHeads) };
  }

  private headsView(t: Tensor<Float32Array>, heads: number): Tensor<Float32Array> {
    const [B, L] = t.shape;
    return t.reshape([B, L, heads, this.headDim]);
  }

  /** One input projection [B, L, in] -> [B, L, out]. */
  private projection(x: Tensor, packed: LinearWeight | null, weight: Tensor, bias?: Tensor) {
    return packed !== null ? step(LINEAR, x, packed, { bias }) : step(MATMUL, x, weight, { transposeB: true, bias });
  }

  /** Q, K and V; self-attention's packed projection goes into `qkvBuffer` ([B, L, E + 2 Ekv]). */
  private *project(plan: ForwardPlan, qkvBuffer: Float32Array | null): TensorBlock<Projected> {
    const w = this.weights as Weights;
    if (qkvBuffer !== null && w.inProjPacked !== null) {
      // Self-attention: one matmul into [B, L, E + 2 Ekv], Q K V read from it as strided views.
      const out = new Tensor(qkvBuffer, [plan.B, plan.Lq, this.embedDim + 2 * this.kvEmbedDim]);
      return this.projectionViews(plan, yield step(LINEAR, plan.query, w.inProjPacked, { bias: w.inBias, out }));
    }
    if (plan.memory) {
      const q = yield this.projection(plan.query, w.qPacked, w.qWeight, w.qBias);
      return { q: this.headsView(q, this.numHeads), k: plan.memory.keys, v: plan.memory.values };
    }
    const [q, k, v] = yield* runAll([
      this.projection(plan.query, w.qPacked, w.qWeight, w.qBias),
      this.projection(plan.key, w.kPacked, w.kWeight, w.kBias),
      this.projection(plan.value, w.vPacked, w.vWeight, w.vBias),
    ]);
    return {
      q: this.headsView(q, this.numHeads),
      k: this.headsView(k, this.numKeyValueHeads),
      v: this.headsView(v, this.numKeyValueHeads),
    };
  }

  /** [B, H, Lq, Lk] weights, averaged over heads with one matmul ([1, H] of 1/H times [B, H, Lq*Lk]). */
  private *averageHeads(weights: Tensor<Float32Array>): TensorBlock<Tensor<Float32Array>> {
    const [B, H, Lq, Lk] = weights.shape;
    const ones = new Tensor(new Float32Array(H).fill(1 / H), [1, H]);
    return (yield step(MATMUL, ones, weights.reshape([B, H, Lq * Lk]))).reshape([B, Lq, Lk]);
  }
}
