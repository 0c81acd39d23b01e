import * as fs from 'fs';
import * as path from 'path';

/**
 * The package root: the nearest folder above this file that holds package.json. The sources sit
 * one level below it (lib/), the compiled library two (dist/lib/), so a fixed '..' cannot serve both.
 */
export const packageRoot = findPackageRoot(__dirname);

function findPackageRoot(from: string): string {
  for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.dirname(from);
  }
}
