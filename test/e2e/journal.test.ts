// The repair journal end to end, through the real CLI and daemon:
//   - fragments damaged in six ways, `scrub --repair`: each damaged fragment
//     has one problem event and one repair event; observedChecksum is the
//     XXH3 of the damaged bytes as they lay on disk, expectedChecksum the
//     catalogue's, writtenChecksum the repaired file's; every source is a
//     verified fragment of that extent, never the damaged one; `stat` shows
//     the last repair; the filters and the exit codes of `events`;
//   - through the daemon: a read that met a damaged fragment is healed by
//     itself, and GET /v1/events (JSON, and SSE with follow) tells of it;
//   - disk fault management: a disk that keeps failing checks across scrub
//     rounds becomes suspect and then failed by itself, its extents are
//     rebuilt elsewhere, reads stay exact throughout, and the journal tells
//     the story in order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { cliAsync, expectCoded, makePool, type TestPool } from '../helpers/cli.js';
import { FAULTS } from '../helpers/damage.js';
import { startDaemon, waitFor, type RunningDaemon } from '../helpers/daemon.js';
import { resolveVariant, threadKernels } from '../../src/kernels/index.js';
import { headerLengthFor, hex64 } from '../../src/format/index.js';
import type { PoolEvent } from '../../src/catalog/index.js';

const EXTENT = 64 * 1024;
const kernels = threadKernels(resolveVariant());
const xxh = (bytes: Uint8Array) => hex64(kernels.xxh3(bytes));

interface Fragment { index: number; path: string; state: string; diskId: string; checksum: string }
interface Extent { id: string; seq: number; fragments: Fragment[] }

const extentsOf = (pool: TestPool, key: string): Extent[] => pool.run('list-extents', '--key', key, '--json').json.extents as Extent[];
const eventsOf = (pool: TestPool, ...args: string[]): PoolEvent[] => {
  const r = pool.run('events', '--json', ...args);
  assert.is(r.code, 0, r.stderr);
  return r.json.events as PoolEvent[];
};

/** The payload of a fragment file as it lies on disk (what there is of it past the header). */
function payloadOf(path: string, key: string, fragmentLength: number): Uint8Array | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return null;
  }
  const start = headerLengthFor(Buffer.byteLength(key, 'utf8'));
  return bytes.length > start ? bytes.subarray(start, Math.min(bytes.length, start + fragmentLength)) : null;
}


