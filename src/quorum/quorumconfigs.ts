/**
 * A member's configurations: the committed one and the last-seen one (newer while a reconfig is
 * proposed and not committed), kept on disk as ZooKeeper keeps them (`storage/dynamicconfig.ts`,
 * docs/RECONFIG.md §1) when reconfig is enabled and the member was started from a config file:
 *  - a configuration seen: `<cfg>.dynamic.next`;
 *  - a configuration activated: `<cfg>.dynamic.<version>`, zoo.cfg rewritten to point at it, and
 *    `.dynamic.next` removed once nothing newer is pending.
 * Whoever must follow the committed configuration (the server's /zookeeper/config, the election's
 * members, the client listener) subscribes with `onActivate`.
 */
import type { Logger } from 'pino';
import { editStaticConfig, removeNextDynamicConfig, writeDynamicConfigFile, writeNextDynamicConfig } from '../storage/dynamicconfig';
import type { QuorumVerifier } from './verifier';

export interface QuorumConfigsOptions {
  mySid: bigint;
  /** The committed configuration at start (zoo.cfg's, or its dynamic file's). */
  verifier: QuorumVerifier;
  /** `<cfg>.dynamic.next` at start, when present: a reconfig seen and not known committed. */
  lastSeen?: QuorumVerifier;
  /** The zoo.cfg this member was started from; without one no file is written. */
  configFile?: string;
  reconfigEnabled: boolean;
  log: Logger;
}

export type ActivationListener = (prev: QuorumVerifier, next: QuorumVerifier) => void;

export class QuorumConfigs {
  private committedQv: QuorumVerifier;
  private lastSeenQv: QuorumVerifier;
  private readonly listeners: ActivationListener[] = [];
  private readonly seenListeners: Array<(qv: QuorumVerifier) => void> = [];

  constructor(private readonly opts: QuorumConfigsOptions) {
    this.committedQv = opts.verifier;
    this.lastSeenQv = opts.lastSeen !== undefined && opts.lastSeen.version > opts.verifier.version ? opts.lastSeen : opts.verifier;
  }

  get committed(): QuorumVerifier {
    return this.committedQv;
  }

  get lastSeen(): QuorumVerifier {
    return this.lastSeenQv;
  }

  /** Files are kept only with reconfig enabled and a config file to keep them beside. */
  private get configFile(): string | undefined {
    return this.opts.reconfigEnabled ? this.opts.configFile : undefined;
  }

  onActivate(listener: ActivationListener): void {
    this.listeners.push(listener);
  }

  onSeen(listener: (qv: QuorumVerifier) => void): void {
    this.seenListeners.push(listener);
  }

  /** A newer configuration was proposed (or came in NEWLEADER): `.dynamic.next`. Older ones are ignored. */
  see(qv: QuorumVerifier): void {
    if (qv.version <= this.lastSeenQv.version) {
      if (qv.version < this.lastSeenQv.version) this.opts.log.warn({ version: qv.version.toString(16), lastSeen: this.lastSeenQv.version.toString(16) }, 'an older configuration than the last seen one ignored');
      return;
    }
    this.lastSeenQv = qv;
    const file = this.configFile;
    if (file !== undefined) writeNextDynamicConfig(file, qv);
    for (const l of this.seenListeners) l(qv);
  }

  /** The last-seen configuration's reconfig is not in the log: it never commits; `.dynamic.next` goes. */
  forgetSeen(): void {
    if (this.lastSeenQv.version <= this.committedQv.version) return;
    this.opts.log.warn({ version: this.lastSeenQv.version.toString(16) }, 'the configuration last seen is forgotten: its reconfig is not in the log');
    this.lastSeenQv = this.committedQv;
    const file = this.configFile;
    if (file !== undefined) removeNextDynamicConfig(file);
    for (const l of this.seenListeners) l(this.committedQv);
  }

  /**
   * `qv` became committed. Returns false when it is not newer than the committed one (nothing
   * changes, as in ZooKeeper's setQuorumVerifier).
   */
  activate(qv: QuorumVerifier): boolean {
    if (qv.version <= this.committedQv.version) return false;
    const prev = this.committedQv;
    this.committedQv = qv;
    if (this.lastSeenQv.version < qv.version) this.lastSeenQv = qv;
    const file = this.configFile;
    if (file !== undefined) {
      const dynamicFile = writeDynamicConfigFile(file, qv);
      // The client port keys leave zoo.cfg once the membership names this member's client address.
      editStaticConfig(file, dynamicFile, qv.members.get(this.opts.mySid)?.clientAddress !== undefined);
      if (qv.version === this.lastSeenQv.version) removeNextDynamicConfig(file);
    }
    this.opts.log.info({ version: qv.version.toString(16), members: qv.members.size, voters: qv.votingMembers.size }, 'configuration activated');
    for (const l of this.listeners) l(prev, qv);
    return true;
  }
}
