// The Kafka scenario of compat-tests/kafka.test.ts, against any ZooKeeper service given by its
// connect string: two brokers in ZooKeeper mode under the chroot /kafka, a replicated topic,
// produce and consume, a topic config change, an ACL, controller failover by SIGKILL and a broker
// restart, each step checked through the znodes Kafka leaves in the service.

import { type Test } from 'tap';
import { dumpTranscript, waitFor } from '../util/harness';
import { KafkaBroker } from './broker';
import { runTool, TOOL } from './jvm';
import { ZnodeReader } from './znodes';

// Short ticks for the servers under test, so that the killed controller's session expires within
// seconds.
export const KAFKA_SERVER_CONFIG = { tickTime: '500' };
const CHROOT = '/kafka';
const KAFKA_SESSION_TIMEOUT_MS = 6_000;
const BROKER_IDS = [0, 1] as const;
const TOPIC = 'orders';
const GROUP = 'g1';
const MESSAGES = Array.from({ length: 10 }, (_v, i) => `message-${i}`);
const MAX_MESSAGE_BYTES = 2048;

const BROKER_START_MS = 90_000;
const TOOL_TIMEOUT_MS = 60_000;
const ISR_WAIT_MS = 60_000;
const FAILOVER_WAIT_MS = 45_000;
const NOTIFICATION_WAIT_MS = 30_000;
const POLL_MS = 100;
const STAT_PATHS = [
  '',
  '/brokers/ids',
  '/brokers/topics',
  `/brokers/topics/${TOPIC}`,
  `/brokers/topics/${TOPIC}/partitions`,
  '/config/topics',
  `/config/topics/${TOPIC}`,
  '/config/changes',
  '/controller_epoch',
  '/kafka-acl/Topic',
  `/kafka-acl/Topic/${TOPIC}`,
  '/kafka-acl-changes',
  '/cluster/id',
] as const;
const ZK_CLIENT_COMPLAINT = /\] (WARN|ERROR) .*\((kafka\.zookeeper\.ZooKeeperClient|org\.apache\.zookeeper\.[\w.$]+)\)$/;
const ZK_SESSION_OPENED = /\[ZooKeeperClient [^\]]+\] Initializing a new session to /;

export type Outcome = Array<[string, unknown]>;

interface PartitionState {
  leader: number;
  isr: number[];
  controller_epoch: number;
  leader_epoch: number;
}

function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

