/**
 * One string for equal short child names while a snapshot loads. Trees repeat names under many
 * parents ("0", "state", "partitions", "n123"); each would otherwise be a string of its own, kept as
 * long as its node. The table lives for one load only: names made at run time (often unique, as
 * sequential ones are) are not looked up, which would cost every create.
 */
const MAX_NAME_CHARS = 16;
/** Bounds the table; names beyond it are simply not shared. */
const MAX_NAMES = 65536;

/** The byte-keyed index's first size (slots; a power of two), grown at half full up to twice MAX_NAMES. */
const FIRST_SLOTS = 1024;

export class NameTable {
  private readonly names = new Map<string, string>();
  /**
   * The same names keyed by their bytes (ASCII ones only), so that a name read from a record is
   * found without making a string first: open addressing, slot i's bytes at i * MAX_NAME_CHARS.
   */
  private slotBytes = new Uint8Array(FIRST_SLOTS * MAX_NAME_CHARS);
  private slotLengths = new Uint8Array(FIRST_SLOTS);
  private slotNames: (string | undefined)[] = new Array<string | undefined>(FIRST_SLOTS).fill(undefined);
  private slotsUsed = 0;

  intern(name: string): string {
    if (name.length > MAX_NAME_CHARS) return name;
    const found = this.names.get(name);
    if (found !== undefined) return found;
    if (this.names.size < MAX_NAMES) this.names.set(name, name);
    return name;
  }

  /**
   * The name whose UTF-8 bytes are b[from, to), the table's string when it has one: a name seen
   * before costs no string. Equal to b.toString('utf8', from, to) interned.
   */
  internBytes(b: Buffer, from: number, to: number): string {
    const len = to - from;
    if (len === 0 || len > MAX_NAME_CHARS) return len === 0 ? '' : b.toString('utf8', from, to);
    let h = 0x811c9dc5;
    let ascii = 0;
    for (let i = from; i < to; i++) {
      const c = b[i];
      ascii |= c;
      h = Math.imul(h ^ c, 0x01000193);
    }
    if (ascii >= 0x80) return this.intern(b.toString('utf8', from, to));
    const mask = this.slotLengths.length - 1;
    const bytes = this.slotBytes;
    for (let i = (h ^ (h >>> 15)) & mask; ; i = (i + 1) & mask) {
      const found = this.slotNames[i];
      if (found === undefined) break;
      if (this.slotLengths[i] !== len) continue;
      const at = i * MAX_NAME_CHARS;
      let j = 0;
      while (j < len && bytes[at + j] === b[from + j]) j++;
      if (j === len) return found;
    }
    const name = this.intern(b.toString('latin1', from, to));
    if (this.slotsUsed < 2 * MAX_NAMES) this.addSlot(h, name, b, from, len);
    return name;
  }

  private addSlot(h: number, name: string, b: Buffer, from: number, len: number): void {
    if (2 * (this.slotsUsed + 1) > this.slotLengths.length) this.grow();
    const mask = this.slotLengths.length - 1;
    let i = (h ^ (h >>> 15)) & mask;
    while (this.slotNames[i] !== undefined) i = (i + 1) & mask;
    this.slotNames[i] = name;
    this.slotLengths[i] = len;
    b.copy(this.slotBytes, i * MAX_NAME_CHARS, from, from + len);
    this.slotsUsed++;
  }

  private grow(): void {
    const names = this.slotNames;
    const slots = names.length * 2;
    this.slotBytes = new Uint8Array(slots * MAX_NAME_CHARS);
    this.slotLengths = new Uint8Array(slots);
    this.slotNames = new Array<string | undefined>(slots).fill(undefined);
    this.slotsUsed = 0;
    const scratch = Buffer.allocUnsafe(MAX_NAME_CHARS);
    for (const name of names) {
      if (name === undefined) continue;
      const len = scratch.write(name, 0, 'latin1');
      let h = 0x811c9dc5;
      for (let i = 0; i < len; i++) h = Math.imul(h ^ scratch[i], 0x01000193);
      this.addSlot(h, name, scratch, 0, len);
    }
  }
}

/** A string of this many chars or more cut out of another is a view into it (a V8 sliced string). */
const SLICED_MIN_CHARS = 13;

/**
 * `name` (cut from a path) as a string of its own. A child name is kept as long as its node, and a
 * view would keep the whole path string with it: 60 B more for a name of 20 chars in a path of 50.
 */
export function ownName(name: string): string {
  if (name.length < SLICED_MIN_CHARS) return name;
  const copy = Buffer.from(name, 'latin1').toString('latin1');
  // Names with chars beyond latin1 (rare) are copied as UTF-16, which keeps every code unit.
  return copy === name ? copy : Buffer.from(name, 'utf16le').toString('utf16le');
}
