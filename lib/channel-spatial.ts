/**
 * Channel and spatial attention for feature maps x [B, C, H, W]:
 *
 * - SqueezeExcitation (Hu, Shen & Sun 2018): s = sigmoid(fc2(relu(fc1(avgpool(x))))) [B, C], and
 *   out = x * s per channel.
 * - CBAM (Woo, Park, Lee & Kweon 2018): channel attention Mc = sigmoid(MLP(avgpool(x)) +
 *   MLP(maxpool(x))) with one shared MLP (fc1, ReLU, fc2), x' = x * Mc; then spatial attention
 *   Ms = sigmoid(conv_kxk([mean_c(x'); max_c(x')])) (a 2-channel map, zero padding k / 2), out = x' * Ms.
 *
 * The fully connected layers run on the package's matmul (the avg- and max-pooled vectors of CBAM
 * stacked into one [2B, C] product); pooling, ReLU, the gates and the convolution are native loops.
 * Weights load from PyTorch-style names (see loadWeights).
 */
import type { AbortSignalLike } from './abort';
import { SignalOptions } from './abort';
import { describeValue, rangeError, typeError } from './errors';
import { matmul, matmulSync } from './matmul';
import { allocFloat32, formatShape } from './shape';
import { Tensor } from './tensor';
import { expectOptions, expectTensor, expectWeight, optionalSignal, positiveInteger } from './validate';
import { runNative } from './binding';
import { optionKeys } from './option-keys';
import { ACTIVATE, CHANNEL_GATE, CHANNEL_POOL, descriptorFor, SPATIAL_GATE } from './native-layout';

export interface SqueezeExcitationOptions {
  channels: number;
  /** The bottleneck is floor(channels / reduction) wide (at least 1). */
  reduction: number;
}

const SQUEEZE_EXCITATION_OPTION_KEYS = optionKeys<SqueezeExcitationOptions>({ channels: true, reduction: true });

export interface CBAMOptions extends SqueezeExcitationOptions {
  /** Side of the spatial attention's convolution: odd, default 7 (padding kernelSize / 2). */
  kernelSize?: number;
}

const CBAM_OPTION_KEYS = optionKeys<CBAMOptions>({ channels: true, reduction: true, kernelSize: true });

/** PyTorch names: nn.Linear weights are [out, in]. */
export interface SqueezeExcitationWeights {
  'fc1.weight': Tensor; // [C / r, C]
  'fc1.bias': Tensor; // [C / r]
  'fc2.weight': Tensor; // [C, C / r]
  'fc2.bias': Tensor; // [C]
}

export interface CBAMWeights {
  'channel.fc1.weight': Tensor; // [C / r, C]
  'channel.fc1.bias': Tensor; // [C / r]
  'channel.fc2.weight': Tensor; // [C, C / r]
  'channel.fc2.bias': Tensor; // [C]
  /** [1, 2, k, k]: input channel 0 is the channel-wise MEAN map, 1 the MAX map. */
  'spatial.conv.weight': Tensor;
  /** [1], optional (default 0). */
  'spatial.conv.bias'?: Tensor;
}

interface Mlp {
  fc1: Tensor<Float32Array>;
  b1: Tensor<Float32Array>;
  fc2: Tensor<Float32Array>;
  b2: Tensor<Float32Array>;
}

type Fetch = (name: string, shape: number[]) => Tensor<Float32Array>;

function weightReader(weights: unknown, op: string): Fetch {
  if (typeof weights !== 'object' || weights === null) {
    throw typeError(
      'ERR_INVALID_WEIGHTS',
      `${op}: Expected an object of weight tensors but received ${describeValue(weights)}`,
    );
  }
  return (name, shape) => {
    const value = (weights as Record<string, unknown>)[name];
    if (value === undefined)
      throw rangeError('ERR_INVALID_WEIGHTS', `${op}: missing weight '${name}' ${formatShape(shape)}`);
    const t = expectWeight(value, name, op);
    if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw rangeError(
        'ERR_INVALID_WEIGHTS',
        `${op}: '${name}' must be ${formatShape(shape)} but has shape ${formatShape(t.shape)}`,
      );
    }
    return t;
  };
}

