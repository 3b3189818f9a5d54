// Full, minimal configuration files for a ClickHouse 18.16 server under test: everything under its
// own directory, nothing read from /etc/clickhouse-server, loopback only, small caches.

export interface ClickHousePorts {
  tcp: number;
  http: number;
  interserver: number;
}

export interface ZooKeeperNode {
  host: string;
  port: number;
}

export interface ClickHouseConfigInput {
  rootDir: string;
  ports: ClickHousePorts;
  /** The coordination server under test: one server, or every member of an ensemble. */
  zookeeper: ZooKeeperNode | readonly ZooKeeperNode[];
  zookeeperSessionTimeoutMs: number;
  shard: string;
  replica: string;
  /** `<merge_tree>` settings (the tables' defaults), e.g. zookeeper_session_expiration_check_period. */
  mergeTree?: Record<string, string>;
}

/** Caches are allocated on demand, but the defaults (5 GB marks, 8 GB uncompressed) are no bound. */
const CACHE_BYTES = 16 * 1024 * 1024;
const QUERY_MEMORY_BYTES = 512 * 1024 * 1024;
const ALL_QUERIES_MEMORY_BYTES = 1024 * 1024 * 1024;

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function configXml(c: ClickHouseConfigInput): string {
  const dir = esc(c.rootDir);
  const nodes = (Array.isArray(c.zookeeper) ? c.zookeeper : [c.zookeeper]) as readonly ZooKeeperNode[];
  const nodeXml = nodes
    .map((n, i) => `    <node index="${i + 1}">\n      <host>${esc(n.host)}</host>\n      <port>${n.port}</port>\n    </node>`)
    .join('\n');
  const mergeTreeEntries = Object.entries(c.mergeTree ?? {});
  const mergeTree =
    mergeTreeEntries.length === 0 ? '' : `  <merge_tree>\n${mergeTreeEntries.map(([k, v]) => `    <${k}>${esc(v)}</${k}>\n`).join('')}  </merge_tree>\n`;
  return `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>debug</level>
    <log>${dir}/server.log</log>
    <errorlog>${dir}/server.err.log</errorlog>
    <size>100M</size>
    <count>1</count>
    <console>0</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>${c.ports.tcp}</tcp_port>
  <http_port>${c.ports.http}</http_port>
  <interserver_http_port>${c.ports.interserver}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <max_connections>64</max_connections>
  <max_concurrent_queries>16</max_concurrent_queries>
  <mark_cache_size>${CACHE_BYTES}</mark_cache_size>
  <uncompressed_cache_size>${CACHE_BYTES}</uncompressed_cache_size>
  <zookeeper>
${nodeXml}
    <session_timeout_ms>${c.zookeeperSessionTimeoutMs}</session_timeout_ms>
  </zookeeper>
${mergeTree}  <macros>
    <shard>${esc(c.shard)}</shard>
    <replica>${esc(c.replica)}</replica>
  </macros>
</yandex>
`;
}

/** One passwordless user, reachable from loopback only; per-query and per-user memory bounds. */
export function usersXml(): string {
  return `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>${QUERY_MEMORY_BYTES}</max_memory_usage>
      <max_memory_usage_for_all_queries>${ALL_QUERIES_MEMORY_BYTES}</max_memory_usage_for_all_queries>
      <background_pool_size>4</background_pool_size>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks>
        <ip>127.0.0.1</ip>
      </networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`;
}
