/**
 * binding.gyp (ships) and CMakeLists.txt (development, sanitizers) must build the same thing: both
 * read native/sources.gypi, which must list every native source, and nothing ships -march=native.
 */
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
const read = (p: string) => fs.readFileSync(path.join(root, p), 'utf8');

function listSources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listSources(rel));
    else if (entry.name.endsWith('.cc')) out.push(rel);
  }
  return out;
}

describe('one source list for both builds', () => {
  const gypi = JSON.parse(read('native/sources.gypi')) as { sources: string[]; defines: string[]; cflags_cc: string[] };

  test('sources.gypi is strict JSON with sources, defines and flags', () => {
    expect(Array.isArray(gypi.sources)).toBe(true);
    expect(gypi.defines).toContain('NAPI_VERSION=9');
  });

  test('binding.gyp includes it and lists no sources of its own', () => {
    const gyp = read('binding.gyp');
    expect(gyp).toMatch(/"includes":\s*\["native\/sources\.gypi"\]/);
    expect(gyp).not.toMatch(/"sources"/);
  });

  test('CMakeLists.txt reads the same file for sources, defines and flags', () => {
    const cmake = read('CMakeLists.txt');
    expect(cmake).toContain('native/sources.gypi');
    for (const key of ['sources', 'defines', 'cflags_cc'])
      expect(cmake).toMatch(new RegExp(`sa_json_list\\(\\w+ ${key}\\)`));
  });

  test('every native source (outside native/test) is listed, and every listed file exists', () => {
    const onDisk = listSources('native')
      .filter((p) => !p.startsWith('native/test/'))
      .map((p) => p.slice('native/'.length))
      .sort();
    expect([...gypi.sources].sort()).toEqual(onDisk);
  });

  test('nothing that ships is compiled for the build machine (-march=native) or with global ISA flags', () => {
    for (const file of ['binding.gyp', 'native/sources.gypi']) {
      expect(read(file)).not.toMatch(/-march|-mavx|-mfma|\/arch:AVX/);
    }
  });
});
