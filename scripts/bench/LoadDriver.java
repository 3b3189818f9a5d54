import java.lang.management.ManagementFactory;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

/**
 * Load generator on the official Java client's async API: SESSIONS sessions keep OUTSTANDING
 * requests each in flight for SECONDS seconds. Prints one JSON line: ops, latency percentiles in
 * microseconds, and the client's own CPU time (so a client bottleneck shows).
 * Args: connectString op sessions outstanding seconds valueBytes
 * op: get | exists | children | set | create | eseq | delete | multi
 */
public class LoadDriver {
  static final int BUCKETS = 65536; // 16 us each, up to ~1 s; the last bucket takes the rest

  public static void main(String[] a) throws Exception {
    String cs = a[0];
    String op = a[1];
    int sessions = Integer.parseInt(a[2]);
    int outstanding = Integer.parseInt(a[3]);
    long seconds = Long.parseLong(a[4]);
    byte[] value = new byte[Integer.parseInt(a[5])];
    ZooKeeper[] zks = new ZooKeeper[sessions];
    for (int i = 0; i < sessions; i++) {
      CountDownLatch up = new CountDownLatch(1);
      zks[i] = new ZooKeeper(cs, 30000, e -> { if (e.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown(); });
      if (!up.await(30, java.util.concurrent.TimeUnit.SECONDS)) throw new IllegalStateException("cannot connect to " + cs);
    }
    String base = "/bench-" + op;
    try { zks[0].create(base, value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT); } catch (KeeperException.NodeExistsException e) { }
    if (op.equals("delete")) {
      // Enough nodes for the run: deletes of missing nodes would measure errors.
      for (int i = 0; i < 200000; i++) zks[0].create(base + "/d" + i, value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, (rc, p, c, n) -> { }, null);
      zks[0].sync(base, (rc, p, c) -> { }, null);
      zks[0].exists(base, false);
    }
    if (op.equals("children")) for (int i = 0; i < 10; i++) try { zks[0].create(base + "/c" + i, value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT); } catch (KeeperException.NodeExistsException e) { }
    AtomicLong done = new AtomicLong();
    AtomicLong errors = new AtomicLong();
    AtomicLong seq = new AtomicLong();
    AtomicLongArray hist = new AtomicLongArray(BUCKETS);
    long cpu0 = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    long start = System.nanoTime();
    long end = start + seconds * 1_000_000_000L;
    Semaphore finished = new Semaphore(0);
    for (int s = 0; s < sessions; s++) {
      final ZooKeeper zk = zks[s];
      for (int k = 0; k < outstanding; k++) {
        new Object() {
          long t0;
          void record(int rc) {
            long us = (System.nanoTime() - t0) / 1000;
            hist.incrementAndGet((int) Math.min(BUCKETS - 1, us / 16));
            if (rc != 0) errors.incrementAndGet();
            done.incrementAndGet();
            next();
          }
          void next() {
            if (System.nanoTime() > end) { finished.release(); return; }
            t0 = System.nanoTime();
            switch (op) {
              case "get": zk.getData(base, false, (AsyncCallback.DataCallback) (rc, p, c, d, st) -> record(rc), null); break;
              case "exists": zk.exists(base, false, (AsyncCallback.StatCallback) (rc, p, c, st) -> record(rc), null); break;
              case "children": zk.getChildren(base, false, (AsyncCallback.ChildrenCallback) (rc, p, c, ch) -> record(rc), null); break;
              case "set": zk.setData(base, value, -1, (AsyncCallback.StatCallback) (rc, p, c, st) -> record(rc), null); break;
              case "create": zk.create(base + "/n" + seq.incrementAndGet(), value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, (AsyncCallback.StringCallback) (rc, p, c, n) -> record(rc), null); break;
              case "eseq": zk.create(base + "/e-", value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL_SEQUENTIAL, (AsyncCallback.StringCallback) (rc, p, c, n) -> record(rc), null); break;
              case "delete": zk.delete(base + "/d" + seq.getAndIncrement(), -1, (AsyncCallback.VoidCallback) (rc, p, c) -> record(rc), null); break;
              case "multi": {
                java.util.List<org.apache.zookeeper.Op> ops = new java.util.ArrayList<>();
                long n = seq.incrementAndGet();
                for (int i = 0; i < 10; i++) ops.add(org.apache.zookeeper.Op.create(base + "/m" + n + "-" + i, value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));
                zk.multi(ops, (rc, p, c, r) -> record(rc), null);
                break;
              }
              default: throw new IllegalArgumentException(op);
            }
          }
        }.next();
      }
    }
    finished.acquire(sessions * outstanding);
    double elapsed = (System.nanoTime() - start) / 1e9;
    long cpu1 = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    long total = done.get();
    System.out.println(String.format(java.util.Locale.ROOT,
        "{\"op\":\"%s\",\"ops\":%d,\"errors\":%d,\"seconds\":%.3f,\"opsPerSec\":%.1f,\"p50Us\":%d,\"p99Us\":%d,\"p999Us\":%d,\"clientCpuSec\":%.3f}",
        op, total, errors.get(), elapsed, total / elapsed, pct(hist, total, 0.5), pct(hist, total, 0.99), pct(hist, total, 0.999), (cpu1 - cpu0) / 1e9));
    for (ZooKeeper zk : zks) zk.close(1000);
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
