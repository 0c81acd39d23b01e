/**
 * A reader for .safetensors files (8-byte little-endian header length, a JSON header, raw
 * little-endian data). F32, F16 and BF16 become float32, float16 and bfloat16 tensors, used in
 * place when aligned (else copied once), never widened. Every offset is checked against the buffer
 * before it is read: a hostile file gets an ERR_INVALID_FILE error, never a read past the end.
 */
import * as fs from 'fs';

import { describeValue, rangeError, typeError } from './errors';
import { MAX_ELEMENTS, formatShape } from './shape';
import { Tensor } from './tensor';

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
const DTYPE_OF: Readonly<Record<string, 'float32' | 'float16' | 'bfloat16'>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
};
const FILE_DTYPE_OF: Readonly<Record<string, string>> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };
/** A header larger than this is refused before it is parsed (the format's own reference limit). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function bad(message: string): Error {
  return rangeError('ERR_INVALID_FILE', `safetensors: ${message}`);
}

/**
 * Parses a safetensors buffer into Tensors by name: F32 as float32, F16 as float16, BF16 as
 * bfloat16 (tensor.to('float32') widens one). `__metadata__` is ignored.
 * @throws RangeError ERR_INVALID_FILE for a bad header, an offset outside the data, overlapping
 *   tensors, a size that does not match the shape, or an unsupported dtype.
 */
export function parseSafetensors(input: Uint8Array): Record<string, Tensor<Float32Array | Uint16Array>> {
  if (!(input instanceof Uint8Array)) {
    throw typeError(
      'ERR_INVALID_ARGUMENT',
      `safetensors: Expected a Uint8Array or Buffer but received ${describeValue(input)}`,
    );
  }
  if (input.length < 8) throw bad(`the file has ${input.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES))
    throw bad(`declared header length ${headerLength} is larger than ${MAX_HEADER_BYTES} bytes`);
  const n = Number(headerLength);
  if (8 + n > input.length)
    throw bad(`declared header length ${n} runs past the end of the file (${input.length} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(input.subarray(8, 8 + n)));
  } catch (e) {
    throw bad(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw bad('the header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = input.length - dataStart;
  const out: Record<string, Tensor<Float32Array | Uint16Array>> = Object.create(null);
  const spans: Array<[number, number, string]> = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    if (typeof entry !== 'object' || entry === null) throw bad(`entry ${JSON.stringify(name)} is not an object`);
    const {
      dtype,
      shape,
      data_offsets: offsets,
    } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in BYTES)) {
      throw bad(`${JSON.stringify(name)} has dtype ${describeValue(dtype)}; supported: F32, F16, BF16`);
    }
    if (
      !Array.isArray(shape) ||
      shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > MAX_ELEMENTS)
    ) {
      throw bad(`${JSON.stringify(name)} has an invalid shape ${describeValue(shape)}`);
    }
    let count = 1;
    for (const d of shape as number[]) {
      count *= d;
      if (count > MAX_ELEMENTS)
        throw bad(`${JSON.stringify(name)} declares a huge shape ${formatShape(shape as number[])}`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      offsets.some((o) => typeof o !== 'number' || !Number.isInteger(o) || o < 0)
    ) {
      throw bad(`${JSON.stringify(name)} has invalid data_offsets ${describeValue(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLength) {
      throw bad(
        `${JSON.stringify(name)} has data_offsets [${begin}, ${end}] outside the data section of ${dataLength} bytes`,
      );
    }
    const size = BYTES[dtype];
    if (end - begin !== count * size) {
      throw bad(
        `${JSON.stringify(name)}: ${dtype} ${formatShape(shape as number[])} needs ${count * size} bytes ` +
          `but data_offsets span ${end - begin}`,
      );
    }
    spans.push([begin, end, name]);
    const bytes = input.subarray(dataStart + begin, dataStart + end);
    // Little-endian hosts only (every platform Node runs on); aligned data is used in place.
    const source = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
    const data =
      dtype === 'F32'
        ? new Float32Array(source.buffer, source.byteOffset, count)
        : new Uint16Array(source.buffer, source.byteOffset, count);
    out[name] = new Tensor(data, shape as number[], { dtype: DTYPE_OF[dtype] });
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; ++i) {
    if (spans[i][0] < spans[i - 1][1])
      throw bad(`tensors ${JSON.stringify(spans[i - 1][2])} and ${JSON.stringify(spans[i][2])} overlap`);
  }
  return out;
}

/** Reads a .safetensors file (a path) or buffer into Tensors by name (as parseSafetensors). */
export function readSafetensors(pathOrBuffer: string | Uint8Array): Record<string, Tensor<Float32Array | Uint16Array>> {
  if (typeof pathOrBuffer === 'string') {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(pathOrBuffer);
    } catch (e) {
      throw rangeError('ERR_INVALID_FILE', `safetensors: cannot read ${pathOrBuffer}: ${(e as Error).message}`);
    }
    return parseSafetensors(bytes);
  }
  return parseSafetensors(pathOrBuffer);
}

/**
 * Writes float32, float16 and bfloat16 tensors as a safetensors buffer (F32, F16, BF16,
 * little-endian), e.g. for tests and exports.
 */
export function encodeSafetensors(tensors: Record<string, Tensor>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  const parts: Array<Float32Array | Uint16Array> = [];
  for (const [name, t] of Object.entries(tensors)) {
    const fileDtype = FILE_DTYPE_OF[t.dtype];
    if (fileDtype === undefined) {
      throw typeError(
        'ERR_INVALID_DTYPE',
        `encodeSafetensors: ${name} is ${t.dtype}; only float32, float16 and bfloat16 are written`,
      );
    }
    const data = t.contiguous().data as Float32Array | Uint16Array;
    header[name] = { dtype: fileDtype, shape: t.shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
    parts.push(data);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // keep the data 8-byte aligned
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let p = 8 + headerBytes.length;
  for (const d of parts) {
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    p += d.byteLength;
  }
  return out;
}
