// Drives a server-side SASL exchange with a real GSSAPI client process (python-gssapi on MIT
// krb5, or Java's javax.security.sasl) that speaks "T <hex>" / "S <hex>" lines on stdio.

import { spawn } from 'node:child_process';
import * as readline from 'node:readline';
import type { SaslServerExchange } from '../../src/server/sasl/mechanism';

export interface ClientCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

export interface ExchangeOutcome {
  /** The server completed and the client said DONE. */
  readonly ok: boolean;
  readonly authorizationId?: string;
  /** The server's SaslError (or other error) message. */
  readonly serverError?: string;
  /** The client's "ERR" line or unexpected exit. */
  readonly clientError?: string;
  /** The client tokens, in order, as the server received them (after `alter`). */
  readonly clientTokens: Buffer[];
  readonly stderr: string;
}

const EXCHANGE_TIMEOUT_MS = 60_000;
const STDERR_MAX = 64 * 1024;
const MAX_ROUNDS = 10;

/**
 * Runs the client against `exchange`. `alter(index, token)` may change the i-th client token
 * before the server sees it (tampering tests).
 */
export function runExchange(
  client: ClientCommand,
  exchange: SaslServerExchange,
  alter?: (index: number, token: Buffer) => Buffer,
): Promise<ExchangeOutcome> {
  return new Promise((resolve) => {
    const child = spawn(client.file, [...client.args], { env: client.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const clientTokens: Buffer[] = [];
    let stderr = '';
    let settled = false;
    let clientDone = false;
    const finish = (outcome: Omit<ExchangeOutcome, 'clientTokens' | 'stderr'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdin.end();
      if (child.exitCode === null) child.kill('SIGKILL');
      resolve({ ...outcome, clientTokens, stderr });
    };
    const timer = setTimeout(() => finish({ ok: false, clientError: `no result in ${EXCHANGE_TIMEOUT_MS} ms` }), EXCHANGE_TIMEOUT_MS);
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < STDERR_MAX) stderr += d.toString();
    });
    child.on('error', (err) => finish({ ok: false, clientError: err.message }));
    child.on('exit', (code, signal) => {
      // Give the stdout reader a turn to deliver the last lines.
      setImmediate(() => {
        if (clientDone && exchange.complete) finish({ ok: true, authorizationId: exchange.authorizationId });
        else finish({ ok: false, clientError: `client exited (${code ?? signal}) before completing` });
      });
    });
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (settled) return;
      if (line === 'DONE') {
        clientDone = true;
        if (exchange.complete) finish({ ok: true, authorizationId: exchange.authorizationId });
        else finish({ ok: false, serverError: 'client finished but the server is not complete' });
        return;
      }
      if (line.startsWith('ERR ')) {
        finish({ ok: false, clientError: line.slice(4) });
        return;
      }
      if (!line.startsWith('T ')) return; // library chatter
      if (clientTokens.length >= MAX_ROUNDS) {
        finish({ ok: false, serverError: 'too many rounds' });
        return;
      }
      let token: Buffer = Buffer.from(line.slice(2).trim(), 'hex');
      if (alter) token = alter(clientTokens.length, token);
      clientTokens.push(token);
      let answer: Buffer | null;
      try {
        answer = exchange.evaluate(token);
      } catch (err) {
        finish({ ok: false, serverError: (err as Error).message + ` [${(err as Error).name}]` });
        return;
      }
      if (exchange.complete) {
        // The client may still be finishing; its DONE line settles the outcome.
        return;
      }
      child.stdin.write(`S ${(answer ?? Buffer.alloc(0)).toString('hex')}\n`);
    });
  });
}
