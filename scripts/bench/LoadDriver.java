import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

/**
 * Load generator on the official Java client's async API. Prints one JSON line.
 *
 * Throughput: connectString op sessions outstanding seconds valueBytes [warmupSeconds]
 *   op: get | exists | children | set | create | eseq | delete | multi | mixNN (NN % getData, the
 *   rest setData) | badver (setData with a version that never matches: every reply is BADVERSION,
 *   which counts as success here; the server's error path). SESSIONS sessions keep OUTSTANDING requests each in flight; only requests
 *   started after the warm-up count. Reports ops/s, latency percentiles in microseconds and the
 *   client's own CPU time, so a client bottleneck shows.
 * Fan-out: connectString fanout sessions rounds
 *   SESSIONS sessions set a data watch on one node, another session changes it; the time from
 *   the setData to the last notification, per round.
 * Storm: connectString storm sessions concurrency
 *   SESSIONS sessions connect, CONCURRENCY at a time; each is closed once connected.
 * Populate: connectString populate from to valueBytes
 *   creates nodes FROM..TO-1 under /bench-big/pNNNN (1,000 per parent), 256 in flight.
 * Failover: connectString failover maxSeconds
 *   CONNECTSTRING lists the members that will survive. Prints "ready" once connected, then reads
 *   the time the leader died (epoch microseconds) from stdin and measures how long after it a
 *   write succeeds: on the session opened before the kill (the client's own reconnect), and on
 *   fresh sessions started every 50 ms, one member after the other (the ensemble's own recovery,
 *   without the client's reconnect back-off of up to 1 s).
 *
 * With -Dbench.spread=true, session i of a throughput run connects to member i mod n of the
 * connect string only, so that the sessions are spread evenly over an ensemble's members.
 */
public class LoadDriver {
  static final int BUCKETS = 65536; // 16 us each, up to ~1 s; the last bucket takes the rest
  static final byte[] EMPTY = new byte[0];

  public static void main(String[] a) throws Exception {
    String cs = a[0];
    String op = a[1];
    switch (op) {
      case "fanout": fanout(cs, Integer.parseInt(a[2]), Integer.parseInt(a[3])); break;
      case "storm": storm(cs, Integer.parseInt(a[2]), Integer.parseInt(a[3])); break;
      case "populate": populate(cs, Integer.parseInt(a[2]), Integer.parseInt(a[3]), new byte[Integer.parseInt(a[4])]); break;
      case "failover": failover(cs, Long.parseLong(a[2])); break;
      default: throughput(cs, op, Integer.parseInt(a[2]), Integer.parseInt(a[3]), Long.parseLong(a[4]), new byte[Integer.parseInt(a[5])], a.length > 6 ? Double.parseDouble(a[6]) : 1.0);
    }
    System.exit(0);
  }