function outputLines(output: string): string[] {
  return output.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/**
 * Runs the whole scenario against the ZooKeeper service at `connectString` (one server or an
 * ensemble's list), checking its own outcomes on `t`. Returns what must be the same on every
 * target: the outcome list and the shape of the znode tree under /kafka. `label` names the target
 * in messages.
 */
export async function kafkaScenario(
  t: Test,
  label: string,
  connectString: string,
  /** The brokers' own way to the service: another connect string (a TLS port) and ZooKeeper client properties. */
  brokerZk: { connectString?: string; properties?: Record<string, string> } = {},
): Promise<{ outcome: Outcome; tree: string[] }> {
  const out: Outcome = [];
  const timings: Record<string, number> = {};
  let phaseStart = Date.now();
  const phase = (name: string): void => {
    timings[name] = Date.now() - phaseStart;
    phaseStart = Date.now();
  };

  const zk = await ZnodeReader.open(connectString);
  const brokers: KafkaBroker[] = [];
  try {
    return await steps();
  } finally {
    zk.close();
    const stopStart = Date.now();
    await Promise.all(brokers.map((b) => b.remove(`kafka.${label}.broker${b.brokerId}`)));
    t.comment(`${label}: brokers stopped in ${Date.now() - stopStart} ms`);
  }

  async function steps(): Promise<{ outcome: Outcome; tree: string[] }> {
    for (const brokerId of BROKER_IDS) {
      brokers.push(
        await KafkaBroker.create({
          brokerId,
          zookeeperConnect: `${brokerZk.connectString ?? connectString}${CHROOT}`,
          zookeeperSessionTimeoutMs: KAFKA_SESSION_TIMEOUT_MS,
          extraProperties: {
            ...(brokerZk.properties ?? {}),
            'authorizer.class.name': 'kafka.security.authorizer.AclAuthorizer',
            // Nobody is a super user: PLAINTEXT clients (and the brokers) are User:ANONYMOUS, allowed
            // wherever no ACL names the resource.
            'allow.everyone.if.no.acl.found': 'true',
          },
        }),
      );
    }
    const broker = (id: number): KafkaBroker => brokers[id]!;
    const bootstrap = (): string => brokers.filter((b) => b.isRunning).map((b) => b.bootstrap).join(',');
    const logs = (): string => brokers.map((b) => b.logTail()).join('\n');
    const bounded = async (cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> => {
      try {
        await waitFor(async () => {
          for (const b of brokers) {
            if (b.exitStatus !== '' && b.exitStatus !== 'signal SIGKILL') throw new Error(`${b.name} exited (${b.exitStatus})`);
          }
          return cond();
        }, timeoutMs, what, POLL_MS);
      } catch (err) {
        throw new Error(`${label}: ${(err as Error).message}\n${logs()}`);
      }
    };
    const tool = async (mainClass: string, args: string[], input = ''): Promise<string> => {
      const r = await runTool(mainClass, args, input, TOOL_TIMEOUT_MS);
      if (r.code !== 0) throw new Error(`${mainClass} ${args.join(' ')} exited with ${r.code ?? r.signal}:\n${r.output}`);
      return r.output;
    };
    const registered = async (): Promise<string[]> => (await zk.children(`${CHROOT}/brokers/ids`)) ?? [];
    const controllerId = async (): Promise<number | undefined> => {
      const c = (await zk.json(`${CHROOT}/controller`)) as { brokerid?: number } | undefined;
      return c?.brokerid;
    };
    const partitionState = async (p: number): Promise<PartitionState | undefined> =>
      (await zk.json(`${CHROOT}/brokers/topics/${TOPIC}/partitions/${p}/state`)) as PartitionState | undefined;
    const fullIsr = async (): Promise<boolean> => {
      for (const p of [0, 1]) {
        const s = await partitionState(p);
        if (s === undefined || s.isr.length !== 2) return false;
      }
      return true;
    };

    // --- both brokers register -------------------------------------------------------------------
    for (const b of brokers) b.start();
    await bounded(async () => (await registered()).length === 2, BROKER_START_MS, 'both brokers in /brokers/ids');
    await bounded(async () => (await controllerId()) !== undefined, BROKER_START_MS, 'a controller in /controller');
    out.push(['registered brokers', await registered()]);
    for (const id of BROKER_IDS) {
      const reg = (await zk.json(`${CHROOT}/brokers/ids/${id}`)) as { endpoints: string[]; host: string; port: number };
      const node = await zk.get(`${CHROOT}/brokers/ids/${id}`);
      out.push([`broker ${id} registration`, { endpoints: reg.endpoints.length, ephemeral: node!.stat.ephemeralOwner.readBigInt64BE(0) !== 0n }]);
      t.same(reg.endpoints, [`PLAINTEXT://127.0.0.1:${broker(id).port}`], `broker ${id} registered its listener`);
      t.equal(reg.port, broker(id).port, `broker ${id}: port in its registration`);
    }
    const firstController = (await controllerId())!;
    t.ok(BROKER_IDS.includes(firstController as 0 | 1), `controller is broker ${firstController}`);
    out.push(['controller_epoch at start', await zk.json(`${CHROOT}/controller_epoch`)]);
    out.push(['cluster id stored', typeof ((await zk.json(`${CHROOT}/cluster/id`)) as { id?: unknown }).id]);
    phase('brokers up');

    // --- a replicated topic ------------------------------------------------------------------------
    await tool(TOOL.topics, ['--bootstrap-server', bootstrap(), '--create', '--topic', TOPIC, '--partitions', '2', '--replication-factor', '2']);
    const assignment = (await zk.json(`${CHROOT}/brokers/topics/${TOPIC}`)) as { partitions: Record<string, number[]> };
    out.push(['topic partitions', Object.keys(assignment.partitions).sort()]);
    for (const [p, replicas] of Object.entries(assignment.partitions)) {
      t.same(sorted(replicas), [0, 1], `partition ${p} is on both brokers`);
    }
    await bounded(fullIsr, ISR_WAIT_MS, `both replicas of ${TOPIC} in sync`);
    const described = await tool(TOOL.topics, ['--bootstrap-server', bootstrap(), '--describe', '--topic', TOPIC]);
    const describedPartitions = outputLines(described).filter((l) => /\bPartition: \d+\s/.test(l));
    out.push(['kafka-topics --describe partitions', describedPartitions.length]);
    for (const line of describedPartitions) t.match(line, /Replicas: (0,1|1,0)\s+Isr: (0,1|1,0)/, `described: ${line}`);
    phase('topic');

    // --- produce and consume -------------------------------------------------------------------------
    await tool(
      TOOL.producer,
      ['--bootstrap-server', bootstrap(), '--topic', TOPIC, '--producer-property', 'acks=all'],
      MESSAGES.join('\n') + '\n',
    );
    const consumed = await tool(TOOL.consumer, [
      '--bootstrap-server', bootstrap(), '--topic', TOPIC, '--group', GROUP, '--from-beginning',
      '--max-messages', String(MESSAGES.length), '--timeout-ms', '30000',
    ]);
    const received = outputLines(consumed).filter((l) => l.startsWith('message-')).sort();
    t.same(received, [...MESSAGES].sort(), 'every produced message consumed');
    out.push(['consumed', received.length]);
    out.push(['__consumer_offsets created', (await zk.json(`${CHROOT}/brokers/topics/__consumer_offsets`)) !== undefined]);
    out.push(['consumer group offsets in ZooKeeper', (await zk.children(`${CHROOT}/consumers`)) ?? 'absent']);
    phase('produce+consume');

    // --- a topic config change -----------------------------------------------------------------------
    await tool(TOOL.configs, [
      '--bootstrap-server', bootstrap(), '--entity-type', 'topics', '--entity-name', TOPIC,
      '--alter', '--add-config', `max.message.bytes=${MAX_MESSAGE_BYTES},retention.ms=3600000`,
    ]);
    const topicConfig = await zk.json(`${CHROOT}/config/topics/${TOPIC}`);
    t.same(topicConfig, { version: 1, config: { 'max.message.bytes': String(MAX_MESSAGE_BYTES), 'retention.ms': '3600000' } }, `/config/topics/${TOPIC}`);
    out.push(['topic config in ZooKeeper', topicConfig]);
    const changes = (await zk.children(`${CHROOT}/config/changes`)) ?? [];
    const lastChange = changes.filter((c) => /^config_change_\d{10}$/.test(c)).pop();
    t.ok(lastChange, 'a config change notification');
    out.push(['config change notification', lastChange ? await zk.json(`${CHROOT}/config/changes/${lastChange}`) : undefined]);
    // Both brokers learn of the change through their watch on /config/changes.
    const overrideLine = new RegExp(`Processing override for entityPath: topics/${TOPIC} with config: .*max\\.message\\.bytes`);
    await bounded(async () => brokers.every((b) => b.logLines(overrideLine).length > 0), NOTIFICATION_WAIT_MS, 'both brokers applying the topic config');
    const describedConfig = await tool(TOOL.configs, ['--bootstrap-server', bootstrap(), '--entity-type', 'topics', '--entity-name', TOPIC, '--describe']);
    t.match(describedConfig, new RegExp(`max\\.message\\.bytes=${MAX_MESSAGE_BYTES}`), 'kafka-configs --describe shows the new value');
    const tooLarge = await tool(
      TOOL.producer,
      ['--bootstrap-server', bootstrap(), '--topic', TOPIC, '--producer-property', 'acks=all', '--producer-property', 'retries=0'],
      'x'.repeat(MAX_MESSAGE_BYTES * 2) + '\n',
    );
    const refusedAsTooLarge = /RecordTooLargeException|larger than the max message size/.test(tooLarge);
    t.ok(refusedAsTooLarge, `a message over max.message.bytes is refused\n${tooLarge}`);
    out.push(['oversized message refused', refusedAsTooLarge]);
    phase('configs');

    // --- controller failover -------------------------------------------------------------------------
    const epochBefore = (await zk.json(`${CHROOT}/controller_epoch`)) as number;
    const killed = broker(firstController);
    const survivor = broker(firstController === 0 ? 1 : 0);
    await killed.kill();
    await bounded(async () => (await controllerId()) === survivor.brokerId, FAILOVER_WAIT_MS, `broker ${survivor.brokerId} in /controller`);
    await bounded(async () => (await registered()).length === 1, FAILOVER_WAIT_MS, 'the killed broker gone from /brokers/ids');
    out.push(['after SIGKILL: registered', (await registered()).length]);
    out.push(['after SIGKILL: controller is the survivor', (await controllerId()) === survivor.brokerId]);
    const epochAfter = (await zk.json(`${CHROOT}/controller_epoch`)) as number;
    t.ok(epochAfter > epochBefore, `controller_epoch went up (${epochBefore} -> ${epochAfter})`);
    out.push(['controller_epoch went up', epochAfter > epochBefore]);
    // The new controller moves leadership of every partition to the survivor and shrinks the ISRs.
    await bounded(
      async () => {
        for (const p of [0, 1]) {
          const s = await partitionState(p);
          if (s === undefined || s.leader !== survivor.brokerId || s.isr.length !== 1) return false;
        }
        return true;
      },
      FAILOVER_WAIT_MS,
      `broker ${survivor.brokerId} leading every partition of ${TOPIC} alone`,
    );
    out.push(['after SIGKILL: partitions led by the survivor, ISR of one', true]);
    phase('failover');

    // --- the killed broker comes back ------------------------------------------------------------------
    killed.start();
    await bounded(async () => (await registered()).length === 2, BROKER_START_MS, `broker ${killed.brokerId} back in /brokers/ids`);
    await bounded(fullIsr, ISR_WAIT_MS, `broker ${killed.brokerId} back in every ISR of ${TOPIC}`);
    out.push(['after restart: registered', await registered()]);
    out.push(['after restart: controller unchanged', (await controllerId()) === survivor.brokerId]);
    phase('restart');

    // --- an ACL ---------------------------------------------------------------------------------------
    await tool(TOOL.acls, [
      '--bootstrap-server', bootstrap(), '--add', '--deny-principal', 'User:ANONYMOUS', '--deny-host', '*',
      '--operation', 'Write', '--topic', TOPIC,
    ]);
    const aclNode = await zk.json(`${CHROOT}/kafka-acl/Topic/${TOPIC}`);
    t.same(aclNode, { version: 1, acls: [{ principal: 'User:ANONYMOUS', permissionType: 'Deny', operation: 'Write', host: '*' }] }, `/kafka-acl/Topic/${TOPIC}`);
    out.push(['ACL in ZooKeeper', aclNode]);
    const aclChanges = ((await zk.children(`${CHROOT}/kafka-acl-changes`)) ?? []).filter((c) => /^acl_changes_\d{10}$/.test(c));
    t.ok(aclChanges.length > 0, 'an ACL change notification');
    out.push(['ACL change notification', aclChanges.length > 0 ? await zk.get(`${CHROOT}/kafka-acl-changes/${aclChanges[aclChanges.length - 1]}`).then((n) => n?.data?.toString('utf8')) : undefined]);
    const aclLine = new RegExp(`Processing Acl change notification for ResourcePattern\\(resourceType=TOPIC, name=${TOPIC}, patternType=LITERAL\\)`);
    await bounded(async () => brokers.every((b) => b.logLines(aclLine).length > 0), NOTIFICATION_WAIT_MS, 'both brokers loading the ACL change');
    const listed = await tool(TOOL.acls, ['--bootstrap-server', bootstrap(), '--list', '--topic', TOPIC]);
    t.match(listed, /principal=User:ANONYMOUS, host=\*, operation=WRITE, permissionType=DENY/, 'kafka-acls --list shows the ACL');
    const denied = await tool(
      TOOL.producer,
      ['--bootstrap-server', bootstrap(), '--topic', TOPIC, '--producer-property', 'acks=all', '--producer-property', 'retries=0', '--producer-property', 'max.block.ms=20000'],
      'denied\n',
    );
    const refusedAsUnauthorized = /TopicAuthorizationException|Not authorized to access topics/.test(denied);
    t.ok(refusedAsUnauthorized, `a write denied by the ACL is refused\n${denied}`);
    out.push(['write denied by the ACL', refusedAsUnauthorized]);
    phase('acls');

    // The brokers' ZooKeeper clients had nothing to complain about: no warning or error from
    // Kafka's ZooKeeperClient or the ZooKeeper client library (unexpected replies, disconnects,
    // expired sessions), in any run of either broker.
    for (const b of brokers) {
      const complaints = b.logLines(ZK_CLIENT_COMPLAINT, { allRuns: true });
      t.same(complaints, [], `${b.name}: no warning or error from its ZooKeeper client`);
      out.push([`${b.name}: ZooKeeper client warnings`, complaints.length]);
      // One session with the chroot and one without (to create it), for the broker and for the
      // authorizer, in each run; a reconnect after an expiry would add more.
      out.push([`${b.name}: ZooKeeper sessions opened in this run`, b.logLines(ZK_SESSION_OPENED).length]);
    }

    // Versions of the znodes whose history the scenario fixes (partition states are left out: how
    // often an ISR changes depends on timing).
    for (const p of STAT_PATHS) {
      const node = await zk.get(`${CHROOT}${p}`);
      out.push([`stat ${p}`, node === undefined ? 'absent' : { version: node.stat.version, cversion: node.stat.cversion, aversion: node.stat.aversion, numChildren: node.stat.numChildren }]);
    }

    const tree = await zk.treeShape(CHROOT);
    t.comment(`${label}: ${Object.entries(timings).map(([k, v]) => `${k} ${v} ms`).join('; ')}`);
    dumpTranscript('kafka', label, [...out.map(([k, v]) => `${k}: ${JSON.stringify(v)}`), '', ...tree]);
    return { outcome: out, tree };
  }
}

