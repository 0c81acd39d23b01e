/**
 * Every JavaScript or TypeScript block of README.md is a complete program: each runs with node
 * against the built package (dist/), as a user would paste it, and prints what its `// prints:`
 * comments say, line for line. Blocks fenced as ```mjs / ```cjs run as that module kind; ```js and
 * ```ts ones by their syntax (import/export: an ES module). Shell blocks (```sh) are not run.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';

const root = path.resolve(__dirname, '..', '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

interface Block {
  info: string;
  line: number;
  code: string;
}

/** Fenced blocks (```info ... ```) with the README line their code starts on. */
function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const re = /^```([^\n`]*)\n([\s\S]*?)^```[ \t]*$/gm;
  for (const m of markdown.matchAll(re)) {
    const line = markdown.slice(0, m.index).split('\n').length + 1;
    blocks.push({ info: m[1].trim().split(/\s+/)[0], line, code: m[2] });
  }
  return blocks;
}

const RUNNABLE = ['js', 'mjs', 'cjs', 'ts', 'javascript', 'typescript'];

/** The file kind a block runs as: its fence, or for js/ts, whether it imports or exports. */
function moduleKind(block: Block): 'mjs' | 'cjs' {
  if (block.info === 'mjs') return 'mjs';
  if (block.info === 'cjs') return 'cjs';
  return /^\s*(import|export)\s/m.test(block.code) ? 'mjs' : 'cjs';
}

function source(block: Block, kind: 'mjs' | 'cjs'): string {
  if (block.info !== 'ts' && block.info !== 'typescript') return block.code;
  const module = kind === 'mjs' ? ts.ModuleKind.ESNext : ts.ModuleKind.CommonJS;
  return ts.transpileModule(block.code, { compilerOptions: { module, target: ts.ScriptTarget.ES2022 } }).outputText;
}

const expectedOutput = (code: string) => [...code.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => m[1].trim());

const blocks = fencedBlocks(readme).filter((b) => RUNNABLE.includes(b.info));

describe('README.md', () => {
  test('the block scanner finds fences, their kinds and lines', () => {
    const md = 'text\n```mjs\nimport x from "y";\n```\n\n```js\nconst a = require("b");\n```\n```sh\nnpm test\n```\n';
    const found = fencedBlocks(md);
    expect(found.map((b) => [b.info, b.line])).toEqual([
      ['mjs', 3],
      ['js', 7],
      ['sh', 10],
    ]);
    expect(found.map(moduleKind)).toEqual(['mjs', 'cjs', 'cjs']);
    expect(expectedOutput('f(); // prints: [ 1, 2 ]\ng(); // prints: true')).toEqual(['[ 1, 2 ]', 'true']);
  });

  test('shows the test command and has runnable examples in both module kinds', () => {
    expect(readme).toContain('npm test');
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    expect(blocks.some((b) => moduleKind(b) === 'mjs')).toBe(true);
    expect(blocks.some((b) => moduleKind(b) === 'cjs')).toBe(true);
  });

  test('every fenced block names its language', () => {
    expect(fencedBlocks(readme).filter((b) => b.info === '')).toEqual([]);
  });
});

describe('README.md examples run', () => {
  let dir = '';
  beforeAll(() => {
    for (const built of ['dist/lib/index.js', 'dist/lib/index.mjs']) {
      if (!fs.existsSync(path.join(root, built)))
        throw new Error(`the README examples run against the built package: ${built} is missing (npm run build:ts)`);
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-readme-'));
    // `simd-attention` resolves to this checkout, through its package.json exports, from both module kinds.
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(root, path.join(dir, 'node_modules', 'simd-attention'), 'dir');
  });
  afterAll(() => {
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  test('documents every export of the package', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built package, as users load it
    const exported = Object.keys(require(path.join(root, 'dist', 'lib', 'index.js')) as object);
    expect(exported.length).toBeGreaterThan(0);
    expect(exported.filter((name) => !new RegExp(`\\b${name}\\b`).test(readme))).toEqual([]);
  });

  test.each(blocks.map((b) => [`${b.info} block at line ${b.line}`, b] as const))('%s', (_name, block) => {
    const kind = moduleKind(block);
    const file = path.join(dir, `line-${block.line}.${kind}`);
    fs.writeFileSync(file, source(block, kind));
    const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 30000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const expected = expectedOutput(block.code);
    expect(expected.length).toBeGreaterThan(0);
    expect(r.stdout.trim().split('\n')).toEqual(expected);
  });
});
