// Bounded concurrency over a list, for the store's fan-outs (repairs, header
// rewrites, file removals).

/**
 * Runs `fn` over `items`, at most `limit` at a time. After a failure no item
 * is started, and the first failure is thrown once the calls under way have
 * ended (none goes on behind the caller's back).
 */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        await fn(items[index]!, index);
      } catch (error) {
        if (!failed) failure = error;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failure;
}
