/**
 * The order in which ZooKeeper lists children: a znode keeps them in a java.util.HashSet that
 * starts with 8 buckets and doubles when more than 3/4 full, and iterates bucket by bucket, each
 * bucket in insertion order. Clients see that order in getChildren, so we list in the same order.
 * (Buckets that Java turns into trees, 8+ colliding names in a table of 64+, are listed in
 * insertion order here.)
 */

/** java.lang.String.hashCode over UTF-16 code units, then HashMap's spreading of high bits. */
export function javaSpreadHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h ^ (h >>> 16);
}

export const INITIAL_CHILD_BUCKETS = 8;

/** The bucket count after the set has held `maxSize` names at once. */
export function grownBuckets(buckets: number, size: number): number {
  while (size > buckets * 0.75) buckets *= 2;
  return buckets;
}

/** `children` in insertion order -> the order a HashSet with `buckets` buckets iterates. */
export function javaHashSetOrder(children: Iterable<string>, buckets: number): string[] {
  const names = [...children];
  const n = names.length;
  if (n < 2) return names;
  if (n < 32 || buckets > 4 * n) {
    const mask = buckets - 1;
    const keyed = names.map((name, i) => ({ name, b: javaSpreadHash(name) & mask, i }));
    keyed.sort((x, y) => x.b - y.b || x.i - y.i);
    return keyed.map((k) => k.name);
  }
  // Never pauses: the steps run straight through.
  const sorting = countingOrder(names, buckets, Infinity);
  let r = sorting.next();
  while (!r.done) r = sorting.next();
  return r.value;
}

/**
 * javaHashSetOrder of `names` (taken as they are now) in steps: the generator yields after about
 * `namesPerStep` names of each pass, so that a parent of a few hundred thousand children is not
 * one long step of a snapshot.
 */
export function* javaHashSetOrderInSteps(names: string[], buckets: number, namesPerStep: number): Generator<undefined, string[]> {
  if (names.length < 32 || buckets > 4 * names.length) return javaHashSetOrder(names, buckets);
  return yield* countingOrder(names, buckets, namesPerStep);
}

/**
 * Many names: a counting sort by bucket (linear, and stable, so insertion order holds within a
 * bucket), where a comparison sort of a few hundred thousand names takes a few hundred ms.
 */
function* countingOrder(names: string[], buckets: number, namesPerStep: number): Generator<undefined, string[]> {
  const n = names.length;
  const mask = buckets - 1;
  const bucketOf = new Int32Array(n);
  const start = new Int32Array(buckets + 1);
  for (let i = 0; i < n; i++) {
    const b = javaSpreadHash(names[i]) & mask;
    bucketOf[i] = b;
    start[b + 1]++;
    if ((i + 1) % namesPerStep === 0) yield;
  }
  for (let b = 1; b <= buckets; b++) start[b] += start[b - 1];
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    out[start[bucketOf[i]]++] = names[i];
    if ((i + 1) % namesPerStep === 0) yield;
  }
  return out;
}

/** HashMap.tableSizeFor: the smallest power of two at least `c`. */
export function tableSizeFor(c: number): number {
  let n = 1;
  while (n < c) n *= 2;
  return n;
}

/**
 * The order of a copy made with HashSet.clone(): ZooKeeper hands out a session's ephemerals that
 * way, and the copy is sized for its contents (size / 0.75 + 1 buckets, rounded up to a power of 2).
 */
export function javaHashSetCloneOrder(children: Iterable<string>, buckets: number): string[] {
  const original = javaHashSetOrder(children, buckets);
  return javaHashSetOrder(original, tableSizeFor(Math.floor(original.length / 0.75 + 1)));
}
