// The crash harness: a pool, a model of what has been acknowledged, and
// operations run in a child `dynamicfs` process that is killed — at a chosen
// crash point of the disk I/O layer (DYNAMICFS_CRASH_AT, see src/faults) or
// with SIGKILL after a random delay. After every kill the pool is opened in
// this process (the dead owner's lock is taken over) and the invariants are
// checked:
//   - every acknowledged object reads back bit-exact;
//   - the object the killed operation touched holds its old or its new
//     content, never a mix, and is present or absent only as the operation
//     allows;
//   - the API lists exactly the modelled keys (no leftovers visible);
//   - gc then leaves only catalogued fragment files on the disks;
//   - a scrub (with repair, where the killed operation was itself a repair)
//     ends with nothing wrong.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, lookupObject, readObject, type GcSummary } from '../../src/store/index.js';
import { runOp } from '../../src/ops/index.js';
import { ScrubService } from '../../src/scrub/index.js';
import { BIN, fragmentFiles, tempDir } from '../helpers/cli.js';

export type CrashOp = 'put' | 'overwrite' | 'rm' | 'repair' | 'rebuild' | 'change-policy' | 'group-put' | 'compact';
export const CRASH_OPS: readonly CrashOp[] = ['put', 'overwrite', 'rm', 'repair', 'rebuild', 'change-policy', 'group-put', 'compact'];

/** Puts several small objects at once (one group commit), printing each acknowledgement. */
const GROUP_PUT = fileURLToPath(new URL('./group-put.js', import.meta.url));

/** One object of a group put: its key, its content, and whether its put was acknowledged. */
interface GroupMember {
  key: string;
  path: string;
  after: { digest: string; size: number };
  acknowledged: boolean;
}

/** A small deterministic PRNG (mulberry32), so a failing seed can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface KillSpec {
  /** Die at this crash point (1-based). */
  crashAt?: number;
  /** Or: at the first crash point with this label (`label#K`: the K-th). */
  crashAtLabel?: string;
  /** Or: SIGKILL after this many milliseconds. */
  killAfterMs?: number;
}

export interface Outcome {
  op: CrashOp;
  key: string;
  killed: boolean;
  /** Where it died (crash-point label), when known. */
  at: string | null;
  exit: number | null;
}

export interface Totals {
  runs: number;
  killed: number;
  completed: number;
  byOp: Record<string, { runs: number; killed: number }>;
  byPoint: Record<string, number>;
  objectsChecked: number;
  bytesChecked: number;
  leftoversCollected: number;
  violations: string[];
}

export class CrashWorld {
  readonly root = tempDir('dfs-crash-');
  readonly pool = join(this.root, 'pool');
  readonly disks: string[];
  /** key → content digest and size of the acknowledged version. */
  readonly model = new Map<string, { digest: string; size: number }>();
  readonly totals: Totals = { runs: 0, killed: 0, completed: 0, byOp: {}, byPoint: {}, objectsChecked: 0, bytesChecked: 0, leftoversCollected: 0, violations: [] };
  private files = 0;
  /** The most crash points a completed run of each operation passed: where random crash points are drawn from. */
  readonly pointsSeen: Partial<Record<CrashOp, number>> = {};

  /** A random crash point within what this operation has been seen to pass (40 until one completes). */
  randomPoint(op: CrashOp): number {
    return 1 + Math.floor(this.random() * (this.pointsSeen[op] ?? 40));
  }

  constructor(readonly random: () => number, diskCount = 8) {
    this.disks = Array.from({ length: diskCount }, (_, i) => join(this.root, `disk${i + 1}`));
    for (const d of this.disks) mkdirSync(d);
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Runs the CLI to completion (setup steps; never killed). */
  async cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return this.spawnCli(args, {});
  }

