import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.CuratorEvent;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceProvider;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.data.Stat;

/**
 * Curator 5.4 framework calls and recipes against a standalone server on an empty data directory.
 * Where two clients race, only outcomes that do not depend on the race are printed.
 *
 * Usage: CuratorScenarios HOST:PORT
 */
public final class CuratorScenarios {
  private static String connectString;
  private static final List<AutoCloseable> toClose = new ArrayList<>();

  public static void main(String[] args) {
    connectString = args[0];
    try {
      run();
      Collections.reverse(toClose);
      for (AutoCloseable c : toClose) c.close();
      Tx.line("## done");
      System.out.flush();
      Runtime.getRuntime().halt(0);
    } catch (Throwable e) {
      Tx.fail(e);
    }
  }

  static CuratorFramework client(String name) throws Exception {
    CuratorFramework c = CuratorFrameworkFactory.newClient(connectString, 30_000, 10_000, new RetryNTimes(3, 200));
    c.start();
    Tx.check(c.blockUntilConnected((int) Tx.WAIT_MS, TimeUnit.MILLISECONDS), name + " connected");
    Tx.nameSession(c.getZookeeperClient().getZooKeeper().getSessionId(), name);
    toClose.add(c);
    return c;
  }

  /** Bounded wait for a condition that no callback signals. */
  static boolean waitFor(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.currentTimeMillis() + Tx.WAIT_MS;
    while (!condition.getAsBoolean()) {
      if (System.currentTimeMillis() > deadline) return false;
      Thread.sleep(20);
    }
    return true;
  }

  interface Probe {
    boolean test() throws Exception;
  }

  static BooleanSupplier probe(Probe p) {
    return () -> {
      try {
        return p.test();
      } catch (Exception e) {
        return false;
      }
    };
  }

  /** Curator's protected names carry a random GUID. */
  static String normalize(String name) {
    if (name == null) return null;
    return name.replaceAll("_c_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-", "_c_<guid>-");
  }

  static String normalized(Collection<String> names) {
    List<String> out = new ArrayList<>();
    for (String n : names) out.add(normalize(n));
    Collections.sort(out);
    return out.toString();
  }

  static String txResults(List<CuratorTransactionResult> results) {
    List<String> parts = new ArrayList<>();
    for (CuratorTransactionResult r : results) {
      parts.add(r.getType() + " forPath=" + r.getForPath() + " resultPath=" + r.getResultPath()
          + " error=" + r.getError() + " stat=" + (r.getResultStat() == null ? "none" : "{" + Tx.stat(r.getResultStat()) + "}"));
    }
    return "[" + String.join("; ", parts) + "]";
  }

  static String event(CuratorEvent e) {
    return "type=" + e.getType() + " rc=" + e.getResultCode() + " path=" + e.getPath() + " name=" + e.getName()
        + " ctx=" + e.getContext()
        + (e.getData() != null ? " data=" + Tx.data(e.getData()) : "")
        + (e.getStat() != null ? " stat={" + Tx.stat(e.getStat()) + "}" : "")
        + (e.getChildren() != null ? " children=" + Tx.sorted(e.getChildren()) : "")
        + (e.getOpResults() != null ? " opResults=" + txResults(e.getOpResults()) : "");
  }

  static void run() throws Exception {
    Tx.section("connect");
    CuratorFramework a = client("A");
    CuratorFramework b = client("B");
    Tx.line("A and B connected");

    basics(a);
    leaderLatch(a, b);
    mutex(a, b);
    cache(a, b);
    barrier(a, b);
    sharedCount(a, b);
    persistentNode(a, b);
    discovery(a, b);
  }

