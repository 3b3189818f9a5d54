// Apache Kafka 3.9 in ZooKeeper mode as a client: two brokers keep their whole cluster state in the
// server under test, under the chroot /kafka. The same scenario runs against Apache ZooKeeper
// 3.8.0 and against zkts: both brokers register; a topic with 2 partitions and replication factor
// 2 is created (kafka-topics), messages go through it (console producer and consumer, with a
// consumer group, so the broker also creates __consumer_offsets); a topic config change
// (kafka-configs) is stored and applied by both brokers (a message over the new max.message.bytes
// is refused); the controller is SIGKILLed and, once its session expires, the other broker takes
// over /controller; the killed broker starts again, registers and rejoins every ISR; an ACL
// (kafka-acls, AclAuthorizer) is stored, seen by both brokers, and enforced. Each target's run
// checks its own outcomes; then the two outcomes, and the shape of the whole znode tree under
// /kafka, must be the same.
//
// The scenario (compat-tests/kafka/scenario.ts) takes a connect string, so it runs unchanged
// against an ensemble.

import t from 'tap';
import { startTarget, TARGETS, type TargetName } from './util/harness';
import { startZktsEnsemble } from '../test/util/zktsensemble';
import { kafkaMissing, KAFKA_VERSION } from './kafka/jvm';
import { KAFKA_SERVER_CONFIG, kafkaScenario, type Outcome } from './kafka/scenario';

t.setTimeout(900_000);

t.test(`Kafka ${KAFKA_VERSION} (ZooKeeper mode) through zkts and through ZooKeeper`, { skip: kafkaMissing() ?? false }, async (t) => {
  const outcomes: Partial<Record<TargetName, Outcome>> = {};
  const trees: Partial<Record<TargetName, string[]>> = {};
  for (const target of TARGETS) {
    await t.test(target, async (t) => {
      const server = await startTarget(target, { extraConfig: KAFKA_SERVER_CONFIG });
      try {
        const r = await kafkaScenario(t, target, server.connectString);
        outcomes[target] = r.outcome;
        trees[target] = r.tree;
      } finally {
        await server.stop();
      }
    });
  }
  t.same(outcomes.zkts, outcomes.reference, 'zkts and ZooKeeper give the same outcome');
  t.same(trees.zkts, trees.reference, 'the same znodes under /kafka, with the same data shapes');
  // The same brokers on a 3-member zkts ensemble, their connect string naming every member.
  let ensembleOutcome: Outcome | undefined;
  let ensembleTree: string[] | undefined;
  await t.test('zkts ensemble of 3', async (t) => {
    const ensemble = await startZktsEnsemble(3, KAFKA_SERVER_CONFIG);
    try {
      const r = await kafkaScenario(t, 'zkts-ensemble', ensemble.connectString);
      ensembleOutcome = r.outcome;
      ensembleTree = r.tree;
    } finally {
      await ensemble.stop();
    }
  });
  t.same(ensembleOutcome, outcomes.reference, 'a zkts ensemble gives the same outcome as ZooKeeper');
  t.same(ensembleTree, trees.reference, 'and the same znodes under /kafka');
});
