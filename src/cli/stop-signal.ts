/** Ctrl-C (SIGINT) or SIGTERM ends a following command cleanly: its requests are aborted, not crashed. */
export async function untilStopped(work: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
  try {
    await work(stop.signal);
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
  }
}
