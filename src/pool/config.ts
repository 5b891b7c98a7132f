// pool.json: identity, format version and defaults of a pool. It also keeps a
// copy of the disk registry (id and path) so that `recover-catalog` can find
// the disks when catalog.db is gone.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { DfsError } from '../errors.js';
import { writeFileDurableSync } from './durable.js';
import { formatPolicy, parsePolicy } from './policy.js';
import { parseSize } from './sizes.js';

export const POOL_FORMAT = 1;
export const MIN_EXTENT_SIZE = 4096;
export const MAX_EXTENT_SIZE = 64 * 1024 * 1024;
export const DEFAULT_EXTENT_SIZE = 1024 * 1024;
/**
 * 32 MiB: 16 whole ec:4+2 extents of 1 MiB in flight (each in a 2 MiB block),
 * enough for eight large puts at once at full depth, or thousands of small
 * objects.
 */
export const DEFAULT_BUFFER_BYTES = 32 * 1024 * 1024;
/**
 * 16 MiB of verified extents: hot objects skip the worker hop and the hash;
 * the kernel's page cache already keeps the fragment files themselves. With
 * the buffer arena's 32 MiB, a daemon under mixed load stays near 250 MiB of
 * RSS (npm run bench:memory).
 */
export const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
export const MIN_BUFFER_BYTES = 4 * 1024 * 1024;

export function checkBufferBytes(value: unknown): number {
  const bytes = parseSize(value as string, 'memory.bufferBytes');
  if (bytes < MIN_BUFFER_BYTES) throw new DfsError('DFS_ERR_CONFIG_INVALID', `memory.bufferBytes ${bytes} must be at least ${MIN_BUFFER_BYTES} (4 MiB)`);
  return bytes;
}

export interface ScrubScheduleConfig {
  frequency: 'nightly' | 'continuous' | 'manual';
  intensity: 'low' | 'medium' | 'high' | 'auto';
  window: string;
  dryRun: boolean;
  autoRepair: boolean;
  /** Byte-rate cap of scrub reads (bytes/s), or null for none. */
  maxRate: number | null;
  /** Past this many fragment repairs in one pass, auto-repair pauses and says so. */
  maxRepairsPerPass: number;
  /** Repairs the queue starts per second at most. */
  repairRatePerSecond: number;
  /** When this schedule was set (ISO time): the start of the overdue clock before any pass completes. */
  since: string;
  /** Every extent verified within this many seconds: passes run back to back, paced to it (null: the frequency decides). */
  verifyWithin: number | null;
  /** Background passes wait while the 1-minute load average per CPU is above this (null: no gate). */
  maxLoad: number | null;
  /** The scrubber's reads in flight at one disk at most (null: half of reads.perDiskInFlight). */
  diskInFlight: number | null;
  /** Byte-rate cap of scrub reads from any one disk (bytes/s), or null for none. */
  diskMaxRate: number | null;
}

/** Small objects written together into pack extents (see docs/STORAGE.md). */
export interface PackingConfig {
  /** Objects up to this many bytes go into packs; 0 turns packing off. */
  maxObjectBytes: number;
  /** A group is written once it holds this many bytes (at most an extent)... */
  groupBytes: number;
  /**
   * ...or this many ms after its first object arrived, whichever comes first
   * (when a group of the same policy is being written then, it gathers until
   * that write ends and one more window).
   */
  windowMs: number;
  /** gc rewrites packs whose live bytes fall below this share of their bytes. */
  compactBelow: number;
}

/** The S3 listener (see docs/S3.md). */
export interface S3Config {
  /** The region clients sign for. */
  region: string;
  /** Host names under which `<bucket>.<domain>` is virtual-host addressing. */
  domains: string[];
  /** gc reclaims multipart uploads begun longer ago than this. */
  uploadMaxAgeSeconds: number;
}

export const DEFAULT_S3: S3Config = { region: 'us-east-1', domains: ['localhost'], uploadMaxAgeSeconds: 7 * 24 * 3600 };

/**
 * compactBelow 0.7: a pack is rewritten once 30% of it is dead, SeaweedFS's
 * default garbage threshold. At 0.5, deleting every other object left most
 * packs at about half live, just above the line: 3.29× the payload after
 * `gc` against 1.67× before the deletes (npm run bench:small, 4 KiB). The
 * price is rewriting up to 70% of a pack to free 30%, in the background.
 */
export const DEFAULT_PACKING: PackingConfig = { maxObjectBytes: 64 * 1024, groupBytes: 1024 * 1024, windowMs: 2, compactBelow: 0.7 };

