/**
 * Strict options: each options interface lists its keys once, and a key outside them is refused
 * with the nearest valid key ("did you mean isCausal?") or, when none is near, the valid ones.
 * Kept apart from validate.ts so that tensor.ts can use it (validate.ts imports tensor.ts).
 */
import { describeValue, typeError } from './errors';
import { closestName } from './suggest';

/**
 * Every key of the options interface T, each set to true: TypeScript refuses a missing or a foreign
 * key. `signal` is left out: whether it is valid depends on the call form (see CallForm).
 */
export type OptionKeyRecord<T> = { readonly [K in Exclude<keyof Required<T>, 'signal'>]: true };

/** The keys of an options interface, from its OptionKeyRecord. */
export function optionKeys<T>(record: OptionKeyRecord<T>): readonly string[] {
  return Object.freeze(Object.keys(record));
}

/** An op with both forms: the Promise form also takes an AbortSignal (`signal`), the Sync form does not. */
export type CallForm = 'sync' | 'promise';

/** The form of an op that has both, by the package's naming: the Sync form is the one named ...Sync. */
export function callFormOf(op: string): CallForm {
  return op.endsWith('Sync') ? 'sync' : 'promise';
}

function quote(key: string): string {
  return JSON.stringify(key.length > 40 ? key.slice(0, 40) + '…' : key);
}

function unknownOption(key: string, op: string, allowed: readonly string[], form: CallForm | undefined): Error {
  if (key === 'signal' && form === 'sync') {
    const promiseForm = op.replace(/Sync$/, '');
    return typeError(
      'ERR_INVALID_OPTION',
      `${op}: the signal option is for the Promise form, ${promiseForm}; a Sync call cannot be aborted`,
    );
  }
  const valid = form === 'promise' ? [...allowed, 'signal'] : allowed;
  const near = closestName(key, valid);
  return typeError(
    'ERR_INVALID_OPTION',
    `${op}: unknown option ${quote(key)}; ` +
      (near !== undefined ? `did you mean ${near}?` : `valid options are ${valid.join(', ')}`),
  );
}

/**
 * Checks an options argument: undefined or null is no options; anything but an object of known keys
 * is an ERR_INVALID_OPTION TypeError. A known key whose value is undefined counts as absent.
 */
export function readOptions(
  value: unknown,
  op: string,
  allowed: readonly string[],
  form?: CallForm,
): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
    throw typeError('ERR_INVALID_OPTION', `${op}: Expected an options object but received ${describeValue(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key) && !(key === 'signal' && form === 'promise')) {
      throw unknownOption(key, op, allowed, form);
    }
  }
  return value as Record<string, unknown>;
}
