/** Dispatch, the thread pool, and loading under SIMD_ATTENTION_ISA. */
import { spawnSync } from 'child_process';
import * as path from 'path';

import { backendInfo, getNumThreads, Isa, measureFmaPeak, setNumThreads } from '../../lib';

const root = path.resolve(__dirname, '..', '..');

function loadWithIsa(isa: string): { status: number | null; stdout: string; stderr: string } {
  const script = `
    try {
      const sa = require(${JSON.stringify(path.join(root, 'dist', 'lib'))});
      console.log(JSON.stringify(sa.backendInfo()));
    }
    catch (e) { console.log(JSON.stringify({ error: e.message, code: e.code, name: e.name })); }`;
  const r = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, SIMD_ATTENTION_ISA: isa },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('backend', () => {
  test('backendInfo reports the ISA, the ISAs available, threads and the build', () => {
    const info = backendInfo();
    expect(info.availableIsas).toContain('scalar');
    expect(info.availableIsas).toContain(info.isa);
    expect(info.availableIsas[info.availableIsas.length - 1]).toBe('scalar');
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(info.build.napiVersion).toBe(9);
    expect(typeof info.build.compiler).toBe('string');
    if (process.env.SIMD_ATTENTION_ISA) {
      expect(info.isa).toBe(process.env.SIMD_ATTENTION_ISA);
      expect(info.forced).toBe(true);
    } else {
      expect(info.isa).toBe(info.availableIsas[0]);
    }
  });

  test('float16Gemm: only on arm64 (FEAT_FHM), never on x86-64 or under a forced plain neon', () => {
    const info = backendInfo();
    expect(typeof info.float16Gemm).toBe('boolean');
    if (info.build.arch !== 'arm64' || (info.forced && info.isa === 'neon')) expect(info.float16Gemm).toBe(false);
  });

  test('setNumThreads / getNumThreads', () => {
    const before = getNumThreads();
    setNumThreads(1);
    expect(getNumThreads()).toBe(1);
    expect(backendInfo().threads).toBe(1);
    setNumThreads(3);
    expect(getNumThreads()).toBe(3);
    setNumThreads(before);
  });

  test('measureFmaPeak returns a positive GFLOPS figure', () => {
    expect(measureFmaPeak(1, 0.02)).toBeGreaterThan(0);
  });
});

// The dist/ build is what a user loads; these run it in child processes with the override set.
describe('SIMD_ATTENTION_ISA', () => {
  const available = backendInfo().availableIsas;
  const known: Isa[] = ['amx', 'avx512bf16', 'avx512', 'avx2', 'neonbf16', 'neon', 'scalar'];

  test.each(available)('forcing %s loads and reports it', (isa) => {
    const r = loadWithIsa(isa);
    const out = JSON.parse(r.stdout);
    expect(out.isa).toBe(isa);
    expect(out.forced).toBe(true);
    if (isa === 'neon' || !isa.startsWith('neon')) expect(out.float16Gemm).toBe(false);
  });

  test('the available tiers are listed best first', () => {
    expect(known.filter((i) => available.includes(i))).toEqual(available);
  });

  // Every tier the CPU lacks (at least one: x86 lacks NEON, arm64 lacks AVX; AMX is on few CPUs).
  test.each(known.filter((i) => !available.includes(i)))(
    'forcing %s, which this CPU lacks, is a clear error at load, not a crash',
    (missing) => {
      const r = loadWithIsa(missing);
      expect(r.status).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.code).toBe('ERR_UNSUPPORTED_ISA');
      expect(out.error).toContain(missing);
      expect(out.error).toMatch(/available here/);
    },
  );

  test('an unknown ISA name is a clear error', () => {
    const out = JSON.parse(loadWithIsa('sse9').stdout);
    expect(out.code).toBe('ERR_UNSUPPORTED_ISA');
    expect(out.error).toMatch(/not an instruction set/);
  });
});
