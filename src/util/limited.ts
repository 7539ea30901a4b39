/**
 * Runs `fn` over `items` with at most `limit` calls in flight. Every call runs (a failure does not stop the others);
 * it rejects afterwards with the first failure, in item order.
 */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const failures: { index: number; error: unknown }[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      try {
        await fn(items[index]!);
      } catch (error) {
        failures.push({ index, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures.sort((a, b) => a.index - b.index)[0]!.error;
}
