/**
 * The config files a member with `reconfigEnabled=true` keeps next to its zoo.cfg, as ZooKeeper
 * writes them (docs/RECONFIG.md §1):
 *  - `<cfg>.bak`: a byte copy of the original zoo.cfg, made before the first rewrite;
 *  - `<cfg>.dynamic.<version hex>`: each committed configuration, its `server.`/`group.`/`weight.`
 *    lines sorted as strings, no `version=` line, no final newline; never deleted;
 *  - `<cfg>.dynamic.next`: a proposed configuration until it commits, the same with `version=`;
 *  - zoo.cfg itself rewritten: every key but the membership ones (and the client port keys once
 *    the membership names this member's client address), in java.util.Properties' iteration
 *    order, then `dynamicConfigFile=<absolute path>` last.
 * Each file is written whole to `<name>.tmp`, fsynced and renamed over the old one (then the
 * directory fsynced), so a crash leaves either the old file or the new one.
 */
import * as fs from 'node:fs';
import { parseProperties } from '../server/config';
import { writeFileAtomically } from './atomicfile';
import { javaPropertiesOrder, type QuorumVerifier } from '../quorum/verifier';

export const NEXT_SUFFIX = '.dynamic.next';

/** The text of a dynamic config file for `qv`: sorted `key=value` lines, `version=` only if kept. */
export function dynamicConfigText(qv: QuorumVerifier, keepVersion: boolean): string {
  const lines: string[] = [];
  for (const [k, v] of parseProperties(qv.toString())) {
    const key = k.trim();
    if (!keepVersion && key.startsWith('version')) continue;
    lines.push(`${key}=${v.trim()}`);
  }
  // Java's String.compareTo: UTF-16 code units, as JavaScript's default sort compares them.
  lines.sort();
  return lines.join('\n');
}

export function dynamicConfigFileName(configFile: string, version: bigint): string {
  return `${configFile}.dynamic.${BigInt.asUintN(64, version).toString(16)}`;
}

/** Writes `<cfg>.dynamic.<version>` for a committed configuration; returns its path. */
export function writeDynamicConfigFile(configFile: string, qv: QuorumVerifier): string {
  const file = dynamicConfigFileName(configFile, qv.version);
  writeFileAtomically(file, dynamicConfigText(qv, false));
  return file;
}

/** Writes `<cfg>.dynamic.next` for a proposed configuration. */
export function writeNextDynamicConfig(configFile: string, qv: QuorumVerifier): void {
  writeFileAtomically(configFile + NEXT_SUFFIX, dynamicConfigText(qv, true));
}

export function removeNextDynamicConfig(configFile: string): void {
  fs.rmSync(configFile + NEXT_SUFFIX, { force: true });
}

/** `<cfg>.bak`: the original zoo.cfg, byte for byte. */
export function backupStaticConfig(configFile: string): void {
  writeFileAtomically(configFile + '.bak', fs.readFileSync(configFile));
}

/**
 * Rewrites zoo.cfg to point at `dynamicFile`. `eraseClientPort`: the membership holds this
 * member's client address, so `clientPort`/`clientPortAddress` leave the static file.
 */
export function editStaticConfig(configFile: string, dynamicFile: string, eraseClientPort: boolean): void {
  const props = parseProperties(fs.readFileSync(configFile, 'latin1'));
  let text = '';
  for (const rawKey of javaPropertiesOrder(props.keys())) {
    const key = rawKey.trim();
    const membership = key.startsWith('server.') || key.startsWith('group') || key.startsWith('weight');
    if (membership || key.startsWith('dynamicConfigFile') || key.startsWith('peerType')) continue;
    if (eraseClientPort && key.startsWith('clientPort')) continue;
    text += `${key}=${props.get(rawKey)!.trim()}\n`;
  }
  text += `dynamicConfigFile=${fs.realpathSync(dynamicFile)}\n`;
  writeFileAtomically(configFile, text);
}
