/**
 * onnxruntime-node as a benchmark peer.
 *
 * onnxruntime-node is loaded lazily (a `require` inside {@link loadOnnxRuntime}), so this package and
 * its other modules work without it; only creating a peer needs it. The types below describe the
 * small part of onnxruntime-node's API used here, so compiling this file does not need the package
 * either.
 *
 * Timing note: onnxruntime-node's `InferenceSession.run` returns a Promise. Its Node backend calls
 * the native, synchronous `run` from a `setImmediate` callback, so the computation itself blocks the
 * main thread, and each call pays one event-loop turn on top. {@link OrtPeer.run} is async and the
 * benchmark harness awaits it (`timeIt` in ./harness), so ORT timings include that hop;
 * `measureAsyncOverheadMs()` in ./harness measures the hop alone (about 2 us here), to read short
 * decode timings with it in mind.
 *
 * The session runs on ORT's own intra-op thread pool (threads = intraOpNumThreads, the calling
 * thread being one of them). ORT's threads would spin for a while after each run; the peer turns
 * that off (allow_spinning "0") unless created with allowSpinning: true.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  BuiltModel,
  buildAttentionModel,
  buildDecodeModel,
  buildMatMulModel,
  buildMhaBlockModel,
  buildMultiHeadAttentionModel,
  AttentionModelOptions,
  DecodeModelOptions,
  MatMulModelOptions,
  MhaBlockModelOptions,
  MhaModelOptions,
  TensorInfo,
} from './onnx-model';
import { randomFloat32 } from '../data';

/* ------------------------------------------------------------------------------------------------ */
/* Minimal structural types for onnxruntime-node                                                    */
/* ------------------------------------------------------------------------------------------------ */

type OrtTypedData = Float32Array | Int32Array | BigInt64Array;

export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
  dispose?(): void;
}

export interface OrtSessionOptionsLike {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
  executionMode?: 'sequential' | 'parallel';
  executionProviders?: string[];
  /** Session config entries, flattened to dotted keys by the Node binding; values are strings. */
  extra?: Record<string, unknown>;
}

export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensorLike>, fetches?: readonly string[]): Promise<Record<string, OrtTensorLike>>;
  release(): Promise<void>;
}

export interface OrtModuleLike {
  InferenceSession: { create(model: Uint8Array, options?: OrtSessionOptionsLike): Promise<OrtSessionLike> };
  Tensor: new (type: 'float32' | 'int32' | 'int64', data: OrtTypedData, dims: readonly number[]) => OrtTensorLike;
  env: { versions?: Record<string, string | undefined> };
}

/* ------------------------------------------------------------------------------------------------ */
/* Loading                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

const INSTALL_HINT =
  'onnxruntime-node is not installed; the ONNX Runtime benchmark peer needs it. Install it with ' +
  '`ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node` (the CPU binary ships in the npm package; ' +
  'ONNXRUNTIME_NODE_INSTALL=skip stops its install script from trying to download GPU parts).';

const DEFAULT_MODULE_ID = 'onnxruntime-node';

/**
 * Where onnxruntime-node is loaded from. Its native binding creates output typed arrays in Node's
 * main context, and onnxruntime-common checks tensor data with `instanceof Float32Array`. Inside a
 * sandboxed context (jest runs each test file in its own vm context, with its own Float32Array)
 * the two disagree and every run fails ("A float32 tensor's data must be type of Float32Array").
 * So when this module finds itself in such a context, it loads onnxruntime-node with the main
 * context's own `require`, hands it feeds as main-context Float32Array views of the caller's data,
 * and returns outputs as views in the caller's context: no copies either way. In plain Node
 * (the benchmark scripts) all of this is the identity.
 */
interface HostRealm {
  sandboxed: boolean;
  require(id: string): unknown;
  Float32Array: Float32ArrayConstructor;
}

let hostRealm: HostRealm | undefined;

