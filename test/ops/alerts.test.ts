// The ops kit checked by Prometheus's own tooling: the alert rules parse and
// their promtool unit tests pass, the example config is valid, and every
// rule has what an on-call engineer needs (for, severity, summary,
// description with the value, a runbook section that exists).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const OPS = fileURLToPath(new URL('../../../ops/', import.meta.url));
const DOCS = fileURLToPath(new URL('../../../docs/', import.meta.url));

function promtool(...args: string[]): string {
  const r = spawnSync('promtool', args, { cwd: OPS, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is needed (Debian package prometheus; .ci/run installs it): ${r.error.message}`);
  assert.is(r.status, 0, `promtool ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

test('promtool check rules and check config accept the ops files', () => {
  assert.match(promtool('check', 'rules', 'dynamicfs_alerts.yml'), /SUCCESS: 22 rules found/);
  assert.match(promtool('check', 'config', 'prometheus.yml'), /SUCCESS/);
});

test('promtool test rules: every alert fires when it should and stays silent when it should not', () => {
  assert.match(promtool('test', 'rules', 'dynamicfs_alerts.test.yml'), /SUCCESS/);
});

interface Rule { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }

function rules(): { group: string; rule: Rule }[] {
  const doc = parse(readFileSync(`${OPS}dynamicfs_alerts.yml`, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((rule) => ({ group: g.name, rule })));
}

test('each rule has for, a severity, a summary, a description with the value and a runbook section that exists', () => {
  const all = rules();
  assert.is(all.length, 22);
  const groups = new Set(all.map((r) => r.group));
  for (const g of ['dynamicfs-critical', 'dynamicfs-warning', 'dynamicfs-capacity', 'dynamicfs-performance', 'dynamicfs-health']) assert.ok(groups.has(g), `group ${g}`);
  const operations = readFileSync(`${DOCS}OPERATIONS.md`, 'utf8');
  const sections = new Set([...operations.matchAll(/^## (\S+)$/gm)].map((m) => m[1]!.toLowerCase()));
  for (const { rule } of all) {
    assert.ok(rule.expr.length > 0, `${rule.alert}: expr`);
    assert.ok(rule.for, `${rule.alert}: for`);
    assert.ok(['critical', 'warning', 'info'].includes(rule.labels?.severity ?? ''), `${rule.alert}: severity`);
    assert.ok(rule.annotations?.summary, `${rule.alert}: summary`);
    assert.match(rule.annotations?.description ?? '', /\$value/, `${rule.alert}: description shows the value`);
    const anchor = /OPERATIONS\.md#(\S+)$/.exec(rule.annotations?.runbook_url ?? '')?.[1];
    assert.is(anchor, rule.alert.toLowerCase(), `${rule.alert}: runbook_url anchor`);
    assert.ok(sections.has(anchor!), `${rule.alert}: docs/OPERATIONS.md has a section "## ${rule.alert}"`);
  }
});

test.run();
