// KernelInstance.xxh3Filling: hashing while the bytes are produced window by
// window (the read path's fast way) gives hash-wasm's XXH3-64 and the exact
// bytes, on every variant, across window and block edges; an input that ends
// early is reported, not hashed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createXXHash3 } from 'hash-wasm';
import { KernelInstance } from '../../src/kernels/instance.js';
import { KERNEL_VARIANTS, isVariantSupported } from '../../src/kernels/loader.js';
import { randomBytes } from '../helpers/gf-reference.js';

const oracle = await createXXHash3();
const W = 1024 * 1024; // FILL_WINDOW_BYTES
const LENGTHS = [0, 1, 240, 241, 1024, 1025, 65536, W - 1, W, W + 1, W + 63, W + 64, W + 65, W + 1024, W + 1089, 2 * W, 2 * W + 1, 3 * W - 5, 128 * 1024 + 1];

for (const variant of KERNEL_VARIANTS.filter((v) => isVariantSupported(v))) {
  test(`${variant}: hash and bytes match for lengths around windows and blocks`, () => {
    const kernels = new KernelInstance(variant);
    for (const length of LENGTHS) {
      const source = randomBytes(length, length + 3);
      const into = new Uint8Array(new SharedArrayBuffer(length));
      const { hash, got } = kernels.xxh3Filling(into, (window, offset) => {
        window.set(source.subarray(offset, offset + window.length));
        return window.length;
      });
      assert.is(got, length);
      assert.is(hash, BigInt('0x' + oracle.init().update(source).digest('hex')), `${variant} length ${length}`);
      assert.ok(Buffer.from(into).equals(Buffer.from(source)), `${variant} length ${length}: bytes`);
    }
  });

  test(`${variant}: hash-only (a length instead of a buffer) gives the same hash across window and block edges`, () => {
    const kernels = new KernelInstance(variant);
    for (const length of LENGTHS) {
      const source = randomBytes(length, length + 5);
      const { hash, got } = kernels.xxh3Filling(length, (window, offset) => {
        window.set(source.subarray(offset, offset + window.length));
        return window.length;
      });
      assert.is(got, length);
      assert.is(hash, BigInt('0x' + oracle.init().update(source).digest('hex')), `${variant} hash-only length ${length}`);
    }
  });

  test(`${variant}: an input that ends early gives no hash and says where it ended`, () => {
    const kernels = new KernelInstance(variant);
    for (const [length, available] of [[1000, 999], [3 * W, W + 5], [3 * W, 0]] as const) {
      const source = randomBytes(length, 9);
      const into = new Uint8Array(length);
      const { hash, got } = kernels.xxh3Filling(into, (window, offset) => {
        const n = Math.max(0, Math.min(window.length, available - offset));
        window.set(source.subarray(offset, offset + n));
        return n;
      });
      assert.is(hash, null);
      assert.is(got, available);
    }
  });
}

test.run();
