// Disk commands: add-disk, remove-disk (drain), fail-disk, set-disk-health,
// list-disks, probe-disks.
import type { Command } from 'commander';
import { count, formatBytes } from '../pool/index.js';
import type { DrainSummary, ProbeResult } from '../store/index.js';
import { diskParam, type CliContext } from './context.js';
import { printResult, table } from './output.js';

type DiskOut = { id: string; path: string; state: string };
type ListedDisk = DiskOut & { capacityBytes: number; usedBytes: number; freeBytes: number; storedBytes: number; fragments: number; available: boolean };

export function registerDiskCommands(program: Command, ctx: CliContext): void {
  program
    .command('add-disk')
    .description('add a disk folder to the pool (writes its label; a disk of another pool is refused)')
    .requiredOption('--disk <dir>', 'disk folder')
    .action(async (opts: { disk: string }) => {
      const d = await ctx.op<DiskOut>('add-disk', { disk: diskParam(opts.disk) });
      printResult(ctx.json(), d, () => `added ${d.id} at ${d.path}`);
    });

  program
    .command('remove-disk')
    .description('drain a disk (move every fragment to other healthy disks), then remove it from the pool')
    .requiredOption('--disk <disk>', 'disk id or path')
    .action(async (opts: { disk: string }) => {
      const s = await ctx.op<DrainSummary>('remove-disk', { disk: diskParam(opts.disk) }, 'draining');
      printResult(ctx.json(), s, () => [
        `removed ${s.disk} (${s.path}): moved ${count(s.fragmentsMoved, 'fragment')} of ${count(s.extentsMoved, 'extent')}, wrote ${formatBytes(s.bytesWritten)}`,
        ...(s.warnings ?? []).map((w) => `warning: ${w}`),
      ].join('\n'));
    });

  program
    .command('fail-disk')
    .description('mark a disk failed: its fragments are no longer read, and rebuild replaces them')
    .requiredOption('--disk <disk>', 'disk id or path')
    .action(async (opts: { disk: string }) => {
      const d = await ctx.op<DiskOut & { extents: { healthy: number; degraded: number; unrecoverable: number } }>('fail-disk', { disk: diskParam(opts.disk) });
      const c = d.extents;
      printResult(ctx.json(), d, () => `${d.id} is failed; extents: ${c.healthy} healthy, ${c.degraded} degraded, ${c.unrecoverable} unrecoverable (run \`dynamicfs rebuild\`)`);
    });

  program
    .command('set-disk-health')
    .description('set a disk state: healthy, degraded, suspect, draining or failed')
    .requiredOption('--disk <disk>', 'disk id or path')
    .requiredOption('--state <state>', 'new state')
    .action(async (opts: { disk: string; state: string }) => {
      const d = await ctx.op<DiskOut>('set-disk-health', { disk: diskParam(opts.disk), state: opts.state });
      printResult(ctx.json(), d, () => `${d.id} is ${d.state}`);
    });

  program
    .command('list-disks')
    .description('disks with state, capacity and fragments')
    .action(async () => {
      const r = await ctx.op<{ disks: ListedDisk[] }>('list-disks');
      printResult(ctx.json(), r, () => table(['ID', 'STATE', 'FRAGMENTS', 'STORED', 'USED', 'CAPACITY', 'PATH'], r.disks.map((d) => [
        d.id, d.available ? d.state : `${d.state} (unavailable)`, d.fragments, formatBytes(d.storedBytes), formatBytes(d.usedBytes), formatBytes(d.capacityBytes), d.path,
      ])));
    });

  program
    .command('probe-disks')
    .description('check every disk (folder, label, write+fsync+read probe, capacity) and update its state')
    .action(async () => {
      const r = await ctx.op<{ disks: ProbeResult[] }>('probe-disks');
      if (r.disks.some((d) => d.state !== 'healthy')) ctx.problemsRemain();
      printResult(ctx.json(), r, () => table(['ID', 'STATE', 'WAS', 'EXISTS', 'LABEL', 'PROBE', 'FREE', 'PATH'], r.disks.map((d) => [
        d.id, d.state, d.previousState, d.exists ? 'yes' : 'no', d.labelOk ? 'ok' : 'bad', d.probeOk ? 'ok' : d.error ?? 'failed', formatBytes(d.freeBytes), d.path,
      ])));
    });
}
