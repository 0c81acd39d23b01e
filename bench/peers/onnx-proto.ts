/**
 * ONNX ModelProto encoding for the onnxruntime-node benchmark peer.
 *
 * The models are serialised with protobufjs's reflection API from a hand-written JSON descriptor
 * that holds only the onnx.proto messages and fields the builders need (field numbers are those of
 * the public onnx.proto schema). protobufjs is loaded lazily, so importing this module costs nothing
 * when it is not used.
 *
 * {@link encodeModel} takes a {@link ModelSpec} (nodes, graph inputs/outputs, initializers, opset
 * imports) and returns the serialised ModelProto as a Uint8Array that
 * `InferenceSession.create(bytes)` accepts. {@link decodeModel} turns bytes back into a plain object
 * (for tests and debugging).
 */

/* ------------------------------------------------------------------------------------------------ */
/* protobuf schema (subset of onnx.proto)                                                            */
/* ------------------------------------------------------------------------------------------------ */

/** ONNX TensorProto.DataType values used here. */
export const OnnxDataType = {
  FLOAT: 1,
  INT32: 6,
  INT64: 7,
} as const;
export type OnnxElemType = 'float32' | 'int32' | 'int64';

const ELEM_TYPE_CODE: Record<OnnxElemType, number> = {
  float32: OnnxDataType.FLOAT,
  int32: OnnxDataType.INT32,
  int64: OnnxDataType.INT64,
};

/** AttributeProto.AttributeType values used here. */
const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

// Field numbers follow onnx.proto (ONNX IR). Only the fields written or read by this module: npm's
// onnx-proto is generated code for all of onnx.proto pinned to protobufjs 6, a second copy beside ours.
const ONNX_DESCRIPTOR = {
  nested: {
    onnx: {
      nested: {
        OperatorSetIdProto: {
          fields: {
            domain: { type: 'string', id: 1 },
            version: { type: 'int64', id: 2 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            type: { type: 'int32', id: 20 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            op_type: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            doc_string: { type: 'string', id: 6 },
            domain: { type: 'string', id: 7 },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: 'repeated', type: 'Dimension', id: 1 },
          },
          nested: {
            Dimension: {
              fields: {
                dim_value: { type: 'int64', id: 1 },
                dim_param: { type: 'string', id: 2 },
              },
            },
          },
        },
        TypeProto: {
          fields: {
            tensor_type: { type: 'TensorTypeProto', id: 1 },
          },
        },
        // TypeProto.Tensor, declared at package level under another name (same wire format).
        TensorTypeProto: {
          fields: {
            elem_type: { type: 'int32', id: 1 },
            shape: { type: 'TensorShapeProto', id: 2 },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
            doc_string: { type: 'string', id: 3 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            data_type: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            raw_data: { type: 'bytes', id: 9 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            doc_string: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        ModelProto: {
          fields: {
            ir_version: { type: 'int64', id: 1 },
            producer_name: { type: 'string', id: 2 },
            producer_version: { type: 'string', id: 3 },
            doc_string: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opset_import: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
          },
        },
      },
    },
  },
};

/** The parts of protobufjs's `Type` this module uses. */
interface PbType {
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
  toObject(message: object, options: Record<string, unknown>): Record<string, unknown>;
  verify(message: object): string | null;
}

let modelType: PbType | undefined;

function getModelType(): PbType {
  if (modelType !== undefined) return modelType;
  let pb: { Root: { fromJSON(json: object): { lookupType(name: string): PbType } } };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    pb = require('protobufjs') as typeof pb;
  } catch (e) {
    throw new Error(
      'simd-attention benchmarks: the ONNX model builder needs protobufjs; ' +
        'install it with `npm install protobufjs` (' +
        String((e as Error).message) +
        ')',
    );
  }
  // onnx.proto is proto2: explicit field presence, so a zero attribute value (is_causal = 0) is
  // still written, and repeated scalars are unpacked. Each message type carries the edition.
  const nested: Record<string, object> = {};
  for (const [name, type] of Object.entries(ONNX_DESCRIPTOR.nested.onnx.nested)) {
    nested[name] = { edition: 'proto2', ...type };
  }
  modelType = pb.Root.fromJSON({ nested: { onnx: { nested } } }).lookupType('onnx.ModelProto');
  return modelType;
}

/* ------------------------------------------------------------------------------------------------ */
/* Generic model description                                                                         */
/* ------------------------------------------------------------------------------------------------ */

/** A dimension: a fixed size, or a symbolic name (dim_param) for a dynamic one. */
export type Dim = number | string;

/** A graph input or output (ValueInfoProto with a tensor type). */
export interface ValueSpec {
  name: string;
  dims: Dim[];
  /** Default 'float32'. */
  elemType?: OnnxElemType;
}

/** A typed attribute value. Plain numbers are ambiguous (int or float), so the type is explicit. */
export type AttrValue =
  { int: number } | { float: number } | { string: string } | { ints: number[] } | { floats: number[] };

export const attrInt = (v: number): AttrValue => ({ int: v });
export const attrFloat = (v: number): AttrValue => ({ float: v });
export const attrString = (v: string): AttrValue => ({ string: v });
export const attrInts = (v: number[]): AttrValue => ({ ints: v });

export interface NodeSpec {
  opType: string;
  /** '' (default) is the standard ai.onnx domain; 'com.microsoft' for ORT contrib ops. */
  domain?: string;
  name?: string;
  /** Input value names; '' stands for an omitted optional input. */
  inputs: string[];
  /** Output value names; '' stands for an omitted optional output. */
  outputs: string[];
  attributes?: Record<string, AttrValue>;
}

/** A constant stored in the model (TensorProto with raw_data, little-endian). */
export interface InitializerSpec {
  name: string;
  dims: number[];
  data: Float32Array | Int32Array | BigInt64Array;
}

export interface OpsetSpec {
  /** '' for ai.onnx. */
  domain: string;
  version: number;
}

export interface ModelSpec {
  graphName?: string;
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: InitializerSpec[];
  opsets: OpsetSpec[];
  /** ONNX IR version; default 10 (ORT 1.30 reads up to 11). */
  irVersion?: number;
  docString?: string;
}

function encodeAttribute(name: string, v: AttrValue): Record<string, unknown> {
  if ('int' in v) {
    if (!Number.isSafeInteger(v.int)) throw new TypeError(`attribute ${name}: int ${v.int} is not an integer`);
    return { name, type: ATTR_TYPE.INT, i: v.int };
  }
  if ('float' in v) return { name, type: ATTR_TYPE.FLOAT, f: v.float };
  if ('string' in v) return { name, type: ATTR_TYPE.STRING, s: new TextEncoder().encode(v.string) };
  if ('ints' in v) return { name, type: ATTR_TYPE.INTS, ints: v.ints };
  return { name, type: ATTR_TYPE.FLOATS, floats: v.floats };
}

function encodeValueInfo(v: ValueSpec): Record<string, unknown> {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: ELEM_TYPE_CODE[v.elemType ?? 'float32'],
        shape: {
          dim: v.dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })),
        },
      },
    },
  };
}

