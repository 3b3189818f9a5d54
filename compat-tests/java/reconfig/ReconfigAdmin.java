import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.admin.ZooKeeperAdmin;
import org.apache.zookeeper.data.Stat;

/**
 * The Java client's reconfig API against a live ensemble: ZooKeeperAdmin.reconfigure and getConfig
 * with a watch. One line per observed fact; config strings with their newlines shown as " | ".
 * Watch events are printed once per kind and step: a learner may deliver one or two
 * NodeDataChanged for one reconfig (docs/RECONFIG.md §2.3), so their number is not compared.
 *
 * Usage: ReconfigAdmin HOST:PORT SUPER_PASSWORD JOINER LEAVING_SID WRONG_VERSION_HEX LEADER_SID
 */
public final class ReconfigAdmin {
  static final long WAIT_MS = 20_000;
  static final BlockingQueue<String> configEvents = new LinkedBlockingQueue<>();
  static final BlockingQueue<String> states = new LinkedBlockingQueue<>();

  static void line(String s) {
    System.out.println(s);
    System.out.flush();
  }

  static String cfg(byte[] data) {
    return new String(data, StandardCharsets.UTF_8).replace("\n", " | ");
  }

  static String stat(Stat st) {
    return "mzxid=0x" + Long.toHexString(st.getMzxid()) + " version=" + st.getVersion();
  }

  static final Watcher configWatcher = (WatchedEvent e) -> configEvents.add(e.getType() + " " + e.getPath());

  static String getConfig(ZooKeeperAdmin zk) throws Exception {
    Stat st = new Stat();
    byte[] data = zk.getConfig(configWatcher, st);
    return cfg(data) + " " + stat(st);
  }

  /** Waits (bounded) for one watch event; then prints each kind seen so far once. */
  static void events(String step) throws InterruptedException {
    String first = configEvents.poll(WAIT_MS, TimeUnit.MILLISECONDS);
    if (first == null) {
      line(step + " events: none within " + WAIT_MS + " ms");
      return;
    }
    Set<String> kinds = new LinkedHashSet<>();
    kinds.add(first);
    List<String> more = new ArrayList<>();
    configEvents.drainTo(more);
    kinds.addAll(more);
    line(step + " events: " + String.join(", ", kinds));
  }

  static String errorOf(KeeperException e) {
    return "KeeperException " + e.code() + " (" + e.code().intValue() + ") \"" + e.getMessage() + "\"";
  }

  public static void main(String[] args) throws Exception {
    String connect = args[0];
    String password = args[1];
    String joiner = args[2];
    String leavingSid = args[3];
    long wrongVersion = Long.parseLong(args[4], 16);
    String leaderSid = args[5];
    int code = 0;
    ZooKeeperAdmin zk = new ZooKeeperAdmin(connect, 30_000, (WatchedEvent e) -> {
      if (e.getType() == Watcher.Event.EventType.None) states.add(e.getState().toString());
    });
    try {
      String first = states.poll(WAIT_MS, TimeUnit.MILLISECONDS);
      line("connected: " + first);
      zk.addAuthInfo("digest", ("super:" + password).getBytes(StandardCharsets.UTF_8));

      line("getConfig -> " + getConfig(zk));

      Stat st = new Stat();
      byte[] added = zk.reconfigure(joiner, null, null, -1, st);
      line("reconfigure joining " + joiner + " -> " + cfg(added) + " " + stat(st));
      events("add");
      line("getConfig -> " + getConfig(zk));

      st = new Stat();
      byte[] removed = zk.reconfigure(null, leavingSid, null, -1, st);
      line("reconfigure leaving " + leavingSid + " -> " + cfg(removed) + " " + stat(st));
      events("remove");
      line("getConfig -> " + getConfig(zk));

      try {
        zk.reconfigure(null, leavingSid, null, wrongVersion, new Stat());
        line("reconfigure fromConfig=" + Long.toHexString(wrongVersion) + " -> committed (unexpected)");
      } catch (KeeperException e) {
        line("reconfigure fromConfig=" + Long.toHexString(wrongVersion) + " -> " + errorOf(e));
      }

      // Removing the leader: the connected member restarts its role (the leader changes), so the
      // reply may be lost; the reconfig commits all the same.
      states.clear();
      try {
        st = new Stat();
        byte[] noLeader = zk.reconfigure(null, leaderSid, null, -1, st);
        line("reconfigure leaving leader -> " + cfg(noLeader) + " " + stat(st));
      } catch (KeeperException e) {
        line("reconfigure leaving leader -> " + errorOf(e));
      }
      // Whether the session saw its connection drop, and then connected again (bounded).
      List<String> seen = new ArrayList<>();
      long deadline = System.currentTimeMillis() + WAIT_MS;
      while (System.currentTimeMillis() < deadline) {
        String s = states.poll(deadline - System.currentTimeMillis(), TimeUnit.MILLISECONDS);
        if (s == null) break;
        seen.add(s);
        if (s.equals("SyncConnected") && seen.contains("Disconnected")) break;
      }
      line("connection states after leaving leader: " + (seen.isEmpty() ? "none" : String.join(" -> ", seen)));
      // The watch may fire again on reconnect with the same data: read the config afresh.
      Stat last = new Stat();
      line("getConfig after leaving leader -> " + cfg(zk.getConfig(false, last)) + " " + stat(last));
    } catch (Throwable e) {
      line("FAILED: " + e);
      code = 1;
    } finally {
      zk.close();
    }
    line("## done");
    Runtime.getRuntime().halt(code);
  }
}
