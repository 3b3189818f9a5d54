/** What the fan-out writer (fanout.ts) and its thread (fanoutworker.ts) share: the control layout and the write. */
import * as fs from 'node:fs';

/** Slots of the shared control array. */
export const enum FanoutSlot {
  /** Bumped by the main thread for each batch (and to wake the worker to exit). */
  Generation = 0,
  /** The last batch taken: by the worker to join it, or by the main thread to close it. */
  Entered = 1,
  /** The last batch the worker finished. */
  Done = 2,
  /** The next index to claim in the batch. */
  Next = 3,
  Count = 4,
  FrameBytes = 5,
  Exit = 6,
  /** Writes the worker has made, in all batches (how much of the work the second thread took). */
  WorkerWrites = 7,
}
export const FANOUT_CONTROL_INTS = 8;

/** Descriptors claimed at a time: small enough to balance two threads, large enough to keep the counter cool. */
export const FANOUT_CHUNK = 32;

/** The bytes the kernel took (0 when the socket's buffer is full), or -1 when the socket is broken. */
export function writeFrameTo(fd: number, frame: Uint8Array): number {
  try {
    return fs.writeSync(fd, frame, 0, frame.length, null);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EAGAIN' ? 0 : -1;
  }
}
