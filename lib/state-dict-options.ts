/** loadStateDict's options: a prefix selecting one module's weights from a model's, and strictness. */
import { describeValue, typeError } from './errors';
import { optionKeys } from './option-keys';
import type { Tensor } from './tensor';
import { expectOptions, optionalBoolean } from './validate';

export interface LoadStateDictOptions {
  /**
   * Only the keys starting with this are read, without it (e.g. 'decoder.layers.3.self_attn.');
   * the others are ignored. Default '' (every key).
   */
  prefix?: string;
  /**
   * Refuse keys (under the prefix) the module does not expect (default true). A missing weight is
   * refused either way.
   */
  strict?: boolean;
}

export const LOAD_STATE_DICT_OPTION_KEYS = optionKeys<LoadStateDictOptions>({ prefix: true, strict: true });

/** The options, checked, with the selected entries (prefix stripped) of `dict`. */
export function selectStateDict(
  dict: Record<string, Tensor>,
  optionsIn: unknown,
  op: string,
): { entries: Record<string, Tensor>; strict: boolean; prefix: string } {
  const o = expectOptions(optionsIn, op, LOAD_STATE_DICT_OPTION_KEYS);
  const strict = optionalBoolean(o, 'strict', op, true);
  const prefix = o.prefix ?? '';
  if (typeof prefix !== 'string') {
    throw typeError('ERR_INVALID_OPTION', `${op}: Expected a string for prefix but received ${describeValue(prefix)}`);
  }
  if (prefix === '') return { entries: dict, strict, prefix };
  const entries: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(dict)) if (name.startsWith(prefix)) entries[name.slice(prefix.length)] = t;
  return { entries, strict, prefix };
}
