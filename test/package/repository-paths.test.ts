/**
 * What ships names nothing outside the repository: the docs and sources cite docs/SPEC.md and the
 * Wikipedia article by name, never the maintainers' shared/ folder or its seed files.
 */
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
const OUTSIDE = /\bshared\/|\bseed\/\d/;

function listFiles(dir: string, exts: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p, exts));
    else if (exts.some((e) => entry.name.endsWith(e))) out.push(p);
  }
  return out;
}

const shipped = [
  ...['README.md', 'CONTRIBUTING.md'].map((f) => path.join(root, f)),
  ...listFiles(path.join(root, 'docs'), ['.md']),
  ...['lib', 'cli', 'bench', 'native'].flatMap((d) => listFiles(path.join(root, d), ['.ts', '.h', '.cc', '.md'])),
];

test('the scan catches a path outside the repository', () => {
  expect(OUTSIDE.test('see shared/SPEC.md section 6')).toBe(true);
  expect(OUTSIDE.test('(shared/seed/000_c6485c00a5fab58c.txt)')).toBe(true);
  expect(OUTSIDE.test('a SharedArrayBuffer is safe; docs/SPEC.md section 6')).toBe(false);
});

test.each(shipped.map((f) => [path.relative(root, f)]))('%s names no path outside the repository', (rel) => {
  const lines = fs.readFileSync(path.join(root, rel), 'utf8').split('\n');
  const hits = lines.map((l, i) => `${i + 1}: ${l}`).filter((l) => OUTSIDE.test(l));
  expect(hits).toEqual([]);
});

test('docs/SPEC.md links only to files that exist in the repository', () => {
  const spec = fs.readFileSync(path.join(root, 'docs', 'SPEC.md'), 'utf8');
  const links = [...spec.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)].map((m) => m[1]).filter((l) => !/^https?:/.test(l));
  for (const link of links) expect(fs.existsSync(path.resolve(root, 'docs', link))).toBe(true);
});
