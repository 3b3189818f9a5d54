/**
 * The election port's bytes, as ZooKeeper 3.8's QuorumCnxManager and FastLeaderElection write and
 * read them:
 *
 * - the initial message, once per connection from the initiator:
 *   `long protocolVersion (-65536 V1 | -65535 V2) | long sid | int N (1..2048) | N B "host:port"`
 *   (V2: addresses joined by `|`). A first long >= 0 is the whole message: the sid of a pre-3.5 peer.
 * - then frames in both directions: `int length (1..524288) | payload`;
 * - each payload a notification, version 2:
 *   `int state | long leader | long zxid | long electionEpoch | long peerEpoch | int version | int N | N B config`.
 *   Older forms are read too: 28 B (no peerEpoch: taken from the zxid) and 40 B (no version, no config).
 *
 * Decoding errors are `ElectionWireError`s whose `code` says what was wrong. On a connection, an
 * initial-message or framing error ends the connection; a notification error drops only that message
 * (what ZooKeeper does).
 */

import { getLong, putLong } from '../../protocol/jute';
import { Notification, PeerState } from '../vote';

/** The initial message's protocol version without multi-address support (what 3.5+ sends by default). */
export const PROTOCOL_VERSION_V1 = -65536n;
/** The multi-address version (ZOOKEEPER-3188), sent only with `zookeeper.multiAddress.enabled`. */
export const PROTOCOL_VERSION_V2 = -65535n;
/** The largest address part of an initial message (QuorumCnxManager.maxBuffer). */
export const INITIAL_MESSAGE_ADDRESS_BYTES_MAX = 2048;
/** Fixed part of a V1/V2 initial message: version, sid, address length. */
export const INITIAL_MESSAGE_HEADER_BYTES = 20;
/** The largest frame payload on the election port (QuorumCnxManager.PACKETMAXSIZE). */
export const ELECTION_FRAME_BYTES_MAX = 512 * 1024;
/** The notification format version 3.5+ sends: with the sender's config string. */
export const NOTIFICATION_VERSION = 2;
/** The smallest notification any version sends (state, leader, zxid, electionEpoch). */
export const NOTIFICATION_BYTES_MIN = 28;
/** The 3.4-era form: peerEpoch added, no version field (the last 4 bytes are not read). */
export const NOTIFICATION_BYTES_NO_VERSION = 40;
/** Fixed part of a version 2 notification, before the config bytes. */
export const NOTIFICATION_HEADER_BYTES = 44;

export type ElectionWireErrorCode =
  | 'unknown-protocol-version'
  | 'address-length'
  | 'bad-address'
  | 'bad-port'
  | 'frame-length'
  | 'notification-short'
  | 'notification-truncated'
  | 'config-length'
  | 'unknown-state';

export class ElectionWireError extends Error {
  constructor(
    readonly code: ElectionWireErrorCode,
    message: string,
    /** For `unknown-state`: the notification as read, with the raw state number. */
    readonly partial?: Omit<Notification, 'state'> & { state: number },
  ) {
    super(message);
    this.name = 'ElectionWireError';
  }
}

export interface ElectionAddress {
  host: string;
  port: number;
}

export interface InitialMessage {
  /** PROTOCOL_VERSION_V1 or _V2; undefined for a pre-3.5 peer, which sends only its sid. */
  protocolVersion: bigint | undefined;
  sid: bigint;
  /** The sender's election addresses, wildcard ones left out (as ZooKeeper does); empty for pre-3.5. */
  addresses: ElectionAddress[];
}

// ---------------------------------------------------------------------------------------------
// Addresses

/** `host:port`, with an IPv6 literal in brackets (NetUtils.formatInetAddr). */
export function formatElectionAddress(address: ElectionAddress): string {
  const host = address.host.includes(':') && !address.host.startsWith('[') ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}

/**
 * Parses one `host:port` of an initial message by ConfigUtils.getHostAndPort's rules: `[v6]:port`,
 * else split on `:`, which must give exactly host and port.
 */
