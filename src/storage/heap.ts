/**
 * A full garbage collection on request. Recovery reads whole snapshot and log files into large
 * buffers; once it is done they are garbage, but an idle server may not collect for a long time,
 * and until then their memory counts in its RSS. A full collection right after the start returns
 * it. Node exposes gc() only under --expose-gc; the flag can be set at run time, and a fresh
 * context then has the function.
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