test('six kinds of damage, scrub --repair: each repair event holds the damaged bytes\' checksum, the catalogue\'s and the new file\'s, and its verified sources', () => {
  const pool = makePool({ disks: 7, extentSize: '64KiB' });
  try {
    for (const policy of ['ec:4+2', 'replication:3']) {
      const key = `j/${policy}`;
      const f = pool.file(policy.replace(/\W/g, '_'), 6 * EXTENT + 100, 11);
      assert.is(pool.run('put', f.path, '--key', key, '--policy', policy).code, 0);
      const extents = extentsOf(pool, key);
      const fragmentLength = readFileSync(extents[0]!.fragments[0]!.path).length - headerLengthFor(Buffer.byteLength(key));
      const damaged = FAULTS.map((fault, seq) => {
        const extent = extents[seq]!;
        const target = extent.fragments[2]!;
        fault.apply(target, extents[(seq + 1) % extents.length]!.fragments[2]!);
        const found = payloadOf(target.path, key, fragmentLength);
        return { fault, extent, target, observed: found ? xxh(found) : null };
      });
      const before = eventsOf(pool).at(-1)?.id ?? 0;
      const scrub = pool.run('scrub', '--repair', '--json');
      assert.is(scrub.code, 0, scrub.stderr);
      assert.is(scrub.json.repairsSuccessful, 6, policy);
      const events = eventsOf(pool, '--after', String(before));
      const after = extentsOf(pool, key);
      for (const d of damaged) {
        const about = (type: string) => events.filter((e) => e.type === type && e.extent === d.extent.id && e.fragment === d.target.index);
        const [problem, ...moreProblems] = about('problem');
        const [repair, ...moreRepairs] = about('repair');
        const what = `${policy} ${d.fault.name}`;
        assert.ok(problem && repair, `${what}: a problem and a repair event`);
        assert.is(moreProblems.length + moreRepairs.length, 0, `${what}: one of each`);
        for (const e of [problem!, repair!]) {
          assert.is(e.kind, d.fault.kind, what);
          assert.is(e.key, key);
          assert.is(e.seq, d.extent.seq);
          assert.is(e.disk, d.target.diskId, what);
          assert.is(e.trigger, 'scrub');
          assert.is(e.job, scrub.json.id, `${what}: the pass's id`);
          assert.is(e.expectedChecksum, d.target.checksum, `${what}: the catalogue's checksum`);
          assert.is(e.observedChecksum, d.observed, `${what}: the checksum of the bytes found`);
        }
        assert.is(problem!.id < repair!.id, true, 'the problem comes first');
        // The repaired file, where the catalogue now points.
        const now = after.find((x) => x.id === d.extent.id)!.fragments.find((x) => x.index === d.target.index)!;
        assert.is(now.diskId, repair!.toDisk);
        assert.is(repair!.writtenChecksum, xxh(payloadOf(now.path, key, fragmentLength)!), `${what}: the new file's checksum`);
        assert.is(repair!.writtenChecksum, d.target.checksum, `${what}: the new file is the one the catalogue records`);
        assert.is(repair!.result, 'repaired');
        assert.ok(repair!.bytes! > 0 && repair!.durationMs! >= 0);
        // Sources: verified fragments of this extent, never the damaged one.
        assert.ok(repair!.sources!.length >= (policy.startsWith('ec') ? 4 : 1), `${what}: ${repair!.sources!.length} sources`);
        for (const s of repair!.sources!) {
          assert.is.not(s.fragment, d.target.index, `${what}: rebuilt from the damaged fragment`);
          const recorded = d.extent.fragments.find((x) => x.index === s.fragment)!;
          assert.is(s.disk, recorded.diskId);
          assert.is(s.checksum, recorded.checksum, `${what}: source ${s.fragment} verified`);
          assert.is(xxh(payloadOf(recorded.path, key, fragmentLength)!), s.checksum);
        }
      }
      // stat: the last repair of each damaged extent.
      const stat = pool.run('stat', key, '--json');
      assert.is(stat.code, 0, stat.stderr);
      for (const d of damaged) {
        const h = (stat.json.history as { extent: string; lastRepair: PoolEvent | null; verifiedAt: string | null }[]).find((x) => x.extent === d.extent.id)!;
        assert.is(h.lastRepair?.fragment, d.target.index);
        assert.ok(h.verifiedAt !== null);
      }
      assert.is(pool.run('get', key).raw.equals(Buffer.from(f.bytes)), true);
    }
    // Filters, and bad ones refused with a code.
    const all = eventsOf(pool);
    assert.is(eventsOf(pool, '--type', 'repair').length, 12);
    assert.is(eventsOf(pool, '--key', 'j/ec').length, 12);
    assert.equal(eventsOf(pool, '--limit', '3').map((e) => e.id), all.slice(-3).map((e) => e.id));
    assert.is(eventsOf(pool, '--since', '1h').length, all.length);
    assert.is(eventsOf(pool, '--since', new Date(Date.now() + 60_000).toISOString()).length, 0);
    const disk = all.find((e) => e.type === 'problem')!.disk!;
    assert.ok(eventsOf(pool, '--disk', disk).every((e) => e.disk === disk));
    for (const bad of [['--type', 'nope'], ['--since', 'yesterday'], ['--limit', '0']]) {
      const r = pool.run('events', ...bad);
      assert.is(expectCoded(r, 'DFS_ERR_EVENTS_FILTER_INVALID'), null, bad.join(' '));
    }
    const text = pool.run('events', '--type', 'repair', '--limit', '1');
    assert.match(text.stdout, /repair \(scrub [0-9a-f]+\) disk-[0-9a-f]+ .* repaired .*written [0-9a-f]{16} +from /);
  } finally {
    pool.cleanup();
  }
});

function get(url: string, path: string, token: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(new URL(path, url), { headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject).end();
  });
}

/** Follows GET /v1/events?follow=true, collecting events until `done` says so. */
function follow(url: string, token: string, query: string, done: (events: PoolEvent[]) => boolean, headers: Record<string, string> = {}): Promise<PoolEvent[]> {
  return new Promise((resolve, reject) => {
    const events: PoolEvent[] = [];
    let buffer = '';
    const req = request(new URL(`/v1/events?follow=true${query}`, url), { headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
      if (res.statusCode !== 200 || !String(res.headers['content-type']).startsWith('text/event-stream')) reject(new Error(`HTTP ${res.statusCode} ${res.headers['content-type']}`));
      res.setEncoding('utf8');
      res.on('end', () => resolve(events));
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = message.split('\n').find((l) => l.startsWith('data: '));
          const id = message.split('\n').find((l) => l.startsWith('id: '));
          if (!data) continue;
          const e = JSON.parse(data.slice(6)) as PoolEvent;
          assert.is(id, `id: ${e.id}`);
          events.push(e);
        }
        if (done(events)) {
          req.destroy();
          resolve(events);
        }
      });
    });
    req.on('error', (e) => (e.message === 'socket hang up' ? resolve(events) : reject(e)));
    req.end();
  });
}

