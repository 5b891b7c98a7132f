// A real Prometheus (loopback, 1 s scrape and evaluation, the project's alert
// rules) scraping a real daemon: after damage beyond redundancy and a scrub,
// the unrecoverable-extents alert is pending or firing in Prometheus's own
// /api/v1/alerts. And every metric the rules and the Grafana dashboard use
// exists in a real scrape of the daemon.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { fragmentFiles, makePool, type TestPool } from '../helpers/cli.js';
import { declaredWithoutSamples, freePort, scrapedNames, startDaemon, waitFor, type RunningDaemon } from '../helpers/daemon.js';

const OPS = fileURLToPath(new URL('../../../ops/', import.meta.url));
let pool: TestPool;
let daemon: RunningDaemon;
let prometheus: ChildProcess | null = null;
let promLog = '';

test.before(async () => {
  pool = makePool({ disks: 6, extentSize: '64KiB' });
  const f = pool.file('victim', 100_000, 3); // two extents under ec:4+2
  assert.is(pool.run('put', f.path, '--key', 'victim').code, 0);
  const g = pool.file('bystander', 150_000, 4); // three extents: large enough to get extents of its own (not a pack), so its GET runs worker tasks
  assert.is(pool.run('put', g.path, '--key', 'bystander').code, 0);
  daemon = await startDaemon(pool.pool);
});
test.after(async () => {
  if (prometheus && prometheus.exitCode === null) prometheus.kill('SIGKILL');
  await daemon?.stop('SIGKILL');
  pool.cleanup();
});

/** Every metric name a PromQL expression refers to (identifiers that are not functions, keywords or labels). */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}').replace(/\[[^\]]*\]/g, '[]')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of withoutStrings.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)) {
    const name = m[1]!;
    if (/^(by|without|on|ignoring|group_left|group_right|and|or|unless|bool|offset|inf|nan)$/i.test(name)) continue;
    names.add(name);
  }
  return [...names];
}

