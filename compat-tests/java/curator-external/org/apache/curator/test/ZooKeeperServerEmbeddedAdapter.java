package org.apache.curator.test;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.zookeeper.server.quorum.QuorumPeerConfig;

/**
 * Runs each of curator-test's servers as a separate server process, a zkts member or a ZooKeeper
 * 3.8.0 member, instead of a ZooKeeper server inside the test JVM.
 *
 * <p>On the classpath before curator-test's jar, this class takes the place of curator-test's
 * adapter of the same name, which TestingZooKeeperServer uses for every server when the ZooKeeper
 * library has an embedded server (3.7 and later). TestingCluster, TestingServer, InstanceSpec and
 * QuorumConfigBuilder are curator-test's own and unchanged: the server gets the configuration
 * Curator builds for it (server lines, ports, dataDir, myid, tickTime, initLimit, syncLimit, ...)
 * with the two entries curator-test's adapter adds (admin.enableServer=false,
 * 4lw.commands.whitelist=*), as a zoo.cfg file. What an in-JVM server would take from the JVM
 * goes to the process as well: every {@code zookeeper.*} system property (the super digest a test
 * sets, for one) as a -D argument, and QuorumPeerConfig's static reconfigEnabled as a zoo.cfg line.
 * A server without server lines (standalone) gets clientPortAddress=its host, so that it listens on
 * the loopback address like the members do.
 *
 * <p>Started means the client port takes connections (what ZooKeeperServerEmbedded's start waits
 * for: QuorumPeer.start() has bound it); once every member of a configuration has been started,
 * also that every member serves (see awaitEnsembleIfComplete). Close is SIGTERM, then SIGKILL after
 * a grace period; kill is SIGKILL. Each server's zoo.cfg and output stay in its directory under the
 * work dir for the runner to report.
 *
 * <p>System properties: {@code zkts.external.kind} ({@code zkts} or {@code reference}),
 * {@code zkts.external.workDir} (where each server's zoo.cfg and log go; the runner removes it),
 * {@code zkts.external.node} and {@code zkts.external.zktsCli} (zkts), {@code
 * zkts.external.referenceClasspath} (ZooKeeper 3.8.0's jars).
 */
