// Results in the order of the listing, whatever order the readers finish in: the first copy of
// an event delivered twice is then always the same one, and a run gives the same answer with
// any number of parser threads or downloads at a time. Readers ahead of the head may buffer a
// bounded number of events, then wait: memory stays bounded however large a file is.
import { PART_EVENTS } from "../scan.js";
import type { FileResult } from "../types.js";

interface Pending {
  parts: FileResult[];
  events: number;
  done: boolean;
  waiters: (() => void)[];
}

export class InOrder {
  private head = 0;
  private readonly pending = new Map<number, Pending>();
  private windowWaiters: { item: number; resolve: () => void }[] = [];

  constructor(
    private readonly onResult: (result: FileResult) => void,
    /** Events an item ahead of the head may buffer before its reader has to wait. */
    private readonly budget = PART_EVENTS * 2,
  ) {}

  /** Item `item` delivers results (`done`: its last); resolves when its reader may go on. */
  push(item: number, results: FileResult[], done: boolean): Promise<void> {
    if (item === this.head) {
      for (const r of results) this.onResult(r);
      if (done) this.advance();
      return Promise.resolve();
    }
    let p = this.pending.get(item);
    if (!p) {
      p = { parts: [], events: 0, done: false, waiters: [] };
      this.pending.set(item, p);
    }
    p.parts.push(...results);
    for (const r of results) p.events += r.events.length;
    p.done = done;
    if (done || p.events <= this.budget) return Promise.resolve();
    const waiting = p;
    return new Promise((resolve) => waiting.waiters.push(resolve));
  }

  /** Resolves when `item` is fewer than `window` items ahead of the head. */
  within(item: number, window: number): Promise<void> {
    if (item - this.head < window) return Promise.resolve();
    return new Promise((resolve) => this.windowWaiters.push({ item: item - window + 1, resolve }));
  }

  private advance(): void {
    this.head++;
    for (;;) {
      const p = this.pending.get(this.head);
      if (!p) break;
      for (const r of p.parts) this.onResult(r);
      p.parts = [];
      p.events = 0;
      for (const w of p.waiters) w();
      p.waiters = [];
      if (!p.done) break;
      this.pending.delete(this.head);
      this.head++;
    }
    const ready = this.windowWaiters.filter((w) => w.item <= this.head);
    this.windowWaiters = this.windowWaiters.filter((w) => w.item > this.head);
    for (const w of ready) w.resolve();
  }
}
