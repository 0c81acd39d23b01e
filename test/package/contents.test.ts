/**
 * The library apart from its tools: what `require('simd-attention')` loads, what lib/ imports,
 * and what the packed tarball holds. The command line and the benchmarks (cli/, bench/) ship
 * beside the library for the bin, but the library never reaches them nor their optional peers.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
const TOOL_PACKAGES = ['protobufjs', 'onnxruntime-node', 'commander', 'cli-progress'];

function listFiles(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p, ext));
    else if (entry.name.endsWith(ext)) out.push(p);
  }
  return out;
}

/** Module specifiers of a TypeScript source: import/export ... from, import(), require(). */
function specifiers(source: string): string[] {
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;
  return [...source.matchAll(re)].map((m) => m[1]);
}

describe('lib/ sources', () => {
  const files = listFiles(path.join(root, 'lib'), '.ts');

  test('the specifier scan sees imports', () => {
    expect(specifiers(fs.readFileSync(path.join(root, 'lib', 'index.ts'), 'utf8'))).toContain('./tensor');
    const sample = "const x = require('protobufjs');\nimport('onnxruntime-node');";
    expect(specifiers(sample)).toEqual(['protobufjs', 'onnxruntime-node']);
  });

  test.each(files.map((f) => [path.relative(root, f)]))('%s imports neither the tools nor their packages', (rel) => {
    const file = path.join(root, rel);
    for (const spec of specifiers(fs.readFileSync(file, 'utf8'))) {
      expect(TOOL_PACKAGES).not.toContain(spec.split('/')[0]);
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(file), spec);
        expect(path.relative(path.join(root, 'lib'), target)).not.toMatch(/^\.\./);
      }
    }
  });
});

describe('require("simd-attention")', () => {
  test('loads the library only: no tool module, no optional peer', () => {
    const script =
      'const sa = require(process.argv[1]); sa.backendInfo(); sa.renderHeatmapSVG([[1]]);' +
      'process.stdout.write(JSON.stringify(Object.keys(require.cache)));';
    const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script, root], { encoding: 'utf8' })) as string[];
    expect(loaded).toContain(path.join(root, 'dist', 'lib', 'index.js'));
    const tools = loaded.filter((f) => {
      const rel = path.relative(root, f).split(path.sep);
      return (rel[0] === 'dist' && rel[1] !== 'lib') || TOOL_PACKAGES.some((p) => rel.includes(p));
    });
    expect(tools).toEqual([]);
  });
});

describe('npm pack', () => {
  const files = (() => {
    const args = ['pack', '--dry-run', '--json', '--ignore-scripts'];
    const out = execFileSync('npm', args, { cwd: root, encoding: 'utf8' });
    return (JSON.parse(out) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
  })();

  test('the library, the bin, the tools and the documentation are in it', () => {
    const must = [
      'dist/lib/index.js',
      'dist/lib/index.mjs',
      'dist/lib/index.d.ts',
      'dist/cli/main.js',
      'dist/bench/index.js',
      'README.md',
      'LICENSE',
      'docs/SPEC.md',
    ];
    for (const f of must) expect(files).toContain(f);
  });

  test('dist/lib holds the compiled library and nothing else', () => {
    const lib = path.join(root, 'lib');
    const sources = new Set(listFiles(lib, '.ts').map((f) => path.relative(lib, f)));
    const orphans = files
      .filter((f) => f.startsWith('dist/lib/'))
      .map((f) => f.slice('dist/lib/'.length).replace(/\.d\.m?ts$|\.m?js$/, '.ts'))
      .filter((f) => !sources.has(f));
    expect(orphans).toEqual([]);
    expect(files.filter((f) => /^dist\/lib\/.*(bench|cli|onnx|harness|suite)/.test(f))).toEqual([]);
  });

  test('no sources, development scripts or benchmark runners', () => {
    const devOnly = /^(lib|cli|bench|test|scripts|\.ci|build|node_modules)\/|\.map$|RESULTS\.md$/;
    expect(files.filter((f) => devOnly.test(f))).toEqual([]);
  });
});
