// Walks the fragment folders of a disk: every fragment file and every
// temporary file left by an interrupted write. Used by gc and recover-catalog.
import { opendir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FRAGMENT_DIR } from '../pool/index.js';
import { isTempName, parseFragmentName } from '../format/index.js';

export interface ScannedFile {
  path: string;
  name: string;
  kind: 'fragment' | 'temp';
  extentId?: string;
  index?: number;
}

export async function* scanDisk(diskPath: string): AsyncGenerator<ScannedFile> {
  const root = join(diskPath, FRAGMENT_DIR);
  let top;
  try {
    top = await opendir(root);
  } catch {
    return;
  }
  for await (const fan of top) {
    if (!fan.isDirectory() || !/^[0-9a-f]{2}$/.test(fan.name)) continue;
    const dir = join(root, fan.name);
    for await (const entry of await opendir(dir)) {
      if (!entry.isFile()) continue;
      const path = join(dir, entry.name);
      if (isTempName(entry.name)) {
        yield { path, name: entry.name, kind: 'temp' };
        continue;
      }
      const parsed = parseFragmentName(entry.name);
      if (parsed) yield { path, name: entry.name, kind: 'fragment', ...parsed };
    }
  }
}

export async function ageSeconds(path: string): Promise<number | null> {
  try {
    const s = await stat(path);
    return (Date.now() - s.mtimeMs) / 1000;
  } catch {
    return null;
  }
}