export function parseElectionAddress(text: string): ElectionAddress {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new ElectionWireError('bad-address', `badly formed address ${JSON.stringify(text)}: '[' without ']'`);
    const rest = text.slice(close + 1);
    if (!rest.startsWith(':') || rest.length === 1) {
      throw new ElectionWireError('bad-address', `badly formed address ${JSON.stringify(text)}: no port after ']'`);
    }
    const parts = rest.slice(1).split(':');
    if (parts.length !== 1) throw new ElectionWireError('bad-address', `badly formed address ${JSON.stringify(text)}`);
    host = text.slice(1, close);
    portText = parts[0];
  } else {
    const parts = text.split(':');
    if (parts.length !== 2) throw new ElectionWireError('bad-address', `badly formed address ${JSON.stringify(text)}`);
    [host, portText] = parts;
  }
  if (host.length === 0) throw new ElectionWireError('bad-address', `badly formed address ${JSON.stringify(text)}: empty host`);
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new ElectionWireError('bad-port', `bad port number ${JSON.stringify(portText)} in ${JSON.stringify(text)}`);
  }
  return { host, port: Number(portText) };
}

/** 0.0.0.0 and :: in their literal spellings: ZooKeeper drops these from a peer's address list. */
export function isWildcardHost(host: string): boolean {
  if (host === '0.0.0.0') return true;
  if (!host.includes(':')) return false;
  return host.split(':').every((group) => group === '' || /^0+$/.test(group));
}

// ---------------------------------------------------------------------------------------------
// Initial message

export function encodeInitialMessage(
  sid: bigint,
  addresses: readonly ElectionAddress[],
  protocolVersion: bigint = PROTOCOL_VERSION_V1,
): Buffer {
  if (protocolVersion !== PROTOCOL_VERSION_V1 && protocolVersion !== PROTOCOL_VERSION_V2) {
    throw new ElectionWireError('unknown-protocol-version', `cannot send protocol version ${protocolVersion}`);
  }
  if (addresses.length === 0) throw new ElectionWireError('bad-address', 'an initial message needs an election address');
  // V1 carries one address; V2 all of them.
  const chosen = protocolVersion === PROTOCOL_VERSION_V1 ? addresses.slice(0, 1) : addresses;
  const text = Buffer.from(chosen.map(formatElectionAddress).join('|'), 'utf8');
  if (text.length > INITIAL_MESSAGE_ADDRESS_BYTES_MAX) {
    throw new ElectionWireError('address-length', `address part of ${text.length} bytes exceeds ${INITIAL_MESSAGE_ADDRESS_BYTES_MAX}`);
  }
  const out = Buffer.allocUnsafe(INITIAL_MESSAGE_HEADER_BYTES + text.length);
  putLong(out, 0, protocolVersion);
  putLong(out, 8, sid);
  out.writeInt32BE(text.length, 16);
  text.copy(out, INITIAL_MESSAGE_HEADER_BYTES);
  return out;
}

/** The initial message of a pre-3.5 peer: its sid alone. */
export function encodeLegacyInitialMessage(sid: bigint): Buffer {
  if (sid < 0n) throw new RangeError(`a pre-3.5 initial message carries a sid >= 0, not ${sid}`);
  const out = Buffer.allocUnsafe(8);
  putLong(out, 0, sid);
  return out;
}

/**
 * Reads an initial message from the start of `buf`. Returns undefined when more bytes are needed,
 * else the message and the number of bytes it took (what follows is framed traffic). Throws
 * ElectionWireError for a bad version, length or address.
 */
