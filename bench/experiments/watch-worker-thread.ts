/**
 * The worker side of watch-worker.ts (a measurement, not the daemon's): the crash classifier fed the
 * capture's own line ends through shared memory, the bytes read back from the capture's raw file.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { Classifier } from "../../src/recovery/detect/classifier.js";

export interface WorkerInput {
  /** 0: batches written, 1: batches read, 2: the worker sleeps, 3: no more batches, 4: line ends read. */
  readonly control: SharedArrayBuffer;
  /** Per batch, six float64: first seq, capture offset of its first line, start, count, time, where its ends are. */
  readonly heads: SharedArrayBuffer;
  /** The batches' line ends (int32), a ring. */
  readonly ends: SharedArrayBuffer;
  /** The raw file and the capture offset of its first byte. */
  readonly raw: string;
  readonly first: number;
}

const input = workerData as WorkerInput;
const control = new Int32Array(input.control);
const heads = new Float64Array(input.heads);
const HEADS = heads.length / 6;
const ends = new Int32Array(input.ends);
const ENDS = ends.length;
const classifier = new Classifier(
  { quietMs: 30_000, silenceMs: 0, patterns: [], newId: () => "x", wallClock: () => "" },
  0,
);
const fd = openSync(input.raw, "r");
const local = new Int32Array(1024);
let bytes = Buffer.allocUnsafe(1 << 17);
let read = 0;
let lines = 0;
let changes = 0;
for (;;) {
  const written = Atomics.load(control, 0);
  if (read === written) {
    if (Atomics.load(control, 3) === 1) break;
    Atomics.store(control, 2, 1);
    Atomics.wait(control, 0, written, 20);
    Atomics.store(control, 2, 0);
    continue;
  }
  const h = (read % HEADS) * 6;
  const [seq, offset, start, count, at, at_ends] = [0, 1, 2, 3, 4, 5].map((k) => heads[h + k] as number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  for (let i = 0; i < count; i += 1) local[i] = (ends[(at_ends + i) % ENDS] as number) - start;
  const length = local[count - 1] as number;
  if (bytes.length < length) bytes = Buffer.allocUnsafe(length);
  // The writer writes behind the capture: wait for the bytes, 1 ms at a time, 5 s at most.
  let got = 0;
  for (let tries = 0; got < length; tries += 1) {
    const n = readSync(fd, bytes, got, length - got, offset - input.first + got);
    got += n;
    if (n > 0) continue;
    if (tries > 5000) throw new Error(`bytes at ${offset + got} never reached the file`);
    Atomics.wait(control, 3, 0, 1);
  }
  changes += classifier.linesBytes(seq, bytes, 0, local, count, offset, at).length;
  lines += count;
  read += 1;
  Atomics.add(control, 4, count);
  Atomics.store(control, 1, read);
}
closeSync(fd);
parentPort?.postMessage({ lines, changes });