/** Reads from the disks (see docs/STORAGE.md, Reads). */
export interface ReadsConfig {
  /** Fragment reads in flight on one disk at most, over every reader (clients first, the scrubber behind them). */
  perDiskInFlight: number;
  /** An EC data fragment not back this many ms after its read began is read around from parity (0: never). */
  hedgeAfterMs: number;
}

/**
 * perDiskInFlight 4: with 6 disks that is 24 reads at once, about what the
 * disk under this pool needs to reach its speed (cold 256 KiB reads: 500
 * MB/s one at a time, 1,090 at 4, 1,520 at 8, 1,670 at 16, 1,800 at 32 in
 * total; npm run bench:io measures the get against a baseline at this
 * depth). hedgeAfterMs 50: well past a loaded disk's normal read (a few ms),
 * so that only a disk that has stalled is read around.
 */
export const DEFAULT_READS: ReadsConfig = { perDiskInFlight: 4, hedgeAfterMs: 50 };

/** How much of the repair journal is kept: events older than maxAgeSeconds go, and the oldest go while it is over maxBytes. */
export interface EventsConfig {
  maxAgeSeconds: number;
  maxBytes: number;
}

export const DEFAULT_EVENTS: EventsConfig = { maxAgeSeconds: 90 * 86_400, maxBytes: 64 * 1024 * 1024 };

/** A disk error threshold: this many errors of one class within windowSeconds. */
export interface FaultThreshold {
  errors: number;
  windowSeconds: number;
}

/**
 * Disk fault management: a disk that reaches a threshold becomes `suspect`;
 * one that reaches it again while suspect becomes `failed` (when autoFail),
 * and its extents are rebuilt elsewhere. The defaults are zed's: 10 errors
 * in 10 minutes.
 */
export interface FaultsConfig {
  checksum: FaultThreshold;
  io: FaultThreshold;
  missing: FaultThreshold;
  autoFail: boolean;
}

export const DEFAULT_FAULTS: FaultsConfig = {
  checksum: { errors: 10, windowSeconds: 600 }, io: { errors: 10, windowSeconds: 600 }, missing: { errors: 10, windowSeconds: 600 }, autoFail: true,
};

export interface PoolConfig {
  format: number;
  poolId: string;
  createdAt: string;
  extentSize: number;
  defaultPolicy: string;
  cache: { maxBytes: number };
  /** The engine's buffer arena for extents on their way through the workers (see src/buffers). */
  memory: { bufferBytes: number };
  gc: { graceSeconds: number };
  packing: PackingConfig;
  reads: ReadsConfig;
  s3: S3Config;
  scrub: ScrubScheduleConfig;
  events: EventsConfig;
  faults: FaultsConfig;
  disks: { id: string; path: string }[];
}

export const POOL_FILE = 'pool.json';
export const CATALOG_FILE = 'catalog.db';
export const TOKEN_FILE = 'token';
export const RUN_DIR = 'run';

export function poolPaths(root: string) {
  const dir = resolve(root);
  return {
    dir,
    config: join(dir, POOL_FILE),
    catalog: join(dir, CATALOG_FILE),
    token: join(dir, TOKEN_FILE),
    run: join(dir, RUN_DIR),
    lock: join(dir, RUN_DIR, 'owner.lock'),
    /** S3 access keys and their secrets (mode 0600). */
    s3Keys: join(dir, 's3-keys.json'),
    /** Written by a running daemon: its pid and URL, for commands to find it. */
    daemon: join(dir, RUN_DIR, 'daemon.json'),
  };
}

export function checkExtentSize(value: unknown): number {
  const size = parseSize(value as string, 'extent size');
  if (size < MIN_EXTENT_SIZE || size > MAX_EXTENT_SIZE || size % 16 !== 0) {
    throw new DfsError('DFS_ERR_SIZE_INVALID', `extent size ${size} must be a multiple of 16 from ${MIN_EXTENT_SIZE} to ${MAX_EXTENT_SIZE} bytes`);
  }
  return size;
}

export function newPoolConfig(options: { policy?: string; extentSize?: string | number }): PoolConfig {
  return {
    format: POOL_FORMAT,
    poolId: randomUUID(),
    createdAt: new Date().toISOString(),
    extentSize: options.extentSize === undefined ? DEFAULT_EXTENT_SIZE : checkExtentSize(options.extentSize),
    defaultPolicy: formatPolicy(parsePolicy(options.policy ?? 'ec:4+2')),
    cache: { maxBytes: DEFAULT_CACHE_BYTES },
    memory: { bufferBytes: DEFAULT_BUFFER_BYTES },
    gc: { graceSeconds: 3600 },
    packing: { ...DEFAULT_PACKING },
    reads: { ...DEFAULT_READS },
    s3: { ...DEFAULT_S3, domains: [...DEFAULT_S3.domains] },
    scrub: {
      frequency: 'nightly', intensity: 'auto', window: '01:00-05:00', dryRun: false, autoRepair: true,
      maxRate: null, maxRepairsPerPass: 1000, repairRatePerSecond: 50, since: new Date().toISOString(), verifyWithin: null, maxLoad: null,
      diskInFlight: null, diskMaxRate: null,
    },
    events: { ...DEFAULT_EVENTS },
    faults: structuredClone(DEFAULT_FAULTS),
    disks: [],
  };
}

