// Pool-level commands: init, status, health.
import type { Command } from 'commander';
import { Engine, type poolHealth, type poolStatus } from '../store/index.js';
import { count, formatBytes } from '../pool/index.js';
import { collect, type CliContext } from './context.js';
import { printResult } from './output.js';
import { remoteMetrics } from './remote.js';

export function registerPoolCommands(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('create a pool: pool.json, catalogue, API token, and the given disks')
    .option('--policy <policy>', 'default policy for new objects (replication:N or ec:K+M)', 'ec:4+2')
    .option('--extent-size <size>', 'extent size (e.g. 1MiB, 256KiB)', '1MiB')
    .option('--disk <dir>', 'a disk folder to add (repeatable)', collect, [])
    .action(async (opts: { policy: string; extentSize: string; disk: string[] }) => {
      const engine = Engine.init(ctx.poolDir(), { policy: opts.policy, extentSize: opts.extentSize, disks: opts.disk });
      try {
        const disks = engine.catalog.disks();
        const shortfall = engine.defaultPolicyShortfall();
        const result = {
          pool: engine.root, poolId: engine.poolId, defaultPolicy: engine.config.defaultPolicy, extentSize: engine.extentSize,
          disks: disks.map((d) => ({ id: d.id, path: d.path })), token: engine.paths.token, warnings: shortfall ? [shortfall] : [],
        };
        printResult(ctx.json(), result, () => [
          `created pool ${engine.poolId} at ${engine.root}`,
          `default policy ${engine.config.defaultPolicy}, extent size ${formatBytes(engine.extentSize)}`,
          ...disks.map((d) => `disk ${d.id}  ${d.path}`),
          `API token in ${engine.paths.token} (mode 0600)`,
          ...result.warnings.map((w) => `warning: ${w}`),
        ].join('\n'));
      } finally {
        await engine.close();
      }
    });

  program
    .command('status')
    .description('pool summary: objects, bytes, disks and extents by state')
    .action(async () => {
      const s = await ctx.op<ReturnType<typeof poolStatus>>('status');
      printResult(ctx.json(), s, () => [
        `pool ${s.poolId} at ${s.pool}`,
        `objects ${s.objects} (${formatBytes(s.logicalBytes)}; ${formatBytes(s.storedBytes)} on disks), default policy ${s.defaultPolicy}, extent size ${formatBytes(s.extentSize)}`,
        `disks ${s.disks.total}: ${s.disks.healthy} healthy, ${s.disks.degraded} degraded, ${s.disks.suspect} suspect, ${s.disks.draining} draining, ${s.disks.failed} failed`,
        `extents ${s.extents.total}: ${s.extents.healthy} healthy, ${s.extents.degraded} degraded, ${s.extents.unrecoverable} unrecoverable`,
        `known problems ${s.problems}`,
        ...(s.interruptedWrites.length ? [`reclaimable: ${count(s.interruptedWrites.length, 'interrupted put')} left files behind (${s.interruptedWrites.slice(0, 3).map((w) => `${JSON.stringify(w.key)}, pid ${w.pid}`).join('; ')}); \`dynamicfs gc\` takes them now`] : []),
        ...(s.recoveredUnverifiedSince ? [`unverified: the catalogue was recovered from fragment headers at ${s.recoveredUnverifiedSince}; run \`dynamicfs scrub --repair\` to verify every payload`] : []),
      ].join('\n'));
    });

  program
    .command('metrics')
    .description('the Prometheus metrics: the daemon\'s /metrics when one runs, else computed from the pool')
    .action(async () => {
      const daemon = ctx.daemon();
      const text = daemon
        ? await remoteMetrics(daemon)
        : await ctx.withEngine(async (engine) => (await import('../metrics/index.js')).createMetricsRegistry({ engine, live: false }).metrics());
      // Without a daemon only the pool's state is known: the counters of work done (disk I/O and
      // errors, cache, workers, rebuilds, scrubs) are kept by a running daemon, not in the pool.
      const note = daemon ? null : 'no daemon runs: the pool\'s state only; the counters of work done (disk I/O and errors, cache, workers, rebuilds, scrubs) belong to a running daemon and are left out';
      if (ctx.json()) printResult(true, { source: daemon ? daemon.url : 'pool', ...(note ? { note } : {}), samples: (await import('../metrics/index.js')).parseMetricsText(text) }, () => '');
      else process.stdout.write(`${note ? `# ${note}\n` : ''}${text}`);
    });

  program
    .command('health')
    .description('pool health (healthy, degraded, critical); exit 0 when healthy, 3 otherwise')
    .action(async () => {
      const h = await ctx.op<ReturnType<typeof poolHealth>>('health');
      if (h.status !== 'healthy') ctx.problemsRemain();
      printResult(ctx.json(), h, () => `${h.status}: ${h.message}`);
    });
}
