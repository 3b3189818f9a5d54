import java.nio.charset.StandardCharsets;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.data.Stat;

/**
 * Curator 5.4's reconfig builders against a live ensemble: reconfig().joining/leaving/fromConfig
 * and getConfig().usingWatcher. One line per observed fact; config strings with their newlines
 * shown as " | "; watch events once per kind and step (a learner may deliver one or two).
 *
 * Usage: ReconfigCurator HOST:PORT SUPER_PASSWORD JOINER LEAVING_SID WRONG_VERSION_HEX
 */
public final class ReconfigCurator {
  static final long WAIT_MS = 20_000;
  static final BlockingQueue<String> configEvents = new LinkedBlockingQueue<>();

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

  static String getConfig(CuratorFramework c) throws Exception {
    Stat st = new Stat();
    byte[] data = c.getConfig().storingStatIn(st).usingWatcher(configWatcher).forEnsemble();
    return cfg(data) + " " + stat(st);
  }

  static void events(String step) throws InterruptedException {
    String first = configEvents.poll(WAIT_MS, TimeUnit.MILLISECONDS);
    if (first == null) {
      line(step + " events: none within " + WAIT_MS + " ms");
      return;
    }
    Set<String> kinds = new LinkedHashSet<>();
    kinds.add(first);
    java.util.List<String> more = new java.util.ArrayList<>();
    configEvents.drainTo(more);
    kinds.addAll(more);
    line(step + " events: " + String.join(", ", kinds));
  }

  public static void main(String[] args) throws Exception {
    String connect = args[0];
    String password = args[1];
    String joiner = args[2];
    String leavingSid = args[3];
    long wrongVersion = Long.parseLong(args[4], 16);
    int code = 0;
    // The ensemble tracker would follow the config into the connect string; the program stays on
    // the member it was given.
    CuratorFramework c = CuratorFrameworkFactory.builder()
        .connectString(connect)
        .sessionTimeoutMs(30_000)
        .connectionTimeoutMs(10_000)
        .retryPolicy(new RetryNTimes(3, 200))
        .authorization("digest", ("super:" + password).getBytes(StandardCharsets.UTF_8))
        .ensembleTracker(false)
        .build();
    try {
      c.start();
      line("connected: " + c.blockUntilConnected((int) WAIT_MS, TimeUnit.MILLISECONDS));
      line("getConfig -> " + getConfig(c));

      Stat st = new Stat();
      byte[] added = c.reconfig().joining(joiner).storingStatIn(st).forEnsemble();
      line("reconfig joining " + joiner + " -> " + cfg(added) + " " + stat(st));
      events("add");
      line("getConfig -> " + getConfig(c));

      st = new Stat();
      byte[] removed = c.reconfig().leaving(leavingSid).storingStatIn(st).forEnsemble();
      line("reconfig leaving " + leavingSid + " -> " + cfg(removed) + " " + stat(st));
      events("remove");
      line("getConfig -> " + getConfig(c));

      try {
        c.reconfig().leaving(leavingSid).fromConfig(wrongVersion).forEnsemble();
        line("reconfig fromConfig=" + Long.toHexString(wrongVersion) + " -> committed (unexpected)");
      } catch (KeeperException e) {
        line("reconfig fromConfig=" + Long.toHexString(wrongVersion) + " -> " + e.getClass().getSimpleName() + " " + e.code() + " \"" + e.getMessage() + "\"");
      }
    } catch (Throwable e) {
      line("FAILED: " + e);
      code = 1;
    } finally {
      c.close();
    }
    line("## done");
    Runtime.getRuntime().halt(code);
  }
}
