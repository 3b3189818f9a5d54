/**
 * One watch event written to thousands of plain sockets by two threads at once: the main thread
 * and a worker claim chunks of the socket list from a shared counter and write the same frame to
 * each descriptor.
 *
 * Why a thread: a socket write costs about 10 µs of kernel time here (on loopback the receiver's
 * TCP work runs inside the sender's call), so one event to 20,000 watchers is 200 ms of one
 * thread's writes, nearly all in the kernel. A second thread halves that where there is a second
 * core; encoding is already done once per event.
 *
 * Safety: `writeAll` returns only after the worker has finished the batch, and no JavaScript runs
 * on the main thread meanwhile. So no descriptor of the batch can be closed (and reused by a new
 * connection) while the worker writes to it, and nothing else is written to those sockets in
 * between: each connection's order of output holds. The worker never waits on the main thread; the
 * main thread waits on the worker only once the worker has entered the batch, when at most one
 * chunk of non-blocking writes is left to it.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BulkNotifier, Watcher } from './watches';
import { FanoutSlot, FANOUT_CHUNK, FANOUT_CONTROL_INTS, writeFrameTo } from './fanoutshared';

export interface FanoutBuffers {
  control: Int32Array;
  fds: Int32Array;
  results: Int32Array;
  frame: Uint8Array;
}

function allocate(capacity: number, frameBytes: number): Omit<FanoutBuffers, 'control'> {
  return {
    fds: new Int32Array(new SharedArrayBuffer(capacity * 4)),
    results: new Int32Array(new SharedArrayBuffer(capacity * 4)),
    frame: new Uint8Array(new SharedArrayBuffer(frameBytes)),
  };
}

export class ParallelFrameWriter {
  private readonly worker: Worker;
  private readonly control = new Int32Array(new SharedArrayBuffer(FANOUT_CONTROL_INTS * 4));
  private bufs = allocate(1024, 256);
  private generation = 0;
  /** Set when the worker is gone: every batch is then written by the main thread alone. */
  private failed: Error | undefined;

  constructor(private readonly onFailure: (err: Error) => void = () => {}) {
    this.worker = new Worker(path.join(__dirname, 'fanoutworker.js'));
    this.worker.unref();
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`fan-out writer thread exited with code ${code}`)));
    this.worker.postMessage({ control: this.control, ...this.bufs });
  }

  private fail(e: Error): void {
    if (this.failed) return;
    this.failed = e;
    this.onFailure(e);
  }

  /** Notifications the second thread has written since the start. */
  get threadWrites(): number {
    return Atomics.load(this.control, FanoutSlot.WorkerWrites);
  }

  /** Whether a second thread writes (false once the worker has failed or been closed). */
  get usable(): boolean {
    return this.failed === undefined;
  }

  /**
   * Writes `frame` to the first `count` descriptors of `fds`. Returns, per descriptor, the bytes
   * the kernel took (0 when its buffer was full, less than the frame when it took part), or -1 when
   * the write failed (the socket is broken; its read side will tell).
   */
  writeAll(frame: Uint8Array, fds: Int32Array | readonly number[], count: number): Int32Array {
    this.reserve(count, frame.length);
    const { fds: sharedFds, results, frame: sharedFrame } = this.bufs;
    for (let i = 0; i < count; i++) sharedFds[i] = fds[i];
    sharedFrame.set(frame);
    const c = this.control;
    const gen = ++this.generation;
    Atomics.store(c, FanoutSlot.Count, count);
    Atomics.store(c, FanoutSlot.FrameBytes, frame.length);
    Atomics.store(c, FanoutSlot.Next, 0);
    if (this.failed === undefined) {
      Atomics.store(c, FanoutSlot.Generation, gen);
      Atomics.notify(c, FanoutSlot.Generation);
    }
    const view = sharedFrame.subarray(0, frame.length);
    for (;;) {
      const from = Atomics.add(c, FanoutSlot.Next, FANOUT_CHUNK);
      if (from >= count) break;
      const to = Math.min(count, from + FANOUT_CHUNK);
      for (let i = from; i < to; i++) results[i] = writeFrameTo(sharedFds[i], view);
    }
    // The worker joins a batch only by taking it (Entered: gen - 1 -> gen); taking it here first
    // means it never started and will skip it.
    if (Atomics.compareExchange(c, FanoutSlot.Entered, gen - 1, gen) !== gen - 1) {
      while (Atomics.load(c, FanoutSlot.Done) !== gen) Atomics.wait(c, FanoutSlot.Done, gen - 1, 100);
    } else {
      Atomics.store(c, FanoutSlot.Done, gen);
    }
    return results;
  }

  /** Grows the shared arrays (handed to the worker before the batch that needs them). */
  private reserve(count: number, frameBytes: number): void {
    const b = this.bufs;
    if (count <= b.fds.length && frameBytes <= b.frame.length) return;
    let capacity = b.fds.length;
    while (capacity < count) capacity *= 2;
    let bytes = b.frame.length;
    while (bytes < frameBytes) bytes *= 2;
    this.bufs = allocate(capacity, bytes);
    // Taken by the worker with receiveMessageOnPort when it wakes for the next batch.
    if (this.failed === undefined) this.worker.postMessage({ control: this.control, ...this.bufs });
  }

  close(): void {
    if (this.failed) return;
    this.failed = new Error('closed');
    Atomics.store(this.control, FanoutSlot.Exit, 1);
    Atomics.store(this.control, FanoutSlot.Generation, ++this.generation);
    Atomics.notify(this.control, FanoutSlot.Generation);
    void this.worker.terminate();
  }
}

/** A watcher whose socket can take a notification straight from any thread (a plain connection with nothing pending). */
export interface DirectWatcher extends Watcher {
  /** Its socket's descriptor when a frame may be written to it directly now, else -1. */
  directWriteFd(): number;
  /** After a direct write of `frame` of which the kernel took `written` bytes (-1: the write failed). */
  directWritten(frame: Buffer, written: number): void;
}

/**
 * The watch manager's bulk path: events with at least `minWatchers` watchers go through the
 * two-thread writer; a watcher with output pending (or a TLS one) gets its frame the usual way.
 */
export class FanoutNotifier implements BulkNotifier {
  private fds = new Int32Array(1024);
  private targets: DirectWatcher[] = [];
  /** Made at the first event big enough: a server that never fans out wide has no thread. */
  private writer: ParallelFrameWriter | undefined;

  constructor(
    readonly minWatchers: number,
    private readonly onFailure: (err: Error) => void,
  ) {}

  notifyAll(watchers: readonly Watcher[], type: number, path: string, frame: Buffer): void {
    const writer = (this.writer ??= new ParallelFrameWriter(this.onFailure));
    if (!writer.usable) {
      for (const w of watchers) w.notify(type, path, frame);
      return;
    }
    let n = 0;
    for (const w of watchers) {
      const fd = (w as Partial<DirectWatcher>).directWriteFd?.() ?? -1;
      if (fd < 0) {
        w.notify(type, path, frame);
        continue;
      }
      if (n === this.fds.length) {
        const grown = new Int32Array(n * 2);
        grown.set(this.fds);
        this.fds = grown;
      }
      this.fds[n] = fd;
      this.targets[n++] = w as DirectWatcher;
    }
    if (n === 0) return;
    const results = writer.writeAll(frame, this.fds, n);
    try {
      for (let i = 0; i < n; i++) this.targets[i].directWritten(frame, results[i]);
    } finally {
      // No connection is kept alive by the last batch.
      this.targets.length = 0;
    }
  }

  close(): void {
    this.writer?.close();
  }
}
