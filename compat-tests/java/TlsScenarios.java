import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

/**
 * The Java client over TLS (Netty socket, zookeeper.client.secure) with x509 identities: each
 * client has its own key store (per-client ZKClientConfig), the server its trust store; ACLs name
 * a certificate's subject. Prints one line per observed fact.
 *
 * Usage: TlsScenarios HOST:SECUREPORT STOREDIR ALICE_DN BOB_DN
 *   STOREDIR holds alice.p12, bob.jks, admin.pem (key stores, password "secret1", admin.pem
 *   without one) and trust.jks (password "trustpw").
 */
public final class TlsScenarios {
  private static String connect;
  private static String dir;
  private static final List<ZooKeeper> open = new ArrayList<>();

  public static void main(String[] args) throws Exception {
    connect = args[0];
    dir = args[1];
    String alice = args[2];
    String bob = args[3];
    try {
      run(alice, bob);
    } catch (Throwable e) {
      System.out.println("!! " + e);
    } finally {
      for (ZooKeeper zk : open) zk.close();
    }
    System.out.println("## done");
    System.exit(0);
  }

  private static ZooKeeper client(String keyStore, String type, String password) throws Exception {
    ZKClientConfig conf = new ZKClientConfig();
    conf.setProperty("zookeeper.clientCnxnSocket", "org.apache.zookeeper.ClientCnxnSocketNetty");
    conf.setProperty("zookeeper.client.secure", "true");
    conf.setProperty("zookeeper.ssl.keyStore.location", dir + "/" + keyStore);
    conf.setProperty("zookeeper.ssl.keyStore.type", type);
    if (password != null) conf.setProperty("zookeeper.ssl.keyStore.password", password);
    conf.setProperty("zookeeper.ssl.trustStore.location", dir + "/trust.jks");
    conf.setProperty("zookeeper.ssl.trustStore.password", "trustpw");
    CountDownLatch connected = new CountDownLatch(1);
    ZooKeeper zk = new ZooKeeper(connect, 10_000, e -> {
      if (e.getState() == KeeperState.SyncConnected) connected.countDown();
    }, conf);
    open.add(zk);
    boolean ok = connected.await(20, TimeUnit.SECONDS);
    System.out.println("connect " + keyStore + " -> " + (ok ? "connected" : "not connected"));
    return zk;
  }

  private static String whoAmI(ZooKeeper zk) throws Exception {
    List<String> out = new ArrayList<>();
    for (ClientInfo ci : zk.whoAmI()) out.add("(" + ci.getAuthScheme() + "," + (ci.getAuthScheme().equals("ip") ? "<ip>" : ci.getUser()) + ")");
    Collections.sort(out);
    return String.join(" ", out);
  }

  interface Call {
    String run() throws Exception;
  }

  private static void line(String what, Call c) {
    String r;
    try {
      r = c.run();
    } catch (KeeperException e) {
      r = "ERR " + e.code();
    } catch (Exception e) {
      r = "EXC " + e.getClass().getSimpleName();
    }
    System.out.println(what + " -> " + r);
  }

  private static String acl(List<ACL> acl) {
    List<String> out = new ArrayList<>();
    for (ACL a : acl) out.add(a.getId().getScheme() + ":" + a.getId().getId() + ":" + a.getPerms());
    return String.join(" ", out);
  }

  private static void run(String alice, String bob) throws Exception {
    ZooKeeper a = client("alice.p12", "PKCS12", "secret1");
    line("alice whoAmI", () -> whoAmI(a));
    List<ACL> aliceOnly = Collections.singletonList(new ACL(Perms.ALL, new Id("x509", alice)));
    line("alice create /tls x509:alice", () -> a.create("/tls", "secret".getBytes(StandardCharsets.UTF_8), aliceOnly, CreateMode.PERSISTENT));
    line("alice getData /tls", () -> new String(a.getData("/tls", false, null), StandardCharsets.UTF_8));
    line("alice getACL /tls", () -> acl(a.getACL("/tls", new Stat())));
    line("alice create /tls-auth auth", () -> a.create("/tls-auth", new byte[0], Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
    line("alice getACL /tls-auth", () -> acl(a.getACL("/tls-auth", new Stat())));
    line("alice create /tls-bad x509:not-a-dn", () -> a.create("/tls-bad", new byte[0], Collections.singletonList(new ACL(Perms.ALL, new Id("x509", "not a dn"))), CreateMode.PERSISTENT));
    line("alice create /tls-spaced (DN with spaces)", () -> a.create("/tls-spaced", new byte[0], Collections.singletonList(new ACL(Perms.ALL, new Id("x509", alice.replace(",", ", ")))), CreateMode.PERSISTENT));
    line("alice getData /tls-spaced", () -> new String(a.getData("/tls-spaced", false, null), StandardCharsets.UTF_8));

    ZooKeeper b = client("bob.jks", "JKS", "secret1");
    line("bob whoAmI", () -> whoAmI(b));
    line("bob getData /tls", () -> new String(b.getData("/tls", false, null), StandardCharsets.UTF_8));
    line("bob setData /tls", () -> String.valueOf(b.setData("/tls", new byte[0], -1).getVersion()));
    line("bob create /tls/child", () -> b.create("/tls/child", new byte[0], Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));

    ZooKeeper s = client("admin.pem", "PEM", null);
    line("admin whoAmI", () -> whoAmI(s));
    line("admin getData /tls", () -> new String(s.getData("/tls", false, null), StandardCharsets.UTF_8));
    line("admin setData /tls", () -> String.valueOf(s.setData("/tls", "changed".getBytes(StandardCharsets.UTF_8), -1).getVersion()));
    line("alice getData /tls again", () -> new String(a.getData("/tls", false, null), StandardCharsets.UTF_8));
    line("admin delete /tls-auth", () -> {
      s.delete("/tls-auth", -1);
      return "ok";
    });
  }
}
