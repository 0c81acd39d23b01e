/**
 * Reads nested arrays as torch.tensor does: the shape is inferred from the nesting ([[1, 2], [3, 4]]
 * is [2, 2], [] is [0], a bare number is []), every level must be rectangular, and every leaf a
 * number (or every leaf a boolean, read as a bool tensor).
 */
import { describeValue, rangeError, typeError } from './errors';
import { allocFloat32, MAX_RANK, numel } from './shape';
import { plural } from './wording';

export type NestedNumbers = number | ArrayLike<number> | readonly NestedNumbers[];
export type NestedBooleans = boolean | readonly NestedBooleans[];

export interface Flattened {
  shape: number[];
  data: Float32Array | Uint8Array;
}

function isList(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

const at = (path: readonly number[]) => `values${path.map((i) => `[${i}]`).join('')}`;
const firstAt = (depth: number) => at(new Array<number>(depth).fill(0));

/** The shape along the first entry of every level, and what that first leaf is. */
function inferShape(values: unknown, op: string): { shape: number[]; bool: boolean } {
  const shape: number[] = [];
  let node = values;
  while (isList(node)) {
    if (shape.length === MAX_RANK) {
      throw rangeError('ERR_INVALID_SHAPE', `${op}: values nest deeper than ${MAX_RANK} levels`);
    }
    shape.push(node.length);
    if (node.length === 0) return { shape, bool: false };
    node = node[0];
  }
  return { shape, bool: typeof node === 'boolean' };
}

/** Flattens `values` row-major after checking the nesting is rectangular and the leaves all of one kind. */
export function flattenNested(values: unknown, op: string): Flattened {
  const { shape, bool } = inferShape(values, op);
  const count = numel(shape, 'the values');
  const data = bool ? new Uint8Array(count) : allocFloat32(count, op);
  if (
    ArrayBuffer.isView(values) &&
    shape.length === 1 &&
    typeof (values as unknown as ArrayLike<unknown>)[0] === 'number'
  ) {
    (data as Float32Array).set(values as unknown as ArrayLike<number>);
    return { shape, data };
  }
  const leaf = bool ? 'boolean' : 'number';
  let next = 0;
  const path: number[] = [];
  const visit = (node: unknown): void => {
    const depth = path.length;
    if (depth < shape.length) {
      if (!isList(node)) {
        if (typeof node !== 'number' && typeof node !== 'boolean') {
          throw typeError(
            'ERR_INVALID_ARGUMENT',
            `${op}: Expected an array at ${at(path)} but received ${describeValue(node)}`,
          );
        }
        throw rangeError(
          'ERR_INVALID_SHAPE',
          `${op}: ${at(path)} is ${describeValue(node)} where ${firstAt(depth)} is an array of ` +
            `${plural(shape[depth], 'entry', 'entries')} (nested arrays must be rectangular)`,
        );
      }
      if (node.length !== shape[depth]) {
        throw rangeError(
          'ERR_INVALID_SHAPE',
          `${op}: ${at(path)} has ${plural(node.length, 'entry', 'entries')} where ${firstAt(depth)} has ` +
            `${shape[depth]} (nested arrays must be rectangular)`,
        );
      }
      for (let i = 0; i < node.length; ++i) {
        path.push(i);
        visit(node[i]);
        path.pop();
      }
      return;
    }
    if (typeof node !== leaf) {
      if (isList(node)) {
        throw rangeError(
          'ERR_INVALID_SHAPE',
          `${op}: ${at(path)} is ${describeValue(node)} where ${firstAt(depth)} is a ${leaf} ` +
            `(nested arrays must be rectangular)`,
        );
      }
      throw typeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: Expected a ${leaf} at ${at(path)} (as at ${firstAt(depth)}) but received ${describeValue(node)}`,
      );
    }
    data[next++] = bool ? (node ? 1 : 0) : (node as number);
  };
  visit(values);
  return { shape, data };
}