export function parseInitialMessage(buf: Buffer): { message: InitialMessage; bytes: number } | undefined {
  if (buf.length < 8) return undefined;
  const first = getLong(buf, 0);
  if (first >= 0n) return { message: { protocolVersion: undefined, sid: first, addresses: [] }, bytes: 8 };
  if (first !== PROTOCOL_VERSION_V1 && first !== PROTOCOL_VERSION_V2) {
    throw new ElectionWireError('unknown-protocol-version', `unrecognized protocol version ${first}`);
  }
  if (buf.length < INITIAL_MESSAGE_HEADER_BYTES) return undefined;
  const sid = getLong(buf, 8);
  const length = buf.readInt32BE(16);
  if (length <= 0 || length > INITIAL_MESSAGE_ADDRESS_BYTES_MAX) {
    throw new ElectionWireError('address-length', `unreasonable address length ${length} from sid ${sid} (allowed 1..${INITIAL_MESSAGE_ADDRESS_BYTES_MAX})`);
  }
  const end = INITIAL_MESSAGE_HEADER_BYTES + length;
  if (buf.length < end) return undefined;
  const text = buf.toString('utf8', INITIAL_MESSAGE_HEADER_BYTES, end);
  const addresses: ElectionAddress[] = [];
  for (const part of text.split('|')) {
    const address = parseElectionAddress(part);
    if (!isWildcardHost(address.host)) addresses.push(address);
  }
  return { message: { protocolVersion: first, sid, addresses }, bytes: end };
}

// ---------------------------------------------------------------------------------------------
// Frames

export function encodeFrame(payload: Buffer): Buffer {
  if (payload.length < 1 || payload.length > ELECTION_FRAME_BYTES_MAX) {
    throw new ElectionWireError('frame-length', `frame payload of ${payload.length} bytes (allowed 1..${ELECTION_FRAME_BYTES_MAX})`);
  }
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

/**
 * An incremental reader of `int length | payload` frames. Holds at most one partial frame
 * (4 + ELECTION_FRAME_BYTES_MAX bytes). A length outside 1..max throws `frame-length`, after which
 * the reader must not be used again (the connection is to be closed).
 */
export class ElectionFrameReader {
  private readonly lengthBytes = Buffer.alloc(4);
  private lengthFill = 0;
  private partial: Buffer | null = null;
  private partialFill = 0;

  constructor(private readonly maxFrameBytes: number = ELECTION_FRAME_BYTES_MAX) {}

  /** Bytes held toward an incomplete frame. */
  get bufferedBytes(): number {
    return this.lengthFill + this.partialFill;
  }

  /** Feeds bytes; returns the frames they complete, in order (views of `chunk` where whole). */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.partial === null) {
        if (this.lengthFill === 0 && chunk.length - pos >= 4) {
          const length = this.checkLength(chunk.readInt32BE(pos));
          pos += 4;
          if (chunk.length - pos >= length) {
            frames.push(chunk.subarray(pos, pos + length));
            pos += length;
            continue;
          }
          this.partial = Buffer.allocUnsafe(length);
          this.partialFill = 0;
          continue;
        }
        const take = Math.min(4 - this.lengthFill, chunk.length - pos);
        chunk.copy(this.lengthBytes, this.lengthFill, pos, pos + take);
        this.lengthFill += take;
        pos += take;
        if (this.lengthFill < 4) break;
        this.lengthFill = 0;
        this.partial = Buffer.allocUnsafe(this.checkLength(this.lengthBytes.readInt32BE(0)));
        this.partialFill = 0;
        continue;
      }
      const take = Math.min(this.partial.length - this.partialFill, chunk.length - pos);
      chunk.copy(this.partial, this.partialFill, pos, pos + take);
      this.partialFill += take;
      pos += take;
      if (this.partialFill === this.partial.length) {
        frames.push(this.partial);
        this.partial = null;
        this.partialFill = 0;
      }
    }
    return frames;
  }

  private checkLength(length: number): number {
    if (length <= 0 || length > this.maxFrameBytes) {
      throw new ElectionWireError('frame-length', `invalid frame length ${length} (allowed 1..${this.maxFrameBytes})`);
    }
    return length;
  }
}

// ---------------------------------------------------------------------------------------------
// Notifications

/** What a server sends: a notification without the sender (the connection names it). */
export interface OutgoingNotification {
  state: PeerState;
  leader: bigint;
  zxid: bigint;
  electionEpoch: bigint;
  peerEpoch: bigint;
  /** The sender's committed config, QuorumVerifier.toString(). */
  config: string;
}

