// The engine: one open pool. It owns the lock, the catalogue, the extent
// cache, the buffer arena, a main-thread kernel instance (headers, replica
// checksums), and three parts with modules of their own: the disk registry
// (disk-registry.ts), the worker pools (worker-pools.ts) and the extent locks
// (extent-locks.ts). The CLI opens one per command; the daemon keeps one for
// its lifetime. Object I/O lives in writer.ts and reader.ts, maintenance in
// maintenance.ts, recovery and gc in their own files.
import { existsSync, mkdirSync, realpathSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { DfsError } from '../errors.js';
import { ExtentCache } from '../cache/index.js';
import { BufferArena } from '../buffers/index.js';
import { Catalog, META_WRITE_PREFIX, type EventOrigin, type FragmentProblem } from '../catalog/index.js';
import { diskGate, resolveVariant, threadKernels, type KernelInstance, type KernelPool, type WorkerPoolOptions } from '../kernels/index.js';
import {
  formatPolicy, labelForAdoption, newPoolConfig, parsePolicy, poolPaths, readPoolConfig, requireDirectory, writePoolConfig,
  PoolLock, isProcessAlive, policyWidth, type Policy, type PoolConfig,
} from '../pool/index.js';
import { ForegroundActivity } from './activity.js';
import { HeaderRewrites } from './assemble.js';
import { checkNoOverlap, DiskRegistry } from './disk-registry.js';
import { ExtentLocks } from './extent-locks.js';
import { DiskFaults } from './faults.js';
import { IoStats } from './io-stats.js';
import { PackWriter } from './packs.js';
import { TombstoneWriter } from './tombstones.js';
import { WorkerPools } from './worker-pools.js';

export interface OpenOptions {
  /** Who holds the lock (shown to a second opener). */
  role?: string;
  workers?: Partial<WorkerPoolOptions>;
  /** Extent cache bound in bytes; default pool.json's cache.maxBytes. A one-shot command passes 0. */
  cacheBytes?: number;
  /** Allocate and touch the buffer arena and the cache now (the daemon: a footprint that does not creep). */
  prefault?: boolean;
}

export interface InterruptedWrite {
  objectId: string;
  key: string;
  pid: number;
  startedAt: string;
}

export class Engine {
  readonly root: string;
  readonly paths: ReturnType<typeof poolPaths>;
  config: PoolConfig;
  readonly catalog: Catalog;
  readonly cache: ExtentCache;
  readonly io = new IoStats();
  /** Client I/O that reached the disks, so that background work can yield to it. */
  readonly foreground = new ForegroundActivity();
  /** Rebuild counters for the dynamicfs_rebuild* metrics. */
  readonly rebuildStats = { attempted: 0, successful: 0, failed: 0, bytesWritten: 0 };
  /** The pool's disks: adding, states, free space, placement candidates. */
  readonly disks: DiskRegistry;
  /** The foreground and background kernel worker pools. */
  readonly pools: WorkerPools;
  /** Extents being repaired: a rebuild, a drain and the scrubber never repair the same extent at once. */
  readonly extentLocks = new ExtentLocks();
  /** Small objects' group commit into packs. */
  readonly packs: PackWriter = new PackWriter(this);
  /** Deletes on record for recover-catalog (tombstones.ts). */
  readonly tombstones: TombstoneWriter = new TombstoneWriter(this);
  /** Headers of completed multipart objects still to rewrite (assemble.ts). */
  readonly headerRewrites: HeaderRewrites = new HeaderRewrites(this);
  /** Disks made suspect or failed by their error counts (faults.ts). */
  readonly faults: DiskFaults = new DiskFaults(this);
  /**
   * Heals an extent a read found damaged (and read around): set by the
   * daemon's scrubber, which queues its repair. A one-shot command has none:
   * the problem is on record for the next scrub.
   */
  healer: ((extentId: string) => void) | null = null;
  private readonly lock: PoolLock;
  private mainKernels: KernelInstance | null = null;
  private arena: BufferArena | null = null;
  private closed = false;

  private constructor(root: string, config: PoolConfig, catalog: Catalog, lock: PoolLock, options: OpenOptions) {
    this.root = root;
    this.paths = poolPaths(root);
    this.config = config;
    this.catalog = catalog;
    this.lock = lock;
    this.cache = new ExtentCache(options.cacheBytes ?? config.cache.maxBytes);
    this.pools = new WorkerPools(options.workers);
    this.disks = new DiskRegistry(this);
    this.applyReads();
    this.applyEvents();
  }

  /** The journal's retention, from pool.json's `events`. */
  private applyEvents(): void {
    this.catalog.setEventRetention({ maxBytes: this.config.events.maxBytes, maxAgeMs: this.config.events.maxAgeSeconds * 1000 });
  }

  /**
   * Records bad fragments (and their `problem` events, when they are news),
   * then checks their disks against the fault thresholds.
   */
  noteProblems(extentId: string, problems: readonly FragmentProblem[], source: string, action?: string, origin?: EventOrigin): void {
    const events = this.catalog.recordProblems(extentId, problems, source, action, origin);
    if (events.length) this.faults.check(events.map((e) => e.disk), { trigger: events[0]!.trigger, job: events[0]!.job ?? null });
  }

  /** Sets the per-disk read queue (shared by this process's threads) from pool.json's `reads`. */
  private applyReads(): void {
    diskGate().configure(this.config.reads.perDiskInFlight, this.config.reads.hedgeAfterMs, this.config.scrub.diskInFlight ?? 0);
  }

  /** Replaces pool.json's disk list and writes the file. */
  saveDiskList(disks: PoolConfig['disks']): void {
    this.updateConfig({ ...this.config, disks });
  }

  /** Replaces the pool's configuration and writes pool.json. */
  updateConfig(config: PoolConfig): void {
    this.config = config;
    writePoolConfig(this.root, config);
    this.applyReads();
    this.applyEvents();
  }

  /** Opens an existing pool, taking its lock. */
  static open(root: string, options: OpenOptions = {}): Engine {
    const config = readPoolConfig(root);
    const lock = PoolLock.acquire(root, options.role ?? 'cli');
    let catalog: Catalog;
    try {
      catalog = Catalog.open(poolPaths(root).catalog, { poolId: config.poolId });
    } catch (error) {
      lock.release();
      throw error;
    }
    const engine = new Engine(poolPaths(root).dir, config, catalog, lock, options);
    engine.disks.refreshFreeSpace();
    // Headers a crash left unrewritten: finished in the background (close waits for them).
    engine.headerRewrites.resume();
    if (options.prefault) {
      engine.buffers.prefault();
      engine.cache.prefault();
    }
    return engine;
  }

  /**
   * Creates a pool: pool.json, catalogue, API token (mode 0600) and the given
   * disks. Everything is checked before anything is written.
   */
  static init(root: string, options: { policy?: string; extentSize?: string | number; disks?: string[] } = {}): Engine {
    const paths = poolPaths(root);
    if (existsSync(paths.config)) throw new DfsError('DFS_ERR_POOL_EXISTS', paths.dir);
    const config = newPoolConfig(options);
    const diskPaths = (options.disks ?? []).map((d) => {
      requireDirectory(d);
      return realpathSync(d);
    });
    if (new Set(diskPaths).size !== diskPaths.length) throw new DfsError('DFS_ERR_DISK_DUPLICATE', 'the same folder is given twice');
    const poolReal = join(realpathSync(dirname(resolve(root))), basename(resolve(root)));
    diskPaths.forEach((d, i) => checkNoOverlap(d, [poolReal, ...diskPaths.filter((_, j) => j !== i)]));
    for (const d of diskPaths) labelForAdoption(d, config.poolId);
    mkdirSync(paths.run, { recursive: true });
    const lock = PoolLock.acquire(root, 'init');
    let catalog: Catalog | null = null;
    try {
      for (const f of [paths.catalog, `${paths.catalog}-wal`, `${paths.catalog}-shm`]) rmSync(f, { force: true });
      catalog = Catalog.open(paths.catalog, { create: true, poolId: config.poolId });
      writeFileSync(paths.token, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
      chmodSync(paths.token, 0o600);
      writePoolConfig(root, config);
    } catch (error) {
      catalog?.close();
      lock.release();
      throw error;
    }
    const engine = new Engine(paths.dir, config, catalog, lock, {});
    for (const d of diskPaths) engine.disks.add(d);
    return engine;
  }

  get poolId(): string {
    return this.config.poolId;
  }

  get extentSize(): number {
    return this.config.extentSize;
  }

  defaultPolicy(): Policy {
    return parsePolicy(this.config.defaultPolicy);
  }

  /**
   * Records a put in progress in the catalogue (no fsync: it is a hint) until
   * the returned function is called. A record whose process is gone marks an
   * interrupted write: status reports it and gc takes its files at once.
   */
  beginWrite(objectId: string, key: string): () => void {
    const metaKey = `${META_WRITE_PREFIX}${objectId}`;
    this.catalog.setMetaRelaxed(metaKey, JSON.stringify({ pid: process.pid, host: hostname(), key, startedAt: new Date().toISOString() }));
    let ended = false;
    return () => {
      if (ended || this.closed) return;
      ended = true;
      this.catalog.deleteMetaRelaxed(metaKey);
    };
  }

  /** Puts that were in progress in processes of this host that are gone (killed): their files are garbage. */
  interruptedWrites(): InterruptedWrite[] {
    const out: InterruptedWrite[] = [];
    for (const row of this.catalog.metaWithPrefix(META_WRITE_PREFIX)) {
      let w: { pid?: unknown; host?: unknown; key?: unknown; startedAt?: unknown };
      try {
        w = JSON.parse(row.value) as typeof w;
      } catch {
        continue;
      }
      if (typeof w.pid !== 'number' || w.host !== hostname() || w.pid === process.pid || isProcessAlive(w.pid)) continue;
      out.push({ objectId: row.key.slice(META_WRITE_PREFIX.length), key: String(w.key), pid: w.pid, startedAt: String(w.startedAt) });
    }
    return out;
  }

  /** Forgets an interrupted write once its files are gone. */
  forgetInterruptedWrite(objectId: string): void {
    this.catalog.deleteMetaRelaxed(`${META_WRITE_PREFIX}${objectId}`);
  }

  /**
   * A warning when the pool has fewer healthy disks than its default policy
   * spreads an extent over (new objects are refused until disks are added),
   * else null.
   */
  defaultPolicyShortfall(): string | null {
    const policy = this.defaultPolicy();
    const width = policyWidth(policy);
    const healthy = this.disks.placementCandidates().length;
    if (healthy >= width) return null;
    return `the default policy ${formatPolicy(policy)} needs ${width} healthy disks and the pool has ${healthy}: puts will be refused until disks are added (add-disk), or use a narrower policy (put --policy)`;
  }

  /** The buffer arena every extent on its way through the workers lives in (created on first use, kept for the engine's life). */
  get buffers(): BufferArena {
    this.arena ??= new BufferArena(this.config.memory.bufferBytes);
    return this.arena;
  }

  /** The arena's figures, or its budget alone before first use. */
  bufferStats() {
    return this.arena?.stats() ?? null;
  }

  /** The foreground worker pool (clients, repairs, rebuilds), started on first use. */
  workers(): KernelPool {
    if (this.closed) throw new DfsError('DFS_ERR_WORKER_CLOSED');
    return this.pools.foreground();
  }

  /** The calling thread's kernels, for headers and replica checksums. */
  kernels(): KernelInstance {
    this.mainKernels ??= threadKernels(resolveVariant());
    return this.mainKernels;
  }

  hash = (bytes: Uint8Array): bigint => this.kernels().xxh3(bytes);

  /**
   * Closes at once, without waiting for the worker threads (a second Ctrl-C):
   * the catalogue is closed (its last committed transaction is on disk) and
   * the lock released, so the pool is left clean for the next owner.
   */
  closeNow(): void {
    this.closed = true;
    this.pools.abandon();
    try {
      this.catalog.close();
    } finally {
      this.lock.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Groups waiting for their window are written first: their puts are waiting for the answer.
    await this.packs.close();
    await this.tombstones.close();
    await this.headerRewrites.settled();
    this.closed = true;
    try {
      await this.pools.close();
    } finally {
      this.catalog.close();
      this.lock.release();
    }
  }
}
