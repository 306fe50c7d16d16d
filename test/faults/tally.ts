// Counts the faults a test file injects and how many ended in a clear state (recovered, nothing
// acknowledged lost). Each file appends its count to $DROPKEYS_FAULT_TALLY (a JSONL file) when it
// is set; scripts/fault-figures.mjs runs the fault tests and adds the lines up for the README.
import { appendFileSync } from "node:fs";
import { afterAll } from "vitest";

export interface Tally {
  injected: number;
  recovered: number;
  lost: number;
}

export function faultTally(file: string): { inject(): void; recovered(): void; lost(entries: number): void; counts: Tally } {
  const counts: Tally = { injected: 0, recovered: 0, lost: 0 };
  afterAll(() => {
    const out = process.env.DROPKEYS_FAULT_TALLY;
    if (out) appendFileSync(out, JSON.stringify({ file, ...counts }) + "\n");
  });
  return {
    counts,
    inject: () => void counts.injected++,
    recovered: () => void counts.recovered++,
    lost: (entries: number) => void (counts.lost += entries),
  };
}