function getHostRealm(): HostRealm {
  if (hostRealm !== undefined) return hostRealm;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vm = require('vm') as typeof import('vm');
  const HostF32 = vm.runInThisContext('Float32Array') as Float32ArrayConstructor;
  if (HostF32 === Float32Array) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- an optional peer, loaded on demand
    hostRealm = { sandboxed: false, require: (id) => require(id) as unknown, Float32Array };
    return hostRealm;
  }
  type ModuleCtor = { createRequire(path: string): (id: string) => unknown };
  const hostProcess = vm.runInThisContext('process') as NodeJS.Process & {
    getBuiltinModule?: (id: string) => unknown;
    mainModule?: { constructor: unknown };
  };
  const mod = (
    typeof hostProcess.getBuiltinModule === 'function'
      ? hostProcess.getBuiltinModule('module')
      : hostProcess.mainModule?.constructor
  ) as ModuleCtor | undefined;
  if (mod === undefined || typeof mod.createRequire !== 'function') {
    // Cannot reach the main context's loader: load normally and hope the realms agree.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- an optional peer, loaded on demand
    hostRealm = { sandboxed: false, require: (id) => require(id) as unknown, Float32Array };
    return hostRealm;
  }
  hostRealm = { sandboxed: true, require: mod.createRequire(__filename), Float32Array: HostF32 };
  return hostRealm;
}

/** A view of `a` typed with the host realm's Float32Array (identity outside a sandbox). */
export function toHostArray(a: Float32Array): Float32Array {
  const realm = getHostRealm();
  return realm.sandboxed ? new realm.Float32Array(a.buffer, a.byteOffset, a.length) : a;
}

/** A view of an output array typed with this realm's Float32Array (identity outside a sandbox). */
export function fromHostArray(a: unknown): Float32Array {
  if (a instanceof Float32Array) return a;
  const h = a as Float32Array;
  return new Float32Array(h.buffer, h.byteOffset, h.length);
}

let ortModule: OrtModuleLike | undefined;

export interface LoadOnnxRuntimeOptions {
  /** Module to require instead of 'onnxruntime-node' (a local build, or a missing name in tests). */
  moduleId?: string;
}

/**
 * Loads onnxruntime-node (once). Throws an Error whose message says how to install it
 * (`ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node`) when it cannot be required.
 */
export function loadOnnxRuntime(options: LoadOnnxRuntimeOptions = {}): OrtModuleLike {
  const id = options.moduleId ?? DEFAULT_MODULE_ID;
  if (id === DEFAULT_MODULE_ID && ortModule !== undefined) return ortModule;
  let mod: OrtModuleLike;
  try {
    mod = getHostRealm().require(id) as OrtModuleLike;
  } catch (e) {
    const err = new Error(`${INSTALL_HINT} (require('${id}') failed: ${String((e as Error).message).split('\n')[0]})`);
    (err as Error & { cause?: unknown }).cause = e;
    throw err;
  }
  if (id === DEFAULT_MODULE_ID) ortModule = mod;
  return mod;
}

/** True when onnxruntime-node can be required. */
export function isOnnxRuntimeAvailable(options: LoadOnnxRuntimeOptions = {}): boolean {
  try {
    loadOnnxRuntime(options);
    return true;
  } catch {
    return false;
  }
}

/** Version of the loaded onnxruntime-node (e.g. '1.30.0'), or undefined when it is not available. */
export function onnxRuntimeVersion(options: LoadOnnxRuntimeOptions = {}): string | undefined {
  if (!isOnnxRuntimeAvailable(options)) return undefined;
  const v = loadOnnxRuntime(options).env.versions;
  return v?.node ?? v?.common;
}

/**
 * The installed onnxruntime-node's version, read from its package.json: `info` reports it without
 * loading the runtime, which only `bench --compare` needs. Undefined when it is not installed.
 */