export function readPoolConfig(root: string): PoolConfig {
  const paths = poolPaths(root);
  if (!existsSync(paths.dir) || !statSync(paths.dir).isDirectory()) {
    throw new DfsError('DFS_ERR_POOL_NOT_FOUND', `${paths.dir} is not a directory`);
  }
  if (!existsSync(paths.config)) throw new DfsError('DFS_ERR_POOL_NOT_FOUND', paths.dir);
  let parsed: Partial<PoolConfig>;
  try {
    parsed = JSON.parse(readFileSync(paths.config, 'utf8')) as Partial<PoolConfig>;
  } catch (cause) {
    throw new DfsError('DFS_ERR_POOL_FORMAT', `${paths.config}: ${(cause as Error).message}`, { cause });
  }
  if (parsed.format !== POOL_FORMAT || typeof parsed.poolId !== 'string') {
    throw new DfsError('DFS_ERR_POOL_FORMAT', `${paths.config}: format ${String(parsed.format)} (this build reads ${POOL_FORMAT})`);
  }
  const defaults = newPoolConfig({});
  const bad = (field: string, value: unknown, want: string) =>
    new DfsError('DFS_ERR_POOL_FORMAT', `${paths.config}: ${field} is ${JSON.stringify(value)?.slice(0, 60) ?? String(value)}, want ${want}`);
  const count = (field: string, value: unknown, fallback: number) => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw bad(field, value, 'a number ≥ 0');
    return value;
  };
  const disks = parsed.disks ?? [];
  if (!Array.isArray(disks) || !disks.every((d) => d && typeof d.id === 'string' && typeof d.path === 'string')) throw bad('disks', disks, '[{id, path}]');
  const scrub = { ...defaults.scrub, since: parsed.createdAt ?? defaults.scrub.since, ...parsed.scrub };
  if (!['nightly', 'continuous', 'manual'].includes(scrub.frequency)) throw bad('scrub.frequency', scrub.frequency, 'nightly, continuous or manual');
  if (!['low', 'medium', 'high', 'auto'].includes(scrub.intensity)) throw bad('scrub.intensity', scrub.intensity, 'low, medium, high or auto');
  const positiveOrNull = (field: 'verifyWithin' | 'maxLoad' | 'diskMaxRate') => {
    const v = scrub[field];
    if (v !== null && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) throw bad(`scrub.${field}`, v, 'a positive number or null');
  };
  positiveOrNull('verifyWithin');
  positiveOrNull('maxLoad');
  positiveOrNull('diskMaxRate');
  if (scrub.diskInFlight !== null && (!Number.isInteger(scrub.diskInFlight) || scrub.diskInFlight < 1 || scrub.diskInFlight > 1024)) throw bad('scrub.diskInFlight', scrub.diskInFlight, 'an integer from 1 to 1024, or null');
  for (const flag of ['dryRun', 'autoRepair'] as const) if (typeof scrub[flag] !== 'boolean') throw bad(`scrub.${flag}`, scrub[flag], 'true or false');
  return {
    ...defaults,
    ...parsed,
    extentSize: checkExtentSize(parsed.extentSize ?? DEFAULT_EXTENT_SIZE),
    defaultPolicy: formatPolicy(parsePolicy(parsed.defaultPolicy ?? defaults.defaultPolicy)),
    cache: { maxBytes: count('cache.maxBytes', parsed.cache?.maxBytes, defaults.cache.maxBytes) },
    memory: { bufferBytes: checkBufferBytes(parsed.memory?.bufferBytes ?? DEFAULT_BUFFER_BYTES) },
    gc: { graceSeconds: count('gc.graceSeconds', parsed.gc?.graceSeconds, defaults.gc.graceSeconds) },
    packing: checkPacking({ ...defaults.packing, ...parsed.packing }, bad),
    reads: checkReads({ ...defaults.reads, ...parsed.reads }, bad),
    s3: checkS3({ ...defaults.s3, ...parsed.s3 }, bad),
    events: checkEvents({ ...defaults.events, ...parsed.events }, bad),
    faults: checkFaults(parsed.faults ?? {}, bad),
    scrub: {
      ...scrub,
      maxRepairsPerPass: count('scrub.maxRepairsPerPass', scrub.maxRepairsPerPass, defaults.scrub.maxRepairsPerPass),
      repairRatePerSecond: count('scrub.repairRatePerSecond', scrub.repairRatePerSecond, defaults.scrub.repairRatePerSecond),
    },
    disks,
  };
}

