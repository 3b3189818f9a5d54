// A Java client that may be read-only (canBeReadOnly=true), for test/quorum/readonly.test.ts: it
// connects while only a member without a quorum is up, reads, tries a write, prints READY, and then
// waits until it is connected read-write again (the test brings the quorum back meanwhile). One
// line per observed fact on stdout; exit 0 when every step happened within its bound.
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

public class ReadOnlyClient {
    private static final BlockingQueue<KeeperState> STATES = new LinkedBlockingQueue<>();

    private static void awaitState(KeeperState wanted, long seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        for (;;) {
            long left = deadline - System.nanoTime();
            KeeperState s = left > 0 ? STATES.poll(left, TimeUnit.NANOSECONDS) : null;
            if (s == null) {
                System.out.println("timed out waiting for " + wanted);
                System.exit(2);
            }
            if (s == wanted) {
                System.out.println("state " + s);
                return;
            }
        }
    }

    private static String create(ZooKeeper zk, String path) throws InterruptedException {
        try {
            zk.create(path, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            return "ok";
        } catch (KeeperException e) {
            return e.code().toString();
        }
    }

    public static void main(String[] args) throws Exception {
        ZooKeeper zk = new ZooKeeper(args[0], 4000, event -> {
            if (event.getType() == EventType.None) {
                STATES.add(event.getState());
            }
        }, true);
        awaitState(KeeperState.ConnectedReadOnly, 60);
        long readOnlySession = zk.getSessionId();
        System.out.println("read-only session of member " + (readOnlySession >>> 56));
        System.out.println("getData /ro -> " + new String(zk.getData("/ro", false, null), StandardCharsets.UTF_8));
        System.out.println("create /ro/java -> " + create(zk, "/ro/java"));
        System.out.println("READY");
        System.out.flush();
        awaitState(KeeperState.SyncConnected, 120);
        System.out.println("new session after read-only -> " + (zk.getSessionId() != readOnlySession));
        System.out.println("create /ro/java -> " + create(zk, "/ro/java"));
        System.out.println("getData /ro -> " + new String(zk.getData("/ro", false, null), StandardCharsets.UTF_8));
        zk.close();
    }
}
