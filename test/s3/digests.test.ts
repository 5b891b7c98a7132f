// The digests of an upload on the digest threads: MD5 on one thread and the
// others on another, concurrent uploads spread over the threads, bytes in
// shared memory read in place and others copied, and every digest the same
// as one computed here in one go.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { BodyDigests, crc32c } from '../../src/s3/checksums.js';
import { DIGEST_THREADS, digestThreadLoads, digestThreadSettings, digestThreadsRunning, ThreadDigests } from '../../src/s3/digest-thread.js';

const MiB = 1024 * 1024;
// The digest threads do not keep the process alive (a daemon that stops does not wait for them): this does, while the tests wait for them.
const keepAlive = setInterval(() => {}, 1000);
test.after(() => clearInterval(keepAlive));

/** `bytes` in shared memory (as the put's extents are) or as they are, in pieces of `piece` bytes. */
function pieces(bytes: Uint8Array, piece: number, shared: boolean): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += piece) {
    const part = bytes.subarray(at, at + piece);
    if (!shared) out.push(part);
    else {
      const s = new Uint8Array(new SharedArrayBuffer(part.length));
      s.set(part);
      out.push(s);
    }
  }
  return out;
}

function expected(bytes: Uint8Array) {
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(bytes) >>> 0);
  const c = Buffer.alloc(4);
  c.writeUInt32BE(crc32c(bytes) >>> 0);
  return {
    md5: createHash('md5').update(bytes).digest(),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    checksums: { crc32: crc.toString('base64'), crc32c: c.toString('base64'), sha1: createHash('sha1').update(bytes).digest('base64'), sha256: createHash('sha256').update(bytes).digest('base64') },
  };
}

async function digestOf(parts: Uint8Array[]) {
  const d = new BodyDigests({ sha256: true, algorithms: ['crc32', 'crc32c', 'sha1', 'sha256'], offload: true });
  assert.ok(d.offloaded);
  for (const p of parts) {
    d.update(p);
    await d.feed(p);
  }
  return { bytes: d.bytes, ...(await d.finish()) };
}

test('every digest of an offloaded body matches one computed in one go, shared or copied bytes', async () => {
  const body = randomBytes(5 * MiB + 12345);
  const want = expected(body);
  for (const shared of [true, false]) {
    const got = await digestOf(pieces(body, MiB, shared));
    assert.is(got.bytes, body.length);
    assert.ok(got.md5.equals(want.md5), `md5 (shared ${shared})`);
    assert.is(got.sha256, want.sha256);
    assert.equal(got.checksums, want.checksums);
  }
});

test("an upload's MD5 and its other digests run on two threads, where there are two", async () => {
  for (const load of digestThreadLoads()) assert.is(load, 0, 'no stream is open before');
  const d = new ThreadDigests(['md5', 'sha256', 'crc32']);
  assert.is(d.threadCount, Math.min(2, DIGEST_THREADS));
  const only = new ThreadDigests(['md5']);
  assert.is(only.threadCount, 1);
  only.drop();
  const bytes = pieces(randomBytes(MiB), 64 * 1024, true);
  for (const p of bytes) await d.update(p);
  const got = await d.finish();
  const all = Buffer.concat(bytes);
  assert.ok(got.md5!.equals(createHash('md5').update(all).digest()));
  assert.ok(got.sha256!.equals(createHash('sha256').update(all).digest()));
  assert.is(got.crc32!.readUInt32BE(0), crc32(all) >>> 0);
  assert.equal(digestThreadLoads().filter((l) => l !== 0), [], 'finished and dropped streams leave no load behind');
});

test('concurrent uploads, one of them dropped halfway, each get their own digests', async () => {
  const bodies = Array.from({ length: DIGEST_THREADS * 2 + 1 }, (_, i) => randomBytes(2 * MiB + i * 1000));
  const streams = bodies.map(() => new ThreadDigests(['md5', 'sha256', 'sha1', 'crc32']));
  assert.ok(digestThreadLoads().length <= DIGEST_THREADS, `at most ${DIGEST_THREADS} threads`);
  const split = bodies.map((b) => pieces(b, 256 * 1024, true));
  // Interleaved, as concurrent puts feed them; the last stream is dropped halfway.
  const dropped = streams.length - 1;
  for (let i = 0; i < split[0]!.length + 20; i++) {
    await Promise.all(streams.map((s, n) => {
      if (n === dropped && i === 4) s.drop();
      if (n === dropped && i >= 4) return Promise.resolve();
      const p = split[n]![i];
      return p ? s.update(p) : Promise.resolve();
    }));
  }
  const results = await Promise.all(streams.slice(0, dropped).map((s) => s.finish()));
  results.forEach((got, n) => {
    const b = bodies[n]!;
    assert.ok(got.md5!.equals(createHash('md5').update(b).digest()), `stream ${n} md5`);
    assert.ok(got.sha256!.equals(createHash('sha256').update(b).digest()), `stream ${n} sha256`);
    assert.ok(got.sha1!.equals(createHash('sha1').update(b).digest()), `stream ${n} sha1`);
    assert.is(got.crc32!.readUInt32BE(0), crc32(b) >>> 0, `stream ${n} crc32`);
  });
  assert.equal(digestThreadLoads().filter((l) => l !== 0), []);
});

test('digest threads without a stream stop after a while, and new ones start for the next upload', async () => {
  const was = digestThreadSettings.idleMs;
  digestThreadSettings.idleMs = 200;
  try {
    const body = randomBytes(3 * MiB);
    // Threads started before this test still run on the old timer: streams on every one of them restart it with the short one.
    const streams = Array.from({ length: DIGEST_THREADS }, () => new ThreadDigests(['md5', 'sha256']));
    assert.is(digestThreadLoads().filter((l) => l > 0).length, DIGEST_THREADS, 'every thread has a stream');
    await Promise.all(streams.map((d) => d.finish()));
    // 200 ms, and time for the threads to exit (a busy machine may take longer: up to 10 s).
    for (let waited = 0; digestThreadsRunning() > 0 && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(digestThreadLoads(), [], 'idle threads take no more streams');
    assert.is(digestThreadsRunning(), 0, 'idle threads have exited');
    digestThreadSettings.idleMs = was;
    const got = await digestOf(pieces(body, MiB, true));
    assert.ok(got.md5.equals(createHash('md5').update(body).digest()));
    assert.is(digestThreadLoads().length, Math.min(2, DIGEST_THREADS));
    assert.is(digestThreadsRunning(), Math.min(2, DIGEST_THREADS));
  } finally {
    digestThreadSettings.idleMs = was;
  }
});

test.run();
