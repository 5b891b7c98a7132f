// The shared kernel suite: every test below runs against every variant
// (relaxed SIMD, SIMD, scalar), with hash-wasm's xxh3 and a naive JS
// Reed-Solomon as oracles.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createXXHash3 } from 'hash-wasm';
import { createKernels, type Kernels } from '../../src/kernels/public.js';
import { KERNEL_VARIANTS, isVariantSupported } from '../../src/kernels/loader.js';
import { randomBytes, referenceParity, subsetsUpTo } from '../helpers/gf-reference.js';

const oracle = await createXXHash3();
function oracleXxh3(bytes: Uint8Array): bigint {
  return BigInt('0x' + oracle.init().update(bytes).digest('hex'));
}

const FRAGMENT_LENGTHS = [0, 1, 15, 16, 17, 1001];
const EXHAUSTIVE_CODES: [number, number][] = [[1, 1], [2, 1], [4, 2], [6, 3], [10, 4]];

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function makeData(k: number, length: number, seed: number): Uint8Array[] {
  return Array.from({ length: k }, (_, i) => randomBytes(length, seed * 131 + i + 1));
}

for (const variant of KERNEL_VARIANTS) {
  const test = suite(`kernels:${variant}`);
  if (!isVariantSupported(variant)) {
    test.skip(`${variant} is not supported by this runtime`, () => {});
    test.run();
    continue;
  }
  let k!: Kernels;
  test.before(async () => {
    k = await createKernels({ variant });
    assert.is(k.variant, variant);
  });

  test('xxh3 matches hash-wasm on every length 0..256', () => {
    for (let len = 0; len <= 256; len++) {
      const bytes = randomBytes(len, len + 7);
      assert.is(k.xxh3(bytes), oracleXxh3(bytes), `length ${len}`);
    }
  });

  test('xxh3 matches hash-wasm around block, stripe and window boundaries', () => {
    const lengths = [239, 240, 241, 255, 256, 257, 1023, 1024, 1025, 1087, 1088, 1089, 2047, 2048, 2049, 4096, 65535, 65536, 65537];
    // Inputs over 64 KiB stream through a window: its edges and the tail that straddles them.
    lengths.push(65536 + 63, 65536 + 64, 65536 + 65, 65536 + 1023, 65536 + 1024, 65536 + 1025, 131071, 131072, 131073, 131072 + 1088, 200_000);
    for (const len of lengths) {
      const bytes = randomBytes(len, len);
      assert.is(k.xxh3(bytes), oracleXxh3(bytes), `length ${len}`);
    }
  });

  test('xxh3 matches hash-wasm on random lengths up to 6 MiB', () => {
    let seed = 12345;
    for (let i = 0; i < 12; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const len = i < 3 ? (6 << 20) - i : seed % (6 << 20);
      const bytes = randomBytes(len, seed);
      assert.is(k.xxh3(bytes), oracleXxh3(bytes), `length ${len}`);
    }
  });

  test('encode matches the reference parity', () => {
    for (const [K, M] of [[1, 1], [2, 1], [4, 2], [6, 3], [10, 4], [32, 16], [3, 16], [32, 1]] as const) {
      for (const len of [0, 1, 17, 333]) {
        const data = makeData(K, len, K * 100 + M + len);
        const parity = k.rsEncode(K, M, data);
        const expected = referenceParity(K, M, data);
        assert.is(parity.length, M);
        parity.forEach((p, r) => assert.ok(equalBytes(p, expected[r]!), `${K}+${M} len ${len} parity ${r}`));
      }
    }
  });

  for (const [K, M] of EXHAUSTIVE_CODES) {
    test(`reconstruct ${K}+${M}: every erasure pattern of up to ${M} losses`, () => {
      for (const len of FRAGMENT_LENGTHS) {
        const data = makeData(K, len, K * 1000 + M * 10 + len);
        const all = [...data, ...k.rsEncode(K, M, data)];
        let patterns = 0;
        for (const lost of subsetsUpTo(K + M, M)) {
          const input = all.map((f, i) => (lost.includes(i) ? null : f));
          const back = k.rsReconstruct(K, M, input);
          assert.is(back.length, K + M);
          back.forEach((f, i) => {
            if (!equalBytes(f, all[i]!)) assert.unreachable(`${K}+${M} len ${len} lost [${lost}] fragment ${i} differs`);
          });
          patterns++;
        }
        assert.ok(patterns > K + M, 'patterns were enumerated');
      }
    });
  }

  test('reconstruct 32+16: sampled erasure patterns', () => {
    const K = 32;
    const M = 16;
    for (const len of [1, 16, 17, 1001]) {
      const data = makeData(K, len, len);
      const all = [...data, ...k.rsEncode(K, M, data)];
      let seed = len * 7919;
      for (let trial = 0; trial < 60; trial++) {
        seed = (seed * 1664525 + 1013904223) >>> 0;
        const losses = trial < 2 ? M : 1 + (seed % M);
        const order = Array.from({ length: K + M }, (_, i) => i);
        for (let i = order.length - 1; i > 0; i--) {
          seed = (seed * 1664525 + 1013904223) >>> 0;
          const j = seed % (i + 1);
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        const lost = new Set(trial === 0 ? order.slice(0, M).map((_, i) => i) : order.slice(0, losses));
        const back = k.rsReconstruct(K, M, all.map((f, i) => (lost.has(i) ? null : f)));
        back.forEach((f, i) => assert.ok(equalBytes(f, all[i]!), `32+16 len ${len} trial ${trial} fragment ${i}`));
      }
    }
  });

  test('verify: hashes every fragment and deep mode checks parity', () => {
    for (const [K, M] of [[4, 2], [10, 4], [2, 1]] as const) {
      for (const len of [0, 16, 240, 241, 4096, 5000, 70001]) {
        const data = makeData(K, len, len + K);
        const all = [...data, ...k.rsEncode(K, M, data)];
        const shallow = k.verify(K, M, all, false);
        assert.is(shallow.parityOk, null);
        const deep = k.verify(K, M, all, true);
        assert.equal(deep.parityOk, new Array(M).fill(true), `${K}+${M} len ${len} parity`);
        all.forEach((f, i) => {
          assert.is(shallow.hashes[i], oracleXxh3(f), `${K}+${M} len ${len} shallow hash ${i}`);
          assert.is(deep.hashes[i], oracleXxh3(f), `${K}+${M} len ${len} deep hash ${i}`);
        });
        if (len === 0) continue;
        // A parity fragment written with wrong bytes (and a checksum to match) is caught only by deep mode.
        const bad = all.map((f) => f.slice());
        bad[K + M - 1]![len - 1]! ^= 0x40;
        const caught = k.verify(K, M, bad, true);
        assert.is(caught.parityOk![M - 1], false, `${K}+${M} len ${len} flipped parity byte`);
        assert.is(caught.hashes[K + M - 1], oracleXxh3(bad[K + M - 1]!));
        // A flipped data byte changes that fragment's hash and every parity comparison.
        const badData = all.map((f) => f.slice());
        badData[0]![len >> 1]! ^= 1;
        const caughtData = k.verify(K, M, badData, true);
        assert.is.not(caughtData.hashes[0], deep.hashes[0]);
        assert.ok(caughtData.parityOk!.every((ok) => !ok), 'every parity row disagrees with a changed data byte');
      }
    }
  });

  test.run();
}
