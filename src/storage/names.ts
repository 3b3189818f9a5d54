/**
 * One string for equal short child names while a snapshot loads. Trees repeat names under many
 * parents ("0", "state", "partitions", "n123"); each would otherwise be a string of its own, kept as
 * long as its node. The table lives for one load only: names made at run time (often unique, as
 * sequential ones are) are not looked up, which would cost every create.
 */
const MAX_NAME_CHARS = 16;
/** Bounds the table; names beyond it are simply not shared. */
const MAX_NAMES = 65536;

export class NameTable {
  private readonly names = new Map<string, string>();

  intern(name: string): string {
    if (name.length > MAX_NAME_CHARS) return name;
    const found = this.names.get(name);
    if (found !== undefined) return found;
    if (this.names.size < MAX_NAMES) this.names.set(name, name);
    return name;
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
