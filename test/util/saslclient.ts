// The client side of SASL DIGEST-MD5 for tests: the digest response to a server's challenge,
// written as Java's SaslClient writes it, with hooks to spoil any part of it.

import * as crypto from 'node:crypto';
import { JuteReader } from '../../src/protocol/jute';
import * as R from '../../src/protocol/generated/records';
import { OpCode } from '../../src/protocol/constants';
import { parseDirectives, responseValue } from '../../src/server/sasl/digestmd5';
import { ConnectionClosedError, type Reply, type ZkClient } from './client';

export interface DigestClientOptions {
  user: string;
  password: string;
  authzid?: string;
  cnonce?: string;
  digestUri?: string;
  realm?: string;
  /** Replaces the computed response value. */
  response?: string;
  /** Directives appended as they are. */
  extra?: string;
}

/** The digest response to `challenge`, as `key=value` pairs joined by commas. */
export function digestResponse(challenge: Buffer, o: DigestClientOptions): Buffer {
  const d = parseDirectives(challenge);
  const nonce = d.get('nonce');
  if (!nonce) throw new Error(`challenge without a nonce: ${challenge.toString()}`);
  const realm = o.realm ?? d.get('realm')?.toString('utf8') ?? '';
  const cnonce = Buffer.from(o.cnonce ?? crypto.randomBytes(24).toString('base64'), 'latin1');
  const digestUri = o.digestUri ?? 'zookeeper/zk-sasl-md5';
  const authzid = o.authzid === undefined ? undefined : Buffer.from(o.authzid, 'utf8');
  const value =
    o.response ??
    responseValue({ method: 'AUTHENTICATE', digestUri, qop: 'auth', username: o.user, realm, password: o.password, nonce, cnonce, authzid });
  const parts = [
    'charset=utf-8',
    `username="${o.user}"`,
    `realm="${realm}"`,
    `nonce="${nonce.toString('latin1')}"`,
    'nc=00000001',
    `cnonce="${cnonce.toString('latin1')}"`,
    `digest-uri="${digestUri}"`,
    'maxbuf=65536',
    `response=${value}`,
    'qop=auth',
  ];
  if (o.authzid !== undefined) parts.push(`authzid="${o.authzid}"`);
  if (o.extra) parts.push(o.extra);
  return Buffer.from(parts.join(','), 'utf8');
}

/** The rspauth the server owes for a response made with `o` (the same cnonce must be given). */
export function expectedRspauth(challenge: Buffer, o: DigestClientOptions & { cnonce: string }): string {
  const d = parseDirectives(challenge);
  return (
    'rspauth=' +
    responseValue({
      method: '',
      digestUri: o.digestUri ?? 'zookeeper/zk-sasl-md5',
      qop: 'auth',
      username: o.user,
      realm: o.realm ?? d.get('realm')?.toString('utf8') ?? '',
      password: o.password,
      nonce: d.get('nonce')!,
      cnonce: Buffer.from(o.cnonce, 'latin1'),
      authzid: o.authzid === undefined ? undefined : Buffer.from(o.authzid, 'utf8'),
    })
  );
}

/** Sends one SASL token (opcode 102); the reply, or undefined if the connection closed first. */
export async function sendSasl(c: ZkClient, token: Buffer | null, timeoutMs?: number): Promise<Reply | undefined> {
  try {
    return await c.request(OpCode.sasl, (w) => R.encodeGetSASLRequest(w, { token }), { timeoutMs });
  } catch (e) {
    if (e instanceof ConnectionClosedError) return undefined;
    throw e;
  }
}

/** The token of a SASL reply body. */
export function saslToken(r: Reply): Buffer | null {
  return R.decodeSetSASLResponse(new JuteReader(r.frame.subarray(16))).token;
}