function encodeInitializer(t: InitializerSpec): Record<string, unknown> {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (count !== t.data.length) {
    throw new RangeError(`initializer ${t.name}: dims [${t.dims}] hold ${count} elements, data has ${t.data.length}`);
  }
  let dataType: number;
  if (t.data instanceof Float32Array) dataType = OnnxDataType.FLOAT;
  else if (t.data instanceof Int32Array) dataType = OnnxDataType.INT32;
  else dataType = OnnxDataType.INT64;
  // raw_data is little-endian; every platform Node runs the addon on is little-endian, which the
  // check below makes explicit rather than silently wrong.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('big-endian hosts are not supported');
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name: t.name, dims: t.dims, data_type: dataType, raw_data: raw };
}

/** Serialises a model description to ONNX ModelProto bytes. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const type = getModelType();
  const model = {
    ir_version: spec.irVersion ?? 10,
    producer_name: 'simd-attention-bench',
    producer_version: '1',
    doc_string: spec.docString ?? '',
    opset_import: spec.opsets.map((o) => ({ domain: o.domain, version: o.version })),
    graph: {
      name: spec.graphName ?? 'graph',
      node: spec.nodes.map((n, idx) => ({
        input: n.inputs,
        output: n.outputs,
        name: n.name ?? `${n.opType}_${idx}`,
        op_type: n.opType,
        domain: n.domain ?? '',
        attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => encodeAttribute(k, v)),
      })),
      initializer: (spec.initializers ?? []).map(encodeInitializer),
      input: spec.inputs.map(encodeValueInfo),
      output: spec.outputs.map(encodeValueInfo),
    },
  };
  const err = type.verify(model);
  if (err !== null) throw new Error(`encodeModel: invalid model: ${err}`);
  return type.encode(model).finish();
}

/** Decodes ModelProto bytes (only the fields of this module's schema) into a plain object. */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const type = getModelType();
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Array, defaults: false, arrays: false });
}
