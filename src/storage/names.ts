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
