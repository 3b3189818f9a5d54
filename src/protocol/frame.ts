/**
 * Length-prefixed framing: every message is a 4-byte big-endian length and that many bytes.
 * Complete frames inside a chunk are handed out as views of it; only a frame split across chunks
 * is copied, once, into a buffer of its exact size.
 *
 * The consumer can hold the decoder (`ready` returns false): it then hands out no further frame,
 * even of bytes it already has, and keeps them until `resume`. One TCP read can carry hundreds
 * of requests; decoding them all at once would produce all their replies at once.
 */

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Where a decoder's frames go; `readyForFrame` is asked before each (false holds the rest). */
export interface FrameSink {
  onFrame(frame: Buffer): void;
  readyForFrame?(): boolean;
}

/**
 * A connection's frame decoder. It holds no buffer while idle: one is made only for a frame that
 * spans reads, or for bytes received while the sink is not ready (thousands of idle connections
 * each keep one of these).
 */
export class FrameDecoder {
  /** The bytes of a length split across reads, big-endian, and how many of its four came. */
  private lengthSoFar = 0;
  private lengthFill = 0;
  private partial: Buffer | null = null;
  private partialFill = 0;
  /** Received bytes not yet decoded because the consumer held the decoder, oldest first. */
  private held: Buffer[] | undefined;
  private heldBytes = 0;

  /** @param maxHeldBytes the most received bytes kept undecoded while held (FrameError past it). */
  constructor(
    private readonly maxFrameBytes: number,
    private readonly sink: FrameSink,
    private readonly maxHeldBytes = Number.MAX_SAFE_INTEGER,
  ) {}

  private ready(): boolean {
    return this.sink.readyForFrame === undefined || this.sink.readyForFrame();
  }

  /** Bytes held for an incomplete frame, and received bytes not yet decoded. */
  get bufferedBytes(): number {
    return this.lengthFill + this.partialFill + this.heldBytes;
  }

  /** Feeds bytes; calls onFrame for each complete frame while ready; throws FrameError on a bad length. */
  push(chunk: Buffer): void {
    if (this.held !== undefined) {
      this.hold(chunk);
      return;
    }
    const rest = this.decode(chunk);
    if (rest) this.hold(rest);
  }

  /** Decodes what was held, as far as the consumer is ready for it. */
  resume(): void {
    while (this.held !== undefined && this.ready()) {
      const chunk = this.held.shift()!;
      this.heldBytes -= chunk.length;
      if (this.held.length === 0) this.held = undefined;
      const rest = this.decode(chunk);
      if (rest) {
        (this.held ??= []).unshift(rest);
        this.heldBytes += rest.length;
      }
    }
  }

  /** Drops every byte held (the connection is gone). */
  clear(): void {
    this.held = undefined;
    this.heldBytes = 0;
    this.partial = null;
    this.partialFill = 0;
    this.lengthFill = 0;
    this.lengthSoFar = 0;
  }

  private hold(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.heldBytes + bytes.length > this.maxHeldBytes)
      throw new FrameError(`more than ${this.maxHeldBytes} bytes received while the connection is not read`);
    (this.held ??= []).push(bytes);
    this.heldBytes += bytes.length;
  }

  /** Decodes frames from the chunk while ready; returns the bytes it did not get to. */
  private decode(chunk: Buffer): Buffer | undefined {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.partial === null && this.lengthFill === 0 && !this.ready()) return chunk.subarray(pos);
      if (this.partial !== null) {
        const n = Math.min(this.partial.length - this.partialFill, chunk.length - pos);
        chunk.copy(this.partial, this.partialFill, pos, pos + n);
        this.partialFill += n;
        pos += n;
        if (this.partialFill === this.partial.length) {
          const frame = this.partial;
          this.partial = null;
          this.partialFill = 0;
          this.sink.onFrame(frame);
        }
        continue;
      }
      let len: number;
      if (this.lengthFill === 0 && chunk.length - pos >= 4) {
        len = chunk.readInt32BE(pos);
        pos += 4;
      } else {
        while (this.lengthFill < 4 && pos < chunk.length) {
          this.lengthSoFar = (this.lengthSoFar << 8) | chunk[pos++];
          this.lengthFill++;
        }
        if (this.lengthFill < 4) return;
        // << and | work on signed 32-bit values: the length reads as readInt32BE would read it.
        len = this.lengthSoFar;
        this.lengthSoFar = 0;
        this.lengthFill = 0;
      }
      if (len < 0 || len > this.maxFrameBytes) throw new FrameError(`frame length ${len} is outside 0..${this.maxFrameBytes}`);
      if (chunk.length - pos >= len) {
        const frame = chunk.subarray(pos, pos + len);
        pos += len;
        this.sink.onFrame(frame);
      } else {
        this.partial = Buffer.allocUnsafe(len);
        this.partialFill = 0;
      }
    }
  }
}