  static void basics(CuratorFramework a) throws Exception {
    Tx.section("framework basics");
    Stat baseStat = new Stat();
    a.create().storingStatIn(baseStat).forPath("/c", Tx.bytes("base"));
    Tx.setBase(baseStat.getCzxid());
    Tx.line("create /c -> " + Tx.stat(baseStat));
    Tx.call("create creatingParentsIfNeeded /c/a/b/c", () -> a.create().creatingParentsIfNeeded().forPath("/c/a/b/c", Tx.bytes("x")), p -> p);
    Tx.call("checkExists /c/a", () -> a.checkExists().forPath("/c/a"), Tx::stat);
    Tx.call("getData /c/a", () -> a.getData().forPath("/c/a"), Tx::data);
    Stat s = new Stat();
    Tx.call("getData /c/a/b/c", () -> a.getData().storingStatIn(s).forPath("/c/a/b/c"), d -> Tx.data(d) + " {" + Tx.stat(s) + "}");
    Tx.call("setData withVersion(0) /c/a/b/c", () -> a.setData().withVersion(0).forPath("/c/a/b/c", Tx.bytes("y")), Tx::stat);
    Tx.call("setData withVersion(0) /c/a/b/c again", () -> a.setData().withVersion(0).forPath("/c/a/b/c", Tx.bytes("z")), Tx::stat);
    Tx.call("create /c/a/b/c again", () -> a.create().forPath("/c/a/b/c"), p -> p);
    Tx.call("create orSetData /c/a/b/c", () -> a.create().orSetData().forPath("/c/a/b/c", Tx.bytes("w")), p -> p);
    Tx.call("getData /c/a/b/c", () -> a.getData().storingStatIn(s).forPath("/c/a/b/c"), d -> Tx.data(d) + " {" + Tx.stat(s) + "}");
    Tx.call("create orSetData /c/new", () -> a.create().orSetData().forPath("/c/new", Tx.bytes("n")), p -> p);
    Tx.call("create PERSISTENT_SEQUENTIAL /c/seq-", () -> a.create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath("/c/seq-"), p -> p);
    Tx.call("create withProtection EPHEMERAL_SEQUENTIAL /c/prot-",
        () -> a.create().withProtection().withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath("/c/prot-"), CuratorScenarios::normalize);
    Tx.call("create creatingParentContainersIfNeeded /c/cont/x/y",
        () -> a.create().creatingParentContainersIfNeeded().forPath("/c/cont/x/y"), p -> p);
    Tx.call("checkExists /c/cont", () -> a.checkExists().forPath("/c/cont"), Tx::stat);
    Tx.call("create /c/missing/child", () -> a.create().forPath("/c/missing/child"), p -> p);
    Tx.call("getChildren /c", () -> a.getChildren().forPath("/c"), CuratorScenarios::normalized);
    Tx.call("getACL /c", () -> a.getACL().forPath("/c"), Tx::acl);
    Tx.call("namespace ns create /x", () -> a.usingNamespace("ns").create().forPath("/x", Tx.bytes("nsx")), p -> p);
    Tx.call("getData /ns/x", () -> a.getData().forPath("/ns/x"), Tx::data);
    Tx.call("checkExists /ns", () -> a.checkExists().forPath("/ns"), Tx::stat);

    Tx.line("# background");
    BlockingQueue<String> events = new LinkedBlockingQueue<>();
    a.create().inBackground((client, e) -> events.add(event(e)), "ctx1").forPath("/c/bg", Tx.bytes("bg"));
    a.getData().inBackground((client, e) -> events.add(event(e)), "ctx2").forPath("/c/bg");
    a.delete().inBackground((client, e) -> events.add(event(e)), "ctx3").forPath("/c/none");
    a.checkExists().inBackground((client, e) -> events.add(event(e)), "ctx4").forPath("/c/none");
    a.getChildren().inBackground((client, e) -> events.add(event(e)), "ctx5").forPath("/c/a");
    a.setData().withVersion(7).inBackground((client, e) -> events.add(event(e)), "ctx6").forPath("/c/bg", Tx.bytes("v"));
    a.create().creatingParentsIfNeeded().inBackground((client, e) -> events.add(event(e)), "ctx7").forPath("/c/bgp/q/r");
    for (int i = 0; i < 7; i++) {
      String e = events.poll(Tx.WAIT_MS, TimeUnit.MILLISECONDS);
      Tx.check(e != null, "background event " + i);
      Tx.line("background " + e);
    }

    Tx.line("# watchers");
    BlockingQueue<WatchedEvent> watched = new LinkedBlockingQueue<>();
    a.getData().usingWatcher((org.apache.curator.framework.api.CuratorWatcher) watched::add).forPath("/c/bg");
    a.checkExists().usingWatcher((org.apache.curator.framework.api.CuratorWatcher) watched::add).forPath("/c/later");
    a.setData().forPath("/c/bg", Tx.bytes("changed"));
    a.create().forPath("/c/later");
    for (int i = 0; i < 2; i++) {
      WatchedEvent e = watched.poll(Tx.WAIT_MS, TimeUnit.MILLISECONDS);
      Tx.check(e != null, "watched event " + i);
      Tx.line("watched " + e.getType() + " " + e.getPath());
    }

    Tx.line("# transactions");
    CuratorOp op1 = a.transactionOp().create().forPath("/c/tx", Tx.bytes("t"));
    CuratorOp op2 = a.transactionOp().setData().withVersion(0).forPath("/c/tx", Tx.bytes("t2"));
    CuratorOp op3 = a.transactionOp().check().withVersion(1).forPath("/c/tx");
    CuratorOp op4 = a.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath("/c/tx/s-");
    CuratorOp op5 = a.transactionOp().delete().forPath("/c/new");
    Tx.call("transaction create/setData/check/create-seq/delete", () -> a.transaction().forOperations(op1, op2, op3, op4, op5), CuratorScenarios::txResults);
    CuratorOp bad1 = a.transactionOp().create().forPath("/c/tx2");
    CuratorOp bad2 = a.transactionOp().setData().withVersion(5).forPath("/c/tx", Tx.bytes("no"));
    CuratorOp bad3 = a.transactionOp().delete().forPath("/c/a/b/c");
    try {
      List<CuratorTransactionResult> r = a.transaction().forOperations(bad1, bad2, bad3);
      Tx.line("failing transaction -> " + txResults(r));
    } catch (KeeperException e) {
      Tx.line("failing transaction -> " + Tx.error(e));
    }
    Tx.call("checkExists /c/tx2", () -> a.checkExists().forPath("/c/tx2"), Tx::stat);
    Tx.call("checkExists /c/a/b/c", () -> a.checkExists().forPath("/c/a/b/c"), Tx::stat);
    CountDownLatch bgTx = new CountDownLatch(1);
    String[] bgTxLine = new String[1];
    a.transaction().inBackground((client, e) -> {
      bgTxLine[0] = event(e);
      bgTx.countDown();
    }).forOperations(a.transactionOp().create().forPath("/c/tx3"), a.transactionOp().check().withVersion(9).forPath("/c/tx"));
    Tx.check(Tx.await(bgTx), "background transaction");
    Tx.line("background failing transaction " + bgTxLine[0]);

    Tx.line("# deletes");
    Tx.act("delete /c/a (not empty)", () -> a.delete().forPath("/c/a"));
    Tx.act("delete deletingChildrenIfNeeded /c/a", () -> a.delete().deletingChildrenIfNeeded().forPath("/c/a"));
    Tx.call("checkExists /c/a", () -> a.checkExists().forPath("/c/a"), Tx::stat);
    Tx.act("delete guaranteed /c/tx/s-0000000000", () -> a.delete().guaranteed().forPath("/c/tx/s-0000000000"));
    Tx.act("delete quietly /c/none", () -> a.delete().quietly().forPath("/c/none"));
    Tx.act("delete withVersion(3) /c/tx", () -> a.delete().withVersion(3).forPath("/c/tx"));
    Tx.act("delete withVersion(1) /c/tx", () -> a.delete().withVersion(1).forPath("/c/tx"));
    Tx.call("getChildren /c", () -> a.getChildren().forPath("/c"), CuratorScenarios::normalized);
    Tx.call("checkExists /c", () -> a.checkExists().forPath("/c"), Tx::stat);
  }

