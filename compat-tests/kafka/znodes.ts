// Reads Kafka's znodes through the server under test (node-zookeeper-client), and reduces the
// tree under Kafka's chroot to its shape: paths, ephemeral or not, and the data's JSON structure
// with values replaced by their types, so two runs can be compared although ports, timestamps and
// the cluster id differ.

import * as zookeeper from 'node-zookeeper-client';
import { withTimeout } from '../util/harness';

const CONNECT_TIMEOUT_MS = 15_000;
const OP_TIMEOUT_MS = 10_000;
const TREE_NODES_MAX = 5_000;
const NO_NODE = -101; // KeeperException.Code.NONODE

export interface Znode {
  /** undefined for a node whose data is null (length -1 on the wire). */
  data: Buffer | undefined;
  stat: zookeeper.Stat;
}

export class ZnodeReader {
  private constructor(private readonly client: zookeeper.Client) {}

  static async open(connectString: string): Promise<ZnodeReader> {
    const client = zookeeper.createClient(connectString, { sessionTimeout: 30_000, spinDelay: 100, retries: 0 });
    const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
    client.connect();
    try {
      await withTimeout(connected, CONNECT_TIMEOUT_MS, `connecting to ${connectString}`);
    } catch (err) {
      client.close();
      throw err;
    }
    return new ZnodeReader(client);
  }

  close(): void {
    this.client.close();
  }

  /** The node, or undefined when it does not exist. */
  get(path: string): Promise<Znode | undefined> {
    return withTimeout(
      new Promise<Znode | undefined>((resolve, reject) =>
        this.client.getData(path, undefined, (err, data, stat) => {
          if (!err) resolve({ data: data ?? undefined, stat });
          else if ((err as { code?: number }).code === NO_NODE) resolve(undefined);
          else reject(err);
        }),
      ),
      OP_TIMEOUT_MS,
      `getData ${path}`,
    );
  }

  /** The node's data parsed as JSON, or undefined when it does not exist. */
  async json(path: string): Promise<unknown> {
    const node = await this.get(path);
    if (node === undefined) return undefined;
    if (node.data === undefined) throw new Error(`${path}: null data, expected JSON`);
    return JSON.parse(node.data.toString('utf8'));
  }

  /** Sorted children, or undefined when the node does not exist. */
  children(path: string): Promise<string[] | undefined> {
    return withTimeout(
      new Promise<string[] | undefined>((resolve, reject) =>
        this.client.getChildren(path, undefined, (err, children) => {
          if (!err) resolve([...children].sort());
          else if ((err as { code?: number }).code === NO_NODE) resolve(undefined);
          else reject(err);
        }),
      ),
      OP_TIMEOUT_MS,
      `getChildren ${path}`,
    );
  }

  /** The node's ACL as `scheme:id:perms` entries, or undefined when it does not exist. */
  acl(path: string): Promise<string[] | undefined> {
    return withTimeout(
      new Promise<string[] | undefined>((resolve, reject) =>
        this.client.getACL(path, (err, acls) => {
          if (!err) resolve(acls.map((a) => `${a.id.scheme}:${a.id.id}:${a.permission}`));
          else if ((err as { code?: number }).code === NO_NODE) resolve(undefined);
          else reject(err);
        }),
      ),
      OP_TIMEOUT_MS,
      `getACL ${path}`,
    );
  }

  /** Every node under `root` (root included), depth first in sorted order, as shape lines. */
  async treeShape(root: string): Promise<string[]> {
    const lines: string[] = [];
    const walk = async (path: string): Promise<void> => {
      if (lines.length >= TREE_NODES_MAX) throw new Error(`more than ${TREE_NODES_MAX} znodes under ${root}`);
      const node = await this.get(path);
      if (node === undefined) return; // deleted while walking
      const ephemeral = node.stat.ephemeralOwner.readBigInt64BE(0) !== 0n;
      const acl = (await this.acl(path)) ?? [];
      lines.push(`${path}${ephemeral ? ' (ephemeral)' : ''} ${dataShape(node.data)} acl=[${acl.join(',')}]`);
      const children = (await this.children(path)) ?? [];
      for (const child of children) await walk(path === '/' ? `/${child}` : `${path}/${child}`);
    };
    await walk(root);
    return lines;
  }
}

/** The data's structure: JSON with scalars replaced by their type names; otherwise its kind. */
export function dataShape(data: Buffer | undefined): string {
  if (data === undefined) return 'null';
  if (data.length === 0) return 'empty';
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return `bytes(${data.length})`;
  }
  return JSON.stringify(jsonShape(value));
}

function jsonShape(value: unknown): unknown {
  if (Array.isArray(value)) {
    // An array's length is part of its shape (the replica lists of a partition, say).
    return value.map(jsonShape);
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = jsonShape((value as Record<string, unknown>)[key]);
    return out;
  }
  return value === null ? 'null' : typeof value;
}
