/**
 * Which container and TTL nodes are due for removal (ZooKeeper's ContainerManager rules): a
 * container once it had children and is empty again (or, optionally, was never used for a while);
 * a TTL node once it is childless and unmodified for longer than its TTL.
 */
import { EXTENDED_OWNER_MASK } from '../protocol/constants';
import type { DataTree } from '../storage/datatree';

export function containerCandidates(tree: DataTree, nowMs: number, maxNeverUsedMs: number): string[] {
  const out: string[] = [];
  for (const path of tree.containers) {
    const n = tree.getNode(path);
    if (!n || n.children.size > 0) continue;
    if (n.cversion > 0) out.push(path);
    else if (maxNeverUsedMs > 0 && nowMs - Number(n.mtime) > maxNeverUsedMs) out.push(path);
  }
  for (const path of tree.ttls) {
    const n = tree.getNode(path);
    if (!n || n.children.size > 0) continue;
    const ttlMs = Number(n.ephemeralOwner & ~EXTENDED_OWNER_MASK);
    if (ttlMs > 0 && nowMs - Number(n.mtime) > ttlMs) out.push(path);
  }
  return out.sort();
}