function readMlp(fetch: Fetch, prefix: string, C: number, hidden: number): Mlp {
  return {
    fc1: fetch(`${prefix}fc1.weight`, [hidden, C]),
    b1: fetch(`${prefix}fc1.bias`, [hidden]),
    fc2: fetch(`${prefix}fc2.weight`, [C, hidden]),
    b2: fetch(`${prefix}fc2.bias`, [C]),
  };
}

/** A descriptor for `layout` opened by the feature map x [B, C, H, W] (rows contiguous). */
function mapDescriptor(
  x: Tensor,
  layout: typeof CHANNEL_POOL | typeof CHANNEL_GATE | typeof SPATIAL_GATE,
): Float64Array {
  const F = layout.fields;
  const d = descriptorFor(layout);
  d[F.batch] = x.shape[0];
  d[F.channels] = x.shape[1];
  d[F.height] = x.shape[2];
  d[F.width] = x.shape[3];
  d[F.xOffset] = x.offset;
  d[F.xStrideB] = x.strides[0];
  d[F.xStrideC] = x.strides[1];
  d[F.xStrideH] = x.strides[2];
  return d;
}

function checkMap(xIn: unknown, channels: number, op: string): Tensor<Float32Array> {
  const x = expectTensor(xIn, 'x', ['float32'], op) as Tensor<Float32Array>;
  if (x.rank !== 4 || x.shape[1] !== channels) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: Expected x [B, ${channels}, H, W] but received ${formatShape(x.shape)}`,
    );
  }
  if (x.shape[3] > 1 && x.strides[3] !== 1) {
    throw rangeError(
      'ERR_NOT_CONTIGUOUS',
      `${op}: x's rows (last dimension) must be contiguous but its strides are ${formatShape(x.strides)}`,
    );
  }
  return x;
}

function checkConfig(
  options: unknown,
  op: string,
  allowed: readonly string[],
): { channels: number; reduction: number; hidden: number; o: Record<string, unknown> } {
  const o = expectOptions(options, op, allowed);
  const channels = positiveInteger(o.channels, 'channels', op);
  const reduction = positiveInteger(o.reduction, 'reduction', op);
  if (reduction > channels) {
    throw rangeError(
      'ERR_INVALID_ARGUMENT',
      `${op}: reduction (${reduction}) must not exceed channels (${channels}): the bottleneck would be empty`,
    );
  }
  return { channels, reduction, hidden: Math.floor(channels / reduction), o };
}

/**
 * The native steps of one forward pass, run either synchronously or awaited, so that forward and
 * forwardSync share every line.
 */
class Steps {
  constructor(
    private readonly async: boolean,
    private readonly signal?: AbortSignalLike,
  ) {}

  /** avg (and max) pooled over each plane, into pooled[0, BC) (and pooled[BC, 2BC)). */
  pool(x: Tensor<Float32Array>, pooled: Float32Array, withMax: boolean): void | Promise<void> {
    const BC = x.shape[0] * x.shape[1];
    const arrays = { x: x.data, avg: pooled.subarray(0, BC), max: withMax ? pooled.subarray(BC) : null };
    return runNative('channelPool', arrays, mapDescriptor(x, CHANNEL_POOL), this.async, this.signal);
  }

  relu(t: Tensor<Float32Array>): void | Promise<void> {
    const F = ACTIVATE.fields;
    const d = descriptorFor(ACTIVATE);
    d[F.offset] = 0;
    d[F.n] = t.size;
    d[F.kind] = 0; // relu
    return runNative('activate', { data: t.data }, d, this.async, this.signal);
  }

  mlp(input: Tensor<Float32Array>, w: Mlp): Tensor<Float32Array> | Promise<Tensor<Float32Array>> {
    if (!this.async) {
      const h = matmulSync(input, w.fc1, { transposeB: true, bias: w.b1 });
      this.relu(h);
      return matmulSync(h, w.fc2, { transposeB: true, bias: w.b2 });
    }
    return (async () => {
      const signal = this.signal;
      const h = await matmul(input, w.fc1, { transposeB: true, bias: w.b1, signal });
      await this.relu(h);
      return matmul(h, w.fc2, { transposeB: true, bias: w.b2, signal });
    })();
  }