test('through the daemon: a read that meets a damaged fragment is healed; GET /v1/events lists it and streams it (SSE)', async () => {
  const pool = makePool({ disks: 6, extentSize: '64KiB', policy: 'ec:4+2' });
  let daemon: RunningDaemon | null = null;
  try {
    const f = pool.file('obj', 3 * EXTENT, 21);
    assert.is(pool.run('put', f.path, '--key', 'healed').code, 0);
    const [extent] = extentsOf(pool, 'healed');
    daemon = await startDaemon(pool.pool, ['serve', '--log-level', 'warn']);
    const d = daemon;
    // A follower from now on, for problem and repair events of this object.
    const streamed = follow(d.url, d.token, '&key=healed', (events) => events.some((e) => e.type === 'repair'));
    await new Promise((r) => setTimeout(r, 300));
    const target = extent!.fragments[1]!;
    const b = readFileSync(target.path);
    b[b.length - 3]! ^= 1;
    writeFileSync(target.path, b);
    const got = await get(d.url, '/v1/objects/healed', d.token);
    assert.is(got.status, 200);
    const events = await waitFor('the heal', async () => {
      const r = await get(d.url, '/v1/events?key=healed', d.token);
      const list = (JSON.parse(r.body) as { events: PoolEvent[] }).events;
      return list.some((e) => e.type === 'repair') ? list : null;
    }, 20_000);
    const problem = events.find((e) => e.type === 'problem')!;
    const repair = events.find((e) => e.type === 'repair')!;
    assert.is(problem.trigger, 'read');
    assert.is(problem.kind, 'checksum_mismatch');
    assert.is(problem.fragment, 1);
    assert.is(repair.trigger, 'read');
    assert.is(repair.writtenChecksum, target.checksum);
    assert.is(extentsOf(pool, 'healed')[0]!.fragments[1]!.state, 'ok');
    const live = await streamed;
    assert.equal(live.map((e) => e.id), events.map((e) => e.id).filter((id) => id <= live.at(-1)!.id));
    // Last-Event-ID resumes after the event named (as a reconnecting EventSource does).
    const resumed = await follow(d.url, d.token, '', (list) => list.length > 0, { 'last-event-id': String(problem.id) });
    assert.is(resumed[0]!.id, problem.id + 1);
    const r = await get(d.url, '/v1/events?type=bogus', d.token);
    assert.is(r.status, 400);
    assert.match(r.body, /DFS_ERR_EVENTS_FILTER_INVALID/);
    // The journal's counters on /metrics.
    const metrics = (await get(d.url, '/metrics', d.token)).body;
    assert.match(metrics, new RegExp(`dynamicfs_disk_checksum_errors_total\\{disk="${target.diskId}"\\} 1`));
    assert.match(metrics, /dynamicfs_events_total\{type="repair"\} 1/);
    // A stream still open when the daemon stops is ended by it: the stop is clean and prompt.
    const lingering = follow(d.url, d.token, '', () => false);
    await new Promise((r) => setTimeout(r, 300));
    const stopped = Date.now();
    assert.is(await d.stop(), 0);
    daemon = null;
    assert.ok((await lingering).length >= 2);
    assert.ok(Date.now() - stopped < 8000, `stopped in ${Date.now() - stopped} ms`);
  } finally {
    if (daemon) assert.is(await daemon.stop(), 0);
    pool.cleanup();
  }
});