test('every metric in the alert rules and the Grafana dashboard exists in a real scrape', async () => {
  // Some work first, as a live daemon has done between scrapes: histograms with labels have series only once observed.
  const got = await fetch(`${daemon.url}/v1/objects/bystander`, { headers: { authorization: `Bearer ${daemon.token}` } });
  assert.is(got.status, 200);
  await got.arrayBuffer();
  await (await fetch(`${daemon.url}/metrics`)).text();
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  const scraped = scrapedNames(text);
  // Prometheus adds these itself for every target.
  const fromPrometheus = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);
  const rules = parse(readFileSync(join(OPS, 'dynamicfs_alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  const dashboard = JSON.parse(readFileSync(join(OPS, 'grafana', 'dynamicfs.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[]; templating: { list: { definition?: string }[] } };
  const used = new Map<string, string>();
  for (const g of rules.groups) for (const r of g.rules) for (const n of metricNames(r.expr)) used.set(n, `rule ${r.alert}`);
  for (const p of dashboard.panels) for (const t of p.targets ?? []) for (const n of metricNames(t.expr)) used.set(n, `panel "${p.title}"`);
  for (const v of dashboard.templating.list) if (v.definition) for (const n of metricNames(v.definition.replace(/^label_values\(([^,]+),.*$/, '$1'))) used.set(n, 'dashboard variable');
  assert.ok(used.size > 40, `found only ${used.size} metric names`);
  // A gauge absent until it means something is declared in the scrape, with no sample: these may be.
  const ABSENT_UNTIL_MEANINGFUL = new Set(['dynamicfs_scrub_eta_seconds', 'dynamicfs_scrub_deadline_on_track', 'dynamicfs_scrub_target_rate_bytes_per_second', 'dynamicfs_scrub_verify_within_seconds']);
  const declared = declaredWithoutSamples(text);
  const missing = [...used].filter(([n]) => !scraped.has(n) && !fromPrometheus.has(n) && !(ABSENT_UNTIL_MEANINGFUL.has(n) && declared.has(n)));
  assert.equal(missing, [], `not in a real scrape: ${missing.map(([n, where]) => `${n} (${where})`).join(', ')}`);
  // The extraction is not vacuous: the contract's names are among those used.
  for (const n of ['dynamicfs_extents_unrecoverable', 'dynamicfs_scrub_overdue', 'dynamicfs_disk_used_bytes', 'dynamicfs_cache_hits', 'http_request_duration_seconds_bucket']) assert.ok(used.has(n), n);
});

test('a real Prometheus raises DynamicFSExtentsUnrecoverable after damage beyond redundancy and a scrub', async () => {
  const port = await freePort();
  const dir = join(pool.root, 'prometheus');
  mkdirSync(dir);
  const target = new URL(daemon.url).host;
  writeFileSync(join(dir, 'prometheus.yml'), `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - ${join(OPS, 'dynamicfs_alerts.yml')}
scrape_configs:
  - job_name: dynamicfs
    static_configs:
      - targets: ['${target}']
`);
  prometheus = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  prometheus.stderr!.on('data', (d) => (promLog += d));
  prometheus.on('error', (e) => (promLog += `spawn failed (Debian package prometheus; .ci/run installs it): ${e.message}`));
  const api = `http://127.0.0.1:${port}/api/v1`;
  const context = () => `prometheus log: ${promLog.slice(-1500)}`;
  // Prometheus is up and scraping the daemon.
  await waitFor('the daemon target up in Prometheus', async () => {
    try {
      const r = (await (await fetch(`${api}/query?query=${encodeURIComponent('up{job="dynamicfs"}')}`)).json()) as { data: { result: { value: [number, string] }[] } };
      return r.data.result[0]?.value[1] === '1' ? true : null;
    } catch {
      return null;
    }
  }, 30_000, context);

  const alerts = async () => ((await (await fetch(`${api}/alerts`)).json()) as { data: { alerts: { labels: { alertname: string; severity: string }; state: string; value: string }[] } }).data.alerts;
  // Healthy pool: silent.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal((await alerts()).filter((a) => a.labels.alertname === 'DynamicFSExtentsUnrecoverable'), []);

  // Three of the six fragments of the victim's first extent go: beyond what ec:4+2 survives.
  const listed = pool.run('list-extents', '--key', 'victim', '--json');
  assert.is(listed.code, 0, listed.stderr);
  const first = (listed.json.extents as { id: string; seq: number }[]).find((e) => e.seq === 0)!;
  const files = fragmentFiles(pool.disks).filter((p) => p.includes(first.id));
  assert.is(files.length, 6);
  for (const p of files.slice(0, 3)) unlinkSync(p);
  const scrub = pool.run('scrub', '--json'); // through the daemon
  assert.is(scrub.code, 3, scrub.stderr);
  assert.is((scrub.json.extents as { unrecoverable: number }).unrecoverable, 1);

  const raised = await waitFor('DynamicFSExtentsUnrecoverable pending or firing', async () => {
    const a = (await alerts()).find((x) => x.labels.alertname === 'DynamicFSExtentsUnrecoverable');
    return a && (a.state === 'pending' || a.state === 'firing') ? a : null;
  }, 30_000, context);
  assert.is(raised.labels.severity, 'critical');
  assert.is(Number(raised.value), 1);
  // The health alert sees the same state through dynamicfs_health_status.
  await waitFor('DynamicFSHealthCritical pending or firing', async () => ((await alerts()).some((x) => x.labels.alertname === 'DynamicFSHealthCritical') ? true : null), 30_000, context);

  // Every dashboard query is valid PromQL to this Prometheus, and the health panel sees the critical pool.
  const dashboard = JSON.parse(readFileSync(join(OPS, 'grafana', 'dynamicfs.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
  for (const p of dashboard.panels) {
    for (const t of p.targets ?? []) {
      const expr = t.expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.+');
      const r = (await (await fetch(`${api}/query?query=${encodeURIComponent(expr)}`)).json()) as { status: string; error?: string; data?: { result: { value: [number, string] }[] } };
      assert.is(r.status, 'success', `panel "${p.title}": ${t.expr}: ${r.error ?? ''}`);
      if (p.title.startsWith('Health')) assert.is(r.data?.result[0]?.value[1], '2', `panel "${p.title}" shows critical`);
    }
  }
  prometheus.kill('SIGTERM');
});

test.run();