  static void leaderLatch(CuratorFramework a, CuratorFramework b) throws Exception {
    Tx.section("leader latch");
    CountDownLatch gainedA = new CountDownLatch(1);
    CountDownLatch gainedB = new CountDownLatch(1);
    LeaderLatch latchA = new LeaderLatch(a, "/latch", "A");
    LeaderLatch latchB = new LeaderLatch(b, "/latch", "B");
    latchA.addListener(listener(gainedA));
    latchB.addListener(listener(gainedB));
    latchA.start();
    latchB.start();
    Tx.check(waitFor(probe(() -> latchA.getParticipants().size() == 2)), "two participants");
    Tx.check(waitFor(() -> latchA.hasLeadership() || latchB.hasLeadership()), "a leader is elected");
    Tx.line("participants -> " + latchA.getParticipants().size());
    // b may be on another member of an ensemble than a: sync before b reads A's latch node.
    Tx.sync(b.getZookeeperClient().getZooKeeper(), "/latch");
    int leaders = (latchA.hasLeadership() ? 1 : 0) + (latchB.hasLeadership() ? 1 : 0);
    Tx.line("leaders -> " + leaders);
    Tx.check(leaders == 1, "exactly one leader");
    LeaderLatch leader = latchA.hasLeadership() ? latchA : latchB;
    LeaderLatch follower = leader == latchA ? latchB : latchA;
    CountDownLatch followerGained = follower == latchA ? gainedA : gainedB;
    Tx.line("both agree on the leader -> " + latchA.getLeader().getId().equals(latchB.getLeader().getId()));
    Tx.line("leader id is the leader's -> " + leader.getLeader().getId().equals(leader.getId()));
    List<String> nodes = b.getChildren().forPath("/latch");
    Collections.sort(nodes, (x, y) -> x.substring(x.length() - 10).compareTo(y.substring(y.length() - 10)));
    Tx.line("latch nodes -> " + nodes.stream().map(CuratorScenarios::normalize).map(n -> n.replaceAll("\\d{10}$", "<seq>")).collect(Collectors.toList()));
    Tx.line("lowest sequence is the leader -> " + leader.getOurPath().endsWith(nodes.get(0)));
    Tx.line("follower await(200ms) -> " + follower.await(200, TimeUnit.MILLISECONDS));
    Tx.line("follower gained so far -> " + (followerGained.getCount() == 0));
    leader.close();
    Tx.line("after leader close, follower gains leadership -> " + Tx.await(followerGained));
    Tx.line("follower hasLeadership -> " + follower.hasLeadership());
    Tx.check(waitFor(probe(() -> follower.getParticipants().size() == 1)), "one participant left");
    Collection<Participant> ps = follower.getParticipants();
    Tx.line("participants -> " + ps.size() + " leader=" + ps.iterator().next().isLeader());
    follower.close();
    // LeaderLatch.close() deletes its node in the background: wait (bounded) for it to go.
    Tx.check(waitFor(probe(() -> b.getChildren().forPath("/latch").isEmpty())), "latch nodes gone after close");
    Tx.call("children of /latch after both closed", () -> b.getChildren().forPath("/latch"), Tx::sorted);
  }

