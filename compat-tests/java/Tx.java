import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;

/**
 * Transcript helpers shared by the compat programs. Every observed fact becomes one line on stdout.
 * Values that legitimately differ between runs (times, session ids, passwords) are printed as
 * markers or relations, and zxids relative to a base zxid read at the start of the program, so that
 * two runs against two servers that behave alike print identical transcripts.
 */
final class Tx {
  private Tx() {}

  static final long WAIT_MS = 20_000;

  private static long baseZxid = 0;
  private static final Map<Long, String> sessionNames = new HashMap<>();
  private static long startMs = System.currentTimeMillis();

  interface Call<T> {
    T run() throws Exception;
  }

  interface Action {
    void run() throws Exception;
  }

  static void line(String text) {
    System.out.println(printable(text));
    System.out.flush();
  }

  /** Escapes everything outside printable ASCII, so lines do not depend on the platform charset. */
  static String printable(String text) {
    StringBuilder sb = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c < 0x20 || c > 0x7e) {
        sb.append(String.format("\\u%04x", (int) c));
      } else {
        sb.append(c);
      }
    }
    return sb.toString();
  }

  static void section(String name) {
    line("## " + name);
  }

  static void setBase(long zxid) {
    baseZxid = zxid;
  }

  static void nameSession(long sessionId, String name) {
    sessionNames.put(sessionId, name);
  }

  static String zxid(long zxid) {
    long d = zxid - baseZxid;
    return d >= 0 ? "z+" + d : "z" + d;
  }

  static String owner(long ephemeralOwner) {
    if (ephemeralOwner == 0) return "0";
    String name = sessionNames.get(ephemeralOwner);
    if (name != null) return name;
    return "0x" + Long.toHexString(ephemeralOwner);
  }

  static String times(Stat s) {
    if (s.getCtime() == 0) return s.getMtime() == 0 ? "ctime=0 mtime=0" : "ctime=0 mtime>0";
    long now = System.currentTimeMillis();
    boolean sane = s.getCtime() >= startMs - 600_000 && s.getCtime() <= now + 600_000
        && s.getMtime() >= startMs - 600_000 && s.getMtime() <= now + 600_000;
    String rel;
    if (s.getMtime() == s.getCtime()) rel = "mtime=ctime";
    else if (s.getMtime() > s.getCtime()) rel = "mtime>ctime";
    else rel = "mtime<ctime";
    // A node that never had its data set keeps mtime == ctime; after a setData mtime may or may not
    // have moved on, depending on the clock.
    if (s.getVersion() > 0 && !rel.equals("mtime<ctime")) rel = "mtime>=ctime";
    return (sane ? "" : "times-out-of-range ") + rel;
  }

  static String stat(Stat s) {
    if (s == null) return "null";
    return "czxid=" + zxid(s.getCzxid())
        + " mzxid=" + zxid(s.getMzxid())
        + " pzxid=" + zxid(s.getPzxid())
        + " version=" + s.getVersion()
        + " cversion=" + s.getCversion()
        + " aversion=" + s.getAversion()
        + " dataLength=" + s.getDataLength()
        + " numChildren=" + s.getNumChildren()
        + " ephemeralOwner=" + owner(s.getEphemeralOwner())
        + " " + times(s);
  }

  /** Stat without zxids, for scenarios whose zxids depend on thread scheduling. */
  static String shape(Stat s) {
    if (s == null) return "null";
    return "version=" + s.getVersion()
        + " cversion=" + s.getCversion()
        + " aversion=" + s.getAversion()
        + " dataLength=" + s.getDataLength()
        + " numChildren=" + s.getNumChildren()
        + " ephemeralOwner=" + owner(s.getEphemeralOwner());
  }

  static String data(byte[] bytes) {
    if (bytes == null) return "null";
    return "'" + new String(bytes, StandardCharsets.UTF_8) + "'";
  }

  static byte[] bytes(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }

  static String sorted(List<String> names) {
    if (names == null) return "null";
    List<String> copy = new ArrayList<>(names);
    Collections.sort(copy);
    return copy.toString();
  }

  static String acl(List<ACL> acls) {
    if (acls == null) return "null";
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < acls.size(); i++) {
      ACL a = acls.get(i);
      if (i > 0) sb.append(", ");
      sb.append(a.getId().getScheme()).append(':').append(a.getId().getId()).append(":perms=").append(a.getPerms());
    }
    return sb.append(']').toString();
  }

  static String error(Throwable e) {
    if (e instanceof KeeperException) {
      KeeperException ke = (KeeperException) e;
      return "ERR " + ke.code() + "(" + ke.code().intValue() + ")" + (ke.getPath() != null ? " path=" + ke.getPath() : "");
    }
    return "EXC " + e.getClass().getSimpleName() + ": " + e.getMessage();
  }

  /** Runs a call and prints "label -> result" or "label -> ERR CODE(n)". */
  static <T> T call(String label, Call<T> call, java.util.function.Function<T, String> fmt) {
    try {
      T result = call.run();
      line(label + " -> " + fmt.apply(result));
      return result;
    } catch (Exception e) {
      line(label + " -> " + error(e));
      return null;
    }
  }

  static void act(String label, Action action) {
    try {
      action.run();
      line(label + " -> ok");
    } catch (Exception e) {
      line(label + " -> " + error(e));
    }
  }

  static void check(boolean condition, String what) {
    if (!condition) {
      line("ASSERTION FAILED: " + what);
      throw new AssertionError(what);
    }
  }

  /** Waits until the client's event thread has delivered everything queued before this point. */
  static void barrier(ZooKeeper zk) throws InterruptedException {
    // On an ensemble, the session's member first applies every write committed so far (other
    // sessions' too, through other members), delivering the notifications they cause.
    sync(zk, "/");
    CountDownLatch done = new CountDownLatch(1);
    zk.exists("/", false, (AsyncCallback.StatCallback) (rc, path, ctx, stat) -> done.countDown(), null);
    check(done.await(WAIT_MS, TimeUnit.MILLISECONDS), "barrier round trip within " + WAIT_MS + " ms");
  }

  /**
   * sync(path), printing nothing: on an ensemble, the session's member then has applied every write
   * committed before, so a read that follows sees what other sessions (on other members) wrote.
   */
  static void sync(ZooKeeper zk, String path) throws InterruptedException {
    CountDownLatch done = new CountDownLatch(1);
    zk.sync(path, (rc, p, ctx) -> done.countDown(), null);
    check(done.await(WAIT_MS, TimeUnit.MILLISECONDS), "sync within " + WAIT_MS + " ms");
  }

  static boolean await(CountDownLatch latch) throws InterruptedException {
    return latch.await(WAIT_MS, TimeUnit.MILLISECONDS);
  }

  static void fail(Throwable e) {
    line("FATAL " + e);
    e.printStackTrace();
    System.out.flush();
    System.err.flush();
    Runtime.getRuntime().halt(1);
  }
}
