/**
 * Four-letter words on the client port, rendered as ZooKeeper's text from the command registry's
 * data. The whitelist follows `4lw.commands.whitelist` (ZooKeeper's default: srvr only); a word not
 * on it gets ZooKeeper's refusal text.
 */
import type { ZooKeeperServer } from '../server/server';
import {
  AdminContext,
  connectionExpiry,
  confView,
  dataDirSize,
  dataWatches,
  environment,
  hex,
  latency,
  logDirSize,
  monitorValues,
  nodeCount,
  resetConnectionStats,
  resetServerStats,
  sessionExpiry,
  watchesBySession,
  watchSummary,
  connectionInfo,
} from './commands';
import { javaDoubleText } from './json';
import type { ServerCnxn } from '../server/cnxn';
import { VERSION_LINE } from './version';
import { confQuorumText, proposalSizes } from './ensemble';

type Word = (ctx: AdminContext, rest: Buffer | undefined) => string;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** java.util.Date.toString() in UTC: "Wed Nov 25 07:45:49 UTC 2026". */
export function javaDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
}

function serverSummary(s: ZooKeeperServer): string {
  const lat = latency(s);
  return (
    `Latency min/avg/max: ${lat.min}/${javaDoubleText(lat.avg)}/${lat.max}\n` +
    `Received: ${s.stats.packetsReceived}\n` +
    `Sent: ${s.stats.packetsSent}\n` +
    `Connections: ${s.cnxns.size}\n` +
    `Outstanding: ${s.outstanding}\n` +
    `Zxid: ${hex(s.lastProcessedZxid)}\n` +
    `Mode: ${s.serverState}\n` +
    `Node count: ${nodeCount(s)}\n` +
    proposalLine(s)
  );
}

/** A leader's srvr and stat end with its proposals' sizes. */
function proposalLine(s: ZooKeeperServer): string {
  const sizes = proposalSizes(s.quorumStatus?.());
  return sizes ? `Proposal sizes last/min/max: ${sizes.last}/${sizes.min}/${sizes.max}\n` : '';
}

/** One connection as ZooKeeper's dumpConnectionInfo prints it; `brief` is stat's form. */
function connectionLine(c: ServerCnxn, brief: boolean): string {
  const i = connectionInfo(c);
  let out = ` /${i.remote}[${i.interestOps}](queued=${i.outstanding},recved=${i.packetsReceived},sent=${i.packetsSent}`;
  if (!brief && i.sessionId !== 0n) {
    out += `,sid=${hex(i.sessionId)},lop=${i.lastOp},est=${i.establishedAtMs},to=${i.sessionTimeoutMs}`;
    if (i.lastCxid > 0) out += `,lcxid=0x${i.lastCxid.toString(16)}`;
    out += `,lzxid=${hex(i.lastZxid)},lresp=${i.lastResponseTimeMs},llat=${i.lastLatencyMs},minlat=${i.minLatencyMs},avglat=${i.avgLatencyMs},maxlat=${i.maxLatencyMs}`;
  }
  return out + ')\n';
}

function connectionLines(s: ZooKeeperServer, brief: boolean): string {
  let out = '';
  for (const c of s.cnxns) out += connectionLine(c, brief);
  return out;
}

/** ZooKeeper's answer of srvr and stat when it is not serving. */
export const ZK_NOT_SERVING = 'This ZooKeeper instance is not currently serving requests\n';

/** The line srvr and stat add after the version while the server is read-only. */
const READ_ONLY_LINE = 'READ-ONLY mode; serving only read-only clients\n';

/** Whether srvr and stat describe a server: one serving clients, read-write or read-only. */
function describable(s: ZooKeeperServer): boolean {
  return s.readOnly || s.notServing === undefined;
}

/** srvr's and stat's first lines. */
function versionLines(s: ZooKeeperServer): string {
  return `Zookeeper version: ${VERSION_LINE}\n` + (s.readOnly ? READ_ONLY_LINE : '');
}