  static double cpuSec() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime() / 1e9;
  }

  static ZooKeeper connect(String cs, Watcher extra) throws Exception {
    CountDownLatch up = new CountDownLatch(1);
    ZooKeeper zk = new ZooKeeper(cs, 30000, e -> {
      if (e.getState() == Watcher.Event.KeeperState.SyncConnected && e.getType() == Watcher.Event.EventType.None) up.countDown();
      else if (extra != null) extra.process(e);
    });
    if (!up.await(60, TimeUnit.SECONDS)) throw new IllegalStateException("cannot connect to " + cs);
    return zk;
  }

  static void ensure(ZooKeeper zk, String path, byte[] value) throws Exception {
    try { zk.create(path, value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT); } catch (KeeperException.NodeExistsException e) { }
  }

  static void throughput(String cs, String op, int sessions, int outstanding, long seconds, byte[] value, double warmupSeconds) throws Exception {
    ZooKeeper[] zks = new ZooKeeper[sessions];
    String[] members = cs.split(",");
    boolean spread = Boolean.getBoolean("bench.spread") && members.length > 1;
    for (int i = 0; i < sessions; i++) zks[i] = connect(spread ? members[i % members.length] : cs, null);
    // Ops that make or remove nodes get a parent of their own per run: a second run on the same
    // server (the other client socket, another round) would otherwise meet the first run's nodes.
    boolean makesNodes = op.equals("create") || op.equals("multi") || op.equals("delete");
    String base = "/bench-" + op + (makesNodes ? "-" + Long.toString(System.nanoTime(), 36) : "");
    ensure(zks[0], base, value);
    final int readPct = op.startsWith("mix") ? Integer.parseInt(op.substring(3)) : -1;
    final int expectedRc = op.equals("badver") ? KeeperException.Code.BADVERSION.intValue() : 0;
    final AtomicLong seq = new AtomicLong();
    final long deletable;
    if (op.equals("delete")) {
      // Enough nodes for the run; the run stops early rather than deleting missing nodes.
      deletable = 300000;
      Semaphore window = new Semaphore(1000);
      for (int i = 0; i < deletable; i++) {
        window.acquire();
        zks[0].create(base + "/d" + i, value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, (rc, p, c, n) -> window.release(), null);
      }
      window.acquire(1000);
    } else deletable = Long.MAX_VALUE;
    if (op.equals("children")) for (int i = 0; i < 10; i++) ensure(zks[0], base + "/c" + i, value);
    if (spread) {
      // A session on another member may not have applied the setup yet: sync() makes it.
      CountDownLatch synced = new CountDownLatch(sessions);
      for (ZooKeeper zk : zks) zk.sync(base, (rc, p, c) -> synced.countDown(), null);
      if (!synced.await(60, TimeUnit.SECONDS)) throw new IllegalStateException("sync after setup timed out");
    }
    AtomicLong done = new AtomicLong();
    AtomicLong errors = new AtomicLong();
    AtomicLongArray hist = new AtomicLongArray(BUCKETS);
    long t = System.nanoTime();
    final long measureFrom = t + (long) (warmupSeconds * 1e9);
    final long end = measureFrom + seconds * 1_000_000_000L;
    final double[] cpuAtMeasure = new double[] { -1 };
    Semaphore finished = new Semaphore(0);
    for (int s = 0; s < sessions; s++) {
      final ZooKeeper zk = zks[s];
      for (int k = 0; k < outstanding; k++) {
        new Object() {
          long t0;
          void record(int rc) {
            if (t0 >= measureFrom) {
              long us = (System.nanoTime() - t0) / 1000;
              hist.incrementAndGet((int) Math.min(BUCKETS - 1, us / 16));
              if (rc != expectedRc) errors.incrementAndGet();
              done.incrementAndGet();
            }
            next();
          }
          void next() {
            long now = System.nanoTime();
            if (now > end) { finished.release(); return; }
            t0 = now;
            if (now >= measureFrom && cpuAtMeasure[0] < 0) {
              synchronized (cpuAtMeasure) { if (cpuAtMeasure[0] < 0) cpuAtMeasure[0] = cpuSec(); }
            }
            String o = op;
            if (readPct >= 0) o = ThreadLocalRandom.current().nextInt(100) < readPct ? "get" : "set";
            switch (o) {
              case "get": zk.getData(base, false, (AsyncCallback.DataCallback) (rc, p, c, d, st) -> record(rc), null); break;
              case "exists": zk.exists(base, false, (AsyncCallback.StatCallback) (rc, p, c, st) -> record(rc), null); break;
              case "children": zk.getChildren(base, false, (AsyncCallback.ChildrenCallback) (rc, p, c, ch) -> record(rc), null); break;
              case "set": zk.setData(base, value, -1, (AsyncCallback.StatCallback) (rc, p, c, st) -> record(rc), null); break;
              case "badver": zk.setData(base, value, Integer.MAX_VALUE, (AsyncCallback.StatCallback) (rc, p, c, st) -> record(rc), null); break;
              case "create": zk.create(base + "/n" + seq.incrementAndGet(), value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, (AsyncCallback.StringCallback) (rc, p, c, n) -> record(rc), null); break;
              case "eseq": zk.create(base + "/e-", value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL_SEQUENTIAL, (AsyncCallback.StringCallback) (rc, p, c, n) -> record(rc), null); break;
              case "delete": {
                long n = seq.getAndIncrement();
                if (n >= deletable) { finished.release(); return; }
                zk.delete(base + "/d" + n, -1, (AsyncCallback.VoidCallback) (rc, p, c) -> record(rc), null);
                break;
              }
              case "multi": {
                List<Op> ops = new ArrayList<>(10);
                long n = seq.incrementAndGet();
                for (int i = 0; i < 10; i++) ops.add(Op.create(base + "/m" + n + "-" + i, value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));
                zk.multi(ops, (rc, p, c, r) -> record(rc), null);
                break;
              }
              default: throw new IllegalArgumentException(o);
            }
          }
        }.next();
      }
    }
    finished.acquire(sessions * outstanding);
    double elapsed = Math.min(System.nanoTime(), end) - measureFrom;
    elapsed = Math.max(elapsed, 1) / 1e9;
    double cpu1 = cpuSec();
    long total = done.get();
    System.out.println(String.format(Locale.ROOT,
        "{\"op\":\"%s\",\"ops\":%d,\"errors\":%d,\"seconds\":%.3f,\"opsPerSec\":%.1f,\"p50Us\":%d,\"p99Us\":%d,\"p999Us\":%d,\"clientCpuSec\":%.3f}",
        op, total, errors.get(), elapsed, total / elapsed, pct(hist, total, 0.5), pct(hist, total, 0.99), pct(hist, total, 0.999), cpu1 - Math.max(0, cpuAtMeasure[0])));
    for (ZooKeeper zk : zks) zk.close(1000);
  }

  static void fanout(String cs, int sessions, int rounds) throws Exception {
    String path = "/bench-fanout";
    ZooKeeper writer = connect(cs, null);
    ensure(writer, path, EMPTY);
    AtomicLong lastNs = new AtomicLong();
    AtomicLong fired = new AtomicLong();
    ZooKeeper[] zks = new ZooKeeper[sessions];
    Watcher[] watchers = new Watcher[sessions];
    for (int i = 0; i < sessions; i++) {
      watchers[i] = e -> {
        if (e.getType() == Watcher.Event.EventType.NodeDataChanged) {
          lastNs.accumulateAndGet(System.nanoTime(), Math::max);
          fired.incrementAndGet();
        }
      };
      zks[i] = connect(cs, null);
    }
    double cpu0 = cpuSec();
    List<Double> times = new ArrayList<>();
    for (int r = 0; r < rounds; r++) {
      fired.set(0);
      // Set every watch and wait until the server has answered all of them.
      CountDownLatch armed = new CountDownLatch(sessions);
      for (int i = 0; i < sessions; i++) zks[i].exists(path, watchers[i], (rc, p, c, st) -> armed.countDown(), null);
      if (!armed.await(60, TimeUnit.SECONDS)) throw new IllegalStateException("watches not set");
      long t0 = System.nanoTime();
      writer.setData(path, EMPTY, -1);
      long deadline = t0 + 60_000_000_000L;
      while (fired.get() < sessions) {
        if (System.nanoTime() > deadline) throw new IllegalStateException("only " + fired.get() + " of " + sessions + " notifications");
        Thread.sleep(0, 200_000);
      }
      times.add((lastNs.get() - t0) / 1e6);
    }
    double cpu1 = cpuSec();
    List<Double> sorted = new ArrayList<>(times);
    sorted.sort(null);
    System.out.println(String.format(Locale.ROOT,
        "{\"op\":\"fanout\",\"sessions\":%d,\"rounds\":%d,\"medianMs\":%.2f,\"maxMs\":%.2f,\"errors\":0,\"clientCpuSec\":%.3f}",
        sessions, rounds, sorted.get(sorted.size() / 2), sorted.get(sorted.size() - 1), cpu1 - cpu0));
    for (ZooKeeper zk : zks) zk.close(100);
    writer.close(100);
  }

  /**
   * Sessions are opened with the client's own Jute records over plain sockets, CONCURRENCY
   * threads each connecting, then closing its session, in a loop: a ZooKeeper object per session
   * would start threads per session and measure the client instead of the server.
   */
  static final boolean TLS = Boolean.getBoolean("bench.tls");

  static void storm(String cs, int sessions, int concurrency) throws Exception {
    String[] hp = cs.split(",")[0].split(":");
    java.net.InetSocketAddress addr = new java.net.InetSocketAddress(hp[0], Integer.parseInt(hp[1]));
    AtomicLong next = new AtomicLong();
    AtomicLong connected = new AtomicLong();
    AtomicLong errors = new AtomicLong();
    AtomicLongArray hist = new AtomicLongArray(BUCKETS);
    Thread[] threads = new Thread[concurrency];
    double cpu0 = cpuSec();
    long t0 = System.nanoTime();
    for (int i = 0; i < concurrency; i++) {
      threads[i] = new Thread(() -> {
        while (next.getAndIncrement() < sessions) {
          // -Dbench.tls=true: a full TLS handshake per session, with the JVM's default SSL context
          // (javax.net.ssl.* stores, jdk.tls.client.protocols).
          try (java.net.Socket sock = TLS ? javax.net.ssl.SSLSocketFactory.getDefault().createSocket() : new java.net.Socket()) {
            long s0 = System.nanoTime();
            sock.setTcpNoDelay(true);
            sock.connect(addr, 30000);
            if (TLS) ((javax.net.ssl.SSLSocket) sock).startHandshake();
            sock.setSoTimeout(60000);
            java.io.DataOutputStream out = new java.io.DataOutputStream(new java.io.BufferedOutputStream(sock.getOutputStream()));
            java.io.DataInputStream in = new java.io.DataInputStream(new java.io.BufferedInputStream(sock.getInputStream()));
            sendRecord(out, new org.apache.zookeeper.proto.ConnectRequest(0, 0, 30000, 0, new byte[16]), null);
            org.apache.zookeeper.proto.ConnectResponse resp = new org.apache.zookeeper.proto.ConnectResponse();
            readRecord(in, resp, null);
            if (resp.getSessionId() == 0) throw new IllegalStateException("session refused");
            hist.incrementAndGet((int) Math.min(BUCKETS - 1, (System.nanoTime() - s0) / 16000));
            connected.incrementAndGet();
            sendRecord(out, null, new org.apache.zookeeper.proto.RequestHeader(1, ZooDefs.OpCode.closeSession));
            org.apache.zookeeper.proto.ReplyHeader rh = new org.apache.zookeeper.proto.ReplyHeader();
            readRecord(in, null, rh);
            if (rh.getErr() != 0) throw new IllegalStateException("closeSession: " + rh.getErr());
          } catch (Exception e) {
            errors.incrementAndGet();
          }
        }
      });
      threads[i].start();
    }
    for (Thread t : threads) t.join();
    double elapsed = (System.nanoTime() - t0) / 1e9;
    double cpu1 = cpuSec();
    long total = connected.get();
    System.out.println(String.format(Locale.ROOT,
        "{\"op\":\"storm\",\"ops\":%d,\"errors\":%d,\"seconds\":%.3f,\"opsPerSec\":%.1f,\"p50Us\":%d,\"p99Us\":%d,\"p999Us\":%d,\"clientCpuSec\":%.3f}",
        total, errors.get(), elapsed, total / elapsed, pct(hist, total, 0.5), pct(hist, total, 0.99), pct(hist, total, 0.999), cpu1 - cpu0));
  }

  /** One length-prefixed frame: an optional request header, then an optional record. */
  static void sendRecord(java.io.DataOutputStream out, org.apache.jute.Record body, org.apache.jute.Record header) throws java.io.IOException {
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    org.apache.jute.BinaryOutputArchive oa = org.apache.jute.BinaryOutputArchive.getArchive(bytes);
    if (header != null) header.serialize(oa, "header");
    if (body != null) body.serialize(oa, "body");
    out.writeInt(bytes.size());
    bytes.writeTo(out);
    out.flush();
  }

  static void readRecord(java.io.DataInputStream in, org.apache.jute.Record body, org.apache.jute.Record header) throws java.io.IOException {
    byte[] frame = new byte[in.readInt()];
    in.readFully(frame);
    org.apache.jute.BinaryInputArchive ia = org.apache.jute.BinaryInputArchive.getArchive(new java.io.ByteArrayInputStream(frame));
    if (header != null) header.deserialize(ia, "header");
    if (body != null) body.deserialize(ia, "body");
  }

  static void populate(String cs, int from, int to, byte[] value) throws Exception {
    ZooKeeper zk = connect(cs, null);
    ensure(zk, "/bench-big", EMPTY);
    Semaphore window = new Semaphore(256);
    AtomicLong errors = new AtomicLong();
    long t0 = System.nanoTime();
    for (int i = from; i < to; i++) {
      window.acquire();
      String parent = String.format(Locale.ROOT, "/bench-big/p%04d", i / 1000);
      if (i % 1000 == 0) { ensure(zk, parent, EMPTY); }
      zk.create(parent + "/n" + (i % 1000), value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, (rc, p, c, n) -> {
        if (rc != 0 && rc != KeeperException.Code.NODEEXISTS.intValue()) errors.incrementAndGet();
        window.release();
      }, null);
    }
    window.acquire(256);
    double elapsed = (System.nanoTime() - t0) / 1e9;
    System.out.println(String.format(Locale.ROOT, "{\"op\":\"populate\",\"ops\":%d,\"errors\":%d,\"seconds\":%.3f,\"opsPerSec\":%.1f}", to - from, errors.get(), elapsed, (to - from) / elapsed));
    zk.close(1000);
  }

  static long epochUs() {
    java.time.Instant now = java.time.Instant.now();
    return now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
  }

  static void failover(String cs, long maxSeconds) throws Exception {
    String path = "/bench-failover";
    String[] members = cs.split(",");
    ZooKeeper session = connect(cs, null);
    ensure(session, path, EMPTY);
    System.out.println("ready");
    System.out.flush();
    String line = new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine();
    if (line == null) throw new IllegalStateException("no kill time on stdin");
    final long killUs = Long.parseLong(line.trim());
    final long deadlineUs = killUs + maxSeconds * 1_000_000L;
    final AtomicLong sessionDoneUs = new AtomicLong(-1);
    final AtomicLong freshDoneUs = new AtomicLong(-1);
    final AtomicLong attempts = new AtomicLong();
    Thread writer = new Thread(() -> {
      while (epochUs() < deadlineUs) {
        try {
          session.setData(path, EMPTY, -1);
          sessionDoneUs.set(epochUs());
          return;
        } catch (KeeperException e) {
          // Connection loss while the ensemble elects: try again.
          try { Thread.sleep(1); } catch (InterruptedException ie) { return; }
        } catch (InterruptedException e) {
          return;
        }
      }
    });
    writer.start();
    // Fresh sessions: a new one every 50 ms, each given 1 s, at most 40 alive.
    Semaphore alive = new Semaphore(40);
    List<Thread> probes = new ArrayList<>();
    for (int k = 0; freshDoneUs.get() < 0 && epochUs() < deadlineUs; k++) {
      final String member = members[k % members.length];
      if (alive.tryAcquire()) {
        Thread probe = new Thread(() -> {
          ZooKeeper zk = null;
          try {
            CountDownLatch up = new CountDownLatch(1);
            attempts.incrementAndGet();
            zk = new ZooKeeper(member, 30000, e -> {
              if (e.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown();
            });
            if (up.await(1000, TimeUnit.MILLISECONDS)) {
              zk.setData(path, EMPTY, -1);
              long now = epochUs();
              freshDoneUs.accumulateAndGet(now, (prev, x) -> prev < 0 ? x : Math.min(prev, x));
            }
          } catch (Exception e) {
            // Refused or lost while the ensemble elects; a later probe tries again.
          } finally {
            if (zk != null) try { zk.close(100); } catch (InterruptedException e) { }
            alive.release();
          }
        });
        probe.setDaemon(true);
        probe.start();
        probes.add(probe);
      }
      Thread.sleep(50);
    }
    writer.join(Math.max(1, (deadlineUs - epochUs()) / 1000));
    for (Thread p : probes) p.join(2000);
    long s = sessionDoneUs.get();
    long f = freshDoneUs.get();
    System.out.println(String.format(Locale.ROOT,
        "{\"op\":\"failover\",\"sessionMs\":%.1f,\"freshMs\":%.1f,\"probes\":%d,\"errors\":%d}",
        s < 0 ? -1.0 : (s - killUs) / 1000.0, f < 0 ? -1.0 : (f - killUs) / 1000.0, attempts.get(), (s < 0 ? 1 : 0) + (f < 0 ? 1 : 0)));
    session.close(100);
  }

  static long pct(AtomicLongArray hist, long total, double q) {
    long rank = (long) Math.ceil(q * total);
    long cum = 0;
    for (int i = 0; i < BUCKETS; i++) {
      cum += hist.get(i);
      if (cum >= rank) return (i + 1) * 16L;
    }
    return BUCKETS * 16L;
  }
}
