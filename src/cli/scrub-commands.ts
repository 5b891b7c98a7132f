// scrub, scrub-daemon and scrub-schedule. `scrub` runs one
// pass in the daemon when one owns the pool, in this process otherwise.
// `scrub-daemon start` with no daemon running becomes the daemon, in the
// foreground (what a systemd unit runs).
import type { Command } from 'commander';
import { DfsError } from '../errors.js';
import { count, formatBytes } from '../pool/index.js';
import { parseDuration, parseIntensity, parseMaxRate, problemsRemain, type PassSummary, type ScrubStatus } from '../scrub/index.js';
import type { CliContext } from './context.js';
import { printResult, table } from './output.js';
import { remoteOp } from './remote.js';
import { parsePort, s3PortOf } from './daemon-commands.js';

const VERBS = ['start', 'stop', 'status', 'pause', 'resume', 'set-intensity'] as const;
type Verb = (typeof VERBS)[number];

function problemTable(problems: { key: string; seq: number; extent: string; fragment: number; disk: string | null; kind: string; action: string }[]): string {
  return table(['KEY', 'EXTENT', 'FRAGMENT', 'DISK', 'KIND', 'ACTION'], problems.map((p) => [
    JSON.stringify(p.key), `${p.seq} (${p.extent.slice(0, 12)})`, p.fragment, p.disk ?? '-', p.kind, p.action,
  ]));
}

