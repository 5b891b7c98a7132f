// An independent, deliberately naive GF(2^8) Reed-Solomon encoder written from
// the definition (polynomial 0x11D, Cauchy rows 1/((K+r) xor j)), used as the
// oracle for the WASM kernels' parity bytes.
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    EXP[i + 255] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[LOG[a]! + LOG[b]!]!;
}

export function gfInv(a: number): number {
  return EXP[255 - LOG[a]!]!;
}

export function referenceParity(k: number, m: number, data: Uint8Array[]): Uint8Array[] {
  const length = data[0]?.length ?? 0;
  const parity: Uint8Array[] = [];
  for (let r = 0; r < m; r++) {
    const out = new Uint8Array(length);
    for (let j = 0; j < k; j++) {
      const c = gfInv((k + r) ^ j);
      const src = data[j]!;
      for (let i = 0; i < length; i++) out[i] ^= gfMul(c, src[i]!);
    }
    parity.push(out);
  }
  return parity;
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function randomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

/** Every subset of {0..n-1} with at most `max` members, smallest first. */
export function* subsetsUpTo(n: number, max: number): Generator<number[]> {
  function* choose(start: number, size: number, acc: number[]): Generator<number[]> {
    if (acc.length === size) {
      yield acc.slice();
      return;
    }
    for (let i = start; i < n; i++) {
      acc.push(i);
      yield* choose(i + 1, size, acc);
      acc.pop();
    }
  }
  for (let size = 0; size <= max; size++) yield* choose(0, size, []);
}
