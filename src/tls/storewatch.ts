/**
 * Watches a TLS side's key and trust store files and hands a freshly opened TLS context to
 * `reload` when one of them is written or replaced (a rename into place included), as ZooKeeper's
 * FileChangeWatcher does for `client.certReload` and `sslQuorumReloadCertFiles`; ZooKeeper 3.9 also
 * rereads the client port's stores for every new connection, so there new files always apply to new
 * connections. A store that does not open keeps the old context, and the reason is logged.
 * Connections already open keep the context they were made with.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { serverTlsOf, type ServerTls, type TlsSettings } from './settings';

/** Editors and `cp` write a file in several steps: changes this close together make one reload. */
const SETTLE_MS = 200;

export class StoreWatcher {
  private readonly watchers: fs.FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: TlsSettings,
    private readonly reload: (tls: ServerTls) => void,
    private readonly log: Logger,
  ) {
    const files = [settings.keyStore?.location, settings.trustStore?.location].filter((f): f is string => f !== undefined).map((f) => path.resolve(f));
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const names = byDir.get(path.dirname(f)) ?? new Set<string>();
      names.add(path.basename(f));
      byDir.set(path.dirname(f), names);
    }
    for (const [dir, names] of byDir) {
      try {
        const w = fs.watch(dir, { persistent: false }, (_event, name) => {
          // Some platforms give no name; then any change in the folder counts.
          if (name === null || names.has(name.toString())) this.changed();
        });
        w.on('error', (err) => this.log.error({ dir, err: err.message }, 'TLS store watcher failed; certificate reload is off for this folder'));
        this.watchers.push(w);
      } catch (err) {
        this.log.error({ dir, err: (err as Error).message }, 'cannot watch the TLS store folder; certificate reload is off for it');
      }
    }
  }

  private changed(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reopen(), SETTLE_MS);
    this.timer.unref();
  }

  private reopen(): void {
    try {
      const tls = serverTlsOf(this.settings);
      this.reload(tls);
      this.log.info({ prefix: this.settings.prefix }, 'TLS stores changed; new connections use them');
    } catch (err) {
      this.log.error({ prefix: this.settings.prefix, err: (err as Error).message }, 'TLS stores changed but do not open; the previous ones stay in use');
    }
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
  }
}