  /** out = x * sigmoid(logits[0, BC) (+ logits[BC, 2BC) when `twoPaths`)). */
  gate(x: Tensor<Float32Array>, logits: Float32Array, twoPaths: boolean, out: Float32Array): void | Promise<void> {
    const F = CHANNEL_GATE.fields;
    const d = mapDescriptor(x, CHANNEL_GATE);
    d[F.logitsOffset] = 0;
    d[F.logits2Offset] = twoPaths ? x.shape[0] * x.shape[1] : 0;
    const arrays = { x: x.data, logits, logits2: twoPaths ? logits : null, out };
    return runNative('channelGate', arrays, d, this.async, this.signal);
  }

  spatial(y: Tensor<Float32Array>, weight: Tensor<Float32Array>, bias: number, k: number): void | Promise<void> {
    const F = SPATIAL_GATE.fields;
    const d = mapDescriptor(y, SPATIAL_GATE);
    d[F.kernelSize] = k;
    d[F.weightOffset] = weight.offset;
    d[F.bias] = bias;
    return runNative('spatialGate', { x: y.data, weight: weight.data, out: y.data }, d, this.async, this.signal);
  }
}

export class SqueezeExcitation {
  readonly channels: number;
  readonly reduction: number;
  /** floor(channels / reduction). */
  readonly hidden: number;
  private w: Mlp | null = null;

  constructor(options: SqueezeExcitationOptions) {
    const c = checkConfig(options, 'SqueezeExcitation', SQUEEZE_EXCITATION_OPTION_KEYS);
    this.channels = c.channels;
    this.reduction = c.reduction;
    this.hidden = c.hidden;
  }

  /**
   * { 'fc1.weight' [C/r, C], 'fc1.bias' [C/r], 'fc2.weight' [C, C/r], 'fc2.bias' [C] } (a PyTorch state dict's
   * names).
   */
  loadWeights(weights: SqueezeExcitationWeights): this {
    this.w = readMlp(weightReader(weights, 'SqueezeExcitation.loadWeights'), '', this.channels, this.hidden);
    return this;
  }

  private weights(op: string): Mlp {
    if (this.w === null) throw rangeError('ERR_INVALID_WEIGHTS', `${op}: no weights loaded (call loadWeights)`);
    return this.w;
  }

  /** x [B, C, H, W] -> x * s, s = sigmoid(fc2(relu(fc1(mean over H, W)))) per channel; a new tensor. */
  forwardSync(x: Tensor): Tensor<Float32Array> {
    const op = 'SqueezeExcitation.forwardSync';
    const w = this.weights(op);
    const xm = checkMap(x, this.channels, op);
    const steps = new Steps(false);
    const [B, C] = xm.shape;
    const pooled = new Tensor(allocFloat32(B * C, 'pooled'), [B, C]);
    steps.pool(xm, pooled.data, false);
    const logits = steps.mlp(pooled, w) as Tensor<Float32Array>;
    const out = new Tensor(allocFloat32(xm.size, 'the output'), xm.shape);
    steps.gate(xm, logits.data, false, out.data);
    return out;
  }

  async forward(x: Tensor, options?: SignalOptions): Promise<Tensor<Float32Array>> {
    const op = 'SqueezeExcitation.forward';
    const w = this.weights(op);
    const xm = checkMap(x, this.channels, op);
    const steps = new Steps(true, optionalSignal(expectOptions(options, op, [], 'promise'), op));
    const [B, C] = xm.shape;
    const pooled = new Tensor(allocFloat32(B * C, 'pooled'), [B, C]);
    await steps.pool(xm, pooled.data, false);
    const logits = await steps.mlp(pooled, w);
    const out = new Tensor(allocFloat32(xm.size, 'the output'), xm.shape);
    await steps.gate(xm, logits.data, false, out.data);
    return out;
  }
}