  static LeaderLatchListener listener(CountDownLatch gained) {
    return new LeaderLatchListener() {
      @Override
      public void isLeader() {
        gained.countDown();
      }

      @Override
      public void notLeader() {}
    };
  }

  static void mutex(CuratorFramework a, CuratorFramework b) throws Exception {
    Tx.section("inter-process mutex");
    InterProcessMutex mA = new InterProcessMutex(a, "/locks/m");
    InterProcessMutex mB = new InterProcessMutex(b, "/locks/m");
    Tx.line("A acquire -> " + mA.acquire(Tx.WAIT_MS, TimeUnit.MILLISECONDS));
    Tx.line("A participant nodes -> " + normalized(mA.getParticipantNodes()));
    Tx.line("B acquire(300ms) while A holds -> " + mB.acquire(300, TimeUnit.MILLISECONDS));
    Tx.line("A acquire again (reentrant) -> " + mA.acquire(Tx.WAIT_MS, TimeUnit.MILLISECONDS));
    // B deleted its node when its acquire timed out, maybe through another member: sync first.
    Tx.sync(a.getZookeeperClient().getZooKeeper(), "/locks/m");
    Tx.line("participant count -> " + mA.getParticipantNodes().size());
    mA.release();
    Tx.line("A released once, isAcquiredInThisProcess -> " + mA.isAcquiredInThisProcess());
    Tx.line("B acquire(300ms) while A still holds -> " + mB.acquire(300, TimeUnit.MILLISECONDS));
    mA.release();
    Tx.line("A released twice, isAcquiredInThisProcess -> " + mA.isAcquiredInThisProcess());
    Tx.line("B acquire -> " + mB.acquire(Tx.WAIT_MS, TimeUnit.MILLISECONDS));
    Tx.line("A acquire(300ms) while B holds -> " + mA.acquire(300, TimeUnit.MILLISECONDS));
    mB.release();
    Tx.check(waitFor(probe(() -> mA.getParticipantNodes().isEmpty())), "no participants after release");
    Tx.line("participants after release -> " + mA.getParticipantNodes().size());

    Tx.line("# contention");
    AtomicInteger inside = new AtomicInteger();
    AtomicInteger maxInside = new AtomicInteger();
    AtomicInteger total = new AtomicInteger();
    AtomicBoolean failed = new AtomicBoolean();
    final int rounds = 25;
    List<Thread> threads = new ArrayList<>();
    for (InterProcessMutex m : Arrays.asList(mA, mB)) {
      Thread t = new Thread(() -> {
        try {
          for (int i = 0; i < rounds; i++) {
            if (!m.acquire(Tx.WAIT_MS, TimeUnit.MILLISECONDS)) {
              failed.set(true);
              return;
            }
            try {
              int now = inside.incrementAndGet();
              maxInside.accumulateAndGet(now, Math::max);
              total.incrementAndGet();
              inside.decrementAndGet();
            } finally {
              m.release();
            }
          }
        } catch (Exception e) {
          e.printStackTrace();
          failed.set(true);
        }
      });
      threads.add(t);
      t.start();
    }
    for (Thread t : threads) t.join(Tx.WAIT_MS * 3);
    Tx.line("contention failed -> " + failed.get());
    Tx.line("critical sections -> " + total.get() + " max holders -> " + maxInside.get());
    Tx.check(maxInside.get() == 1, "mutual exclusion");
  }

