/**
 * Four-letter words on the client port. The whitelist follows `4lw.commands.whitelist`
 * (ZooKeeper's default: srvr only); a word not on it gets ZooKeeper's refusal text.
 */
import type { ZooKeeperServer } from '../server/server';
import { VERSION_LINE } from './version';

type Command = (s: ZooKeeperServer) => string;

function javaDouble(n: number): string {
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

function hex(z: bigint): string {
  return '0x' + BigInt.asUintN(64, z).toString(16);
}

function latencyLine(s: ZooKeeperServer): string {
  const st = s.stats;
  const min = st.latencyCount === 0 ? 0 : st.minLatencyMs;
  const avg = st.latencyCount === 0 ? 0 : Math.round((st.totalLatencyMs / st.latencyCount) * 10000) / 10000;
  return `Latency min/avg/max: ${min}/${javaDouble(avg)}/${st.maxLatencyMs}\n`;
}

function serverSummary(s: ZooKeeperServer): string {
  return (
    latencyLine(s) +
    `Received: ${s.stats.packetsReceived}\n` +
    `Sent: ${s.stats.packetsSent}\n` +
    `Connections: ${s.cnxns.size}\n` +
    `Outstanding: ${s.outstanding}\n` +
    `Zxid: ${hex(s.lastProcessedZxid)}\n` +
    `Mode: standalone\n` +
    // ZooKeeper's node map holds the root twice ("" and "/"), and its count shows it.
    `Node count: ${s.tree.nodeCount + 1}\n`
  );
}

function connectionLines(s: ZooKeeperServer): string {
  let out = '';
  for (const c of s.cnxns) {
    out += ` /${c.remoteAddress}:${c.remotePort}[${c.state === 'open' ? 1 : 0}](queued=${c.queue.length},recved=${c.packetsReceived},sent=${c.packetsSent}`;
    if (c.session) {
      out += `,sid=${hex(c.session.id)},lop=${c.lastOp},est=${c.establishedAtMs},to=${c.session.timeoutMs}`;
      if (c.lastCxid !== 0) out += `,lcxid=0x${(c.lastCxid >>> 0).toString(16)}`;
      out += `,lzxid=${hex(c.lastZxid)},lresp=0,llat=${c.lastLatencyMs},minlat=${c.latencyCount ? c.minLatencyMs : 0},avglat=${c.latencyCount ? Math.round(c.totalLatencyMs / c.latencyCount) : 0},maxlat=${c.maxLatencyMs}`;
    }
    out += ')\n';
  }
  return out;
}

const COMMANDS: Record<string, Command> = {
  ruok: () => 'imok',
  srvr: (s) => `Zookeeper version: ${VERSION_LINE}\n` + serverSummary(s),
  stat: (s) => `Zookeeper version: ${VERSION_LINE}\nClients:\n${connectionLines(s)}\n` + serverSummary(s),
  cons: (s) => connectionLines(s) + '\n',
  isro: () => 'rw',
  wchs: (s) => {
    const st = s.watches.stats();
    return `${s.cnxns.size} connections watching ${st.paths} paths\nTotal watches:${st.watches}\n`;
  },
  wchp: (s) => {
    let out = '';
    for (const [path, set] of s.watches.byPath()) {
      out += `${path}\n`;
      for (const w of set) out += `\t${hex((w as { sessionId?: bigint }).sessionId ?? 0n)}\n`;
    }
    return out;
  },
  dump: (s) => {
    let out = 'SessionTracker dump:\nSession Sets (' + s.sessions.size + ')/(' + s.sessions.size + '):\n';
    out += 'ephemeral nodes dump:\nSessions with Ephemerals (' + [...s.tree.sessionsWithEphemerals()].length + '):\n';
    for (const sid of s.tree.sessionsWithEphemerals()) {
      out += `${hex(sid)}:\n`;
      for (const p of [...s.tree.ephemeralsOf(sid)].sort()) out += `\t${p}\n`;
    }
    return out;
  },
  conf: (s) => {
    const c = s.config;
    return (
      `clientPort=${c.clientPort ?? ''}\n` +
      `secureClientPort=${c.secureClientPort ?? -1}\n` +
      `dataDir=${c.dataDir}/version-2\n` +
      `dataDirSize=0\n` +
      `dataLogDir=${c.dataLogDir}/version-2\n` +
      `dataLogSize=0\n` +
      `tickTime=${c.tickTimeMs}\n` +
      `maxClientCnxns=${c.maxClientCnxns}\n` +
      `minSessionTimeout=${c.minSessionTimeoutMs}\n` +
      `maxSessionTimeout=${c.maxSessionTimeoutMs}\n` +
      `clientPortListenBacklog=${c.clientPortListenBacklog}\n` +
      `serverId=0\n`
    );
  },
  envi: () =>
    'Environment:\n' +
    `zookeeper.version=${VERSION_LINE}\n` +
    `host.name=${require('node:os').hostname()}\n` +
    `node.version=${process.version}\n` +
    `os.name=${process.platform}\n` +
    `os.arch=${process.arch}\n` +
    `user.dir=${process.cwd()}\n` +
    `process.pid=${process.pid}\n`,
  crst: (s) => {
    for (const c of s.cnxns) {
      c.minLatencyMs = Number.MAX_SAFE_INTEGER;
      c.maxLatencyMs = c.totalLatencyMs = c.latencyCount = 0;
    }
    return 'Connection stats reset.\n';
  },
  srst: (s) => {
    Object.assign(s.stats, { packetsReceived: 0, packetsSent: 0, minLatencyMs: Number.MAX_SAFE_INTEGER, maxLatencyMs: 0, totalLatencyMs: 0, latencyCount: 0 });
    return 'Server stats reset.\n';
  },
};

/** Every word ZooKeeper recognises, including the ones not implemented here yet. */
const KNOWN_WORDS = new Set(['conf', 'cons', 'crst', 'dirs', 'dump', 'envi', 'gtmk', 'stmk', 'ruok', 'srvr', 'srst', 'stat', 'wchc', 'wchp', 'wchs', 'mntr', 'isro', 'hash', 'kill', 'reqs', 'trac', 'tchk', 'cnfg']);

export class FourLetterWords {
  constructor(private readonly server: ZooKeeperServer) {}

  isCommand(word: string): boolean {
    return KNOWN_WORDS.has(word);
  }

  private allowed(word: string): boolean {
    const wl = this.server.config.fourLetterWordWhitelist;
    return wl === '*' || wl.has(word);
  }

  run(word: string): string {
    if (!this.allowed(word)) return `${word} is not executed because it is not in the whitelist.\n`;
    const cmd = COMMANDS[word];
    if (!cmd) return `${word} is not executed because it is not implemented yet.\n`;
    return cmd(this.server);
  }
}
