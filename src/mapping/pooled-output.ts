/**
 * Output bytes gathered in reused buffers: the engine's FHIR output (written to its stream) and
 * the conversion workers' (handed back to the main thread, which writes them in input order).
 */
import type { JsonOut, JsonPiece } from './response-json';

/** Where a filled buffer goes: `done` is called once its bytes are written (it is then reused). */
export interface ByteSink {
  write(bytes: Buffer, done: () => void): unknown;
}

/**
 * Output buffers used again once the stream has written them. Fresh buffers for every write
 * would be freed only by the next full garbage collection, so tens of megabytes of written output
 * could wait in memory, more the longer the input: reusing them keeps the peak RSS flat.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  /** How many buffers the output may hold is bounded by the engine's backpressure. */
  constructor(readonly size = 512 * 1024) {}

  take(length = 0): Buffer | undefined {
    if (length > this.size) return undefined;
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buffer: Buffer): void {
    this.free.push(buffer);
  }
}

/** ASCII JSON pieces copied straight into pooled buffers, each written when full. */
export class PooledOutput implements JsonOut {
  private buffer: Buffer | undefined;
  private used = 0;

  constructor(
    private readonly pool: BufferPool,
    private readonly output: ByteSink,
  ) {}

  put(piece: JsonPiece): void {
    if (typeof piece === 'string') {
      let from = 0;
      while (from < piece.length) {
        const buffer = this.current();
        const room = buffer.length - this.used;
        const part = from === 0 && piece.length <= room ? piece : piece.slice(from, from + room);
        this.used += buffer.write(part, this.used, 'latin1');
        from += part.length;
        if (this.used === buffer.length) this.flush();
      }
      return;
    }
    const source = piece.bytes;
    const current = this.buffer;
    if (current && source.length < current.length - this.used) {
      // The common case, a fragment that fits: a plain typed-array copy (Buffer#copy costs more).
      current.set(source, this.used);
      this.used += source.length;
      return;
    }
    let from = 0;
    while (from < source.length) {
      const buffer = this.current();
      const copied = source.copy(buffer, this.used, from);
      this.used += copied;
      from += copied;
      if (this.used === buffer.length) this.flush();
    }
  }

  putBytes(length: number, fill: (target: Buffer, at: number) => void): void {
    if (length > this.pool.size) {
      const bytes = Buffer.allocUnsafe(length);
      fill(bytes, 0);
      this.put({ text: '', bytes });
      return;
    }
    if (this.buffer && this.buffer.length - this.used < length) this.flush();
    const buffer = this.current();
    fill(buffer, this.used);
    this.used += length;
    if (this.used === buffer.length) this.flush();
  }

  private current(): Buffer {
    this.buffer ??= this.pool.take() ?? Buffer.allocUnsafeSlow(this.pool.size);
    return this.buffer;
  }

  /** Hands the filled part of the current buffer to the output; the buffer returns once written. */
  flush(): void {
    const buffer = this.buffer;
    if (!buffer || this.used === 0) return;
    const used = this.used;
    this.buffer = undefined;
    this.used = 0;
    this.output.write(buffer.subarray(0, used), () => this.pool.give(buffer));
  }
}