  static void cache(CuratorFramework a, CuratorFramework b) throws Exception {
    Tx.section("curator cache");
    b.create().creatingParentsIfNeeded().forPath("/cache/a", Tx.bytes("1"));
    b.create().forPath("/cache/b", Tx.bytes("2"));
    b.create().forPath("/cache/b/c", Tx.bytes("3"));
    BlockingQueue<String> events = new LinkedBlockingQueue<>();
    CountDownLatch initialized = new CountDownLatch(1);
    List<String> initial = Collections.synchronizedList(new ArrayList<>());
    AtomicBoolean isInitialized = new AtomicBoolean();
    CuratorCache cache = CuratorCache.build(a, "/cache");
    cache.listenable().addListener(new CuratorCacheListener() {
      @Override
      public void event(Type type, ChildData oldData, ChildData data) {
        String text = type + " " + (data != null ? data.getPath() + " " + Tx.data(data.getData()) : "")
            + (oldData != null ? " old=" + oldData.getPath() + " " + Tx.data(oldData.getData()) : "");
        if (isInitialized.get()) events.add(text);
        else initial.add(text);
      }

      @Override
      public void initialized() {
        isInitialized.set(true);
        initialized.countDown();
      }
    });
    cache.start();
    toClose.add(cache);
    Tx.check(Tx.await(initialized), "cache initialized");
    List<String> sortedInitial = new ArrayList<>(initial);
    Collections.sort(sortedInitial);
    for (String e : sortedInitial) Tx.line("initial " + e);
    Tx.line("cache size -> " + cache.size());

    expect(events, "create /cache/d", 1, () -> b.create().forPath("/cache/d", Tx.bytes("4")));
    expect(events, "setData /cache/a", 1, () -> b.setData().forPath("/cache/a", Tx.bytes("1b")));
    expect(events, "delete /cache/b/c", 1, () -> b.delete().forPath("/cache/b/c"));
    expect(events, "create /cache/e/f with parents", 2, () -> b.create().creatingParentsIfNeeded().forPath("/cache/e/f", Tx.bytes("5")));
    expect(events, "setData /cache/e/f same bytes", 1, () -> b.setData().forPath("/cache/e/f", Tx.bytes("5")));
    expect(events, "delete deletingChildrenIfNeeded /cache/e", 2, () -> b.delete().deletingChildrenIfNeeded().forPath("/cache/e"));
    expect(events, "setData /cache", 1, () -> b.setData().forPath("/cache", Tx.bytes("root")));
    expect(events, "create ephemeral /cache/eph by A", 1, () -> a.create().withMode(CreateMode.EPHEMERAL).forPath("/cache/eph", Tx.bytes("e")));
    List<String> paths = cache.stream().map(ChildData::getPath).sorted().collect(Collectors.toList());
    Tx.line("cached paths -> " + paths);
    Tx.line("cached /cache/a -> " + cache.get("/cache/a").map(d -> Tx.data(d.getData())).orElse("absent"));
    Tx.line("cached /cache/eph owner -> " + cache.get("/cache/eph").map(d -> Tx.owner(d.getStat().getEphemeralOwner())).orElse("absent"));
    cache.close();
    toClose.remove(cache);
  }

