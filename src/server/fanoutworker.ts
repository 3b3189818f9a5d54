/**
 * The fan-out writer's thread (see fanout.ts): waits for a batch, joins it if the main thread has
 * not finished it alone, writes the chunks it claims, and says when it is done.
 */
import { parentPort, receiveMessageOnPort } from 'node:worker_threads';
import type { FanoutBuffers } from './fanout';
import { FanoutSlot, FANOUT_CHUNK, writeFrameTo } from './fanoutshared';

function run(): void {
  const port = parentPort!;
  let bufs: FanoutBuffers | undefined;
  let seen = 0;
  for (;;) {
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) bufs = m.message as FanoutBuffers;
    if (!bufs) {
      // The buffers are posted before the first batch; wait for them.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      continue;
    }
    const c = bufs.control;
    Atomics.wait(c, FanoutSlot.Generation, seen);
    const gen = Atomics.load(c, FanoutSlot.Generation);
    seen = gen;
    if (Atomics.load(c, FanoutSlot.Exit) !== 0) return;
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) bufs = m.message as FanoutBuffers;
    if (Atomics.compareExchange(c, FanoutSlot.Entered, gen - 1, gen) !== gen - 1) continue;
    try {
      const count = Atomics.load(c, FanoutSlot.Count);
      const frame = bufs.frame.subarray(0, Atomics.load(c, FanoutSlot.FrameBytes));
      for (;;) {
        const from = Atomics.add(c, FanoutSlot.Next, FANOUT_CHUNK);
        if (from >= count) break;
        const to = Math.min(count, from + FANOUT_CHUNK);
        for (let i = from; i < to; i++) bufs.results[i] = writeFrameTo(bufs.fds[i], frame);
        Atomics.add(c, FanoutSlot.WorkerWrites, to - from);
      }
    } finally {
      Atomics.store(c, FanoutSlot.Done, gen);
      Atomics.notify(c, FanoutSlot.Done);
    }
  }
}

run();
