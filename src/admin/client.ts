/** Sends one four-letter word and returns the whole answer. */
import * as net from 'node:net';

const REPLY_BYTES_MAX = 16 * 1024 * 1024;

export function fourLetterWordClient(hostport: string, word: string, timeoutMs = 5000): Promise<string> {
  const i = hostport.lastIndexOf(':');
  const host = i < 0 ? hostport : hostport.slice(0, i);
  const port = i < 0 ? 2181 : Number(hostport.slice(i + 1));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const sock = net.connect({ host, port }, () => sock.write(word));
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`no answer from ${hostport} within ${timeoutMs} ms`)));
    sock.on('data', (d: Buffer) => {
      size += d.length;
      if (size > REPLY_BYTES_MAX) sock.destroy(new Error('answer too large'));
      else chunks.push(d);
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}
