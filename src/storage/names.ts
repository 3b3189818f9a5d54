/**
 * One string for equal short child names. Trees repeat names under many parents ("0", "state",
 * "partitions", "n123"); each would otherwise be a string of its own, kept as long as the node.
 */
const MAX_NAME_CHARS = 16;
/** Bounds the table; names beyond it are simply not shared. */
const MAX_NAMES = 65536;

const names = new Map<string, string>();

export function internName(name: string): string {
  if (name.length > MAX_NAME_CHARS) return name;
  const found = names.get(name);
  if (found !== undefined) return found;
  if (names.size < MAX_NAMES) names.set(name, name);
  return name;
}