public class ZooKeeperServerEmbeddedAdapter implements ZooKeeperMainFace {
    private static final long STARTUP_TIMEOUT_MS = 60_000;
    private static final long STOP_GRACE_MS = 5_000;
    private static final long POLL_MS = 100;
    private static final int CONNECT_TIMEOUT_MS = 1_000;
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        // A test JVM that ends (or is ended) while servers run takes them along.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            for (Process p : LIVE) p.destroyForcibly();
        }));
    }

    /** Client ports of the servers this JVM runs now. */
    private static final Set<Integer> STARTED_PORTS = ConcurrentHashMap.newKeySet();

    private volatile Process process;
    private volatile int clientPort;
    private volatile Path logPath;

    @Override
    public void start(QuorumPeerConfigBuilder configBuilder) {
        try {
            Properties properties = configBuilder.buildProperties();
            properties.put("admin.enableServer", "false");
            properties.put("4lw.commands.whitelist", "*");
            if (QuorumPeerConfig.isReconfigEnabled()) properties.put("reconfigEnabled", "true");
            boolean standalone = properties.stringPropertyNames().stream().noneMatch(k -> k.startsWith("server."));
            String host = configBuilder.getInstanceSpec().getHostname();
            if (standalone && !properties.containsKey("clientPortAddress")) properties.put("clientPortAddress", host);
            clientPort = Integer.parseInt(properties.getProperty("clientPort"));
            if (clientPort <= 0) throw new IllegalStateException("an external server needs a fixed client port");

            String kind = required("zkts.external.kind");
            Path dir = Paths.get(required("zkts.external.workDir"))
                .resolve(String.format("%s-%d-port%d", kind, SEQUENCE.incrementAndGet(), clientPort));
            Files.createDirectories(dir);
            Path cfg = dir.resolve("zoo.cfg");
            StringBuilder text = new StringBuilder();
            for (Map.Entry<String, String> e : new TreeMap<>(asMap(properties)).entrySet()) {
                text.append(e.getKey()).append('=').append(e.getValue()).append('\n');
            }
            Files.write(cfg, text.toString().getBytes(StandardCharsets.UTF_8));
            logPath = dir.resolve("server.log");

            List<String> command = new ArrayList<>();
            List<String> props = serverSystemProperties();
            if (kind.equals("zkts")) {
                command.add(required("zkts.external.node"));
                command.add(required("zkts.external.zktsCli"));
                command.add("server");
                command.addAll(props);
                command.add(cfg.toString());
            } else if (kind.equals("reference")) {
                Path log4j = dir.resolve("log4j.properties");
                Files.write(log4j, String.join("\n",
                    "log4j.rootLogger=INFO, CONSOLE",
                    "log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender",
                    "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout",
                    "log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n",
                    "").getBytes(StandardCharsets.UTF_8));
                command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
                command.add("-Xmx128m");
                command.add("-Dlog4j.configuration=file:" + log4j);
                command.add("-Dzookeeper.log.dir=" + dir);
                command.addAll(props);
                command.add("-cp");
                command.add(required("zkts.external.referenceClasspath"));
                command.add("org.apache.zookeeper.server.quorum.QuorumPeerMain");
                command.add(cfg.toString());
            } else {
                throw new IllegalStateException("zkts.external.kind: unknown kind '" + kind + "'");
            }
            ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logPath.toFile()));
            pb.environment().remove("NODE_OPTIONS");
            process = pb.start();
            LIVE.add(process);
            awaitListening(host);
            STARTED_PORTS.add(clientPort);
            awaitEnsembleIfComplete(properties);
        } catch (FailedServerStartException e) {
            throw e;
        } catch (Exception e) {
            throw new FailedServerStartException(e);
        }
    }

    /** Bounded wait until the client port takes connections (a member without a quorum does). */
    private void awaitListening(String host) throws Exception {
        long deadline = System.currentTimeMillis() + STARTUP_TIMEOUT_MS;
        for (;;) {
            if (!process.isAlive()) {
                throw new FailedServerStartException("server process ended with " + process.exitValue() + "; log:\n" + logTail());
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, clientPort), CONNECT_TIMEOUT_MS);
                return;
            } catch (IOException notYet) {
                if (System.currentTimeMillis() > deadline) {
                    kill();
                    throw new FailedServerStartException("client port " + clientPort + " not listening after "
                        + STARTUP_TIMEOUT_MS + " ms; log:\n" + logTail());
                }
                Thread.sleep(POLL_MS);
            }
        }
    }

    /**
     * Once the last member of a configuration is started, a bounded wait until every member serves
     * (srvr: leader, follower or observer). In-JVM servers form their quorum within milliseconds of
     * TestingCluster.start(); server processes take seconds, and a test that reconfigures right
     * after its client connects would otherwise meet a member still syncing (NewConfigNoQuorum).
     */
    private static void awaitEnsembleIfComplete(Properties properties) throws Exception {
        List<InetSocketAddress> members = new ArrayList<>();
        for (String key : properties.stringPropertyNames()) {
            if (!key.startsWith("server.")) continue;
            String value = properties.getProperty(key);
            int semi = value.lastIndexOf(';');
            if (semi < 0) return;
            String client = value.substring(semi + 1);
            int colon = client.lastIndexOf(':');
            members.add(new InetSocketAddress(client.substring(0, colon), Integer.parseInt(client.substring(colon + 1))));
        }
        if (members.isEmpty()) return;
        for (InetSocketAddress m : members) if (!STARTED_PORTS.contains(m.getPort())) return;
        long deadline = System.currentTimeMillis() + STARTUP_TIMEOUT_MS;
        String last = "";
        for (;;) {
            StringBuilder modes = new StringBuilder();
            boolean all = true;
            for (InetSocketAddress m : members) {
                String mode = modeOf(m);
                modes.append(m.getPort()).append('=').append(mode).append(' ');
                if (!(mode.equals("leader") || mode.equals("follower") || mode.equals("observer"))) all = false;
            }
            last = modes.toString().trim();
            if (all) return;
            if (System.currentTimeMillis() > deadline) {
                throw new FailedServerStartException("ensemble not serving after " + STARTUP_TIMEOUT_MS + " ms: " + last);
            }
            Thread.sleep(POLL_MS);
        }
    }

    private static String modeOf(InetSocketAddress member) {
        try (Socket s = new Socket()) {
            s.connect(member, CONNECT_TIMEOUT_MS);
            s.setSoTimeout(CONNECT_TIMEOUT_MS);
            s.getOutputStream().write("srvr".getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            byte[] reply = readAll(s);
            for (String line : new String(reply, StandardCharsets.UTF_8).split("\n")) {
                if (line.startsWith("Mode: ")) return line.substring(6).trim();
            }
            return "not-serving";
        } catch (IOException e) {
            return "no-answer";
        }
    }

    private static byte[] readAll(Socket s) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        int n;
        while ((n = s.getInputStream().read(buf)) > 0) {
            out.write(buf, 0, n);
            if (out.size() > 65536) break;
        }
        return out.toByteArray();
    }

    private static List<String> serverSystemProperties() {
        List<String> out = new ArrayList<>();
        for (String name : new TreeMap<>(asMap(System.getProperties())).keySet()) {
            if (name.startsWith("zookeeper.")) out.add("-D" + name + "=" + System.getProperty(name));
        }
        return out;
    }

    private static Map<String, String> asMap(Properties p) {
        Map<String, String> m = new TreeMap<>();
        for (String k : p.stringPropertyNames()) m.put(k, p.getProperty(k));
        return m;
    }

    private static String required(String name) {
        String v = System.getProperty(name);
        if (v == null || v.isEmpty()) throw new IllegalStateException("system property " + name + " is not set");
        return v;
    }

    private String logTail() {
        try {
            String all = new String(Files.readAllBytes(logPath), StandardCharsets.UTF_8);
            return all.length() > 4000 ? "..." + all.substring(all.length() - 4000) : all;
        } catch (IOException | RuntimeException e) {
            return "(no log)";
        }
    }

    @Override
    public int getClientPort() {
        return clientPort;
    }

    @Override
    public void kill() {
        end(true);
    }

    @Override
    public void close() {
        end(false);
    }

    private void end(boolean forcibly) {
        Process p = process;
        if (p == null) return;
        try {
            if (forcibly) {
                p.destroyForcibly();
            } else {
                p.destroy();
                if (!p.waitFor(STOP_GRACE_MS, TimeUnit.MILLISECONDS)) p.destroyForcibly();
            }
            p.waitFor(STOP_GRACE_MS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        } finally {
            LIVE.remove(p);
            STARTED_PORTS.remove(clientPort);
        }
    }
}