  static void expect(BlockingQueue<String> events, String label, int count, Tx.Action action) throws Exception {
    action.run();
    Tx.line(label);
    for (int i = 0; i < count; i++) {
      String e = events.poll(Tx.WAIT_MS, TimeUnit.MILLISECONDS);
      Tx.check(e != null, "cache event " + (i + 1) + " of " + count + " after " + label);
      Tx.line("  cache event " + e);
    }
  }

  static void barrier(CuratorFramework a, CuratorFramework b) throws Exception {
    Tx.section("distributed barrier");
    DistributedBarrier barrierA = new DistributedBarrier(a, "/barrier");
    DistributedBarrier barrierB = new DistributedBarrier(b, "/barrier");
    Tx.line("B waitOnBarrier with no barrier -> " + barrierB.waitOnBarrier(Tx.WAIT_MS, TimeUnit.MILLISECONDS));
    barrierA.setBarrier();
    // b may be on another member of an ensemble than a: sync before reading a's write.
    Tx.sync(b.getZookeeperClient().getZooKeeper(), "/barrier");
    Tx.call("checkExists /barrier", () -> b.checkExists().forPath("/barrier"), Tx::shape);
    Tx.line("B waitOnBarrier(300ms) while set -> " + barrierB.waitOnBarrier(300, TimeUnit.MILLISECONDS));
    CountDownLatch waiting = new CountDownLatch(1);
    AtomicBoolean released = new AtomicBoolean();
    AtomicBoolean errored = new AtomicBoolean();
    Thread waiter = new Thread(() -> {
      try {
        waiting.countDown();
        released.set(barrierB.waitOnBarrier(Tx.WAIT_MS, TimeUnit.MILLISECONDS));
      } catch (Exception e) {
        e.printStackTrace();
        errored.set(true);
      }
    });
    waiter.start();
    Tx.check(Tx.await(waiting), "waiter started");
    barrierA.removeBarrier();
    waiter.join(Tx.WAIT_MS + 5_000);
    Tx.line("waiter released after removeBarrier -> " + released.get() + " error=" + errored.get());
    Tx.call("checkExists /barrier", () -> b.checkExists().forPath("/barrier"), Tx::shape);
  }

