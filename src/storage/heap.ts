/**
 * Heap upkeep around the start. Loading a large tree allocates fast and keeps nearly everything,
 * which makes V8 grow its young generation to the limit (32 MB here), and it never gives that back
 * to an idle server. So the young generation is held at its first size while the database loads
 * (a load about a tenth slower), and may grow again once the start is done, as serving needs.
 * Starting also leaves much garbage behind (the load's buffers and strings, the start snapshot's
 * output) that an idle server may not collect for long; one full collection returns it.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

/** V8's default growth factor of the young generation. */
const DEFAULT_SEMI_SPACE_GROWTH_FACTOR = 2;

let gc: (() => void) | undefined;
let holds = 0;

export function collectGarbage(): void {
  // Node exposes gc() only under --expose-gc; the flag can be set at run time, and a fresh
  // context then has the function.
  if (gc === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}

/** Keeps the young generation at its size until as many releaseYoungGeneration calls. */
export function holdYoungGeneration(): void {
  if (holds++ === 0) v8.setFlagsFromString('--semi-space-growth-factor=1');
}

export function releaseYoungGeneration(): void {
  if (holds === 0) return;
  if (--holds === 0) v8.setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_SEMI_SPACE_GROWTH_FACTOR}`);
}