function summaryText(s: PassSummary): string {
  const lines = [
    `${s.light ? 'light-checked' : 'scrubbed'} ${count(s.extentsScanned, 'extent')} (${formatBytes(s.bytesScanned)}, ${count(s.fragmentsChecked, 'fragment')}) in ${s.durationSeconds.toFixed(1)} s` +
      `${s.olderThanSeconds != null ? `, those last verified over ${duration(s.olderThanSeconds)} ago` : ''}${s.dryRun ? ' (dry run: nothing written)' : ''}`,
    `extents: ${s.extents.healthy} healthy, ${s.extents.repaired} repaired, ${s.extents.degraded} degraded, ${s.extents.unrecoverable} unrecoverable${s.extentsSkipped ? `, ${s.extentsSkipped} changed while checked (skipped)` : ''}${s.checksFailed ? `, ${count(s.checksFailed, 'check')} failed (see the log)` : ''}`,
    `issues: ${s.issuesFound} found, ${count(s.repairsAttempted, 'repair')} attempted, ${s.repairsSuccessful} successful${s.repairsPaused ? ' (auto-repair paused at the per-pass cap)' : ''}`,
  ];
  if (s.problems.length) lines.push('', problemTable(s.problems));
  if (s.problemsOmitted) lines.push(`... and ${s.problemsOmitted} more`);
  if (s.dryRun && s.issuesFound > 0) {
    lines.push('', 'dry run: these problems were not recorded; `scrub --errors-only` and `scrub-daemon status` will not know of them (run `scrub` or `scrub --repair`)');
  }
  return lines.join('\n');
}

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const sec = Math.floor(seconds % 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

function statusText(s: ScrubStatus): string {
  const sch = s.schedule;
  const lines = [
    `scrub: ${s.state}${s.daemon ? '' : ' (no daemon running)'}, intensity ${s.intensity}${s.maxRate ? `, capped at ${formatBytes(s.maxRate)}/s` : ''}`,
    `schedule: ${sch.frequency}${sch.frequency === 'nightly' ? ` in ${sch.window}` : ''}, ${sch.autoRepair ? 'auto-repair' : 'report only'}${sch.dryRun ? ', dry run' : ''}` +
      `${sch.nextRunAt ? `, next ${sch.nextRunAt}` : ''}${s.overdue ? ' — OVERDUE' : ''}`,
  ];
  const pc = s.pacing;
  if (pc.mode === 'deadline') {
    lines.push(`pacing: every extent verified within ${duration(pc.verifyWithinSeconds ?? 0)}; target ${formatBytes(pc.targetBytesPerSecond ?? 0)}/s` +
      `${pc.deadlineAt ? `, deadline ${pc.deadlineAt}` : ''}${pc.projectedCompletionAt ? `, pass done about ${pc.projectedCompletionAt}` : ''} — ${pc.onTrack ? 'on track' : 'BEHIND: will miss the deadline'}`);
  }
  if (s.auto) {
    const a = s.auto;
    lines.push(`auto: ${a.probing ? 'measuring clients without the scrubber' : a.busy ? `clients busy, scrubbing at ${(a.level * 100).toFixed(1)}% of full speed` : 'clients idle, full speed'}` +
      `${a.baselineP99Ms !== null ? `; client p99 ${a.p99Ms === null ? '-' : a.p99Ms.toFixed(1)} ms against ${a.baselineP99Ms.toFixed(1)} ms without scrubbing` : ''}`);
  }
  if (s.loadGated) lines.push('load gate: the host is busier than --max-load allows; background passes wait');
  const p = s.pass;
  if (p) {
    lines.push(`pass ${p.id} (${p.trigger}${p.dryRun ? ', dry run' : ''}): ${p.extentsDone}/${p.extentsTotal} extents, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)} (${(p.progress * 100).toFixed(1)}%)` +
      `${s.state === 'running' ? `, ${formatBytes(p.rateBytesPerSecond)}/s, ETA ${p.eta === null ? 'not yet known' : duration(p.eta)}` : ''}; ${p.issuesFound} issues${p.repairsPaused ? ', auto-repair paused at the cap' : ''}`);
  }
  const last = s.lastPass;
  lines.push(last
    ? `last pass: completed ${s.lastCompletedAt} in ${last.durationSeconds.toFixed(1)} s: ${last.extentsScanned} extents, ${last.issuesFound} issues, ${last.repairsSuccessful} repaired, ${last.extents.unrecoverable} unrecoverable`
    : 'last pass: none completed');
  lines.push(s.problems.length ? `errors (${s.problemsTotal}):\n${problemTable(s.problems)}` : 'errors: none known');
  return lines.join('\n');
}

export function registerScrubCommands(program: Command, ctx: CliContext): void {
  program
    .command('scrub')
    .description('one pass over every extent: verify every fragment, report (and with --repair, fix) what is wrong; exit 3 when problems remain')
    .option('--repair', 'rebuild bad fragments from verified ones')
    .option('--dry-run', 'find and report only: nothing is written at all')
    .option('--intensity <level>', 'low, medium, high or auto (default: high, full speed; the background scrubber keeps the pool\'s setting)')
    .option('--max-rate <bytes>', 'cap scrub reads at this many bytes per second (e.g. 50M; 0 or "off": no cap)')
    .option('--errors-only', 're-check only the extents with known problems')
    .option('--light', 'a light check: every fragment\'s presence, size and header, without reading payloads')
    .option('--older-than <duration>', 'only extents last verified longer ago than this (e.g. 7d, 36h, 600s); suspect extents are checked whatever their age')
    .action(async (opts: { repair?: boolean; dryRun?: boolean; intensity?: string; maxRate?: string; errorsOnly?: boolean; light?: boolean; olderThan?: string }) => {
      if (opts.intensity !== undefined) parseIntensity(opts.intensity);
      if (opts.maxRate !== undefined) parseMaxRate(opts.maxRate);
      if (opts.olderThan !== undefined) parseDuration(opts.olderThan, 'older-than');
      const summary = await ctx.op<PassSummary>('scrub', {
        repair: Boolean(opts.repair), dryRun: Boolean(opts.dryRun), errorsOnly: Boolean(opts.errorsOnly), light: Boolean(opts.light),
        ...(opts.olderThan !== undefined ? { olderThan: opts.olderThan } : {}),
        ...(opts.intensity !== undefined ? { intensity: opts.intensity } : {}), ...(opts.maxRate !== undefined ? { maxRate: opts.maxRate } : {}),
      }, 'scrub');
      if (problemsRemain(summary)) ctx.problemsRemain();
      printResult(ctx.json(), summary, () => summaryText(summary));
    });

  program
    .command('scrub-daemon')
    .description('the background scrubber: start|stop|status|pause|resume|set-intensity. start with no daemon running becomes the daemon; stop stops the scrubber only (the daemon keeps serving: stop it with SIGTERM or systemctl stop)')
    .argument('<verb>', VERBS.join('|'))
    .option('--intensity <level>', 'low, medium, high or auto (set-intensity)')
    .option('--max-rate <bytes>', 'cap scrub reads at this many bytes per second, or 0 / "off" for no cap (set-intensity)')
    .option('--port <port>', 'TCP port when start becomes the daemon', '9090')
    .option('--bind <address>', 'address to listen on when start becomes the daemon', '127.0.0.1')
    .option('--s3-port <port>', 'S3 port when start becomes the daemon (0 picks a free one)', '9000')
    .option('--no-s3', 'no S3 endpoint when start becomes the daemon')
    .action(async (verbText: string, opts: { intensity?: string; maxRate?: string; port: string; bind: string; s3Port: string; s3: boolean }) => {
      if (!(VERBS as readonly string[]).includes(verbText)) throw new DfsError('DFS_ERR_CLI_USAGE', `unknown verb "${verbText}": use ${VERBS.join(', ')}`);
      const verb = verbText as Verb;
      if (verb === 'set-intensity') {
        if (opts.intensity === undefined) throw new DfsError('DFS_ERR_CLI_USAGE', 'set-intensity needs --intensity low|medium|high|auto');
        parseIntensity(opts.intensity);
        if (opts.maxRate !== undefined) parseMaxRate(opts.maxRate);
      }
      const daemon = ctx.daemon();
      if (verb === 'start' && !daemon) {
        const { runDaemon } = await import('../server/index.js');
        await runDaemon(ctx.poolDir(), { port: parsePort(opts.port), bind: opts.bind, logLevel: ctx.logLevel('info'), startScrub: true, s3Port: s3PortOf(opts) });
        return;
      }
      if (!daemon && (verb === 'stop' || verb === 'pause' || verb === 'resume')) {
        throw new DfsError('DFS_ERR_SCRUB_NO_DAEMON', `${verb} talks to the running daemon, and none owns ${ctx.poolDir()}`);
      }
      const params = verb === 'set-intensity' ? { intensity: opts.intensity, ...(opts.maxRate !== undefined ? { maxRate: opts.maxRate } : {}) } : {};
      const name = verb === 'status' ? 'scrub-status' : `scrub-${verb}`;
      const status = daemon ? ((await remoteOp(daemon, name, params)) as ScrubStatus) : await ctx.op<ScrubStatus>(name, params);
      printResult(ctx.json(), status, () => statusText(status));
    });

  program
    .command('scrub-schedule')
    .description('when the background scrubber runs: nightly (in a window), continuous (every 6 h) or manual; persisted in the pool. With no option: show the schedule')
    .option('--frequency <f>', 'nightly, continuous or manual')
    .option('--intensity <level>', 'low, medium, high or auto (follows the clients: full speed while they are idle, their latency kept while they are not)')
    .option('--dry-run <bool>', 'true: scheduled passes only report')
    .option('--auto-repair <bool>', 'true: scheduled passes repair what they find')
    .option('--window <HH:MM-HH:MM>', 'nightly window, local time (default 01:00-05:00)')
    .option('--max-rate <bytes>', 'cap scrub reads at this many bytes per second, or 0 / "off" for no cap')
    .option('--verify-within <duration>', 'every extent verified within this long (e.g. 7d, 36h, 600s): passes run back to back, paced to it; "off" returns to the frequency')
    .option('--max-load <n>', 'background passes wait while the 1-minute load average per CPU is above this (e.g. 0.8), or "off"')
    .option('--disk-max-rate <bytes>', 'cap scrub reads from any one disk at this many bytes per second, or 0 / "off"')
    .option('--disk-in-flight <n>', 'scrub reads in flight at one disk at most (default: half of reads.perDiskInFlight), or "off"')
    .action(async (opts: {
      frequency?: string; intensity?: string; dryRun?: string; autoRepair?: string; window?: string; maxRate?: string; verifyWithin?: string; maxLoad?: string;
      diskMaxRate?: string; diskInFlight?: string;
    }) => {
      const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
      const status = await ctx.op<ScrubStatus>(Object.keys(given).length ? 'scrub-schedule' : 'scrub-status', given);
      printResult(ctx.json(), status, () => statusText(status));
    });
}