  static void sharedCount(CuratorFramework a, CuratorFramework b) throws Exception {
    Tx.section("shared count");
    SharedCount countA = new SharedCount(a, "/count", 0);
    countA.start();
    SharedCount countB = new SharedCount(b, "/count", 100);
    countB.start();
    toClose.add(countA);
    toClose.add(countB);
    VersionedValue<Integer> vA = countA.getVersionedValue();
    VersionedValue<Integer> vB = countB.getVersionedValue();
    Tx.line("A value -> " + vA.getValue() + " version " + vA.getVersion());
    Tx.line("B value -> " + vB.getValue() + " version " + vB.getVersion());
    Tx.line("A trySetCount(v" + vA.getVersion() + ", 5) -> " + countA.trySetCount(vA, 5));
    Tx.line("A now -> " + countA.getVersionedValue().getValue() + " version " + countA.getVersionedValue().getVersion());
    Tx.line("B trySetCount(stale v" + vB.getVersion() + ", 7) -> " + countB.trySetCount(vB, 7));
    Tx.check(waitFor(() -> countB.getCount() == 5), "B sees 5");
    VersionedValue<Integer> vB2 = countB.getVersionedValue();
    Tx.line("B sees -> " + vB2.getValue() + " version " + vB2.getVersion());
    Tx.line("B trySetCount(v" + vB2.getVersion() + ", 7) -> " + countB.trySetCount(vB2, 7));
    Tx.check(waitFor(() -> countA.getCount() == 7), "A sees 7");
    Tx.line("A sees -> " + countA.getCount() + " version " + countA.getVersionedValue().getVersion());
    countA.setCount(9);
    Tx.check(waitFor(() -> countB.getCount() == 9), "B sees 9");
    Tx.line("after A setCount(9), B sees -> " + countB.getCount() + " version " + countB.getVersionedValue().getVersion());
    Stat s = new Stat();
    Tx.call("getData /count", () -> b.getData().storingStatIn(s).forPath("/count"), d -> Arrays.toString(d) + " {" + Tx.shape(s) + "}");
  }

  static void persistentNode(CuratorFramework a, CuratorFramework b) throws Exception {
    Tx.section("persistent node");
    PersistentNode node = new PersistentNode(a, CreateMode.EPHEMERAL, false, "/pn/node", Tx.bytes("d1"));
    node.start();
    toClose.add(node);
    Tx.line("waitForInitialCreate -> " + node.waitForInitialCreate(Tx.WAIT_MS, TimeUnit.MILLISECONDS));
    Tx.line("actual path -> " + node.getActualPath());
    // b may be on another member of an ensemble than a: sync before each read of a's writes.
    Tx.sync(b.getZookeeperClient().getZooKeeper(), "/pn");
    Stat s = new Stat();
    Tx.call("B getData /pn/node", () -> b.getData().storingStatIn(s).forPath("/pn/node"), d -> Tx.data(d) + " {" + Tx.shape(s) + "}");
    Tx.act("B delete /pn/node", () -> b.delete().forPath("/pn/node"));
    Tx.line("recreated -> " + waitFor(probe(() -> b.checkExists().forPath("/pn/node") != null)));
    Tx.call("B getData /pn/node", () -> b.getData().storingStatIn(s).forPath("/pn/node"), d -> Tx.data(d) + " {" + Tx.shape(s) + "}");
    node.setData(Tx.bytes("d2"));
    Tx.line("data updated -> " + waitFor(probe(() -> "d2".equals(new String(b.getData().forPath("/pn/node"), "UTF-8")))));
    Tx.call("B getData /pn/node", () -> b.getData().storingStatIn(s).forPath("/pn/node"), d -> Tx.data(d) + " {" + Tx.shape(s) + "}");
    node.close();
    toClose.remove(node);
    Tx.line("gone after close -> " + waitFor(probe(() -> b.checkExists().forPath("/pn/node") == null)));

    PersistentNode seq = new PersistentNode(a, CreateMode.EPHEMERAL_SEQUENTIAL, true, "/pn/seq-", Tx.bytes("s"));
    seq.start();
    Tx.line("protected sequential waitForInitialCreate -> " + seq.waitForInitialCreate(Tx.WAIT_MS, TimeUnit.MILLISECONDS));
    Tx.line("actual path -> " + normalize(seq.getActualPath()));
    Tx.sync(b.getZookeeperClient().getZooKeeper(), "/pn");
    Tx.call("children of /pn", () -> b.getChildren().forPath("/pn"), CuratorScenarios::normalized);
    seq.close();
    Tx.line("children gone after close -> " + waitFor(probe(() -> b.getChildren().forPath("/pn").isEmpty())));
  }

