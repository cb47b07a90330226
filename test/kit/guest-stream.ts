/**
 * A known byte stream a test guest prints on its console: numbered records of 64 copies of the bytes
 * 0x00..0xFF, typed as shell commands (tty in raw mode, so nothing is translated). Used to check a
 * capture byte for byte against QEMU's own logfile= record.
 */
const BLOCK_COPIES = 64;
/** One record: "\n#<8 digits>:" then 64 copies of the bytes 0x00..0xFF. */
export const RECORD_BYTES = 10 + 256 * BLOCK_COPIES;

/** The bytes the guest prints for `records` records. */
export function expectedStream(records: number): Buffer {
  const block = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const body = Buffer.concat(Array.from({ length: BLOCK_COPIES }, () => block));
  return Buffer.concat(
    Array.from({ length: records }, (_, n) => [
      Buffer.from(`\n#${String(n).padStart(8, "0")}:`, "latin1"),
      body,
    ]).flat(),
  );
}

/** Commands typed into the guest shell; `""` keeps the echoed command line from matching its marker. */
export const MAKE_BLOCK =
  'i=0; : > /tmp/b; while [ $i -lt 256 ]; do printf "\\\\$(printf %o $i)" >> /tmp/b; i=$((i+1)); done; ' +
  "cat /tmp/b /tmp/b /tmp/b /tmp/b > /tmp/b4; cat /tmp/b4 /tmp/b4 /tmp/b4 /tmp/b4 > /tmp/b16; " +
  'cat /tmp/b16 /tmp/b16 /tmp/b16 /tmp/b16 > /tmp/b64; echo BLOCK-""READY\r';

/** Prints `records` records, then STREAM-DONE on a line of its own. */
export function streamCommand(records: number): string {
  return (
    `stty raw -echo; i=0; while [ $i -lt ${records} ]; do printf '\\n#%08d:' $i; cat /tmp/b64; ` +
    'i=$((i+1)); done; stty sane; echo; echo STREAM-""DONE\r'
  );
}

/**
 * Kernel messages at warning level and above go to the console too, and a TCG guest on an overloaded
 * host prints some (clocksource and RCU stall warnings) into the middle of the stream: boot stream
 * guests with only emergencies on the console.
 */
export const QUIET_CONSOLE = ["loglevel=1"];

/** Where `data` (from `from`) stops matching `stream`, with the bytes found there, for a failure message. */
export function describeDivergence(data: Buffer, from: number, stream: Buffer): string {
  const head = stream.subarray(0, 11);
  const start = data.indexOf(head, from);
  if (start === -1) return `the stream's first record header never appears after offset ${from}`;
  let i = 0;
  while (i < stream.length && start + i < data.length && data[start + i] === stream[i]) i += 1;
  const found = data.subarray(start + i, start + i + 160).toString("latin1");
  return `the stream matches for ${i} of ${stream.length} bytes from offset ${start}; then: ${JSON.stringify(found)}`;
}