/** The version 2 payload (FastLeaderElection.buildMsg), without the frame's length. */
export function encodeNotification(n: OutgoingNotification): Buffer {
  const config = Buffer.from(n.config, 'utf8');
  const out = Buffer.allocUnsafe(NOTIFICATION_HEADER_BYTES + config.length);
  if (out.length > ELECTION_FRAME_BYTES_MAX) {
    throw new ElectionWireError('frame-length', `a notification with a ${config.length}-byte config exceeds ${ELECTION_FRAME_BYTES_MAX} bytes`);
  }
  out.writeInt32BE(n.state, 0);
  putLong(out, 4, n.leader);
  putLong(out, 12, n.zxid);
  putLong(out, 20, n.electionEpoch);
  putLong(out, 28, n.peerEpoch);
  out.writeInt32BE(NOTIFICATION_VERSION, 36);
  out.writeInt32BE(config.length, 40);
  config.copy(out, NOTIFICATION_HEADER_BYTES);
  return out;
}

function isPeerState(state: number): state is PeerState {
  return state === PeerState.LOOKING || state === PeerState.FOLLOWING || state === PeerState.LEADING || state === PeerState.OBSERVING;
}

/**
 * Reads one notification payload from `sid` with FastLeaderElection.WorkerReceiver's rules:
 * - under 28 B: dropped (`notification-short`);
 * - 28 B: no peerEpoch (taken from the zxid's epoch), version 0, no config;
 * - 40 B: peerEpoch, version 0, no config (the last 4 bytes are not read);
 * - otherwise peerEpoch and version must be present (`notification-truncated`); a version > 1 is
 *   followed by a config length that must be >= 0 and fit the frame (`config-length`), then the config.
 * - a state other than 0..3 is dropped (`unknown-state`, the rest of the message in `partial`).
 * Bytes after the config are ignored, as ZooKeeper ignores them.
 */
export function decodeNotification(sid: bigint, payload: Buffer): Notification {
  const capacity = payload.length;
  if (capacity < NOTIFICATION_BYTES_MIN) {
    throw new ElectionWireError('notification-short', `notification of ${capacity} bytes from sid ${sid} (at least ${NOTIFICATION_BYTES_MIN})`);
  }
  const state = payload.readInt32BE(0);
  const leader = getLong(payload, 4);
  const zxid = getLong(payload, 12);
  const electionEpoch = getLong(payload, 20);
  let peerEpoch: bigint;
  let version = 0;
  let config: string | undefined;
  if (capacity === NOTIFICATION_BYTES_MIN) {
    peerEpoch = zxid >> 32n;
  } else if (capacity === NOTIFICATION_BYTES_NO_VERSION) {
    peerEpoch = getLong(payload, 28);
  } else {
    if (capacity < 40) {
      throw new ElectionWireError('notification-truncated', `notification of ${capacity} bytes from sid ${sid}: cut inside peerEpoch or version`);
    }
    peerEpoch = getLong(payload, 28);
    version = payload.readInt32BE(36);
    if (version > 1) {
      if (capacity < NOTIFICATION_HEADER_BYTES) {
        throw new ElectionWireError('notification-truncated', `version ${version} notification of ${capacity} bytes from sid ${sid}: no config length`);
      }
      const configLength = payload.readInt32BE(40);
      if (configLength < 0 || configLength > capacity - NOTIFICATION_HEADER_BYTES) {
        throw new ElectionWireError(
          'config-length',
          `invalid config length ${configLength} in a ${capacity}-byte notification from sid ${sid}`,
        );
      }
      config = payload.toString('utf8', NOTIFICATION_HEADER_BYTES, NOTIFICATION_HEADER_BYTES + configLength);
    }
  }
  const notification = { sid, state, leader, zxid, electionEpoch, peerEpoch, version, config };
  if (!isPeerState(state)) {
    throw new ElectionWireError('unknown-state', `unknown state ${state} in a notification from sid ${sid}`, notification);
  }
  return { ...notification, state };
}