function checkPacking(p: PackingConfig, bad: (field: string, value: unknown, want: string) => Error): PackingConfig {
  const whole = (field: keyof PackingConfig, max: number) => {
    const v = p[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw bad(`packing.${field}`, v, `an integer from 0 to ${max}`);
  };
  whole('maxObjectBytes', 16 * 1024 * 1024);
  whole('groupBytes', MAX_EXTENT_SIZE);
  whole('windowMs', 1000);
  if (typeof p.compactBelow !== 'number' || !(p.compactBelow >= 0 && p.compactBelow <= 1)) throw bad('packing.compactBelow', p.compactBelow, 'a share from 0 to 1');
  return { maxObjectBytes: p.maxObjectBytes, groupBytes: p.groupBytes, windowMs: p.windowMs, compactBelow: p.compactBelow };
}

function checkReads(r: ReadsConfig, bad: (field: string, value: unknown, want: string) => Error): ReadsConfig {
  const whole = (field: keyof ReadsConfig, min: number, max: number) => {
    const v = r[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`reads.${field}`, v, `an integer from ${min} to ${max}`);
  };
  whole('perDiskInFlight', 1, 256);
  whole('hedgeAfterMs', 0, 60_000);
  return { perDiskInFlight: r.perDiskInFlight, hedgeAfterMs: r.hedgeAfterMs };
}

function checkEvents(e: EventsConfig, bad: (field: string, value: unknown, want: string) => Error): EventsConfig {
  // Never unbounded: an hour to ten years, 64 KiB to 16 GiB.
  if (typeof e.maxAgeSeconds !== 'number' || !(e.maxAgeSeconds >= 3600 && e.maxAgeSeconds <= 10 * 365 * 86_400)) throw bad('events.maxAgeSeconds', e.maxAgeSeconds, 'seconds from 3600 to 315360000');
  if (typeof e.maxBytes !== 'number' || !Number.isInteger(e.maxBytes) || e.maxBytes < 65_536 || e.maxBytes > 16 * 1024 ** 3) throw bad('events.maxBytes', e.maxBytes, 'bytes from 65536 to 17179869184');
  return { maxAgeSeconds: e.maxAgeSeconds, maxBytes: e.maxBytes };
}

function checkFaults(f: Partial<FaultsConfig>, bad: (field: string, value: unknown, want: string) => Error): FaultsConfig {
  const out = structuredClone(DEFAULT_FAULTS);
  for (const kind of ['checksum', 'io', 'missing'] as const) {
    const t = { ...out[kind], ...f[kind] };
    if (!Number.isInteger(t.errors) || t.errors < 1 || t.errors > 1_000_000) throw bad(`faults.${kind}.errors`, t.errors, 'an integer from 1 to 1000000');
    if (typeof t.windowSeconds !== 'number' || !(t.windowSeconds >= 1 && t.windowSeconds <= 30 * 86_400)) throw bad(`faults.${kind}.windowSeconds`, t.windowSeconds, 'seconds from 1 to 2592000');
    out[kind] = { errors: t.errors, windowSeconds: t.windowSeconds };
  }
  if (f.autoFail !== undefined && typeof f.autoFail !== 'boolean') throw bad('faults.autoFail', f.autoFail, 'true or false');
  out.autoFail = f.autoFail ?? true;
  return out;
}

function checkS3(s: S3Config, bad: (field: string, value: unknown, want: string) => Error): S3Config {
  if (typeof s.region !== 'string' || !/^[a-z0-9-]{1,64}$/.test(s.region)) throw bad('s3.region', s.region, 'a region name such as us-east-1');
  if (!Array.isArray(s.domains) || !s.domains.every((d) => typeof d === 'string' && /^[a-z0-9.-]{1,253}$/i.test(d))) throw bad('s3.domains', s.domains, 'a list of host names');
  if (typeof s.uploadMaxAgeSeconds !== 'number' || !(s.uploadMaxAgeSeconds >= 0)) throw bad('s3.uploadMaxAgeSeconds', s.uploadMaxAgeSeconds, 'a number of seconds ≥ 0');
  return { region: s.region, domains: s.domains.map((d) => d.toLowerCase()), uploadMaxAgeSeconds: s.uploadMaxAgeSeconds };
}

export function writePoolConfig(root: string, config: PoolConfig): void {
  const paths = poolPaths(root);
  mkdirSync(paths.dir, { recursive: true });
  writeFileDurableSync(paths.config, `${JSON.stringify(config, null, 2)}\n`);
}
