// Ctrl-C and SIGTERM during a long database run: stop taking new work, finish what is in flight,
// journal it. (The pipeline already defers SIGINT; this also turns it into a stop request.)
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return {
    signal: controller.signal,
    dispose() {
      process.removeListener("SIGINT", stop);
      process.removeListener("SIGTERM", stop);
    },
  };
}
