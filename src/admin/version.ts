/** The version line clients and tools read: the ZooKeeper protocol level served, then ours. */
export const ZKTS_VERSION = '0.1.0';
export const ZOOKEEPER_COMPAT_VERSION = '3.9.3';
export const VERSION_LINE = `${ZOOKEEPER_COMPAT_VERSION}-zkts-${ZKTS_VERSION}, built on 2026-11-25 00:00 UTC`;
