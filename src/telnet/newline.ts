/**
 * A telnet client's end of line, as a serial console wants it. RFC 854 sends Enter as CR LF or CR NUL;
 * a serial console takes a bare CR. So CR LF and CR NUL become CR, a bare CR stays CR, a bare LF
 * passes (some clients send it on purpose). The pair may be split across reads.
 */
const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;

export class NewlineFilter {
  private afterCr = false;

  filter(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    if (!this.afterCr && chunk.indexOf(CR) === -1) return chunk;
    const out = Buffer.allocUnsafe(chunk.length);
    let o = 0;
    for (const byte of chunk) {
      const dropped = this.afterCr && (byte === LF || byte === NUL);
      this.afterCr = byte === CR;
      if (!dropped) out[o++] = byte;
    }
    return out.subarray(0, o);
  }
}