export function installedOnnxRuntimeVersion(): string | undefined {
  let dir: string;
  try {
    dir = path.dirname(require.resolve(DEFAULT_MODULE_ID));
  } catch {
    return undefined;
  }
  for (; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (!fs.existsSync(file)) continue;
    const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (p.name === DEFAULT_MODULE_ID) return p.version;
  }
  return undefined;
}

/* ------------------------------------------------------------------------------------------------ */
/* Peer                                                                                             */
/* ------------------------------------------------------------------------------------------------ */

export interface OrtPeerOptions {
  /** intraOpNumThreads: the thread count under test (>= 1). */
  threads: number;
  /** Default 'all'. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Whether ORT's intra-op worker threads spin-wait between runs (session.intra_op.allow_spinning).
   * Default false here (ORT's own default is true): spinning helps ORT's latency but keeps the
   * cores busy afterwards, taking the core the other implementation timed next in the same process
   * needs.
   */
  allowSpinning?: boolean;
  /** Seed for the random inputs that are not given explicitly; default 1. */
  seed?: number;
}

function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * One ORT session for one model, with its feeds held ready so that {@link run} measures the
 * inference call only. Feeds are float32 and are created once (and again only after
 * {@link setInput}); ORT reads them in place.
 */
export class OrtPeer {
  readonly model: BuiltModel;
  readonly threads: number;
  private readonly ort: OrtModuleLike;
  private readonly session: OrtSessionLike;
  private readonly feeds: Record<string, OrtTensorLike> = {};
  private readonly data: Record<string, Float32Array> = {};
  private readonly firstOutput: string;
  private released = false;

  private constructor(ort: OrtModuleLike, session: OrtSessionLike, model: BuiltModel, threads: number) {
    this.ort = ort;
    this.session = session;
    this.model = model;
    this.threads = threads;
    this.firstOutput = model.outputs[0].name;
  }

  /**
   * Creates the session (intraOpNumThreads = threads, interOpNumThreads = 1, sequential execution,
   * graph optimisation 'all' unless told otherwise) and fills every input: from `inputs` where given
   * (by input name), otherwise uniform random in [-1, 1) from a seeded PRNG.
   */
  static async create(
    model: BuiltModel,
    options: OrtPeerOptions,
    inputs: Record<string, Float32Array> = {},
  ): Promise<OrtPeer> {
    if (!Number.isSafeInteger(options.threads) || options.threads < 1) {
      throw new RangeError(`OrtPeer: threads must be a positive integer, got ${options.threads}`);
    }
    for (const name of Object.keys(inputs)) {
      if (!model.inputs.some((t) => t.name === name)) {
        throw new Error(
          `OrtPeer: model '${model.label}' has no input '${name}' ` +
            `(inputs: ${model.inputs.map((t) => t.name).join(', ')})`,
        );
      }
    }
    const ort = loadOnnxRuntime();
    const sessionOptions: OrtSessionOptionsLike = {
      intraOpNumThreads: options.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
      executionProviders: ['cpu'],
    };
    sessionOptions.extra = { session: { intra_op: { allow_spinning: options.allowSpinning ? '1' : '0' } } };
    const session = await ort.InferenceSession.create(model.bytes, sessionOptions);
    const peer = new OrtPeer(ort, session, model, options.threads);
    const seed = options.seed ?? 1;
    model.inputs.forEach((t, i) => {
      const given = inputs[t.name];
      peer.setInput(t.name, given ?? randomFloat32(elementCount(t.dims), seed * 1000003 + i));
    });
    return peer;
  }

  /** The model's input descriptions (names, shapes), in graph order. */
  get inputs(): readonly TensorInfo[] {
    return this.model.inputs;
  }

  /** The data currently fed to input `name`. */
  getInput(name: string): Float32Array {
    const d = this.data[name];
    if (d === undefined) throw new Error(`OrtPeer: no input '${name}'`);
    return d;
  }

