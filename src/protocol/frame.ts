/**
 * Length-prefixed framing: every message is a 4-byte big-endian length and that many bytes.
 * Complete frames inside a chunk are handed out as views of it; only a frame split across chunks
 * is copied, once, into a buffer of its exact size.
 */

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

export class FrameDecoder {
  private readonly lengthBytes = Buffer.alloc(4);
  private lengthFill = 0;
  private partial: Buffer | null = null;
  private partialFill = 0;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: (frame: Buffer) => void,
  ) {}

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.lengthFill + this.partialFill;
  }

  /** Feeds bytes; calls onFrame for each complete frame; throws FrameError on a bad length. */
  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.partial !== null) {
        const n = Math.min(this.partial.length - this.partialFill, chunk.length - pos);
        chunk.copy(this.partial, this.partialFill, pos, pos + n);
        this.partialFill += n;
        pos += n;
        if (this.partialFill === this.partial.length) {
          const frame = this.partial;
          this.partial = null;
          this.partialFill = 0;
          this.onFrame(frame);
        }
        continue;
      }
      let len: number;
      if (this.lengthFill === 0 && chunk.length - pos >= 4) {
        len = chunk.readInt32BE(pos);
        pos += 4;
      } else {
        while (this.lengthFill < 4 && pos < chunk.length) this.lengthBytes[this.lengthFill++] = chunk[pos++];
        if (this.lengthFill < 4) return;
        len = this.lengthBytes.readInt32BE(0);
        this.lengthFill = 0;
      }
      if (len < 0 || len > this.maxFrameBytes) throw new FrameError(`frame length ${len} is outside 0..${this.maxFrameBytes}`);
      if (chunk.length - pos >= len) {
        const frame = chunk.subarray(pos, pos + len);
        pos += len;
        this.onFrame(frame);
      } else {
        this.partial = Buffer.allocUnsafe(len);
        this.partialFill = 0;
      }
    }
  }
}
