import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.admin.ZooKeeperAdmin;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

/**
 * The raw org.apache.zookeeper.ZooKeeper API, operation by operation, printing each result or
 * error code. Expects a standalone server started with -Dzookeeper.extendedTypesEnabled=true and
 * -Dznode.container.checkIntervalMs=1000 on an empty data directory.
 *
 * Usage: RawClientScenarios HOST:PORT
 */
public final class RawClientScenarios {
  private static String connectString;
  // One server's address: the connection-level session cases (a second connection taking a
  // session, a wrong password) need both connections on one server. Against an ensemble it is one
  // member; otherwise the connect string itself.
  private static String oneServer;

  private static final List<ZooKeeper> openClients = new ArrayList<>();

  // Watch events, in delivery order, as (watcher name, description).
  private static final List<String[]> events = Collections.synchronizedList(new ArrayList<>());

  private static final List<ACL> OPEN = Ids.OPEN_ACL_UNSAFE;

  public static void main(String[] args) {
    connectString = args[0];
    oneServer = args.length > 1 ? args[1] : args[0];
    try {
      run();
      for (ZooKeeper zk : openClients) zk.close();
      Tx.line("## done");
      System.out.flush();
      Runtime.getRuntime().halt(0);
    } catch (Throwable e) {
      Tx.fail(e);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Clients and watchers

  /** Default watcher of a client: connection states into a queue, node events into the log. */
  static final class StateWatcher implements Watcher {
    final String name;
    final BlockingQueue<KeeperState> states = new LinkedBlockingQueue<>();
    volatile Runnable onDisconnected;

    StateWatcher(String name) {
      this.name = name;
    }

    @Override
    public void process(WatchedEvent e) {
      if (e.getType() == EventType.None) {
        if (e.getState() == KeeperState.Disconnected && onDisconnected != null) onDisconnected.run();
        states.add(e.getState());
      } else {
        events.add(new String[] {name + "-default", describe(e)});
      }
    }

    /** Waits for the given state; returns the states seen up to and including it. */
    List<KeeperState> await(KeeperState target) throws InterruptedException {
      List<KeeperState> seen = new ArrayList<>();
      long deadline = System.currentTimeMillis() + Tx.WAIT_MS;
      for (;;) {
        long left = deadline - System.currentTimeMillis();
        KeeperState s = left > 0 ? states.poll(left, TimeUnit.MILLISECONDS) : null;
        Tx.check(s != null, name + ": state " + target + " within " + Tx.WAIT_MS + " ms (seen " + seen + ")");
        seen.add(s);
        if (s == target) return seen;
      }
    }

    /** Like await, but reports a timeout in the result instead of failing. */
    List<String> awaitOrTimeout(KeeperState target, long timeoutMs) throws InterruptedException {
      List<String> seen = new ArrayList<>();
      long deadline = System.currentTimeMillis() + timeoutMs;
      for (;;) {
        long left = deadline - System.currentTimeMillis();
        KeeperState s = left > 0 ? states.poll(left, TimeUnit.MILLISECONDS) : null;
        if (s == null) {
          seen.add("TIMEOUT");
          return seen;
        }
        seen.add(s.toString());
        if (s == target) return seen;
      }
    }
  }

  static String describe(WatchedEvent e) {
    return e.getType() + " " + e.getPath() + (e.getState() == KeeperState.SyncConnected ? "" : " state=" + e.getState());
  }

  static Watcher watcher(String name) {
    return e -> events.add(new String[] {name, describe(e)});
  }

  /** A watcher that also counts down when an event of the given type arrives. */
  static Watcher watcher(String name, EventType type, CountDownLatch latch) {
    return e -> {
      events.add(new String[] {name, describe(e)});
      if (e.getType() == type) latch.countDown();
    };
  }

  /** Prints the events delivered so far, per watcher in delivery order, watchers sorted by name. */
  static void flush(ZooKeeper zk) throws InterruptedException {
    Tx.barrier(zk);
    Map<String, List<String>> byWatcher = new TreeMap<>();
    synchronized (events) {
      for (String[] ev : events) byWatcher.computeIfAbsent(ev[0], k -> new ArrayList<>()).add(ev[1]);
      events.clear();
    }
    if (byWatcher.isEmpty()) Tx.line("  events: none");
    for (Map.Entry<String, List<String>> entry : byWatcher.entrySet()) {
      for (String text : entry.getValue()) Tx.line("  event " + entry.getKey() + ": " + text);
    }
  }

  static final class Client {
    final ZooKeeper zk;
    final StateWatcher states;

    Client(ZooKeeper zk, StateWatcher states) {
      this.zk = zk;
      this.states = states;
    }
  }

  static Client open(String name, int timeoutMs) throws Exception {
    return open(name, timeoutMs, connectString);
  }

  static Client open(String name, int timeoutMs, String servers) throws Exception {
    StateWatcher sw = new StateWatcher(name);
    ZooKeeper zk = new ZooKeeper(servers, timeoutMs, sw);
    sw.await(KeeperState.SyncConnected);
    Tx.nameSession(zk.getSessionId(), name);
    openClients.add(zk);
    return new Client(zk, sw);
  }

  static void close(Client c) throws InterruptedException {
    openClients.remove(c.zk);
    c.zk.close();
  }

  // ------------------------------------------------------------------------------------------
  // Formatting

  static String results(List<OpResult> results) {
    if (results == null) return "null";
    List<String> parts = new ArrayList<>();
    for (OpResult r : results) parts.add(result(r));
    return "[" + String.join("; ", parts) + "]";
  }

  static String result(OpResult r) {
    String type = "type=" + r.getType();
    if (r instanceof OpResult.CreateResult) {
      OpResult.CreateResult c = (OpResult.CreateResult) r;
      return "create " + type + " path=" + c.getPath() + " stat=" + (c.getStat() == null ? "none" : "{" + Tx.stat(c.getStat()) + "}");
    }
    if (r instanceof OpResult.SetDataResult) return "setData " + type + " stat={" + Tx.stat(((OpResult.SetDataResult) r).getStat()) + "}";
    if (r instanceof OpResult.DeleteResult) return "delete " + type;
    if (r instanceof OpResult.CheckResult) return "check " + type;
    if (r instanceof OpResult.ErrorResult) return "error " + type + " err=" + ((OpResult.ErrorResult) r).getErr();
    if (r instanceof OpResult.GetDataResult) {
      OpResult.GetDataResult g = (OpResult.GetDataResult) r;
      return "getData " + type + " data=" + Tx.data(g.getData()) + " stat={" + Tx.stat(g.getStat()) + "}";
    }
    if (r instanceof OpResult.GetChildrenResult) return "getChildren " + type + " children=" + Tx.sorted(((OpResult.GetChildrenResult) r).getChildren());
    return r.getClass().getSimpleName() + " " + type;
  }

  static String multiError(Exception e) {
    String base = Tx.error(e);
    if (e instanceof KeeperException && ((KeeperException) e).getResults() != null) {
      base += " results=" + results(((KeeperException) e).getResults());
    }
    return base;
  }

  static void multi(String label, ZooKeeper zk, List<Op> ops) {
    try {
      List<OpResult> r = zk.multi(ops);
      Tx.line(label + " -> " + results(r));
    } catch (Exception e) {
      Tx.line(label + " -> " + multiError(e));
    }
  }

  static String whoAmI(List<ClientInfo> infos) {
    // The server keeps a session's identities in a hash set: the order carries no meaning.
    List<String> parts = new ArrayList<>();
    for (ClientInfo i : infos) parts.add(i.getAuthScheme() + ":" + i.getUser());
    Collections.sort(parts);
    return parts.toString();
  }

  // Convenience wrappers that print one line each.

  static Stat stat(ZooKeeper zk, String path) {
    return Tx.call("exists " + path, () -> zk.exists(path, false), Tx::stat);
  }

  static String create(ZooKeeper zk, String path, String data, List<ACL> acl, CreateMode mode) {
    return Tx.call("create " + path + " " + mode, () -> zk.create(path, data == null ? null : Tx.bytes(data), acl, mode), p -> p);
  }

  static String create(ZooKeeper zk, String path, CreateMode mode) {
    return create(zk, path, "", OPEN, mode);
  }

  static void create2(ZooKeeper zk, String path, String data, CreateMode mode, long ttl) {
    Stat s = new Stat();
    Tx.call("create2 " + path + " " + mode + (ttl >= 0 ? " ttl=" + ttl : ""),
        () -> ttl >= 0 ? zk.create(path, Tx.bytes(data), OPEN, mode, s, ttl) : zk.create(path, Tx.bytes(data), OPEN, mode, s),
        p -> p + " {" + Tx.stat(s) + "}");
  }

  static void getData(ZooKeeper zk, String path) {
    Stat s = new Stat();
    Tx.call("getData " + path, () -> zk.getData(path, false, s), d -> Tx.data(d) + " {" + Tx.stat(s) + "}");
  }

  static void setData(ZooKeeper zk, String path, String data, int version) {
    Tx.call("setData " + path + " " + Tx.data(data == null ? null : Tx.bytes(data)) + " v=" + version,
        () -> zk.setData(path, data == null ? null : Tx.bytes(data), version), Tx::stat);
  }

  static void delete(ZooKeeper zk, String path, int version) {
    Tx.act("delete " + path + " v=" + version, () -> zk.delete(path, version));
  }

  static void children(ZooKeeper zk, String path) {
    Stat s = new Stat();
    Tx.call("getChildren2 " + path, () -> zk.getChildren(path, false, s), c -> Tx.sorted(c) + " {" + Tx.stat(s) + "}");
  }

  static void getAcl(String who, ZooKeeper zk, String path) {
    Stat s = new Stat();
    Tx.call(who + " getACL " + path, () -> zk.getACL(path, s), a -> Tx.acl(a) + " {" + Tx.stat(s) + "}");
  }

  static void setAcl(String who, ZooKeeper zk, String path, List<ACL> acl, int version) {
    Tx.call(who + " setACL " + path + " " + Tx.acl(acl) + " v=" + version, () -> zk.setACL(path, acl, version), Tx::stat);
  }

  static List<ACL> acl(Object... schemeIdPerms) {
    List<ACL> list = new ArrayList<>();
    for (int i = 0; i < schemeIdPerms.length; i += 3) {
      list.add(new ACL((Integer) schemeIdPerms[i + 2], new Id((String) schemeIdPerms[i], (String) schemeIdPerms[i + 1])));
    }
    return list;
  }

  // ------------------------------------------------------------------------------------------

  static void run() throws Exception {
    Tx.section("connect");
    Client c1 = open("S1", 30_000);
    ZooKeeper zk = c1.zk;
    Tx.line("S1 requested 30000 -> negotiated " + zk.getSessionTimeout());
    for (int requested : new int[] {1_000, 100_000}) {
      Client c = open("T" + requested, requested);
      Tx.line("requested " + requested + " -> negotiated " + c.zk.getSessionTimeout());
      close(c);
    }
    Tx.line("S1 state -> " + zk.getState());

    Tx.section("base");
    Stat baseStat = new Stat();
    zk.create("/s", Tx.bytes("scenario"), OPEN, CreateMode.PERSISTENT, baseStat);
    Tx.setBase(baseStat.getCzxid());
    Tx.line("create /s -> " + Tx.stat(baseStat));
    stat(zk, "/");
    children(zk, "/");
    getData(zk, "/zookeeper");
    children(zk, "/zookeeper");
    getData(zk, "/zookeeper/quota");
    getAcl("S1", zk, "/");
    getAcl("S1", zk, "/zookeeper");
    getAcl("S1", zk, "/zookeeper/config");

    createModes(zk);
    pathValidation(zk);
    dataOps(zk);
    acls(zk);
    multis(zk);
    misc(zk);
    oneShotWatches(zk);
    persistentWatches(zk);
    sequentialNames(zk);
    ephemeralCleanup(zk);
    sessionTakeover(zk);
    sessionExpiry(zk);
    containerAndTtlExpiry(zk);

    Tx.section("final");
    children(zk, "/s");
    Tx.call("getAllChildrenNumber /", () -> zk.getAllChildrenNumber("/"), n -> "" + n);
    stat(zk, "/");
  }

  static void createModes(ZooKeeper zk) throws Exception {
    Tx.section("create modes");
    create(zk, "/s/m", CreateMode.PERSISTENT);
    create2(zk, "/s/m/persistent", "p", CreateMode.PERSISTENT, -1);
    create2(zk, "/s/m/ephemeral", "e", CreateMode.EPHEMERAL, -1);
    create2(zk, "/s/m/container", "c", CreateMode.CONTAINER, -1);
    create2(zk, "/s/m/ps-", "ps", CreateMode.PERSISTENT_SEQUENTIAL, -1);
    create2(zk, "/s/m/es-", "es", CreateMode.EPHEMERAL_SEQUENTIAL, -1);
    create2(zk, "/s/m/ttl", "t", CreateMode.PERSISTENT_WITH_TTL, 3_600_000);
    create2(zk, "/s/m/ttls-", "ts", CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, 3_600_000);
    create2(zk, "/s/m/ttl-on-persistent", "x", CreateMode.PERSISTENT, 1_000);
    create2(zk, "/s/m/ttl-zero", "x", CreateMode.PERSISTENT_WITH_TTL, 0);
    create2(zk, "/s/m/ttl-negative", "x", CreateMode.PERSISTENT_WITH_TTL, -5);
    create2(zk, "/s/m/ttl-huge", "x", CreateMode.PERSISTENT_WITH_TTL, 0x00FFFFFFFFFFFFFFL);
    create2(zk, "/s/m/ttl-too-huge", "x", CreateMode.PERSISTENT_WITH_TTL, 0x0100000000000000L);
    create2(zk, "/s/m/ttl-ephemeral", "x", CreateMode.EPHEMERAL, 1_000);
    create(zk, "/s/m/plain", "plain", OPEN, CreateMode.PERSISTENT);
    create(zk, "/s/m/nodata", null, OPEN, CreateMode.PERSISTENT);
    stat(zk, "/s/m/nodata");
    getData(zk, "/s/m/nodata");
    create(zk, "/s/m/container/child", CreateMode.EPHEMERAL);
    create(zk, "/s/m/ttl/child", CreateMode.PERSISTENT);
    stat(zk, "/s/m/container");
    stat(zk, "/s/m/ttl");

    Tx.line("# create errors");
    create(zk, "/s/m/persistent", CreateMode.PERSISTENT);
    create(zk, "/s/m/persistent", CreateMode.EPHEMERAL);
    create(zk, "/s/missing/x", CreateMode.PERSISTENT);
    create(zk, "/s/missing/x-", CreateMode.PERSISTENT_SEQUENTIAL);
    create(zk, "/s/m/ephemeral/child", CreateMode.PERSISTENT);
    create(zk, "/s/m/ephemeral/child-", CreateMode.EPHEMERAL_SEQUENTIAL);
    create(zk, "/", CreateMode.PERSISTENT);
    create(zk, "/zookeeper", CreateMode.PERSISTENT);
    create(zk, "/s/m/empty-acl", "", new ArrayList<>(), CreateMode.PERSISTENT);
    create(zk, "/s/m/null-acl", "", null, CreateMode.PERSISTENT);
    create(zk, "/s/m/bad-digest", "", acl("digest", "nocolon", Perms.ALL), CreateMode.PERSISTENT);
    create(zk, "/s/m/bad-scheme", "", acl("foo", "bar", Perms.ALL), CreateMode.PERSISTENT);
    create(zk, "/s/m/world-someone", "", acl("world", "someone", Perms.ALL), CreateMode.PERSISTENT);
    create(zk, "/s/m/bad-ip", "", acl("ip", "300.1.1.1", Perms.ALL), CreateMode.PERSISTENT);
    create(zk, "/s/m/creator-noauth", "", Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
    create(zk, "/s/m/auth-noauth", "", acl("auth", "", Perms.ALL), CreateMode.PERSISTENT);
    create(zk, "/s/m/ip-ok", "", acl("ip", "127.0.0.1", Perms.ALL, "ip", "10.0.0.0/8", Perms.READ), CreateMode.PERSISTENT);
    getAcl("S1", zk, "/s/m/ip-ok");
    create(zk, "/s/m/digest-ok", "", acl("digest", "bob:hash", Perms.READ, "world", "anyone", Perms.ALL), CreateMode.PERSISTENT);
    getAcl("S1", zk, "/s/m/digest-ok");
    create(zk, "/s/m/perms-zero", "", acl("world", "anyone", 0), CreateMode.PERSISTENT);
    getData(zk, "/s/m/perms-zero");
    create(zk, "/s/m/perms-big", "", acl("world", "anyone", 0x7f), CreateMode.PERSISTENT);
    getAcl("S1", zk, "/s/m/perms-big");
    create(zk, "/s/m/dup-acl", "", acl("world", "anyone", Perms.READ, "world", "anyone", Perms.READ), CreateMode.PERSISTENT);
    getAcl("S1", zk, "/s/m/dup-acl");
    children(zk, "/s/m");
    Tx.call("getAllChildrenNumber /s/m", () -> zk.getAllChildrenNumber("/s/m"), n -> "" + n);
  }

  static void pathValidation(ZooKeeper zk) {
    Tx.section("path validation");
    String[] paths = {"", "s", "/s/", "/s//x", "/s/./x", "/s/../x", "/s/.", "/s/..", "/s/x\u0000y", "/s/\u0001", "/s/\ud800", "/s/\uf8ff", "/s/x y", "/s/..x", "/s/.x", "/s/\u00e9t\u00e9", "/s/\u4e2d"};
    for (String p : paths) {
      Tx.call("create '" + p + "'", () -> zk.create(p, null, OPEN, CreateMode.PERSISTENT), x -> x);
    }
    Tx.call("getData 's'", () -> zk.getData("s", false, null), Tx::data);
    Tx.call("exists '/s/'", () -> zk.exists("/s/", false), Tx::stat);
    Tx.act("delete '/s/'", () -> zk.delete("/s/", -1));
    Tx.call("create '/s/m/' PERSISTENT_SEQUENTIAL", () -> zk.create("/s/m/", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL), x -> x);
    Tx.call("create '/s/m//' PERSISTENT_SEQUENTIAL", () -> zk.create("/s/m//", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL), x -> x);
  }

  static void dataOps(ZooKeeper zk) throws Exception {
    Tx.section("data ops");
    create(zk, "/s/d", "v0", OPEN, CreateMode.PERSISTENT);
    getData(zk, "/s/d");
    setData(zk, "/s/d", "v1", 0);
    setData(zk, "/s/d", "v2", 0);
    setData(zk, "/s/d", "v2", -1);
    setData(zk, "/s/d", "v3", 5);
    setData(zk, "/s/d", "v3", 2);
    setData(zk, "/s/d", null, -1);
    getData(zk, "/s/d");
    char[] big = new char[4096];
    Arrays.fill(big, 'b');
    setData(zk, "/s/d", new String(big), 4);
    setData(zk, "/s/nope", "x", -1);
    setData(zk, "/s/nope", "x", 0);
    getData(zk, "/s/nope");
    stat(zk, "/s/nope");
    stat(zk, "/s/d");
    children(zk, "/s/nope");
    create(zk, "/s/d/c1", CreateMode.PERSISTENT);
    create(zk, "/s/d/c2", CreateMode.EPHEMERAL);
    delete(zk, "/s/d", -1);
    delete(zk, "/s/d", 5);
    delete(zk, "/s/d/c1", 3);
    delete(zk, "/s/d/c1", 0);
    delete(zk, "/s/d/c1", 0);
    delete(zk, "/s/d/c1", -1);
    delete(zk, "/s/d/c2", -1);
    children(zk, "/s/d");
    delete(zk, "/", -1);
    delete(zk, "/zookeeper", -1);
    setData(zk, "/", "root", -1);
    getData(zk, "/");
    setData(zk, "/", "", -1);
    stat(zk, "/");
    Tx.line("# async variants");
    CountDownLatch done = new CountDownLatch(4);
    List<String> lines = Collections.synchronizedList(new ArrayList<>());
    zk.create("/s/d/async", Tx.bytes("a"), OPEN, CreateMode.PERSISTENT,
        (AsyncCallback.Create2Callback) (rc, path, ctx, name, stat) -> {
          lines.add("async create2 rc=" + rc + " path=" + path + " name=" + name + " ctx=" + ctx + " {" + Tx.stat(stat) + "}");
          done.countDown();
        }, "c1");
    zk.create("/s/d/async", Tx.bytes("a"), OPEN, CreateMode.PERSISTENT,
        (AsyncCallback.StringCallback) (rc, path, ctx, name) -> {
          lines.add("async create rc=" + rc + " path=" + path + " name=" + name + " ctx=" + ctx);
          done.countDown();
        }, "c2");
    zk.getData("/s/d/async", false, (rc, path, ctx, data, stat) -> {
      lines.add("async getData rc=" + rc + " path=" + path + " data=" + Tx.data(data) + " {" + Tx.stat(stat) + "}");
      done.countDown();
    }, null);
    zk.delete("/s/d/missing", -1, (rc, path, ctx) -> {
      lines.add("async delete rc=" + rc + " path=" + path);
      done.countDown();
    }, null);
    Tx.check(Tx.await(done), "async callbacks");
    for (String l : lines) Tx.line(l);
  }

  static void acls(ZooKeeper zk) throws Exception {
    Tx.section("acl");
    create(zk, "/s/a", "a", OPEN, CreateMode.PERSISTENT);
    getAcl("S1", zk, "/s/a");
    setAcl("S1", zk, "/s/a", acl("world", "anyone", Perms.READ | Perms.WRITE), 1);
    setAcl("S1", zk, "/s/a", acl("world", "anyone", Perms.READ | Perms.WRITE), 0);
    setAcl("S1", zk, "/s/a", acl("world", "anyone", Perms.READ | Perms.WRITE | Perms.ADMIN), -1);
    setAcl("S1", zk, "/s/a", new ArrayList<>(), -1);
    setAcl("S1", zk, "/s/a", acl("digest", "nocolon", Perms.ALL), -1);
    getAcl("S1", zk, "/s/a");
    getAcl("S1", zk, "/s/nope");
    setAcl("S1", zk, "/s/nope", OPEN, -1);
    create(zk, "/s/a/child", CreateMode.PERSISTENT);
    delete(zk, "/s/a/child", -1);
    setData(zk, "/s/a", "a2", -1);

    Client c2 = open("S2", 30_000);
    ZooKeeper anon = c2.zk;
    Tx.call("S2 whoAmI", anon::whoAmI, RawClientScenarios::whoAmI);
    zk.addAuthInfo("digest", Tx.bytes("alice:secret"));
    Tx.call("S1 whoAmI", zk::whoAmI, RawClientScenarios::whoAmI);
    zk.addAuthInfo("digest", Tx.bytes("carol:pw"));
    Tx.call("S1 whoAmI (two digests)", zk::whoAmI, RawClientScenarios::whoAmI);
    create(zk, "/s/acl", "secret", Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
    getAcl("S1", zk, "/s/acl");
    create(zk, "/s/acl-auth", "x", acl("auth", "", Perms.READ | Perms.WRITE), CreateMode.PERSISTENT);
    getAcl("S1", zk, "/s/acl-auth");
    create(zk, "/s/acl-auth2", "x", acl("auth", "ignored", Perms.ALL, "world", "anyone", Perms.READ), CreateMode.PERSISTENT);
    getAcl("S1", zk, "/s/acl-auth2");
    setAcl("S1", zk, "/s/acl", acl("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=", Perms.ALL), -1);
    getAcl("S1", zk, "/s/acl");

    Tx.line("# anonymous reader");
    Tx.sync(anon, "/s/acl");
    getAcl("S2", anon, "/s/acl");
    Tx.call("S2 getData /s/acl", () -> anon.getData("/s/acl", false, null), Tx::data);
    Tx.call("S2 setData /s/acl", () -> anon.setData("/s/acl", Tx.bytes("x"), -1), Tx::stat);
    Tx.call("S2 create /s/acl/x", () -> anon.create("/s/acl/x", null, OPEN, CreateMode.PERSISTENT), x -> x);
    Tx.call("S2 getChildren /s/acl", () -> anon.getChildren("/s/acl", false), Tx::sorted);
    Tx.call("S2 exists /s/acl", () -> anon.exists("/s/acl", false), Tx::stat);
    setAcl("S2", anon, "/s/acl", OPEN, -1);
    Tx.call("S2 getAllChildrenNumber /s/acl", () -> anon.getAllChildrenNumber("/s/acl"), n -> "" + n);

    setAcl("S1", zk, "/s/acl", acl("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=", Perms.ALL, "world", "anyone", Perms.READ), -1);
    Tx.sync(anon, "/s/acl");
    getAcl("S2", anon, "/s/acl");
    Tx.call("S2 getData /s/acl", () -> anon.getData("/s/acl", false, null), Tx::data);
    setAcl("S1", zk, "/s/acl", acl("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=", Perms.ALL, "world", "anyone", Perms.ADMIN), -1);
    Tx.sync(anon, "/s/acl");
    getAcl("S2", anon, "/s/acl");
    setAcl("S1", zk, "/s/acl",
        acl("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=", Perms.ALL, "digest", "bob:abc", Perms.READ, "world", "anyone", Perms.READ), -1);
    Tx.sync(anon, "/s/acl");
    getAcl("S2", anon, "/s/acl");
    anon.addAuthInfo("digest", Tx.bytes("alice:wrong"));
    Tx.call("S2 whoAmI after wrong password", anon::whoAmI, RawClientScenarios::whoAmI);
    Tx.call("S2 setData /s/acl with wrong password", () -> anon.setData("/s/acl", Tx.bytes("x"), -1), Tx::stat);
    Tx.call("S2 getData /s/acl-auth", () -> anon.getData("/s/acl-auth", false, null), Tx::data);

    Client c3 = open("S3", 30_000);
    c3.zk.addAuthInfo("digest", Tx.bytes("alice:secret"));
    Tx.call("S3 setData /s/acl as alice", () -> c3.zk.setData("/s/acl", Tx.bytes("s2"), -1), Tx::stat);
    getAcl("S3", c3.zk, "/s/acl");
    Tx.call("S3 getData /s/acl-auth as alice", () -> c3.zk.getData("/s/acl-auth", false, null), Tx::data);
    Tx.call("S3 create /s/acl/child", () -> c3.zk.create("/s/acl/child", null, OPEN, CreateMode.PERSISTENT), x -> x);
    Tx.act("S2 delete /s/acl/child", () -> anon.delete("/s/acl/child", -1));
    Tx.act("S3 delete /s/acl/child", () -> c3.zk.delete("/s/acl/child", -1));
    close(c3);

    Tx.line("# ip scheme");
    create(zk, "/s/ip-local", "l", acl("ip", "127.0.0.1", Perms.ALL), CreateMode.PERSISTENT);
    create(zk, "/s/ip-net", "n", acl("ip", "127.0.0.0/8", Perms.READ), CreateMode.PERSISTENT);
    create(zk, "/s/ip-other", "o", acl("ip", "10.0.0.0/8", Perms.ALL), CreateMode.PERSISTENT);
    Tx.call("S2 getData /s/ip-local", () -> anon.getData("/s/ip-local", false, null), Tx::data);
    Tx.call("S2 getData /s/ip-net", () -> anon.getData("/s/ip-net", false, null), Tx::data);
    Tx.call("S2 setData /s/ip-net", () -> anon.setData("/s/ip-net", null, -1), Tx::stat);
    Tx.call("S2 getData /s/ip-other", () -> anon.getData("/s/ip-other", false, null), Tx::data);
    getAcl("S2", anon, "/s/ip-other");

    Tx.line("# permission bits");
    create(zk, "/s/ro", "r", acl("world", "anyone", Perms.READ), CreateMode.PERSISTENT);
    create(zk, "/s/ro/child", CreateMode.PERSISTENT);
    setData(zk, "/s/ro", "x", -1);
    setAcl("S1", zk, "/s/ro", OPEN, -1);
    create(zk, "/s/nodel", "", acl("world", "anyone", Perms.ALL & ~Perms.DELETE), CreateMode.PERSISTENT);
    create(zk, "/s/nodel/child", CreateMode.PERSISTENT);
    delete(zk, "/s/nodel/child", -1);
    create(zk, "/s/nodel/child2", "", acl("world", "anyone", 0), CreateMode.PERSISTENT);
    stat(zk, "/s/nodel/child2");
    create(zk, "/s/wo", "w", acl("world", "anyone", Perms.WRITE), CreateMode.PERSISTENT);
    setData(zk, "/s/wo", "w2", -1);
    getData(zk, "/s/wo");
    getAcl("S1", zk, "/s/wo");
    create(zk, "/s/admin", "a", acl("world", "anyone", Perms.ADMIN), CreateMode.PERSISTENT);
    getAcl("S1", zk, "/s/admin");
    setAcl("S1", zk, "/s/admin", OPEN, -1);
    getData(zk, "/s/admin");

    Tx.line("# unknown auth scheme");
    Client c4 = open("S4", 30_000);
    c4.zk.addAuthInfo("nosuchscheme", Tx.bytes("x"));
    List<KeeperState> seen = c4.states.await(KeeperState.AuthFailed);
    Tx.line("S4 addAuthInfo nosuchscheme -> states " + seen);
    Tx.call("S4 getData /s/a", () -> c4.zk.getData("/s/a", false, null), Tx::data);
    Tx.line("S4 state -> " + c4.zk.getState());
    close(c4);
    close(c2);
  }

  static void multis(ZooKeeper zk) throws Exception {
    Tx.section("multi");
    create(zk, "/s/t", CreateMode.PERSISTENT);
    multi("multi create/create/setData/check/delete", zk, Arrays.asList(
        Op.create("/s/t/a", Tx.bytes("a"), OPEN, CreateMode.PERSISTENT),
        Op.create("/s/t/b", Tx.bytes("b"), OPEN, CreateMode.PERSISTENT),
        Op.setData("/s/t/b", Tx.bytes("b2"), 0),
        Op.check("/s/t/a", 0),
        Op.delete("/s/t/a", 0)));
    children(zk, "/s/t");
    getData(zk, "/s/t/b");
    multi("multi sequential/ephemeral/container/ttl creates", zk, Arrays.asList(
        Op.create("/s/t/seq-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
        Op.create("/s/t/eseq-", null, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL),
        Op.create("/s/t/cont", null, OPEN, CreateMode.CONTAINER),
        Op.create("/s/t/ttl", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, 3_600_000)));
    stat(zk, "/s/t/ttl");
    stat(zk, "/s/t/eseq-0000000003");
    multi("multi failing in the middle", zk, Arrays.asList(
        Op.create("/s/t/c", null, OPEN, CreateMode.PERSISTENT),
        Op.setData("/s/t/b", Tx.bytes("x"), 99),
        Op.delete("/s/t/b", -1)));
    stat(zk, "/s/t/c");
    stat(zk, "/s/t");
    multi("multi failing first", zk, Arrays.asList(
        Op.create("/s/t/b", null, OPEN, CreateMode.PERSISTENT),
        Op.create("/s/t/d", null, OPEN, CreateMode.PERSISTENT)));
    multi("multi failing last", zk, Arrays.asList(
        Op.create("/s/t/d", null, OPEN, CreateMode.PERSISTENT),
        Op.delete("/s/t/d", -1),
        Op.check("/s/t/d", -1)));
    multi("multi check on missing node", zk, Arrays.asList(Op.check("/s/nope", -1)));
    multi("multi check bad version", zk, Arrays.asList(Op.check("/s/t/b", 0)));
    multi("multi create under ephemeral", zk, Arrays.asList(
        Op.create("/s/t/e", null, OPEN, CreateMode.EPHEMERAL),
        Op.create("/s/t/e/x", null, OPEN, CreateMode.PERSISTENT)));
    multi("multi delete then create same path", zk, Arrays.asList(
        Op.delete("/s/t/b", -1),
        Op.create("/s/t/b", Tx.bytes("again"), OPEN, CreateMode.PERSISTENT)));
    multi("multi delete non-empty", zk, Arrays.asList(Op.delete("/s/t", -1)));
    multi("multi noauth", zk, Arrays.asList(
        Op.setData("/s/t/b", null, -1),
        Op.setData("/s/ip-other", null, -1)));
    multi("multi invalid acl", zk, Arrays.asList(
        Op.create("/s/t/badacl", null, acl("digest", "nocolon", Perms.ALL), CreateMode.PERSISTENT)));
    multi("multi empty", zk, new ArrayList<>());
    stat(zk, "/s/t");
    Tx.call("transaction commit", () -> zk.transaction()
        .create("/s/t/tx", Tx.bytes("t"), OPEN, CreateMode.PERSISTENT)
        .setData("/s/t/tx", Tx.bytes("t2"), 0)
        .check("/s/t/tx", 1)
        .delete("/s/t/tx", 1)
        .commit(), RawClientScenarios::results);
    CountDownLatch asyncMulti = new CountDownLatch(1);
    String[] asyncLine = new String[1];
    zk.multi(Arrays.asList(Op.check("/s/t/b", 5), Op.delete("/s/t/b", -1)), (rc, path, ctx, opResults) -> {
      asyncLine[0] = "async multi rc=" + rc + " path=" + path + " results=" + results(opResults);
      asyncMulti.countDown();
    }, null);
    Tx.check(Tx.await(asyncMulti), "async multi");
    Tx.line(asyncLine[0]);

    Tx.line("# read-only multi");
    multi("multi read", zk, Arrays.asList(
        Op.getData("/s/t/b"),
        Op.getChildren("/s/t"),
        Op.getData("/s/nope"),
        Op.getChildren("/s/nope"),
        Op.getData("/s/ip-other"),
        Op.getData("/s/t")));
    multi("multi mixed read/write", zk, Arrays.asList(Op.getData("/s/t/b"), Op.setData("/s/t/b", null, -1)));
    stat(zk, "/s/t");
  }

  static void misc(ZooKeeper zk) throws Exception {
    Tx.section("sync, ephemerals, counts, config");
    for (String p : new String[] {"/s", "/s/nope", "/"}) {
      CountDownLatch done = new CountDownLatch(1);
      String[] out = new String[1];
      zk.sync(p, (rc, path, ctx) -> {
        out[0] = "sync " + p + " -> rc=" + rc + " path=" + path;
        done.countDown();
      }, null);
      Tx.check(Tx.await(done), "sync callback");
      Tx.line(out[0]);
    }
    create(zk, "/s/eph", CreateMode.PERSISTENT);
    create(zk, "/s/eph/a", CreateMode.EPHEMERAL);
    create(zk, "/s/eph/ab", CreateMode.EPHEMERAL);
    create(zk, "/s/eph/b", CreateMode.EPHEMERAL);
    Tx.call("getEphemerals", () -> zk.getEphemerals(), Tx::sorted);
    Tx.call("getEphemerals /s/eph", () -> zk.getEphemerals("/s/eph"), Tx::sorted);
    Tx.call("getEphemerals /s/eph/a", () -> zk.getEphemerals("/s/eph/a"), Tx::sorted);
    Tx.call("getEphemerals /s/nope", () -> zk.getEphemerals("/s/nope"), Tx::sorted);
    Tx.call("getEphemerals /", () -> zk.getEphemerals("/"), Tx::sorted);
    Client other = open("S5", 30_000);
    Tx.call("S5 getEphemerals", () -> other.zk.getEphemerals(), Tx::sorted);
    close(other);
    Tx.call("getAllChildrenNumber /s/eph", () -> zk.getAllChildrenNumber("/s/eph"), n -> "" + n);
    Tx.call("getAllChildrenNumber /s/eph/a", () -> zk.getAllChildrenNumber("/s/eph/a"), n -> "" + n);
    Tx.call("getAllChildrenNumber /s/nope", () -> zk.getAllChildrenNumber("/s/nope"), n -> "" + n);
    Tx.call("getAllChildrenNumber /zookeeper", () -> zk.getAllChildrenNumber("/zookeeper"), n -> "" + n);
    Tx.call("getAllChildrenNumber /s", () -> zk.getAllChildrenNumber("/s"), n -> "" + n);
    Tx.call("getAllChildrenNumber /", () -> zk.getAllChildrenNumber("/"), n -> "" + n);

    Stat cfgStat = new Stat();
    Tx.call("getConfig", () -> zk.getConfig(false, cfgStat), d -> Tx.data(d) + " {" + Tx.stat(cfgStat) + "}");
    getData(zk, "/zookeeper/config");
    setData(zk, "/zookeeper/config", "x", -1);
    create(zk, "/zookeeper/config/x", CreateMode.PERSISTENT);
    delete(zk, "/zookeeper/config", -1);
    StateWatcher aw = new StateWatcher("admin");
    ZooKeeperAdmin admin = new ZooKeeperAdmin(connectString, 30_000, aw);
    aw.await(KeeperState.SyncConnected);
    Tx.nameSession(admin.getSessionId(), "ADMIN");
    Tx.call("reconfigure incremental", () -> admin.reconfigure("server.2=127.0.0.1:2888:3888:participant;127.0.0.1:2182", null, null, -1, new Stat()), Tx::data);
    Tx.call("reconfigure non-incremental", () -> admin.reconfigure(null, null, "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181", -1, new Stat()), Tx::data);
    admin.close();
  }

  static void oneShotWatches(ZooKeeper zk) throws Exception {
    Tx.section("one-shot watches");
    Watcher wExists = watcher("wExists");
    Watcher wData = watcher("wData");
    Watcher wChild = watcher("wChild");
    Tx.call("exists /s/w with watch", () -> zk.exists("/s/w", wExists), Tx::stat);
    Tx.call("getData /s/w with watch", () -> zk.getData("/s/w", wData, null), Tx::data);
    Tx.call("getChildren /s/w with watch", () -> zk.getChildren("/s/w", wChild), Tx::sorted);
    flush(zk);
    create(zk, "/s/w", "a", OPEN, CreateMode.PERSISTENT);
    flush(zk);
    zk.getData("/s/w", wData, null);
    zk.getChildren("/s/w", wChild);
    zk.exists("/s/w", wExists);
    setData(zk, "/s/w", "b", -1);
    flush(zk);
    setData(zk, "/s/w", "c", -1);
    flush(zk);
    create(zk, "/s/w/c1", CreateMode.PERSISTENT);
    flush(zk);
    create(zk, "/s/w/c2", CreateMode.PERSISTENT);
    flush(zk);
    zk.getData("/s/w/c1", wData, null);
    zk.getChildren("/s/w", wChild);
    zk.exists("/s/w/c3", wExists);
    zk.getChildren("/s/w/c1", wChild);
    delete(zk, "/s/w/c1", -1);
    flush(zk);
    create(zk, "/s/w/c3", CreateMode.PERSISTENT);
    flush(zk);
    Tx.line("# same watcher through getData and exists");
    zk.getData("/s/w/c3", wData, null);
    zk.exists("/s/w/c3", wData);
    setData(zk, "/s/w/c3", "x", -1);
    flush(zk);
    Tx.line("# setACL and sync trigger nothing");
    zk.getData("/s/w/c3", wData, null);
    zk.getChildren("/s/w/c3", wChild);
    setAcl("S1", zk, "/s/w/c3", acl("world", "anyone", Perms.ALL), -1);
    flush(zk);
    Tx.line("# child watch on a node that gets deleted");
    delete(zk, "/s/w/c3", -1);
    flush(zk);
    Tx.line("# default watcher");
    zk.getData("/s/w", true, null);
    zk.getChildren("/s/w", true);
    delete(zk, "/s/w/c2", -1);
    flush(zk);
    zk.getChildren("/s/w", true);
    zk.exists("/s/w", true);
    delete(zk, "/s/w", -1);
    flush(zk);
    Tx.line("# watch on a missing node via getData is not left behind");
    Tx.call("getData /s/w with watch", () -> zk.getData("/s/w", wData, null), Tx::data);
    create(zk, "/s/w", "again", OPEN, CreateMode.PERSISTENT);
    flush(zk);
    Tx.line("# events from another session's writes");
    Client c6 = open("S6", 30_000);
    Watcher wOther = watcher("wOther");
    c6.zk.exists("/s/w2", wOther);
    c6.zk.getData("/s/w", wOther, null);
    c6.zk.getChildren("/s/w", wOther);
    create(zk, "/s/w2", CreateMode.PERSISTENT);
    create(zk, "/s/w/x", CreateMode.EPHEMERAL);
    setData(zk, "/s/w", "changed", -1);
    flush(c6.zk);
    Tx.line("# multi triggers");
    c6.zk.exists("/s/w2", wOther);
    c6.zk.getChildren("/s/w", wOther);
    multi("multi touching watched nodes", zk, Arrays.asList(
        Op.setData("/s/w2", Tx.bytes("m"), -1),
        Op.delete("/s/w/x", -1),
        Op.create("/s/w/y", null, OPEN, CreateMode.PERSISTENT)));
    flush(c6.zk);
    close(c6);
    flush(zk);
  }

  static void persistentWatches(ZooKeeper zk) throws Exception {
    Tx.section("persistent watches");
    Watcher wP = watcher("wP");
    Watcher wR = watcher("wR");
    Watcher wOnce = watcher("wOnce");
    Tx.act("addWatch /s/pw PERSISTENT", () -> zk.addWatch("/s/pw", wP, AddWatchMode.PERSISTENT));
    Tx.act("addWatch /s/rw PERSISTENT_RECURSIVE", () -> zk.addWatch("/s/rw", wR, AddWatchMode.PERSISTENT_RECURSIVE));
    create(zk, "/s/pw", "p", OPEN, CreateMode.PERSISTENT);
    flush(zk);
    setData(zk, "/s/pw", "p2", -1);
    flush(zk);
    create(zk, "/s/pw/a", CreateMode.PERSISTENT);
    setData(zk, "/s/pw/a", "a2", -1);
    create(zk, "/s/pw/a/b", CreateMode.PERSISTENT);
    flush(zk);
    delete(zk, "/s/pw/a/b", -1);
    delete(zk, "/s/pw/a", -1);
    flush(zk);
    setData(zk, "/s/pw", "p3", -1);
    setData(zk, "/s/pw", "p4", -1);
    flush(zk);
    delete(zk, "/s/pw", -1);
    create(zk, "/s/pw", CreateMode.PERSISTENT);
    flush(zk);

    create(zk, "/s/rw", CreateMode.PERSISTENT);
    create(zk, "/s/rw/a", CreateMode.PERSISTENT);
    create(zk, "/s/rw/a/b", "b", OPEN, CreateMode.PERSISTENT);
    flush(zk);
    setData(zk, "/s/rw/a/b", "b2", -1);
    setData(zk, "/s/rw", "r", -1);
    flush(zk);
    create(zk, "/s/rw/a/b/c-", CreateMode.EPHEMERAL_SEQUENTIAL);
    delete(zk, "/s/rw/a/b/c-0000000000", -1);
    delete(zk, "/s/rw/a/b", -1);
    flush(zk);
    create(zk, "/s/rwx", CreateMode.PERSISTENT);
    flush(zk);
    multi("multi under recursive watch", zk, Arrays.asList(
        Op.create("/s/rw/m", null, OPEN, CreateMode.PERSISTENT),
        Op.setData("/s/rw/a", Tx.bytes("m"), -1),
        Op.delete("/s/rw/m", -1)));
    flush(zk);
    create(zk, "/s/rw/n", CreateMode.PERSISTENT);
    setData(zk, "/s/rw", "r2", -1);
    flush(zk);

    Tx.line("# removal");
    Tx.act("removeWatches /s/pw wP Data", () -> zk.removeWatches("/s/pw", wP, Watcher.WatcherType.Data, false));
    Tx.act("removeWatches /s/pw wP Children", () -> zk.removeWatches("/s/pw", wP, Watcher.WatcherType.Children, false));
    flush(zk);
    Tx.act("removeWatches /s/pw wP Any", () -> zk.removeWatches("/s/pw", wP, Watcher.WatcherType.Any, false));
    flush(zk);
    setData(zk, "/s/pw", "gone", -1);
    flush(zk);
    Tx.act("removeWatches /s/pw wP Any again", () -> zk.removeWatches("/s/pw", wP, Watcher.WatcherType.Any, false));
    Tx.act("removeWatches /s/rw wR Data", () -> zk.removeWatches("/s/rw", wR, Watcher.WatcherType.Data, false));
    Tx.act("removeWatches /s/rw wR Any", () -> zk.removeWatches("/s/rw", wR, Watcher.WatcherType.Any, false));
    flush(zk);
    Tx.act("removeAllWatches /s/rw Any", () -> zk.removeAllWatches("/s/rw", Watcher.WatcherType.Any, false));
    flush(zk);
    setData(zk, "/s/rw/n", "quiet", -1);
    setData(zk, "/s/rw", "quiet", -1);
    flush(zk);

    Tx.line("# one-shot removal");
    Tx.act("removeWatches /s/none wData Data", () -> zk.removeWatches("/s/none", watcher("wNone"), Watcher.WatcherType.Data, false));
    Tx.act("removeWatches /s/none Any local", () -> zk.removeAllWatches("/s/none", Watcher.WatcherType.Any, true));
    Tx.act("removeAllWatches /s/none Any", () -> zk.removeAllWatches("/s/none", Watcher.WatcherType.Any, false));
    Watcher wRm = watcher("wRm");
    zk.getData("/s/pw", wRm, null);
    zk.getChildren("/s/pw", wRm);
    Tx.act("removeWatches /s/pw wRm Children (only)", () -> zk.removeWatches("/s/pw", wRm, Watcher.WatcherType.Children, false));
    flush(zk);
    create(zk, "/s/pw/quiet", CreateMode.PERSISTENT);
    flush(zk);
    Tx.act("removeWatches /s/pw wRm Children again", () -> zk.removeWatches("/s/pw", wRm, Watcher.WatcherType.Children, false));
    Tx.act("removeWatches /s/pw wRm Data", () -> zk.removeWatches("/s/pw", wRm, Watcher.WatcherType.Data, false));
    flush(zk);
    setData(zk, "/s/pw", "quiet", -1);
    flush(zk);
    zk.exists("/s/pw/absent", wRm);
    Tx.act("removeWatches /s/pw/absent wRm Data (exists watch)", () -> zk.removeWatches("/s/pw/absent", wRm, Watcher.WatcherType.Data, false));
    flush(zk);
    zk.getData("/s/pw", wRm, null);
    zk.getChildren("/s/pw", wRm);
    Tx.act("removeAllWatches /s/pw Any", () -> zk.removeAllWatches("/s/pw", Watcher.WatcherType.Any, false));
    flush(zk);
    zk.getData("/s/pw", wRm, null);
    Tx.act("removeWatches /s/pw wRm Any local", () -> zk.removeWatches("/s/pw", wRm, Watcher.WatcherType.Any, true));
    flush(zk);
    setData(zk, "/s/pw", "quiet2", -1);
    flush(zk);
    Tx.act("addWatch /s/absent/deep PERSISTENT_RECURSIVE", () -> zk.addWatch("/s/absent/deep", wR, AddWatchMode.PERSISTENT_RECURSIVE));
    create(zk, "/s/absent", CreateMode.PERSISTENT);
    create(zk, "/s/absent/deep", CreateMode.PERSISTENT);
    create(zk, "/s/absent/deep/er", CreateMode.PERSISTENT);
    flush(zk);
    Tx.act("removeAllWatches /s/absent/deep Any", () -> zk.removeAllWatches("/s/absent/deep", Watcher.WatcherType.Any, false));
    flush(zk);

    // One session watching one path in two modes. In 3.8 the server keeps a single mode per
    // (session, path) and kind (data or child), so the latest registration wins (ZOOKEEPER-4466).
    Tx.line("# mixed watch modes on one path");
    Tx.act("addWatch /s/mix PERSISTENT (wP)", () -> zk.addWatch("/s/mix", wP, AddWatchMode.PERSISTENT));
    create(zk, "/s/mix", CreateMode.PERSISTENT);
    flush(zk);
    zk.getData("/s/mix", wOnce, null);
    setData(zk, "/s/mix", "m1", -1);
    flush(zk);
    setData(zk, "/s/mix", "m2", -1);
    create(zk, "/s/mix/child", CreateMode.PERSISTENT);
    flush(zk);
    delete(zk, "/s/mix/child", -1);
    delete(zk, "/s/mix", -1);
    create(zk, "/s/mix", CreateMode.PERSISTENT);
    flush(zk);
    Watcher wBoth = watcher("wBoth");
    Tx.act("addWatch /s/mix2 PERSISTENT_RECURSIVE (wR)", () -> zk.addWatch("/s/mix2", wR, AddWatchMode.PERSISTENT_RECURSIVE));
    Tx.act("addWatch /s/mix2 PERSISTENT (wBoth)", () -> zk.addWatch("/s/mix2", wBoth, AddWatchMode.PERSISTENT));
    create(zk, "/s/mix2", CreateMode.PERSISTENT);
    create(zk, "/s/mix2/n", CreateMode.PERSISTENT);
    setData(zk, "/s/mix2/n", "n", -1);
    setData(zk, "/s/mix2", "r", -1);
    flush(zk);
    Tx.act("removeAllWatches /s/mix Any", () -> zk.removeAllWatches("/s/mix", Watcher.WatcherType.Any, false));
    Tx.act("removeAllWatches /s/mix2 Any", () -> zk.removeAllWatches("/s/mix2", Watcher.WatcherType.Any, false));
    flush(zk);
  }

  static void sequentialNames(ZooKeeper zk) throws Exception {
    Tx.section("sequential names");
    create(zk, "/s/q", CreateMode.PERSISTENT);
    create(zk, "/s/q/n-", CreateMode.PERSISTENT_SEQUENTIAL);
    create(zk, "/s/q/n-", CreateMode.PERSISTENT_SEQUENTIAL);
    create(zk, "/s/q/plain", CreateMode.PERSISTENT);
    create(zk, "/s/q/n-", CreateMode.PERSISTENT_SEQUENTIAL);
    delete(zk, "/s/q/plain", -1);
    create(zk, "/s/q/n-", CreateMode.PERSISTENT_SEQUENTIAL);
    create(zk, "/s/q/e-", CreateMode.EPHEMERAL_SEQUENTIAL);
    create(zk, "/s/q/", CreateMode.PERSISTENT_SEQUENTIAL);
    create(zk, "/s/q/n-", CreateMode.PERSISTENT);
    create(zk, "/s/q/n-0000000000", CreateMode.PERSISTENT_SEQUENTIAL);
    create(zk, "/s/q/plain", CreateMode.PERSISTENT);
    create(zk, "/s/q/plain", CreateMode.PERSISTENT);
    create(zk, "/s/q/n-", CreateMode.PERSISTENT_SEQUENTIAL);
    setAcl("S1", zk, "/s/q", OPEN, -1);
    setData(zk, "/s/q", "x", -1);
    create(zk, "/s/q/n-", CreateMode.PERSISTENT_SEQUENTIAL);
    multi("multi of sequentials", zk, Arrays.asList(
        Op.create("/s/q/m-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
        Op.create("/s/q/m-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL)));
    multi("failed multi of sequentials", zk, Arrays.asList(
        Op.create("/s/q/f-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
        Op.check("/s/q", 99)));
    create(zk, "/s/q/n-", CreateMode.PERSISTENT_SEQUENTIAL);
    children(zk, "/s/q");
  }

  static void ephemeralCleanup(ZooKeeper zk) throws Exception {
    Tx.section("ephemeral cleanup on close");
    create(zk, "/s/eph2", CreateMode.PERSISTENT);
    Client c7 = open("S7", 30_000);
    create(c7.zk, "/s/eph2/a", CreateMode.EPHEMERAL);
    create(c7.zk, "/s/eph2/b", CreateMode.EPHEMERAL);
    create(c7.zk, "/s/eph2/s-", CreateMode.EPHEMERAL_SEQUENTIAL);
    create(c7.zk, "/s/eph2/p", CreateMode.PERSISTENT);
    // S7 may be on another member of an ensemble than zk: sync before reading its writes.
    Tx.sync(zk, "/s/eph2");
    stat(zk, "/s/eph2/a");
    Tx.call("S7 getEphemerals", () -> c7.zk.getEphemerals(), Tx::sorted);
    zk.exists("/s/eph2/a", watcher("wA"));
    zk.getData("/s/eph2/b", watcher("wB"), null);
    zk.getChildren("/s/eph2", watcher("wParent"));
    zk.getChildren("/s/eph2/a", watcher("wAChildren"));
    Tx.act("close S7", () -> close(c7));
    flush(zk);
    children(zk, "/s/eph2");
  }

  static void sessionTakeover(ZooKeeper zk) throws Exception {
    Tx.section("session takeover");
    StateWatcher firstStates = new StateWatcher("S8");
    ZooKeeper first = new ZooKeeper(oneServer, 30_000, firstStates);
    firstStates.await(KeeperState.SyncConnected);
    Tx.nameSession(first.getSessionId(), "S8");
    create(first, "/s/take", CreateMode.EPHEMERAL);
    // When the server drops the first connection, stop that client without a closeSession and
    // before it reconnects, so the two handles do not keep taking the session from each other.
    CountDownLatch firstDropped = new CountDownLatch(1);
    firstStates.onDisconnected = () -> {
      first.getTestable().injectSessionExpiration();
      firstDropped.countDown();
    };
    StateWatcher secondStates = new StateWatcher("S8'");
    ZooKeeper second = new ZooKeeper(oneServer, 30_000, secondStates, first.getSessionId(), first.getSessionPasswd());
    Tx.line("S8' reopen with S8's id and password -> " + secondStates.await(KeeperState.SyncConnected));
    Tx.line("S8' session id -> " + Tx.owner(second.getSessionId()));
    Tx.line("S8' negotiated timeout -> " + second.getSessionTimeout());
    Tx.check(Tx.await(firstDropped), "first handle disconnected after takeover");
    Tx.line("S8 first handle -> " + firstStates.await(KeeperState.Disconnected));
    stat(second, "/s/take");
    create(second, "/s/take2", CreateMode.EPHEMERAL);
    Tx.call("S8' getEphemerals", () -> second.getEphemerals(), Tx::sorted);
    CountDownLatch gone = new CountDownLatch(1);
    zk.exists("/s/take", watcher("wTake", EventType.NodeDeleted, gone));
    second.close();
    Tx.check(Tx.await(gone), "/s/take deleted after S8' closed");
    flush(zk);
    stat(zk, "/s/take");
    stat(zk, "/s/take2");

    Tx.section("reopen with wrong password or closed session");
    Client c10 = open("S10", 30_000, oneServer);
    byte[] wrong = c10.zk.getSessionPasswd().clone();
    wrong[0] ^= 0x55;
    StateWatcher badStates = new StateWatcher("bad");
    ZooKeeper bad = new ZooKeeper(oneServer, 30_000, badStates, c10.zk.getSessionId(), wrong);
    Tx.line("reopen S10 with a wrong password -> " + badStates.await(KeeperState.Expired));
    Tx.line("  state -> " + bad.getState());
    bad.close();
    // The reference drops the connection that holds the session before it checks the password;
    // the rightful owner then reconnects.
    Tx.line("S10 rightful owner -> " + c10.states.awaitOrTimeout(KeeperState.SyncConnected, 10_000));
    stat(c10.zk, "/s");
    close(c10);
    StateWatcher closedStates = new StateWatcher("closed");
    ZooKeeper closed = new ZooKeeper(connectString, 30_000, closedStates, second.getSessionId(), second.getSessionPasswd());
    Tx.line("reopen closed session S8 -> " + closedStates.await(KeeperState.Expired));
    closed.close();
    StateWatcher unknownStates = new StateWatcher("unknown");
    ZooKeeper unknown = new ZooKeeper(connectString, 30_000, unknownStates, 0x1234567L, new byte[16]);
    Tx.line("reopen unknown session id -> " + unknownStates.await(KeeperState.Expired));
    unknown.close();
    stat(zk, "/s");
  }

  static void sessionExpiry(ZooKeeper zk) throws Exception {
    Tx.section("session expiry");
    Client c9 = open("S9", 4_000);
    Tx.line("S9 requested 4000 -> negotiated " + c9.zk.getSessionTimeout());
    create(c9.zk, "/s/exp", CreateMode.EPHEMERAL);
    // zk may be on another member of an ensemble than S9: sync, or its exists may come before that
    // member applied the create, and the watch would fire NodeCreated instead.
    Tx.sync(zk, "/s/exp");
    CountDownLatch gone = new CountDownLatch(1);
    zk.exists("/s/exp", watcher("wExp", EventType.NodeDeleted, gone));
    zk.getChildren("/s", watcher("wS"));
    long sessionId = c9.zk.getSessionId();
    byte[] passwd = c9.zk.getSessionPasswd();
    openClients.remove(c9.zk);
    // Stop the client without a closeSession: the server must expire the session by itself.
    c9.zk.getTestable().injectSessionExpiration();
    Tx.check(Tx.await(gone), "/s/exp deleted by session expiry within " + Tx.WAIT_MS + " ms");
    flush(zk);
    stat(zk, "/s/exp");
    StateWatcher againStates = new StateWatcher("again");
    ZooKeeper again = new ZooKeeper(connectString, 30_000, againStates, sessionId, passwd);
    Tx.line("reopen expired S9 -> " + againStates.await(KeeperState.Expired));
    again.close();
  }

  static void containerAndTtlExpiry(ZooKeeper zk) throws Exception {
    Tx.section("container and ttl expiry");
    create(zk, "/s/cx", CreateMode.CONTAINER);
    create(zk, "/s/cx/k", CreateMode.PERSISTENT);
    stat(zk, "/s/cx");
    CountDownLatch containerGone = new CountDownLatch(1);
    zk.exists("/s/cx", watcher("wCx", EventType.NodeDeleted, containerGone));
    delete(zk, "/s/cx/k", -1);
    Tx.check(Tx.await(containerGone), "empty container deleted within " + Tx.WAIT_MS + " ms");
    flush(zk);
    stat(zk, "/s/cx");

    Stat s = new Stat();
    Tx.call("create2 /s/tx PERSISTENT_WITH_TTL ttl=200", () -> zk.create("/s/tx", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, s, 200), p -> p + " {" + Tx.stat(s) + "}");
    CountDownLatch ttlGone = new CountDownLatch(1);
    zk.exists("/s/tx", watcher("wTx", EventType.NodeDeleted, ttlGone));
    Tx.check(Tx.await(ttlGone), "expired ttl node deleted within " + Tx.WAIT_MS + " ms");
    flush(zk);
    stat(zk, "/s/tx");
    stat(zk, "/s");
  }
}
