// CloudTrail can deliver an event twice; eventID with eventTime and eventName says which (the
// Auditor adds that triple as one string). A set of strings would cost ~80
// bytes per event, so months of logs keep only a 64-bit hash of each (16 bytes a slot at
// half load); a false "duplicate" needs a 64-bit collision: odds about 3 in a million at 10^7 events.

export class EventIdSet {
  private table: Uint32Array;
  private mask: number;
  size = 0;

  constructor(initialSlots = 1 << 14) {
    this.table = new Uint32Array(initialSlots * 2);
    this.mask = initialSlots - 1;
  }

  /** Adds the id; false when it was already there. */
  add(id: string): boolean {
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    h1 >>>= 0;
    h2 = (h2 | 1) >>> 0; // never 0: (x, 0) marks an empty slot; unsigned like the table
    if (this.insert(h1, h2)) {
      this.size++;
      if (this.size * 2 > this.mask + 1) this.grow();
      return true;
    }
    return false;
  }

  private insert(h1: number, h2: number): boolean {
    const t = this.table;
    let slot = (h1 ^ Math.imul(h2, 0x27d4eb2d)) & this.mask;
    for (;;) {
      const a = t[slot * 2]!;
      const b = t[slot * 2 + 1]!;
      if (b === 0) {
        t[slot * 2] = h1;
        t[slot * 2 + 1] = h2;
        return true;
      }
      if (a === h1 && b === h2) return false;
      slot = (slot + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.table;
    this.table = new Uint32Array(old.length * 2);
    this.mask = old.length - 1;
    for (let i = 0; i < old.length; i += 2) if (old[i + 1] !== 0) this.insert(old[i]!, old[i + 1]!);
  }
}
