/**
 * What a user reads before the code: package.json points at the repository, its issues and its
 * docs, and the README's error table lists every error code the library can raise.
 */
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

test('package.json names the repository, the homepage and where to report bugs, and ships docs/', () => {
  const pkg = JSON.parse(read('package.json')) as {
    repository?: { type?: string; url?: string };
    homepage?: string;
    bugs?: { url?: string };
    files?: string[];
  };
  expect(pkg.repository?.url).toMatch(/^git\+https:\/\/.+\.git$/);
  expect(pkg.homepage).toMatch(/^https:\/\//);
  expect(pkg.bugs?.url).toMatch(/^https:\/\/.+\/issues$/);
  expect(pkg.files).toContain('docs/');
});

test("the README's error table lists every ErrorCode of lib/errors.ts, and AbortError", () => {
  const union = /export type ErrorCode =([^;]+);/.exec(read('lib/errors.ts'));
  expect(union).not.toBeNull();
  const codes = [...(union as RegExpExecArray)[1].matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1]);
  expect(codes.length).toBeGreaterThan(10);
  const rows = read('README.md')
    .split('\n')
    .filter((line) => line.startsWith('| `') || line.startsWith('| (`'))
    .map((line) => /^\| `?\(?`?([A-Za-z_]+)`?\)?/.exec(line)?.[1]);
  for (const code of codes) expect(rows).toContain(code);
  expect(rows).toContain('AbortError');
});