  private spawnCli(args: string[], kill: KillSpec, logFile?: string, script?: string): Promise<{ code: number | null; stdout: string; stderr: string; signal: NodeJS.Signals | null }> {
    const env: Record<string, string> = { ...process.env } as Record<string, string>;
    delete env.DYNAMICFS_CRASH_AT;
    delete env.DYNAMICFS_CRASH_LABEL;
    if (kill.crashAt) env.DYNAMICFS_CRASH_AT = String(kill.crashAt);
    if (kill.crashAtLabel) env.DYNAMICFS_CRASH_LABEL = kill.crashAtLabel;
    if (logFile) {
      env.DYNAMICFS_CRASH_LOG = logFile;
      env.DYNAMICFS_CRASH_COUNT = `${logFile}.count`;
    }
    return new Promise((resolve) => {
      const child = spawn(process.execPath, script ? [script, this.pool, ...args] : [BIN, '--pool', this.pool, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d) => (stdout += d));
      child.stderr!.on('data', (d) => (stderr += d));
      const timer = kill.killAfterMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), kill.killAfterMs) : null;
      child.on('exit', (code, signal) => {
        if (timer) clearTimeout(timer);
        resolve({ code, stdout, stderr, signal });
      });
    });
  }

  async init(): Promise<void> {
    const r = await this.cli(['init', '--extent-size', '64KiB', '--policy', 'ec:4+2', ...this.disks.flatMap((d) => ['--disk', d])]);
    if (r.code !== 0) throw new Error(`init: ${r.stderr}`);
  }

  /** A new input file of random size (0 to ~4 extents) and content. */
  newFile(size = Math.floor(this.random() ** 2 * 260_000)): { path: string; bytes: Buffer } {
    const buffer = Buffer.alloc(size + 4);
    for (let i = 0; i < size; i += 4) buffer.writeUInt32LE((this.random() * 2 ** 32) >>> 0, i);
    const bytes = buffer.subarray(0, size);
    const path = join(this.root, `input-${++this.files}`);
    writeFileSync(path, bytes);
    return { path, bytes };
  }

  /** Stores an object to completion and records it as acknowledged. */
  async put(key: string, size?: number): Promise<void> {
    const f = this.newFile(size);
    const r = await this.cli(['put', f.path, '--key', key]);
    if (r.code !== 0) throw new Error(`put ${key}: ${r.stderr}`);
    this.model.set(key, { digest: digest(f.bytes), size: f.bytes.length });
    rmSync(f.path);
  }

  /** Small new objects for a group put (not yet stored). */
  private groupOf(n: number, size?: number): GroupMember[] {
    return Array.from({ length: n }, (_, j) => {
      const f = this.newFile(size ?? 1 + Math.floor(this.random() * 8000)); // at most 7 × 8 KB: one group
      return { key: `grp/${this.totals.runs}/${j}`, path: f.path, after: { digest: digest(f.bytes), size: f.bytes.length }, acknowledged: false };
    });
  }

  /** Records content as the acknowledged version of a key. */
  acknowledge(key: string, bytes: Uint8Array): void {
    this.model.set(key, { digest: digest(bytes), size: bytes.length });
  }

  private pickKey(): string | null {
    const keys = [...this.model.keys()];
    return keys.length ? keys[Math.floor(this.random() * keys.length)]! : null;
  }

  /**
   * Runs one operation in a child process killed as `kill` says, then checks
   * every invariant. Returns what happened; violations are collected in totals.
   */
  async crash(op: CrashOp, kill: KillSpec, options: { size?: number } = {}): Promise<Outcome> {
    let key = this.pickKey() ?? 'k0';
    if (op === 'put' || !this.model.has(key)) {
      key = `obj/${this.totals.runs}`;
      if (op !== 'put') op = 'put';
    }
    let before = this.model.get(key) ?? null;
    let after: { digest: string; size: number } | null = before;
    let args: string[];
    let input: string | null = null;
    let repairing = false;
    let script: string | undefined;
    let group: GroupMember[] = [];
    switch (op) {
      case 'group-put': {
        // Several small puts in one process: committed together, each acknowledged as its group is durable.
        group = this.groupOf(3 + Math.floor(this.random() * 5));
        key = 'grp/none';
        before = after = null;
        script = GROUP_PUT;
        args = group.map((g) => `${g.key}=${g.path}`);
        break;
      }
      case 'compact': {
        // A pack that is mostly dead bytes (a group of six of one size, four deleted), old enough to compact; then gc.
        // A gc first merges what small packs there are, so that the killed gc compacts about the same each time.
        const settle = await this.cli(['gc']);
        if (settle.code !== 0) throw new Error(`gc: ${settle.stderr}`);
        const setup = this.groupOf(6, 6000);
        const r = await this.spawnCli(setup.map((g) => `${g.key}=${g.path}`), {}, undefined, GROUP_PUT);
        if (r.code !== 0) throw new Error(`group put: ${r.stderr}`);
        for (const g of setup) {
          this.model.set(g.key, g.after);
          rmSync(g.path, { force: true });
        }
        for (const g of setup.slice(0, 4)) {
          const rm = await this.cli(['rm', g.key]);
          if (rm.code !== 0) throw new Error(`rm: ${rm.stderr}`);
          this.model.delete(g.key);
        }
        await new Promise((resolve) => setTimeout(resolve, 1100));
        key = setup[5]!.key;
        before = after = setup[5]!.after;
        args = ['gc'];
        break;
      }
      case 'put':
      case 'overwrite': {
        const f = this.newFile(options.size);
        input = f.path;
        after = { digest: digest(f.bytes), size: f.bytes.length };
        args = ['put', f.path, '--key', key];
        break;
      }
      case 'rm':
        after = null;
        args = ['rm', key];
        break;
      case 'repair':
        await this.damage(key);
        repairing = true;
        args = ['scrub', '--repair'];
        break;
      case 'rebuild': {
        const disk = this.disks[Math.floor(this.random() * this.disks.length)]!;
        const r = await this.cli(['fail-disk', '--disk', disk]);
        if (r.code !== 0) throw new Error(`fail-disk: ${r.stderr}`);
        repairing = true;
        args = ['rebuild'];
        break;
      }
      case 'change-policy': {
        const policies = ['replication:2', 'ec:4+2', 'ec:3+2', 'replication:3'];
        args = ['change-policy', key, '--policy', policies[Math.floor(this.random() * policies.length)]!];
        break;
      }
    }
    const logFile = join(this.root, 'crash.log');
    rmSync(logFile, { force: true });
    rmSync(`${logFile}.count`, { force: true });
    const r = await this.spawnCli(args!, kill, logFile, script);
    if (input) rmSync(input, { force: true });
    const killed = r.signal === 'SIGKILL';
    for (const g of group) {
      g.acknowledged = r.stdout.split('\n').includes(`ok ${g.key}`);
      rmSync(g.path, { force: true });
    }
    let at: string | null = null;
    try {
      at = readFileSync(logFile, 'utf8').trim().split(' ')[1] ?? null;
    } catch {
      at = killed ? 'timed SIGKILL' : null;
    }
    this.totals.runs++;
    const stats = (this.totals.byOp[op] ??= { runs: 0, killed: 0 });
    stats.runs++;
    if (killed) {
      this.totals.killed++;
      stats.killed++;
      if (at) this.totals.byPoint[at] = (this.totals.byPoint[at] ?? 0) + 1;
    } else {
      this.totals.completed++;
      try {
        const passed = Number(readFileSync(`${logFile}.count`, 'utf8'));
        this.pointsSeen[op] = Math.max(this.pointsSeen[op] ?? 0, passed);
      } catch {
        /* exited before writing it */
      }
      // A run that was not killed must have succeeded (exit 0, or 3 for a scrub that left problems it reported).
      if (r.code !== 0 && !(op === 'repair' && r.code === 3)) this.violation(`${op} ${key} exited ${r.code} without being killed: ${r.stderr.trim()}`);
    }
    await this.check(op, key, before, after, killed, repairing, group);
    return { op, key, killed, at, exit: r.code };
  }

  /** Flips bytes in one fragment of the key's first extent (within redundancy). */
  private async damage(key: string): Promise<void> {
    const r = await this.cli(['list-extents', '--key', key, '--json']);
    if (r.code !== 0) throw new Error(`list-extents: ${r.stderr}`);
    const extents = (JSON.parse(r.stdout) as { extents: { fragments: { path: string | null }[] }[] }).extents;
    const fragment = extents[0]?.fragments.find((f) => f.path);
    if (!fragment?.path) return; // an empty object has no extents
    const fd = openSync(fragment.path, 'r+');
    writeSync(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, 200);
    closeSync(fd);
  }

  private violation(text: string): void {
    this.totals.violations.push(text);
  }

  private async check(
    op: CrashOp, key: string, before: { digest: string; size: number } | null, after: { digest: string; size: number } | null, killed: boolean, repairing: boolean,
    group: readonly GroupMember[] = [],
  ): Promise<void> {
    const engine = Engine.open(this.pool, { role: 'crash check', cacheBytes: 0 });
    const service = new ScrubService(engine, { tickMs: 0 });
    try {
      // The touched key: old or new (present or absent as the operation allows), exactly.
      const settled = engine.catalog.object(key) ? await this.read(engine, key) : null;
      const allowed = killed ? [before, after] : [after];
      const same = (a: { digest: string; size: number } | null, b: { digest: string; size: number } | null) => (a === null ? b === null : b !== null && a.digest === b.digest && a.size === b.size);
      if (!allowed.some((v) => same(v, settled))) {
        this.violation(`${op} ${key}${killed ? ' (killed)' : ''}: ${settled ? `holds ${settled.size} bytes that are neither allowed version` : 'is gone'}; allowed: ${allowed.map((v) => (v ? `${v.size} bytes` : 'absent')).join(' or ')}`);
      }
      if (settled) this.model.set(key, settled);
      else this.model.delete(key);
      // A group put: each acknowledged object exactly; one not acknowledged absent or exactly its new content (never part of it).
      for (const g of group) {
        const got = engine.catalog.object(g.key) ? await this.read(engine, g.key) : null;
        const ok = got === null ? !g.acknowledged : got.digest === g.after.digest && got.size === g.after.size;
        if (!ok) this.violation(`${op} ${g.key}${killed ? ' (killed)' : ''}${g.acknowledged ? ' (acknowledged)' : ''}: ${got ? `holds ${got.size} bytes that are not its content` : 'is gone'}`);
        if (got) this.model.set(g.key, got);
      }
      // Every other acknowledged object, exactly.
      for (const [k, v] of this.model) {
        if (k === key) continue;
        const got = await this.read(engine, k).catch((e: Error) => ({ digest: `error ${e.message}`, size: -1 }));
        if (got.digest !== v.digest) this.violation(`after ${op} of ${key}: acknowledged object ${k} reads back wrong (${got.digest.slice(0, 40)})`);
      }
      // The API lists exactly the modelled keys.
      const listed = engine.catalog.listObjects({}).map((o) => o.key).sort();
      const expected = [...this.model.keys()].sort();
      if (JSON.stringify(listed) !== JSON.stringify(expected)) this.violation(`after ${op} of ${key}: ls shows ${JSON.stringify(listed)}, expected ${JSON.stringify(expected)}`);
      // gc removes the leftovers; then only catalogued fragments remain.
      const gc = (await runOp(engine, 'gc', { grace: 0 })) as GcSummary;
      this.totals.leftoversCollected += gc.tempFiles + gc.orphanFragments;
      const onDisk = fragmentFiles(this.disks).length;
      const catalogued = (engine.catalog.db.prepare('SELECT count(*) AS n FROM fragments').get() as { n: number }).n;
      if (onDisk !== catalogued) this.violation(`after ${op} of ${key} and gc: ${onDisk} fragment files on disk, ${catalogued} in the catalogue`);
      // A scrub finds nothing wrong (a killed repair is finished by a repairing one).
      let scrub = await service.runOnce({ intensity: 'high', repair: repairing, dryRun: false });
      if (repairing && scrub.issuesFound > 0) scrub = await service.runOnce({ intensity: 'high', repair: false, dryRun: false });
      if (scrub.issuesFound !== 0 || scrub.extents.degraded !== 0 || scrub.extents.unrecoverable !== 0) {
        this.violation(`after ${op} of ${key}: scrub found ${scrub.issuesFound} issues (${JSON.stringify(scrub.problems.slice(0, 3))})`);
      }
      if (op === 'rebuild') {
        // Bring the failed disk back so the pool keeps its width: its old fragments are orphans now.
        for (const d of engine.catalog.disks()) if (d.state === 'failed') engine.catalog.setDiskState(d.id, 'healthy');
        await runOp(engine, 'gc', { grace: 0 });
      }
    } finally {
      await service.close();
      await engine.close();
    }
  }

  private async read(engine: Engine, key: string): Promise<{ digest: string; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    for await (const bytes of readObject(engine, lookupObject(engine, key))) {
      hash.update(bytes);
      size += bytes.length;
    }
    this.totals.objectsChecked++;
    this.totals.bytesChecked += size;
    return { digest: hash.digest('hex'), size };
  }

  /** How many crash points a run of this CLI command passes (a dry run that is not killed). */
  async countPoints(args: string[]): Promise<number> {
    const countFile = join(this.root, 'count');
    const env = { ...process.env, DYNAMICFS_CRASH_COUNT: countFile };
    await new Promise<void>((resolve) => spawn(process.execPath, [BIN, '--pool', this.pool, ...args], { env, stdio: 'ignore' }).on('exit', () => resolve()));
    return Number(readFileSync(countFile, 'utf8'));
  }
}
