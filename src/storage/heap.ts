/**
 * A full garbage collection on request. Starting leaves much garbage behind (the load's buffers and
 * strings, the start snapshot's output); an idle server may not collect for a long time, and until
 * then it counts in RSS. A full collection once the start is done returns it. Node exposes gc()
 * only under --expose-gc; the flag can be set at run time, and a fresh context then has the
 * function.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (gc === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}
