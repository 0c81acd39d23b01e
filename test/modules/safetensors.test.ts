/** The safetensors reader: round trips (F32, F16, BF16), half tensors loaded as they are, and a hostile set. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { encodeSafetensors, MultiHeadAttention, parseSafetensors, readSafetensors, Tensor } from '../../lib';

function file(header: unknown, data: Uint8Array, headerLengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function expectInvalid(bytes: Uint8Array, pattern: RegExp): void {
  let err: (Error & { code?: string }) | undefined;
  try {
    parseSafetensors(bytes);
  } catch (e) {
    err = e as Error & { code?: string };
  }
  expect(err).toBeDefined();
  expect(err!.code).toBe('ERR_INVALID_FILE');
  expect(err!.message).toMatch(pattern);
}

describe('safetensors', () => {
  test('round trip through a file, and MultiHeadAttention.fromSafetensors', () => {
    const dict = {
      in_proj_weight: Tensor.from(
        Array.from({ length: 48 }, (_, i) => i / 10),
        [12, 4],
      ),
      in_proj_bias: Tensor.from(
        Array.from({ length: 12 }, (_, i) => -i),
        [12],
      ),
      'out_proj.weight': Tensor.from(
        Array.from({ length: 16 }, (_, i) => i),
        [4, 4],
      ),
      'out_proj.bias': Tensor.from([1, 2, 3, 4], [4]),
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-st-'));
    const p = path.join(dir, 'mha.safetensors');
    fs.writeFileSync(p, encodeSafetensors(dict));
    const back = readSafetensors(p);
    for (const [k, v] of Object.entries(dict)) {
      expect(back[k].shape).toEqual(v.shape);
      expect(Array.from(back[k].data)).toEqual(Array.from(v.data));
    }
    const m = MultiHeadAttention.fromSafetensors(p, { embedDim: 4, numHeads: 2 });
    expect(
      m.forwardSync(Tensor.zeros([1, 3, 4]), Tensor.zeros([1, 3, 4]), Tensor.zeros([1, 3, 4])).output.shape,
    ).toEqual([1, 3, 4]);
    fs.rmSync(dir, { recursive: true });
  });

  test('F16 and BF16 load as float16 and bfloat16 tensors, in place when aligned', () => {
    // 1.0, -2.0, 0.5, 65504 (max half), a subnormal, +inf in F16; 1.0, -3.0 in BF16
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00]).buffer);
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer);
    const data = new Uint8Array(16);
    data.set(f16, 0);
    data.set(bf16, 12);
    const header = {
      h: { dtype: 'F16', shape: [6], data_offsets: [0, 12] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [12, 16] },
    };
    const bytes = file(header, data);
    const t = parseSafetensors(bytes);
    expect([t.h.dtype, t.b.dtype]).toEqual(['float16', 'bfloat16']);
    expect(Array.from(t.h.data)).toEqual([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00]);
    expect(Array.from(t.h.to('float32').data)).toEqual([1, -2, 0.5, 65504, 2 ** -24, Infinity]);
    expect(Array.from(t.b.to('float32').data)).toEqual([1, -3]);
    // The same file once with its data 2-byte aligned (used where it lies), once not (copied once).
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const evenStart = (8 + new TextEncoder().encode(JSON.stringify(header)).length) % 2 === 0;
    const [aligned, misaligned] = evenStart ? [bytes, shifted.subarray(1)] : [shifted.subarray(1), bytes];
    expect(parseSafetensors(aligned).h.data.buffer).toBe(aligned.buffer);
    const copied = parseSafetensors(misaligned);
    expect(copied.h.data.buffer).not.toBe(misaligned.buffer);
    expect(Array.from(copied.h.data)).toEqual(Array.from(t.h.data));
  });

  test('F16 and BF16 round trip through encodeSafetensors; MultiHeadAttention loads them widened', () => {
    const r = (n: number, k: number) => Array.from({ length: n }, (_, i) => Math.sin(i * k) / 2);
    const dict = {
      in_proj_weight: Tensor.from(r(48, 0.7), [12, 4]),
      in_proj_bias: Tensor.from(r(12, 1.3), [12]),
      'out_proj.weight': Tensor.from(r(16, 2.1), [4, 4]),
      'out_proj.bias': Tensor.from(r(4, 0.3), [4]),
    };
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const halves = Object.fromEntries(Object.entries(dict).map(([k, v]) => [k, v.to(dtype)]));
      // a strided view is written contiguously
      halves.extra = dict.in_proj_weight.narrow(1, 1, 2).to(dtype);
      const bytes = encodeSafetensors(halves);
      const header = JSON.parse(
        new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)))),
      );
      expect(header.in_proj_weight.dtype).toBe(dtype === 'float16' ? 'F16' : 'BF16');
      const back = parseSafetensors(bytes);
      for (const [k, v] of Object.entries(halves)) {
        expect({ k, dtype: back[k].dtype, shape: back[k].shape }).toEqual({ k, dtype, shape: v.shape });
        expect(Array.from(back[k].data)).toEqual(Array.from(v.data));
      }
      delete halves.extra;
      const x = Tensor.from(r(12, 0.9), [1, 3, 4]);
      const fromHalves = MultiHeadAttention.fromSafetensors(encodeSafetensors(halves), { embedDim: 4, numHeads: 2 });
      const widened = Object.fromEntries(Object.entries(halves).map(([k, v]) => [k, v.to('float32')]));
      const fromFloats = new MultiHeadAttention({ embedDim: 4, numHeads: 2 }).loadStateDict(widened);
      expect(Array.from(fromHalves.forwardSync(x, x, x).output.data)).toEqual(
        Array.from(fromFloats.forwardSync(x, x, x).output.data),
      );
    }
    expect(() => encodeSafetensors({ i: new Tensor(new Int32Array(1), [1]) })).toThrow(
      /only float32, float16 and bfloat16 are written/,
    );
  });

  test('hostile files give ERR_INVALID_FILE, never a crash or a read past the buffer', () => {
    const four = new Uint8Array(16);
    expectInvalid(new Uint8Array(3), /fewer than the 8-byte/);
    expectInvalid(file({}, four, 2n ** 62n), /larger than/);
    expectInvalid(file({}, four, 1000n), /past the end/);
    expectInvalid(file('{"a": ', four), /not valid UTF-8 JSON/);
    expectInvalid(file('[1, 2]', four), /not a JSON object/);
    expectInvalid(file({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 64] } }, four), /outside the data section/);
    expectInvalid(file({ a: { dtype: 'F32', shape: [4], data_offsets: [8, 4] } }, four), /outside the data section/);
    expectInvalid(file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, four), /needs 12 bytes/);
    expectInvalid(
      file(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        },
        four,
      ),
      /overlap/,
    );
    expectInvalid(file({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 16] } }, four), /huge shape/);
    expectInvalid(file({ a: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, four), /supported: F32, F16, BF16/);
    expectInvalid(file({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 16] } }, four), /invalid shape/);
    expectInvalid(file({ a: { dtype: 'F32', shape: [4], data_offsets: [0.5, 16] } }, four), /invalid data_offsets/);
    expectInvalid(file({ a: 7 }, four), /not an object/);
    // truncated data: the header promises 16 bytes, the file stops at 8
    expectInvalid(
      file({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)),
      /outside the data section/,
    );
    expect(() => readSafetensors('/nonexistent/file.safetensors')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_FILE' }),
    );
  });
});
