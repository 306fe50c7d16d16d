// Results in the listing's order, whatever order the readers finish in, with a reader that runs
// ahead held back once it holds a part: the same answer for any number of threads, bounded memory.
import { describe, expect, it } from "vitest";
import { InOrder } from "../../src/lib/audit/sources/ordered.js";
import type { AuditEvent, FileResult } from "../../src/lib/audit/types.js";

const result = (file: string, events = 0, partial = false): FileResult => ({
  file,
  partial,
  bytes: 0,
  compressedBytes: 0,
  records: events,
  kmsEvents: events,
  events: Array.from({ length: events }, (_, i) => ({ id: `${file}-${i}` }) as AuditEvent),
  badEvents: 0,
});

describe("InOrder", () => {
  it("delivers items in index order although they complete 2, 0, 1", async () => {
    const seen: string[] = [];
    const order = new InOrder((r) => seen.push(r.file));
    await order.push(2, [result("c")], true);
    await order.push(0, [result("a1", 0, true)], false);
    expect(seen).toEqual(["a1"]);
    await order.push(1, [result("b")], true);
    expect(seen).toEqual(["a1"]);
    await order.push(0, [result("a2")], true);
    expect(seen).toEqual(["a1", "a2", "b", "c"]);
  });

  it("holds a reader ahead of the head once it buffers more than its budget, and lets it go when its turn comes", async () => {
    const seen: string[] = [];
    const order = new InOrder((r) => seen.push(r.file), 10);
    await order.push(1, [result("ahead-1", 8, true)], false);
    let released = false;
    const held = order.push(1, [result("ahead-2", 8, true)], false).then(() => (released = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(released).toBe(false);
    await order.push(0, [result("head")], true);
    await held;
    expect(released).toBe(true);
    expect(seen).toEqual(["head", "ahead-1", "ahead-2"]);
  });

  it("within(): an item waits until it is inside the window", async () => {
    const order = new InOrder(() => {});
    let ready = false;
    const waiting = order.within(3, 2).then(() => (ready = true));
    await order.push(0, [], true);
    await new Promise((r) => setTimeout(r, 10));
    expect(ready).toBe(false);
    await order.push(1, [], true);
    await waiting;
    expect(ready).toBe(true);
  });
});