const WORDS: Record<string, Word> = {
  // "imok" only while writes can be taken: otherwise no answer at all, as documented for ruok.
  ruok: ({ server }) => (server.notServing ? '' : 'imok'),
  srvr: ({ server }) => (describable(server) ? versionLines(server) + serverSummary(server) : ZK_NOT_SERVING),
  stat: ({ server }) => (describable(server) ? versionLines(server) + `Clients:\n${connectionLines(server, true)}\n` + serverSummary(server) : ZK_NOT_SERVING),
  cons: ({ server }) => connectionLines(server, false) + '\n',
  // "null" while no server runs behind the port (an ensemble member without a role), as ZooKeeper.
  isro: ({ server }) => (server.readOnly ? 'ro' : server.quorumRoleProblem === undefined ? 'rw' : 'null'),
  // DigestCommand: the zxid in hex, then the digest as a signed long.
  hash: ({ server }) => server.digestLog.map((d) => `${BigInt.asUintN(64, d.zxid).toString(16)}: ${d.digest}\n`).join(''),
  dirs: ({ server }) => `datadir_size: ${dataDirSize(server)}\nlogdir_size: ${logDirSize(server)}\n`,
  wchs: ({ server }) => {
    const w = watchSummary(server);
    return `${w.connections} connections watching ${w.paths} paths\nTotal watches:${w.watches}\n`;
  },
  wchc: ({ server }) => {
    let out = '';
    for (const [sid, paths] of watchesBySession(server)) {
      out += `${hex(sid)}\n`;
      for (const p of paths) out += `\t${p}\n`;
    }
    return out + '\n';
  },
  wchp: ({ server }) => {
    let out = '';
    for (const [p, ws] of dataWatches(server)) {
      out += `${p}\n`;
      for (const w of ws) out += `\t${hex((w as { sessionId?: bigint }).sessionId ?? 0n)}\n`;
    }
    return out + '\n';
  },
  dump: ({ server }) => {
    const s = server;
    const sessions = sessionExpiry(s);
    let out = `SessionTracker dump:\nSession Sets (${sessions.length})/(${s.sessions.size}):\n`;
    for (const [t, ids] of sessions) {
      out += `${ids.length} expire at ${javaDate(t)}:\n`;
      for (const id of ids) out += `\t${hex(id)}\n`;
    }
    const owners = [...s.tree.sessionsWithEphemerals()];
    out += `ephemeral nodes dump:\nSessions with Ephemerals (${owners.length}):\n`;
    for (const sid of owners) {
      out += `${hex(sid)}:\n`;
      for (const p of [...s.tree.ephemeralsOf(sid)].sort()) out += `\t${p}\n`;
    }
    const cnxns = connectionExpiry(s);
    out += `Connections dump:\nConnections Sets (${cnxns.length})/(${s.cnxns.size}):\n`;
    for (const [t, cs] of cnxns) {
      out += `${cs.length} expire at ${javaDate(t)}:\n`;
      for (const c of cs) out += `\tip: /${c.remoteIp}:${c.remotePort} sessionId: ${hex(c.sessionId)}\n`;
    }
    return out;
  },
  conf: ({ server }) => {
    const c = confView(server);
    const q = server.quorumStatus?.();
    return (
      `clientPort=${c.clientPort}\n` +
      `secureClientPort=${c.secureClientPort}\n` +
      `dataDir=${c.dataDir}\n` +
      `dataDirSize=${c.dataDirSize}\n` +
      `dataLogDir=${c.dataLogDir}\n` +
      `dataLogSize=${c.dataLogSize}\n` +
      `tickTime=${c.tickTime}\n` +
      `maxClientCnxns=${c.maxClientCnxns}\n` +
      `minSessionTimeout=${c.minSessionTimeout}\n` +
      `maxSessionTimeout=${c.maxSessionTimeout}\n` +
      `clientPortListenBacklog=${c.clientPortListenBacklog}\n` +
      `serverId=${c.serverId}\n` +
      (q ? confQuorumText(q, server.config) : '')
    );
  },
  envi: () => 'Environment:\n' + environment().map(([k, v]) => `${k}=${v}\n`).join(''),
  crst: ({ server }) => {
    resetConnectionStats(server);
    return 'Connection stats reset.\n';
  },
  srst: ({ server }) => {
    resetServerStats(server);
    return 'Server stats reset.\n';
  },
  gtmk: (ctx) => String(ctx.traceMask),
  // The mask is a big-endian long right after the word; without it ZooKeeper drops the connection.
  stmk: (ctx, rest) => {
    if (!rest || rest.length < 8) return '';
    ctx.traceMask = rest.readBigInt64BE(0);
    return String(ctx.traceMask);
  },
  mntr: ({ server }) =>
    monitorValues(server, Date.now())
      .map(([k, v]) => `zk_${k}\t${String(v)}\n`)
      .join(''),
};

/** Every word ZooKeeper recognises, including the ones not implemented here yet. */
const KNOWN_WORDS = new Set(['conf', 'cons', 'crst', 'dirs', 'dump', 'envi', 'gtmk', 'stmk', 'ruok', 'srvr', 'srst', 'stat', 'wchc', 'wchp', 'wchs', 'mntr', 'isro', 'hash', 'kill', 'reqs', 'trac', 'tchk', 'cnfg']);

export class FourLetterWords {
  /** Shared with the AdminServer: the trace mask and the initial configuration live here. */
  readonly context: AdminContext;

  constructor(private readonly server: ZooKeeperServer) {
    this.context = new AdminContext(server);
  }

  isCommand(word: string): boolean {
    return KNOWN_WORDS.has(word);
  }

  private allowed(word: string): boolean {
    const wl = this.server.config.fourLetterWordWhitelist;
    return wl === '*' || wl.has(word);
  }

  run(word: string, rest?: Buffer): string {
    if (!this.allowed(word)) return `${word} is not executed because it is not in the whitelist.\n`;
    const w = WORDS[word];
    if (!w) return `${word} is not executed because it is not implemented yet.\n`;
    return w(this.context, rest);
  }
}
