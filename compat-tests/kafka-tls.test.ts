// Kafka 3.9 (ZooKeeper mode) with its ZooKeeper client over TLS (zookeeper.ssl.client.enable, the
// Netty socket, a PKCS12 key store and a JKS trust store), against Apache ZooKeeper 3.8.0 and zkts,
// each with secureClientPort and clientAuth=need: the whole scenario of kafka.test.ts (registration,
// topics, produce and consume, config changes, controller failover by SIGKILL, ACLs) runs with the
// brokers on the TLS port; the test's own reader uses the plaintext port. Outcomes and the znode
// tree under /kafka must be the same on both. The TLS port takes nothing else (clientAuth=need), so
// a broker that did not talk TLS with its certificate could not register.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { CertFactory } from '../test/util/certs';
import { freePort, startReferenceZooKeeper, startZkts, type RunningServer } from '../test/util/servers';
import { kafkaMissing, KAFKA_VERSION } from './kafka/jvm';
import { KAFKA_SERVER_CONFIG, kafkaScenario, type Outcome } from './kafka/scenario';

t.setTimeout(900_000);

t.test(`Kafka ${KAFKA_VERSION} (ZooKeeper mode) over TLS through zkts and through ZooKeeper`, { skip: kafkaMissing() ?? false }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-kafka-tls-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const certs = new CertFactory(dir);
  const ca = certs.ca('kafka-ca');
  const server = certs.keyStores(certs.leaf(ca, 'zk-server', '/O=zkts tests/CN=zk server'), 'secret1');
  const broker = certs.keyStores(certs.leaf(ca, 'broker', '/O=zkts tests/CN=kafka broker'), 'secret1');
  const trust = certs.trustStores('kafka', [ca], 'trustpw');
  const brokerProperties = {
    'zookeeper.ssl.client.enable': 'true',
    'zookeeper.clientCnxnSocket': 'org.apache.zookeeper.ClientCnxnSocketNetty',
    'zookeeper.ssl.keystore.location': broker.p12,
    'zookeeper.ssl.keystore.password': 'secret1',
    'zookeeper.ssl.keystore.type': 'PKCS12',
    'zookeeper.ssl.truststore.location': trust.jks,
    'zookeeper.ssl.truststore.password': 'trustpw',
    'zookeeper.ssl.truststore.type': 'JKS',
  };
  const outcomes: Record<string, Outcome> = {};
  const trees: Record<string, string[]> = {};
  for (const target of ['reference', 'zkts'] as const) {
    await t.test(target, async (t) => {
      const securePort = await freePort();
      const extraConfig = {
        ...KAFKA_SERVER_CONFIG,
        secureClientPort: String(securePort),
        secureClientPortAddress: '127.0.0.1',
        serverCnxnFactory: 'org.apache.zookeeper.server.NettyServerCnxnFactory',
        'ssl.keyStore.location': server.jks,
        'ssl.keyStore.password': 'secret1',
        'ssl.trustStore.location': trust.p12,
        'ssl.trustStore.password': 'trustpw',
      };
      let port = await freePort();
      while (port === securePort) port = await freePort();
      const s: RunningServer = target === 'reference' ? await startReferenceZooKeeper({ extraConfig, port }) : await startZkts({ extraConfig, port });
      try {
        const r = await kafkaScenario(t, `${target}-tls`, s.connectString, { connectString: `127.0.0.1:${securePort}`, properties: brokerProperties });
        outcomes[target] = r.outcome;
        trees[target] = r.tree;
      } finally {
        await s.stop();
      }
    });
  }
  t.same(outcomes.zkts, outcomes.reference, 'zkts and ZooKeeper give the same outcome');
  t.same(trees.zkts, trees.reference, 'the same znodes under /kafka, with the same data shapes');
});