test('a disk that keeps failing checks becomes suspect, then failed; its extents are rebuilt elsewhere; reads stay exact; the journal tells it in order', () => {
  const pool = makePool({ disks: 8, extentSize: '64KiB', policy: 'ec:4+2' });
  try {
    pool.editConfig((config) => {
      config.faults = { checksum: { errors: 3, windowSeconds: 3600 } };
    });
    const files = [0, 1, 2].map((i) => pool.file(`o${i}`, 8 * EXTENT + 10 * i, 30 + i));
    files.forEach((f, i) => assert.is(pool.run('put', f.path, '--key', `f/${i}`).code, 0));
    const exact = () => files.forEach((f, i) => assert.ok(pool.run('get', `f/${i}`).raw.equals(Buffer.from(f.bytes)), `f/${i} exact`));
    const bad = pool.run('list-disks', '--json').json.disks[0].id as string;
    /** Flips a bit in `count` fragments on the bad disk, each of another extent. */
    const damage = (count: number) => {
      let n = 0;
      for (let i = 0; i < files.length && n < count; i++) {
        for (const e of extentsOf(pool, `f/${i}`)) {
          const f = e.fragments.find((x) => x.diskId === bad);
          if (!f || n >= count) continue;
          const b = readFileSync(f.path);
          b[b.length - 1]! ^= 0x80;
          writeFileSync(f.path, b);
          n++;
        }
      }
      assert.is(n, count, 'enough fragments on the disk');
    };
    const stateOf = () => (pool.run('list-disks', '--json').json.disks as { id: string; state: string; fragments: number }[]).find((d) => d.id === bad)!;
    // Round 1: three errors. Repaired, and the disk is suspect.
    damage(3);
    exact(); // reads go around the damage
    assert.is(pool.run('scrub', '--repair').code, 0);
    assert.is(stateOf().state, 'suspect');
    exact();
    // Round 2: three more on what it still holds. Failed, and everything on it rebuilt elsewhere.
    damage(3);
    const r2 = pool.run('scrub', '--repair', '--json');
    assert.is(r2.code, 0, r2.stderr);
    const disk = stateOf();
    assert.is(disk.state, 'failed');
    assert.is(disk.fragments, 0, 'nothing left on the failed disk');
    exact();
    const health = pool.run('show-redundancy', '--json').json;
    assert.is(health.minMargin, 2, 'every extent back to full redundancy');
    // The story, in order.
    const story = eventsOf(pool, '--disk', bad).map((e) => e.type === 'disk_state' ? `${e.type}:${e.state}:${e.trigger}` : `${e.type}:${e.trigger}`);
    const firstSuspect = story.indexOf('disk_state:suspect:fault');
    const failed = story.indexOf('disk_state:failed:fault');
    assert.ok(firstSuspect >= 3, story.join(' '));
    // Round 1's errors were met by the reads (a data fragment, read around) or by the scrub (a parity one, which reads do not touch).
    assert.is(story.slice(0, firstSuspect).filter((s) => s === 'problem:read' || s === 'problem:scrub').length, 3, story.join(' '));
    assert.ok(failed > firstSuspect, story.join(' '));
    assert.is(story.slice(firstSuspect, failed).filter((s) => s === 'problem:scrub').length, 3, story.join(' '));
    const rebuilt = eventsOf(pool, '--type', 'repair').filter((e) => e.job === `fault-${bad}`);
    assert.ok(rebuilt.length > 0, 'repairs of the fault rebuild');
    assert.ok(rebuilt.every((e) => e.disk === bad && e.toDisk !== bad && e.trigger === 'rebuild'));
    const failedEvent = eventsOf(pool, '--type', 'disk_state', '--disk', bad).find((e) => e.state === 'failed')!;
    assert.ok(rebuilt.every((e) => e.id > failedEvent.id), 'rebuilt after it failed');
    assert.match(failedEvent.reason!, /checksum errors within 1 h \(threshold 3\)/);
    // The metrics a one-shot command shows (the journal's counters persist).
    const metrics = pool.run('metrics').stdout;
    assert.match(metrics, new RegExp(`dynamicfs_disk_checksum_errors_total\\{disk="${bad}"\\} 6`));
    assert.match(metrics, new RegExp(`dynamicfs_disk_faults_total\\{disk="${bad}",state="failed"\\} 1`));
  } finally {
    pool.cleanup();
  }
});

test('events --follow prints new events as they are written, one JSON object a line, and stops on Ctrl-C', async () => {
  const pool = makePool({ disks: 6, extentSize: '64KiB', policy: 'ec:4+2' });
  try {
    assert.is(pool.run('fail-disk', '--disk', pool.disks[5]!).code, 0);
    const child = cliAsync(['--pool', pool.pool, 'events', '--follow', '--json', '--type', 'disk_state']);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as PoolEvent);
    await waitFor('the event already there', () => (lines().length === 1 ? true : null), 10_000);
    assert.is(lines()[0]!.state, 'failed');
    // A change made by another command while it follows (no lock is held by the follower).
    assert.is(pool.run('set-disk-health', '--disk', pool.disks[5]!, '--state', 'healthy').code, 0);
    await waitFor('the new event', () => (lines().length === 2 ? true : null), 10_000);
    assert.equal(lines().map((e) => `${e.previousState}->${e.state}:${e.trigger}`), ['healthy->failed:manual', 'failed->healthy:manual']);
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('exit', (c) => r(c)));
    assert.is(code, 0);
  } finally {
    pool.cleanup();
  }
});

test.run();
