/**
 * `zkts status [host:port]`: a short human summary of a server (zkts or ZooKeeper) from its
 * four-letter words. mntr has the most; srvr is whitelisted by default and has the zxid, which
 * mntr lacks; either alone is enough.
 */
import { fourLetterWordClient } from './client';

export interface ServerStatus {
  hostport: string;
  sources: string[];
  mode?: string;
  version?: string;
  zxid?: string;
  znodes?: string;
  connections?: string;
  outstanding?: string;
  latency?: { min: string; avg: string; max: string };
  sessions?: string;
  watches?: string;
  dataSize?: string;
}

/** ZooKeeper answers a word outside 4lw.commands.whitelist with this sentence instead of data. */
function refused(answer: string): boolean {
  return /is not executed because it is not in the whitelist|is not executed because it is not implemented/.test(answer);
}

/** mntr: `zk_<key>\t<value>` lines. */
export function parseMntr(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0 && line.startsWith('zk_')) out.set(line.slice(3, tab), line.slice(tab + 1).trim());
  }
  return out;
}

/** srvr: `Label: value` lines. */
export function parseSrvr(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 2).trim());
  }
  return out;
}

async function ask(hostport: string, word: string, timeoutMs: number): Promise<string | undefined> {
  const answer = await fourLetterWordClient(hostport, word, timeoutMs);
  return answer === '' || refused(answer) ? undefined : answer;
}

export async function fetchStatus(hostport: string, timeoutMs = 5000): Promise<ServerStatus> {
  // One after the other, so that the connection count includes only one of ours.
  const mntrText = await ask(hostport, 'mntr', timeoutMs);
  const srvrText = await ask(hostport, 'srvr', timeoutMs);
  if (mntrText === undefined && srvrText === undefined)
    throw new Error(`${hostport} answered neither mntr nor srvr (add one of them to 4lw.commands.whitelist)`);
  const st: ServerStatus = { hostport, sources: [] };
  if (mntrText !== undefined) {
    const m = parseMntr(mntrText);
    st.sources.push('mntr');
    st.mode = m.get('server_state');
    st.version = m.get('version');
    st.znodes = m.get('znode_count');
    st.connections = m.get('num_alive_connections');
    st.outstanding = m.get('outstanding_requests');
    if (m.has('min_latency')) st.latency = { min: m.get('min_latency')!, avg: m.get('avg_latency') ?? '?', max: m.get('max_latency') ?? '?' };
    st.sessions = m.get('global_sessions');
    st.watches = m.get('watch_count');
    st.dataSize = m.get('approximate_data_size');
  }
  if (srvrText !== undefined) {
    const s = parseSrvr(srvrText);
    st.sources.push('srvr');
    st.mode ??= s.get('Mode');
    st.version ??= s.get('Zookeeper version');
    st.zxid = s.get('Zxid');
    st.znodes ??= s.get('Node count');
    st.connections ??= s.get('Connections');
    st.outstanding ??= s.get('Outstanding');
    const lat = /^(\S+)\/(\S+)\/(\S+)$/.exec(s.get('Latency min/avg/max') ?? '');
    if (!st.latency && lat) st.latency = { min: lat[1], avg: lat[2], max: lat[3] };
  }
  return st;
}

export function formatStatus(st: ServerStatus): string {
  const na = (v: string | undefined, why = 'unknown') => v ?? why;
  const noMntr = st.sources.includes('mntr') ? 'unknown' : 'unknown (mntr not whitelisted)';
  const rows: Array<[string, string]> = [
    ['Server', st.hostport],
    ['Mode', na(st.mode)],
    ['Version', na(st.version)],
    ['Zxid', na(st.zxid, st.sources.includes('srvr') ? 'unknown' : 'unknown (srvr not whitelisted)')],
    ['Znodes', na(st.znodes)],
    ['Connections', na(st.connections)],
    ['Outstanding', na(st.outstanding)],
    ['Latency', st.latency ? `min/avg/max ${st.latency.min}/${st.latency.avg}/${st.latency.max} ms` : 'unknown'],
    ['Sessions', na(st.sessions, noMntr)],
    ['Watches', na(st.watches, noMntr)],
    ['Data size', st.dataSize === undefined ? noMntr : `${st.dataSize} bytes`],
    ['Source', st.sources.join(', ')],
  ];
  return rows.map(([k, v]) => `${(k + ':').padEnd(13)}${v}\n`).join('');
}

/** The command: prints the summary; exit code 1 when the server cannot be reached or says nothing. */
export async function statusMain(hostport: string, write: (s: string) => void, writeErr: (s: string) => void): Promise<number> {
  try {
    write(formatStatus(await fetchStatus(hostport)));
    return 0;
  } catch (e) {
    writeErr(`zkts: status of ${hostport}: ${(e as Error).message}\n`);
    return 1;
  }
}
