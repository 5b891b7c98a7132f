// Assembly records: what recover-catalog needs to know of a multipart
// completion whose fragment headers are not all rewritten yet. The
// completion (assemble.ts) writes one to every disk that is not failed,
// durably, before its catalogue commit, and answers once that commit is
// done; the headers are rewritten after, in the background. Until then the
// headers still say "a part" (flag bit 2), which recovery alone would skip:
// the record tells it which extents, in which order, make which object.
//
//   <disk>/assembling/<object id>.json
//   {"objectId","key","size","createdAt","extents":[extent ids in order]}
//
// A record goes once every header is rewritten. One left behind (a crash
// before its removal, a disk that was offline) is harmless: recovery uses a
// record only when every extent it names is found with a header that agrees
// (a part's, under the record's key, or already the object's), and the next
// engine to open the pool finishes or drops it (assemble.ts, resume), as it
// drops a file there that is not a record (torn by a crash as it was written,
// before any commit could rely on it).
import { mkdir, open, rm } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crashPoint } from '../faults/index.js';
import { fsyncDirectory, writeToEveryDisk } from './fragment-io.js';

export const ASSEMBLY_DIR = 'assembling';

export interface AssemblyRecord {
  objectId: string;
  key: string;
  size: number;
  createdAt: number;
  /** The object's extents, in order. */
  extents: string[];
}

const ID = /^[0-9a-f]{32}$/;

function parse(text: string): AssemblyRecord | null {
  try {
    const r = JSON.parse(text) as Partial<AssemblyRecord>;
    if (typeof r.objectId !== 'string' || !ID.test(r.objectId) || typeof r.key !== 'string' || typeof r.size !== 'number' || typeof r.createdAt !== 'number') return null;
    if (!Array.isArray(r.extents) || r.extents.length === 0 || !r.extents.every((e) => typeof e === 'string' && ID.test(e))) return null;
    return { objectId: r.objectId, key: r.key, size: r.size, createdAt: r.createdAt, extents: r.extents };
  } catch {
    // torn (a crash while it was written) or damaged
    return null;
  }
}

/** Writes the record to one disk and makes it durable (the folder made on first use). */
async function writeOne(diskPath: string, record: AssemblyRecord): Promise<void> {
  const dir = join(diskPath, ASSEMBLY_DIR);
  if ((await mkdir(dir, { recursive: true })) !== undefined) await fsyncDirectory(diskPath);
  const handle = await open(join(dir, `${record.objectId}.json`), 'w', 0o644);
  try {
    await handle.writeFile(JSON.stringify(record));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fsyncDirectory(dir);
}

/**
 * Writes `record` to every disk given, at once. A disk that cannot take it is
 * logged and passed over; when none can, the error is thrown (and the
 * completion, which has changed nothing yet, fails).
 */
export async function writeAssemblyRecord(disks: readonly { id: string; path: string }[], record: AssemblyRecord): Promise<void> {
  await writeToEveryDisk(disks, 'assembly record', (diskPath) => writeOne(diskPath, record));
  crashPoint('assemble:recorded');
}

/** Removes the record from every disk given (not made durable: a record left behind is harmless). */
export async function removeAssemblyRecord(disks: readonly { path: string }[], objectId: string): Promise<void> {
  await Promise.all(disks.map((d) => rm(join(d.path, ASSEMBLY_DIR, `${objectId}.json`), { force: true }).catch(() => {})));
}

/**
 * The records on the disks given, one of each object, and the paths of files
 * there that are not records (torn by a crash while written, or damaged).
 */
export function assemblyRecordsSync(diskPaths: readonly string[]): { records: AssemblyRecord[]; damaged: string[] } {
  const found = new Map<string, AssemblyRecord>();
  const damaged: string[] = [];
  for (const diskPath of diskPaths) {
    const dir = join(diskPath, ASSEMBLY_DIR);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const path = join(dir, name);
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        // gone meanwhile, or not a file
      }
      const record = name.endsWith('.json') ? parse(text) : null;
      if (!record) damaged.push(path);
      else if (!found.has(record.objectId)) found.set(record.objectId, record);
    }
  }
  return { records: [...found.values()], damaged };
}
