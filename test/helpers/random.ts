/**
 * xorshift32, the seeded generator of the fuzz tests: the same seed gives the same inputs, so a
 * failure can be replayed with FUZZ_SEED. Not for anything that must be unpredictable.
 */
export function random(seed: number) {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, bytes };
}

export type Random = ReturnType<typeof random>;