export class CBAM {
  readonly channels: number;
  readonly reduction: number;
  readonly hidden: number;
  readonly kernelSize: number;
  private w: { mlp: Mlp; conv: Tensor<Float32Array>; bias: number } | null = null;

  constructor(options: CBAMOptions) {
    const op = 'CBAM';
    const c = checkConfig(options, op, CBAM_OPTION_KEYS);
    this.channels = c.channels;
    this.reduction = c.reduction;
    this.hidden = c.hidden;
    this.kernelSize = c.o.kernelSize === undefined ? 7 : positiveInteger(c.o.kernelSize, 'kernelSize', op);
    if (this.kernelSize % 2 === 0 || this.kernelSize > 255) {
      throw rangeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: kernelSize must be odd (padding kernelSize / 2 keeps H and W) and at most 255, got ${this.kernelSize}`,
      );
    }
  }

  /**
   * { 'channel.fc1.weight' [C/r, C], 'channel.fc1.bias' [C/r], 'channel.fc2.weight' [C, C/r],
   * 'channel.fc2.bias' [C], 'spatial.conv.weight' [1, 2, k, k], 'spatial.conv.bias' [1] (optional) }.
   * The convolution's input channel 0 is the channel-wise mean, 1 the max (the order of the paper's
   * text; the authors' code concatenates max first — swap the two channels of such a weight).
   */
  loadWeights(weights: CBAMWeights): this {
    const op = 'CBAM.loadWeights';
    const fetch = weightReader(weights, op);
    const k = this.kernelSize;
    const mlp = readMlp(fetch, 'channel.', this.channels, this.hidden);
    const convIn = fetch('spatial.conv.weight', [1, 2, k, k]);
    // The native convolution reads the 2 k k taps from one offset: a contiguous copy when it is a view.
    const conv = convIn.isContiguous() ? convIn : (convIn.contiguous() as Tensor<Float32Array>);
    let bias = 0;
    if ((weights as unknown as Record<string, unknown>)['spatial.conv.bias'] !== undefined) {
      const b = fetch('spatial.conv.bias', [1]);
      bias = b.data[b.offset];
    }
    this.w = { mlp, conv, bias };
    return this;
  }

  private weights(op: string) {
    if (this.w === null) throw rangeError('ERR_INVALID_WEIGHTS', `${op}: no weights loaded (call loadWeights)`);
    return this.w;
  }

  /** x [B, C, H, W] -> channel attention, then spatial attention; a new tensor. */
  forwardSync(x: Tensor): Tensor<Float32Array> {
    const op = 'CBAM.forwardSync';
    const w = this.weights(op);
    const xm = checkMap(x, this.channels, op);
    const steps = new Steps(false);
    const [B, C] = xm.shape;
    const pooled = new Tensor(allocFloat32(2 * B * C, 'pooled'), [2 * B, C]); // avg rows, then max rows
    steps.pool(xm, pooled.data, true);
    const logits = steps.mlp(pooled, w.mlp) as Tensor<Float32Array>;
    const y = new Tensor(allocFloat32(xm.size, 'the output'), xm.shape);
    steps.gate(xm, logits.data, true, y.data);
    steps.spatial(y, w.conv, w.bias, this.kernelSize);
    return y;
  }

  async forward(x: Tensor, options?: SignalOptions): Promise<Tensor<Float32Array>> {
    const op = 'CBAM.forward';
    const w = this.weights(op);
    const xm = checkMap(x, this.channels, op);
    const steps = new Steps(true, optionalSignal(expectOptions(options, op, [], 'promise'), op));
    const [B, C] = xm.shape;
    const pooled = new Tensor(allocFloat32(2 * B * C, 'pooled'), [2 * B, C]);
    await steps.pool(xm, pooled.data, true);
    const logits = await steps.mlp(pooled, w.mlp);
    const y = new Tensor(allocFloat32(xm.size, 'the output'), xm.shape);
    await steps.gate(xm, logits.data, true, y.data);
    await steps.spatial(y, w.conv, w.bias, this.kernelSize);
    return y;
  }
}
