// Where Kafka's jars are (fetched by scripts/fetch-kafka.sh) and how its JVMs are started: the
// broker's and the command-line tools' classpath, JVM flags and log4j configs.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runMerged, type ProcessResult } from '../util/harness';

export const KAFKA_VERSION = process.env.ZKTS_KAFKA_VERSION ?? '3.9.1';

/** The cache dir scripts/fetch-kafka.sh fills (same defaults and overrides). */
export function kafkaDir(): string {
  if (process.env.ZKTS_KAFKA_DIR) return process.env.ZKTS_KAFKA_DIR;
  const cacheRoot = process.env.ZKTS_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'zkts');
  return path.join(cacheRoot, `kafka-${KAFKA_VERSION}`);
}

/** Why Kafka cannot be run here, or undefined when its jars are in place. */
export function kafkaMissing(): string | undefined {
  const dir = kafkaDir();
  if (!fs.existsSync(path.join(dir, 'complete'))) return `Kafka ${KAFKA_VERSION} not fetched into ${dir} (scripts/install-deps.sh)`;
  if (!fs.existsSync(path.join(dir, 'lib', `kafka_2.13-${KAFKA_VERSION}.jar`))) return `${dir}/lib has no kafka_2.13-${KAFKA_VERSION}.jar`;
  return undefined;
}

export function kafkaClasspath(): string {
  return path.join(kafkaDir(), 'lib', '*');
}

// Small heaps and a quick-starting JIT: the brokers carry little data, and two of them plus the
// tools share two cores with the servers under test.
const COMMON_JVM_FLAGS = ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.net.preferIPv4Stack=true', '-Djava.awt.headless=true'];
export const BROKER_JVM_FLAGS = ['-Xms64m', '-Xmx256m', ...COMMON_JVM_FLAGS];
const TOOL_JVM_FLAGS = ['-Xms32m', '-Xmx128m', ...COMMON_JVM_FLAGS];

export const BROKER_LOG4J = [
  'log4j.rootLogger=INFO, stdout',
  'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
  // The ZooKeeper client's own chatter and per-request logs are not what the test reads.
  'log4j.logger.org.apache.zookeeper=WARN',
  'log4j.logger.kafka.request.logger=WARN',
  'log4j.logger.org.apache.kafka.clients=WARN',
  '',
].join('\n');

// The tools print their results on stdout; warnings and errors (a rejected send, say) go to stderr.
const TOOL_LOG4J = [
  'log4j.rootLogger=WARN, stderr',
  'log4j.appender.stderr=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stderr.Target=System.err',
  'log4j.appender.stderr.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n',
  '',
].join('\n');

function toolLog4jPath(): string {
  const file = path.join(os.tmpdir(), 'zkts-kafka-tools-log4j.properties');
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== TOOL_LOG4J) fs.writeFileSync(file, TOOL_LOG4J);
  return file;
}

export const TOOL = {
  topics: 'org.apache.kafka.tools.TopicCommand',
  configs: 'kafka.admin.ConfigCommand',
  acls: 'kafka.admin.AclCommand',
  producer: 'kafka.tools.ConsoleProducer',
  consumer: 'org.apache.kafka.tools.consumer.ConsoleConsumer',
} as const;

/**
 * Runs one of Kafka's command-line tools to its end (SIGKILLed after `timeoutMs`), with `input`
 * on stdin; stdout and stderr come back interleaved.
 */
export async function runTool(mainClass: string, args: readonly string[], input: string, timeoutMs: number): Promise<ProcessResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.KAFKA_OPTS;
  delete env.JAVA_TOOL_OPTIONS;
  return runMerged(
    'java',
    [...TOOL_JVM_FLAGS, `-Dlog4j.configuration=file:${toolLog4jPath()}`, '-cp', kafkaClasspath(), mainClass, ...args],
    input,
    timeoutMs,
    env,
  );
}
