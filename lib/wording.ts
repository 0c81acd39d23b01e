/** Small helpers for readable error messages: "an int32 tensor", "1 entry", "3 entries", "2.20 TB". */

/** `word` with its indefinite article: `an int32`, `a float32`, `a Uint8Array` (a "you-int"). */
export function article(word: string): string {
  return `${/^[aeio]/i.test(word) ? 'an' : 'a'} ${word}`;
}

/** `n word`, with `pluralWord` (default word + 's') unless n is 1: `1 entry`, `2 entries`. */
export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}

/** A byte count in decimal units with three significant figures: `512 bytes`, `1.50 GB`, `8.80 TB`. */
export function formatBytes(bytes: number): string {
  const units = ['kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  if (bytes < 1000) return plural(bytes, 'byte');
  let value = bytes / 1000,
    unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    ++unit;
  }
  return `${value.toPrecision(3)} ${units[unit]}`;
}
