/** Path rules of the ZooKeeper data model. */

/** Returns why the path is invalid, or undefined when it is valid. */
export function pathInvalidReason(path: string): string | undefined {
  if (path.length === 0) return 'Path length must be > 0';
  if (path.charCodeAt(0) !== 0x2f) return 'Path must start with / character';
  if (path.length === 1) return undefined;
  if (path.charCodeAt(path.length - 1) === 0x2f) return 'Path must not end with / character';
  let last = 0x2f;
  for (let i = 1; i < path.length; last = path.charCodeAt(i), i++) {
    const c = path.charCodeAt(i);
    if (c === 0) return `null character not allowed @${i}`;
    if (c === 0x2f && last === 0x2f) return `empty node name specified @${i}`;
    const endsSegment = i + 1 === path.length || path.charCodeAt(i + 1) === 0x2f;
    if (c === 0x2e && last === 0x2e) {
      if (path.charCodeAt(i - 2) === 0x2f && endsSegment) return `relative paths not allowed @${i}`;
    } else if (c === 0x2e) {
      if (last === 0x2f && endsSegment) return `relative paths not allowed @${i}`;
    } else if ((c > 0 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || c >= 0xfff0) {
      return `invalid character @${i}`;
    }
  }
  return undefined;
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function join(parent: string, child: string): string {
  return parent === '/' ? '/' + child : parent + '/' + child;
}

/** The paths ZooKeeper reserves for itself: they cannot be deleted or written by clients. */
export const ZOOKEEPER_PATH = '/zookeeper';
export const QUOTA_PATH = '/zookeeper/quota';
export const CONFIG_PATH = '/zookeeper/config';

export function isSpecialPath(path: string): boolean {
  return path === '/' || path === ZOOKEEPER_PATH || path === QUOTA_PATH || path === CONFIG_PATH;
}
