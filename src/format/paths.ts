// Where fragment files live and what their names say:
//
//   <disk>/fragments/<first two hex digits of the extent id>/<extent id>.<index>
//   <disk>/fragments/<xx>/.<extent id>.<index>.tmp-<pid>-<n>   (a write in progress)
import { join } from 'node:path';
import { FRAGMENT_DIR } from '../pool/index.js';

export const TEMP_MARKER = '.tmp-';

/** Disk paths in the catalogue are absolute and normalised (realpath): plain concatenation, not path.join, on this hot path. */
export function diskRoot(diskPath: string): string {
  if (!diskPath.endsWith('/') && !diskPath.includes('//') && !diskPath.includes('/.')) return diskPath;
  const normal = join(diskPath, '.');
  return normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

export function fragmentPath(diskPath: string, extentId: string, index: number): string {
  return `${diskRoot(diskPath)}/${FRAGMENT_DIR}/${extentId.slice(0, 2)}/${extentId}.${index}`;
}

/** Parses a fragment file name; null for anything else (temp files included). */
export function parseFragmentName(name: string): { extentId: string; index: number } | null {
  const match = /^([0-9a-f]{32})\.(\d{1,2})$/.exec(name);
  return match ? { extentId: match[1]!, index: Number(match[2]) } : null;
}

export function isTempName(name: string): boolean {
  return name.startsWith('.') && name.includes(TEMP_MARKER);
}