  static String instance(ServiceInstance<String> i) {
    return i.getName() + "/" + i.getId() + " " + i.getAddress() + ":" + i.getPort() + " payload=" + i.getPayload()
        + " type=" + i.getServiceType();
  }

  static String instances(Collection<ServiceInstance<String>> list) {
    return list.stream().map(CuratorScenarios::instance).sorted().collect(Collectors.toList()).toString();
  }

  static void discovery(CuratorFramework a, CuratorFramework b) throws Exception {
    Tx.section("service discovery");
    ServiceDiscovery<String> discA = ServiceDiscoveryBuilder.builder(String.class).client(a).basePath("/services")
        .serializer(new JsonInstanceSerializer<>(String.class)).build();
    discA.start();
    ServiceDiscovery<String> discB = ServiceDiscoveryBuilder.builder(String.class).client(b).basePath("/services")
        .serializer(new JsonInstanceSerializer<>(String.class)).build();
    discB.start();
    toClose.add(discB);
    ServiceInstance<String> w1 = ServiceInstance.<String>builder().name("web").id("w1").address("10.0.0.1").port(8080).payload("one").build();
    ServiceInstance<String> w2 = ServiceInstance.<String>builder().name("web").id("w2").address("10.0.0.2").port(8080).payload("two").build();
    ServiceInstance<String> d1 = ServiceInstance.<String>builder().name("db").id("d1").address("10.0.1.1").port(5432).payload("db").build();
    discA.registerService(w1);
    discA.registerService(w2);
    discA.registerService(d1);
    Tx.line("registered w1 w2 d1");
    // b may be on another member of an ensemble than a: sync before each read of a's writes.
    Tx.sync(b.getZookeeperClient().getZooKeeper(), "/services");
    Tx.line("B queryForNames -> " + new ArrayList<>(discB.queryForNames()).stream().sorted().collect(Collectors.toList()));
    Tx.line("B queryForInstances web -> " + instances(discB.queryForInstances("web")));
    Tx.line("B queryForInstance web/w2 -> " + instance(discB.queryForInstance("web", "w2")));
    Tx.line("B queryForInstance web/none -> " + discB.queryForInstance("web", "none"));
    Stat s = new Stat();
    Tx.call("B stat /services/web/w1", () -> b.checkExists().forPath("/services/web/w1"), Tx::shape);
    discA.unregisterService(w1);
    Tx.sync(b.getZookeeperClient().getZooKeeper(), "/services");
    Tx.line("after unregister w1, B queryForInstances web -> " + instances(discB.queryForInstances("web")));
    ServiceInstance<String> w2b = ServiceInstance.<String>builder().name("web").id("w2").address("10.0.0.2").port(9090).payload("two-b").build();
    discA.updateService(w2b);
    Tx.sync(b.getZookeeperClient().getZooKeeper(), "/services");
    Tx.line("after update w2, B queryForInstance web/w2 -> " + instance(discB.queryForInstance("web", "w2")));
    ServiceProvider<String> provider = discB.serviceProviderBuilder().serviceName("web").build();
    provider.start();
    Tx.line("provider getAllInstances -> " + instances(provider.getAllInstances()));
    Tx.line("provider getInstance -> " + instance(provider.getInstance()));
    provider.close();
    discA.close();
    Tx.line("after A closes its discovery, instances gone -> "
        + waitFor(probe(() -> discB.queryForInstances("web").isEmpty() && discB.queryForInstances("db").isEmpty())));
    Tx.line("B queryForNames -> " + new ArrayList<>(discB.queryForNames()).stream().sorted().collect(Collectors.toList()));
  }
}
