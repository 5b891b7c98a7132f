// Maintenance commands: list-extents, show-redundancy, change-policy,
// rebuild, recover-catalog, gc.
import type { Command } from 'commander';
import { DfsError } from '../errors.js';
import { count, formatBytes, parsePolicy } from '../pool/index.js';
import { listExtents, recoverCatalog, type extentView, type GcSummary, type RebuildSummary, type showRedundancy } from '../store/index.js';
import { collect, type CliContext } from './context.js';
import { remoteOp } from './remote.js';
import { escapeControls, printResult, table, toJson } from './output.js';

export function registerMaintenanceCommands(program: Command, ctx: CliContext): void {
  program
    .command('list-extents')
    .description('every extent with its fragments, disks, paths and states')
    .option('--key <key>', 'only the extents of this object')
    .action(async (opts: { key?: string }) => {
      const daemon = ctx.daemon();
      if (daemon) return printExtents(ctx.json(), ((await remoteOp(daemon, 'list-extents', { ...opts })) as { extents: ExtentView[] }).extents);
      return ctx.withEngine((engine) => printExtents(ctx.json(), listExtents(engine, opts.key === undefined ? {} : { key: opts.key })));
    });

  program
    .command('show-redundancy')
    .description('redundancy by policy: extents by state and how many more fragment losses each survives')
    .action(async () => {
      const r = await ctx.op<ReturnType<typeof showRedundancy>>('show-redundancy');
      if (r.minMargin !== null && r.minMargin < 0) ctx.problemsRemain();
      printResult(ctx.json(), r, () => [
        `default policy ${r.defaultPolicy}, ${r.healthyDisks} healthy disks`,
        table(['POLICY', 'OBJECTS', 'EXTENTS', 'BYTES', 'HEALTHY', 'DEGRADED', 'UNRECOVERABLE', 'TOLERATES', 'MIN MARGIN'], r.policies.map((p) => [
          p.policy, p.objects, p.extents, formatBytes(p.bytes), p.states.healthy ?? 0, p.states.degraded ?? 0, p.states.unrecoverable ?? 0, `${p.toleratesDiskFailures} disks`, p.minMargin,
        ])),
        r.note,
      ].join('\n'));
    });

  program
    .command('change-policy')
    .description('re-encode one object (KEY) or all (--all) under another policy; data stays readable throughout')
    .argument('[key]', 'object key')
    .option('--all', 'every object')
    .requiredOption('--policy <policy>', 'replication:N or ec:K+M')
    .action(async (key: string | undefined, opts: { all?: boolean; policy: string }) => {
      if (Boolean(key) === Boolean(opts.all)) throw new DfsError('DFS_ERR_CLI_USAGE', 'give either a KEY or --all');
      parsePolicy(opts.policy);
      const r = await ctx.op<{
        policy: string; changed: { key: string; from: string; to: string; size: number }[]; unchanged: number; failed: { key: string; error: { code: string; message: string } }[];
      }>('change-policy', { ...(key !== undefined ? { key } : { all: true }), policy: opts.policy }, 'change-policy');
      if (r.failed.length > 0) ctx.problemsRemain();
      printResult(ctx.json(), r, () => [
        ...r.changed.map((c) => `${JSON.stringify(c.key)}: ${c.from} -> ${c.to} (${formatBytes(c.size)})`),
        ...r.failed.map((f) => `${JSON.stringify(f.key)}: not moved: ${f.error.message} (${f.error.code})`),
        `${count(r.changed.length, 'object')} re-encoded, ${r.unchanged} already ${opts.policy}${r.failed.length ? `, ${r.failed.length} could not be moved (left under their old policy)` : ''}`,
      ].join('\n'));
    });

  program
    .command('rebuild')
    .description('re-create every fragment on a failed or missing disk, or missing or bad, onto healthy disks')
    .action(async () => {
      const r = await ctx.op<RebuildSummary>('rebuild', {}, 'rebuild');
      if (r.unrecoverable.length || r.failed.length || r.extents.degraded || r.extents.unrecoverable) ctx.problemsRemain();
      printResult(ctx.json(), r, () => [
        r.disksFailed.length ? `disks found missing and marked failed: ${r.disksFailed.join(', ')}` : '',
        `${count(r.extentsNeedingRepair, 'extent')} needed repair: ${r.extentsRepaired} repaired (${count(r.fragmentsRebuilt, 'fragment')}, ${formatBytes(r.bytesWritten)} written)`,
        ...r.unrecoverable.map((u) => `unrecoverable: ${JSON.stringify(u.key)} extent ${u.seq} (${u.extent})`),
        ...r.failed.map((f) => `failed: ${JSON.stringify(f.key)} ${f.extent}: ${f.error}`),
        `extents now: ${r.extents.healthy} healthy, ${r.extents.degraded} degraded, ${r.extents.unrecoverable} unrecoverable`,
      ].filter(Boolean).join('\n'));
    });

  program
    .command('recover-catalog')
    .description('rebuild catalog.db from the fragment headers on the disks (the old one is kept as a backup)')
    .option('--disk <dir>', 'also scan this disk folder (repeatable)', collect, [])
    .action(async (opts: { disk: string[] }) => {
      const r = await recoverCatalog(ctx.poolDir(), { extraDisks: opts.disk });
      if (r.objectsIncomplete.length) ctx.problemsRemain();
      printResult(ctx.json(), r, () => [
        ...r.disks.map((d) => `disk ${d.id || '?'} ${d.path}: ${d.skipped ? `skipped (${d.skipped})` : `${d.fragments} fragments`}`),
        `${r.fragmentsFound} fragments (${r.fragmentsInvalid} invalid), ${r.extents} extents, ${r.objectsRecovered} objects recovered${r.deletedSkipped ? `, ${count(r.deletedSkipped, 'deleted key')} left deleted` : ''}${r.assembliesApplied ? `, ${count(r.assembliesApplied, 'multipart completion')} from assembly records` : ''}${r.uploadPartExtents ? `, ${count(r.uploadPartExtents, 'extent')} of unfinished multipart uploads left to gc` : ''}`,
        ...r.objectsIncomplete.map((o) => `incomplete, not restored: ${JSON.stringify(o.key)} (${o.extentsFound} extents found)`),
        r.backup ? `previous catalogue kept as ${r.backup}` : '',
      ].filter(Boolean).join('\n'));
    });

  program
    .command('gc')
    .description('remove orphaned fragments and temporary files older than the grace period')
    .option('--dry-run', 'report what would be removed, remove nothing')
    .option('--grace <seconds>', 'only files older than this (default: pool.json gc.graceSeconds, 3600)', (v) => Number(v))
    .option('--verbose', 'list every file (--json always lists them)')
    .action(async (opts: { dryRun?: boolean; grace?: number; verbose?: boolean }) => {
      const r = await ctx.op<GcSummary>('gc', { dryRun: Boolean(opts.dryRun), ...(opts.grace !== undefined ? { grace: opts.grace } : {}) });
      printResult(ctx.json(), r, () => [
        ...(opts.verbose ? r.removed.map((f) => `${r.dryRun ? 'would remove' : 'removed'} ${f.kind} ${escapeControls(f.path)}`) : []),
        ...r.interruptedWrites.map((w) => `interrupted put of ${JSON.stringify(w.key)} (pid ${w.pid}, ${w.startedAt}): its files ${r.dryRun ? 'would be' : 'were'} taken whatever their age`),
        ...(r.compaction.packsRewritten > 0
          ? [`${r.dryRun ? 'would compact' : 'compacted'} ${count(r.compaction.packsRewritten, 'pack')}: ${count(r.compaction.objectsMoved, 'live object')} (${formatBytes(r.compaction.bytesMoved)}) ${r.dryRun ? 'to move' : 'moved'}, ${formatBytes(r.compaction.bytesReclaimed)} of dead bytes ${r.dryRun ? 'to free' : 'freed'}`]
          : []),
        ...(r.uploads.uploads + r.uploads.parts > 0
          ? [`${r.dryRun ? 'would reclaim' : 'reclaimed'} ${count(r.uploads.uploads, 'S3 multipart upload')} older than ${r.uploads.maxAgeSeconds} s and ${count(r.uploads.parts, 'part')} (${formatBytes(r.uploads.bytes)})`]
          : []),
        `${r.dryRun ? 'would free' : 'freed'} ${formatBytes(r.bytes)}: ${count(r.tempFiles, 'temporary file')}, ${count(r.orphanFragments, 'orphaned fragment')} (${count(r.filesScanned, 'file')} scanned, ${r.skippedYoung} younger than ${r.graceSeconds} s left alone)`,
      ].join('\n'));
    });
}

type ExtentView = ReturnType<typeof extentView>;

/** list-extents output; with --json streamed, since a pool may hold millions of extents. */
function printExtents(json: boolean, extents: Iterable<ExtentView>): void {
  if (json) {
    process.stdout.write('{"extents":[');
    let first = true;
    for (const e of extents) {
      process.stdout.write(`${first ? '' : ','}${toJson(e)}`);
      first = false;
    }
    process.stdout.write(']}\n');
    return;
  }
  const rows: string[][] = [];
  for (const e of extents) rows.push([e.id, String(e.seq), e.policy, e.state, e.fragments.map((f) => `${f.index}@${f.diskId}${f.state === 'ok' ? '' : `(${f.state})`}`).join(' '), e.key]);
  if (rows.length) process.stdout.write(`${table(['EXTENT', 'SEQ', 'POLICY', 'STATE', 'FRAGMENTS', 'KEY'], rows)}\n`);
}
