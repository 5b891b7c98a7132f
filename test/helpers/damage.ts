// The ways a fragment file is damaged in the scrub and journal suites, each
// with the kind of problem a scrub reports for it.
import { copyFileSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';

export interface DamageTarget { path: string }

export const FAULTS: { name: string; kind: string; apply(target: DamageTarget, other: DamageTarget): void }[] = [
  { name: 'bit flip', kind: 'checksum_mismatch', apply: (t) => { const b = readFileSync(t.path); b[b.length - 7]! ^= 0x10; writeFileSync(t.path, b); } },
  { name: 'truncation', kind: 'truncated', apply: (t) => truncateSync(t.path, readFileSync(t.path).length - 1000) },
  { name: 'zero-fill', kind: 'header_invalid', apply: (t) => writeFileSync(t.path, Buffer.alloc(readFileSync(t.path).length)) },
  { name: 'deleted fragment', kind: 'missing', apply: (t) => rmSync(t.path) },
  { name: 'damaged header', kind: 'header_invalid', apply: (t) => { const b = readFileSync(t.path); b[40]! ^= 0xff; writeFileSync(t.path, b); } },
  { name: 'fragment of another extent swapped in', kind: 'misplaced', apply: (t, other) => copyFileSync(other.path, t.path) },
];