  /** Replaces the data of input `name` (length must match its shape). The array is used in place. */
  setInput(name: string, data: Float32Array): void {
    const t = this.model.inputs.find((x) => x.name === name);
    if (t === undefined) throw new Error(`OrtPeer: model '${this.model.label}' has no input '${name}'`);
    if (t.elemType !== 'float32')
      throw new Error(`OrtPeer: input '${name}' is ${t.elemType}, only float32 inputs are supported`);
    const n = elementCount(t.dims);
    if (data.length !== n)
      throw new RangeError(`OrtPeer: input '${name}' [${t.dims}] needs ${n} floats, got ${data.length}`);
    this.data[name] = data;
    this.feeds[name] = new this.ort.Tensor('float32', toHostArray(data), t.dims);
  }

  /**
   * One inference; resolves to the first output (for attention models: the attention output).
   * Async, as onnxruntime-node's `session.run` is; await it, and time it awaited.
   */
  async run(): Promise<Float32Array> {
    this.checkAlive();
    const out = await this.session.run(this.feeds, [this.firstOutput]);
    return fromHostArray(out[this.firstOutput].data);
  }

  /** One inference fetching every output (e.g. present_key / present_value of the decode models). */
  async runAll(): Promise<Record<string, Float32Array>> {
    this.checkAlive();
    const out = await this.session.run(this.feeds);
    const res: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(out)) res[k] = fromHostArray(v.data);
    return res;
  }

  /** Frees the native session (idempotent). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }

  private checkAlive(): void {
    if (this.released) throw new Error('OrtPeer: session already released');
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Convenience constructors: build the model and create the peer                                   */
/* ------------------------------------------------------------------------------------------------ */

/** MatMul (or Gemm with transposes). Inputs 'A', 'B'; output 'Y'. */
export function createMatMulPeer(
  shape: MatMulModelOptions,
  options: OrtPeerOptions,
  inputs?: { A?: Float32Array; B?: Float32Array },
): Promise<OrtPeer> {
  return OrtPeer.create(buildMatMulModel(shape), options, definedOnly(inputs));
}

/** ai.onnx Attention (opset 23). Inputs 'Q', 'K', 'V'; output 'Y'. */
export function createAttentionPeer(
  shape: AttentionModelOptions,
  options: OrtPeerOptions,
  inputs?: { Q?: Float32Array; K?: Float32Array; V?: Float32Array },
): Promise<OrtPeer> {
  return OrtPeer.create(buildAttentionModel(shape), options, definedOnly(inputs));
}

/** com.microsoft MultiHeadAttention. Inputs 'query', 'key', 'value' (BLHD); output 'output'. */
export function createMultiHeadAttentionPeer(
  shape: MhaModelOptions,
  options: OrtPeerOptions,
  inputs?: { query?: Float32Array; key?: Float32Array; value?: Float32Array },
): Promise<OrtPeer> {
  return OrtPeer.create(buildMultiHeadAttentionModel(shape), options, definedOnly(inputs));
}

/** Decode step with a key/value cache; see buildDecodeModel for the input names of each op. */
export function createDecodePeer(
  shape: DecodeModelOptions,
  options: OrtPeerOptions,
  inputs?: Record<string, Float32Array | undefined>,
): Promise<OrtPeer> {
  return OrtPeer.create(buildDecodeModel(shape), options, definedOnly(inputs));
}

/** Multi-head attention block with projections. Input 'x' (plus weights when weightsAs 'inputs'); output 'y'. */
export function createMhaBlockPeer(
  shape: MhaBlockModelOptions,
  options: OrtPeerOptions,
  inputs?: Record<string, Float32Array | undefined>,
): Promise<OrtPeer> {
  return OrtPeer.create(buildMhaBlockModel(shape), options, definedOnly(inputs));
}

function definedOnly(inputs: object | undefined): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  if (inputs === undefined) return out;
  for (const [k, v] of Object.entries(inputs)) if (v !== undefined) out[k] = v as Float32Array;
  return out;
}
