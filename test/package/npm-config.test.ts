/**
 * npm reads this project's configuration without complaint: no unknown .npmrc key (npm warns about
 * those and will stop reading them), and onnxruntime-node's install script, which would otherwise
 * fetch an optional GPU part, is denied through package.json's allowScripts.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');

test('.npmrc, when there is one, sets only keys npm knows', () => {
  const npmrc = path.join(root, '.npmrc');
  if (!fs.existsSync(npmrc)) return;
  const keys = fs
    .readFileSync(npmrc, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith(';'))
    .map((line) => line.split('=')[0].trim());
  const r = spawnSync('npm', ['config', 'ls', '--long', '--json'], { cwd: root, encoding: 'utf8' });
  const known = Object.keys(JSON.parse(r.stdout) as Record<string, unknown>);
  expect(keys.filter((k) => !known.includes(k))).toEqual([]);
});

test('npm config list prints no warning', () => {
  // Only this project's configuration is under test: npm_config_* variables of a calling npm are left out.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_/i.test(k)));
  const r = spawnSync('npm', ['config', 'list'], { cwd: root, encoding: 'utf8', env });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('node version');
  expect(r.stderr).not.toMatch(/warn/i);
});

test("onnxruntime-node's install script is denied", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    allowScripts?: Record<string, boolean>;
  };
  expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
});
