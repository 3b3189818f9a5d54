// The fault suite's Java workload (docs: FAULTS-SPEC "Workload process contract"): K worker sessions
// run seeded register, seq, counter and lock ops through the official Java client (ZooKeeper 3.9.5,
// whose watch events carry the zxid) and Curator's InterProcessMutex, plus one watcher session with a
// persistent recursive watch on /faults/reg; every op is written as one JSON line, flushed at once.
//
// Outcomes: `ok` took effect, `fail` definitely did not (a ZooKeeper error that the server answers
// before applying anything), `info` unknown (connection loss, session expiry, no answer in 10 s).
// The program exits 0 whatever the ensemble does; 2 on bad arguments, 3 when the history cannot be
// written.

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.curator.RetryPolicy;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.utils.ZookeeperFactory;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.client.HostProvider;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.data.Stat;

public final class FaultsWorkload {
    static final long OP_TIMEOUT_MS = 10_000;
    // Curator's own wait for the lock; the op as a whole is still bounded by OP_TIMEOUT_MS.
    static final long LOCK_WAIT_MS = 8_000;
    static final long CLOSE_WAIT_MS = 5_000;
    static final long CONNECT_WAIT_MS = 500;
    static final int WATCH_QUEUE_MAX = 100_000;
    static final long VALUE_BLOCK = 1_000_000L;

    static final String REG_PARENT = "/faults/reg";
    static final int REG_KEYS = 32;
    static final String SEQ_PREFIX = "/faults/seq/n-";
    static final String CTR_A = "/faults/ctr/a";
    static final String CTR_B = "/faults/ctr/b";
    static final String LOCK_PATH = "/faults/lock/java";

    static final List<String> WORKLOADS = List.of("register", "seq", "counter", "lock", "watch");
    // How often a worker picks each workload (the lock's weight is low: its holders serialise the
    // workers that wait for it).
    static final Map<String, Integer> WEIGHTS = Map.of("register", 40, "seq", 15, "counter", 25, "lock", 20);

    // ---------------------------------------------------------------------------------------
    // Arguments

    static final class Args {
        List<String> members = new ArrayList<>();
        long seed;
        long durationMs;
        String out;
        List<String> workloads = new ArrayList<>();
        int processes;
        int sessionTimeoutMs = 6000;
        String prefix;
        long thinkMs = 5;
        // Register values are (valueBase + w) * 1e6 + counter: kazoo's program uses another base, so
        // values stay unique per key when both programs write the same registers.
        long valueBase = 0;
        // A holder keeps the lock a random 0..lockHoldMaxMs.
        long lockHoldMaxMs = 20;
    }

    static Args parseArgs(String[] argv) {
        Args a = new Args();
        Map<String, String> seen = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String name = argv[i];
            if (!name.startsWith("--") || i + 1 >= argv.length) throw new IllegalArgumentException("expected --name value at '" + name + "'");
            seen.put(name.substring(2), argv[++i]);
        }
        for (String required : List.of("connect", "seed", "duration-ms", "out", "workloads", "processes", "prefix")) {
            if (!seen.containsKey(required)) throw new IllegalArgumentException("missing --" + required);
        }
        for (Map.Entry<String, String> e : seen.entrySet()) {
            String v = e.getValue();
            switch (e.getKey()) {
                case "connect":
                    for (String m : v.split(",")) {
                        if (m.isEmpty() || m.lastIndexOf(':') <= 0) throw new IllegalArgumentException("bad member '" + m + "'");
                        a.members.add(m);
                    }
                    break;
                case "seed": a.seed = Long.parseLong(v); break;
                case "duration-ms": a.durationMs = Long.parseLong(v); break;
                case "out": a.out = v; break;
                case "workloads":
                    for (String w : v.split(",")) {
                        if (!WORKLOADS.contains(w)) throw new IllegalArgumentException("unknown workload '" + w + "'");
                        if (!a.workloads.contains(w)) a.workloads.add(w);
                    }
                    break;
                case "processes": a.processes = Integer.parseInt(v); break;
                case "session-timeout-ms": a.sessionTimeoutMs = Integer.parseInt(v); break;
                case "prefix": a.prefix = v; break;
                case "think-ms": a.thinkMs = Long.parseLong(v); break;
                case "value-base": a.valueBase = Long.parseLong(v); break;
                case "lock-hold-max-ms": a.lockHoldMaxMs = Long.parseLong(v); break;
                default: throw new IllegalArgumentException("unknown option --" + e.getKey());
            }
        }
        if (a.members.isEmpty()) throw new IllegalArgumentException("--connect names no member");
        if (a.durationMs < 0 || a.processes < 0 || a.sessionTimeoutMs <= 0 || a.thinkMs < 0 || a.valueBase < 0 || a.lockHoldMaxMs < 0) throw new IllegalArgumentException("negative number");
        if (a.prefix.isEmpty()) throw new IllegalArgumentException("empty --prefix");
        if (a.workloads.isEmpty()) throw new IllegalArgumentException("--workloads names no workload");
        return a;
    }

    // ---------------------------------------------------------------------------------------
    // JSON lines

    static String json(Object v) {
        StringBuilder sb = new StringBuilder();
        writeJson(sb, v);
        return sb.toString();
    }

    @SuppressWarnings("unchecked")
    static void writeJson(StringBuilder sb, Object v) {
        if (v == null) {
            sb.append("null");
        } else if (v instanceof String) {
            String s = (String) v;
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"': sb.append("\\\""); break;
                    case '\\': sb.append("\\\\"); break;
                    case '\n': sb.append("\\n"); break;
                    case '\r': sb.append("\\r"); break;
                    case '\t': sb.append("\\t"); break;
                    default:
                        if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                        else sb.append(c);
                }
            }
            sb.append('"');
        } else if (v instanceof Long || v instanceof Integer || v instanceof Boolean) {
            sb.append(v);
        } else if (v instanceof Map) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
                if (!first) sb.append(',');
                first = false;
                writeJson(sb, e.getKey());
                sb.append(':');
                writeJson(sb, e.getValue());
            }
            sb.append('}');
        } else if (v instanceof List) {
            sb.append('[');
            boolean first = true;
            for (Object o : (List<Object>) v) {
                if (!first) sb.append(',');
                first = false;
                writeJson(sb, o);
            }
            sb.append(']');
        } else {
            throw new IllegalArgumentException("no JSON for " + v.getClass());
        }
    }

    static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    static String hex(long zxid) {
        return "0x" + Long.toHexString(zxid);
    }

    /** The history file: one line per op, written and flushed as the op completes. */
    static final class History {
        private final OutputStream out;
        private boolean failed;
        private boolean closed;

        History(String path) throws IOException {
            out = new FileOutputStream(path, false);
        }

        synchronized void write(Map<String, Object> line) {
            // A line of a session still closing after the end is not part of the run.
            if (failed || closed) return;
            try {
                out.write((json(line) + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                failed = true;
                System.err.println("faults-workload: cannot write the history: " + e);
            }
        }

        synchronized boolean failed() {
            return failed;
        }

        synchronized void close() {
            closed = true;
            try {
                out.close();
            } catch (IOException e) {
                failed = true;
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // One op of the history. complete() writes its line once; an op still open when the program
    // ends is written as info by whoever gets there first.

    static final class OpLine {
        final History history;
        final Map<String, Object> line;
        final AtomicBoolean written = new AtomicBoolean();

        OpLine(History history, String proc, String wl, String f, String key, Map<String, Object> in, Session s) {
            this.history = history;
            line = obj("proc", proc, "wl", wl, "f", f, "key", key, "in", in, "status", null, "out", null, "err", null,
                    "t0", System.nanoTime(), "t1", null, "session", s == null ? null : s.sessionHex(), "member", s == null ? null : s.member());
        }

        long t0() {
            return (Long) line.get("t0");
        }

        void ok(Map<String, Object> out) {
            finish("ok", out, null, System.nanoTime());
        }

        void fail(String err) {
            finish("fail", null, err, System.nanoTime());
        }

        void info(String err) {
            finish("info", null, err, null);
        }

        /** ok, fail or info by ZooKeeper's code. */
        void byCode(KeeperException.Code code, Map<String, Object> okOut) {
            if (code == KeeperException.Code.OK) ok(okOut);
            else if (definite(code)) fail(code.name());
            else info(code.name());
        }

        private void finish(String status, Map<String, Object> out, String err, Long t1) {
            if (!written.compareAndSet(false, true)) return;
            line.put("status", status);
            line.put("out", out);
            line.put("err", err);
            line.put("t1", t1);
            history.write(line);
        }
    }

    /** Errors the server gives before it applies anything: the op definitely had no effect. */
    static boolean definite(KeeperException.Code code) {
        switch (code) {
            case NONODE:
            case NODEEXISTS:
            case BADVERSION:
            case NOTEMPTY:
            case NOAUTH:
            case BADARGUMENTS:
            case NOCHILDRENFOREPHEMERALS:
            case INVALIDACL:
            case AUTHFAILED:
            case UNIMPLEMENTED:
            case NOTREADONLY:
            case EPHEMERALONLOCALSESSION:
            case NOWATCHER:
            case QUOTAEXCEEDED:
                return true;
            default:
                return false;
        }
    }

    // ---------------------------------------------------------------------------------------
    // Connection: the member given first is tried first, then the others in order (the stock
    // provider shuffles, which would not put worker w on member w mod n).

    static final class OrderedHostProvider implements HostProvider {
        private final List<InetSocketAddress> addresses;
        private int next;
        private int triedSinceConnected;

        OrderedHostProvider(List<InetSocketAddress> addresses) {
            this.addresses = addresses;
        }

        @Override
        public synchronized int size() {
            return addresses.size();
        }

        @Override
        public InetSocketAddress next(long spinDelay) {
            boolean wait;
            InetSocketAddress address;
            synchronized (this) {
                wait = triedSinceConnected >= addresses.size();
                if (wait) triedSinceConnected = 0;
                address = addresses.get(next);
                next = (next + 1) % addresses.size();
                triedSinceConnected++;
            }
            // Every member was tried since the last connection: do not spin.
            if (wait && spinDelay > 0) {
                try {
                    Thread.sleep(spinDelay);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return address;
        }

        @Override
        public synchronized void onConnected() {
            triedSinceConnected = 0;
        }

        @Override
        public boolean updateServerList(Collection<InetSocketAddress> serverAddresses, InetSocketAddress currentHost) {
            return false;
        }
    }

    /** The Java client, with the address it is connected to made visible. */
    static final class WorkloadZooKeeper extends ZooKeeper {
        WorkloadZooKeeper(String connectString, int sessionTimeoutMs, Watcher watcher, HostProvider hosts, ZKClientConfig config) throws IOException {
            super(connectString, sessionTimeoutMs, watcher, false, hosts, config);
        }

        String member() {
            try {
                SocketAddress a = testableRemoteSocketAddress();
                if (a instanceof InetSocketAddress) {
                    InetSocketAddress i = (InetSocketAddress) a;
                    InetAddress ip = i.getAddress();
                    return (ip != null ? ip.getHostAddress() : i.getHostString()) + ":" + i.getPort();
                }
            } catch (RuntimeException e) {
                // Not connected.
            }
            return null;
        }
    }

    static List<InetSocketAddress> rotated(List<String> members, int first) {
        List<InetSocketAddress> out = new ArrayList<>();
        for (int i = 0; i < members.size(); i++) {
            String m = members.get((first + i) % members.size());
            int colon = m.lastIndexOf(':');
            out.add(new InetSocketAddress(m.substring(0, colon), Integer.parseInt(m.substring(colon + 1))));
        }
        return out;
    }

    static String connectString(List<InetSocketAddress> addresses) {
        StringBuilder sb = new StringBuilder();
        for (InetSocketAddress a : addresses) {
            if (sb.length() > 0) sb.append(',');
            sb.append(a.getHostString()).append(':').append(a.getPort());
        }
        return sb.toString();
    }

    /** Something that holds a session: a Curator client (workers) or a raw handle (watchers). */
    interface Session {
        String sessionHex();

        String member();
    }

    static String sessionHexOf(ZooKeeper zk) {
        if (zk == null) return null;
        long id = zk.getSessionId();
        return id == 0 ? null : hex(id);
    }

    // ---------------------------------------------------------------------------------------
    // Async calls with a bounded wait

    static final class Reply {
        final int rc;
        final Stat stat;
        final byte[] data;
        final String name;
        final List<OpResult> results;

        Reply(int rc, Stat stat, byte[] data, String name, List<OpResult> results) {
            this.rc = rc;
            this.stat = stat;
            this.data = data;
            this.name = name;
            this.results = results;
        }

        KeeperException.Code code() {
            KeeperException.Code c = KeeperException.Code.get(rc);
            return c == null ? KeeperException.Code.SYSTEMERROR : c;
        }
    }

    /** The reply, or null when none came within the bound (the caller records info). */
    static Reply await(CompletableFuture<Reply> f) {
        return await(f, TimeUnit.MILLISECONDS.toNanos(OP_TIMEOUT_MS));
    }

    static Reply await(CompletableFuture<Reply> f, long timeoutNs) {
        try {
            return f.get(Math.max(0, timeoutNs), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        } catch (Exception e) {
            return null;
        }
    }

    static CompletableFuture<Reply> getData(ZooKeeper zk, String path) {
        CompletableFuture<Reply> f = new CompletableFuture<>();
        zk.getData(path, false, (rc, p, ctx, data, stat) -> f.complete(new Reply(rc, stat, data, null, null)), null);
        return f;
    }

    static CompletableFuture<Reply> setData(ZooKeeper zk, String path, byte[] data, int version) {
        CompletableFuture<Reply> f = new CompletableFuture<>();
        zk.setData(path, data, version, (rc, p, ctx, stat) -> f.complete(new Reply(rc, stat, null, null, null)), null);
        return f;
    }

    static CompletableFuture<Reply> create(ZooKeeper zk, String path, byte[] data, CreateMode mode) {
        CompletableFuture<Reply> f = new CompletableFuture<>();
        zk.create(path, data, ZooDefs.Ids.OPEN_ACL_UNSAFE, mode,
                (rc, p, ctx, name, stat) -> f.complete(new Reply(rc, stat, null, name, null)), null);
        return f;
    }

    static CompletableFuture<Reply> delete(ZooKeeper zk, String path, int version) {
        CompletableFuture<Reply> f = new CompletableFuture<>();
        zk.delete(path, version, (rc, p, ctx) -> f.complete(new Reply(rc, null, null, null, null)), null);
        return f;
    }

    static CompletableFuture<Reply> sync(ZooKeeper zk, String path) {
        CompletableFuture<Reply> f = new CompletableFuture<>();
        zk.sync(path, (rc, p, ctx) -> f.complete(new Reply(rc, null, null, null, null)), null);
        return f;
    }

    static CompletableFuture<Reply> multi(ZooKeeper zk, List<Op> ops) {
        CompletableFuture<Reply> f = new CompletableFuture<>();
        zk.multi(ops, (rc, p, ctx, results) -> f.complete(new Reply(rc, null, null, null, results)), null);
        return f;
    }

    static byte[] ascii(long value) {
        return Long.toString(value).getBytes(StandardCharsets.US_ASCII);
    }

    /** Decimal ASCII data as a number; null when it is not one. */
    static Long decimal(byte[] data) {
        if (data == null) return null;
        try {
            return Long.parseLong(new String(data, StandardCharsets.US_ASCII).trim());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    static Map<String, Object> readOut(Reply r) {
        if (r.code() == KeeperException.Code.NONODE) return obj("exists", false);
        return obj("exists", true, "value", decimal(r.data), "version", (long) r.stat.getVersion(), "mzxid", hex(r.stat.getMzxid()));
    }

    static String basename(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    // ---------------------------------------------------------------------------------------
    // A worker: one Curator client (its session; Curator replaces an expired one) used for raw
    // ops through its ZooKeeper handle and for the lock.

    static final class Worker implements Runnable, Session {
        final Args args;
        final History history;
        final int index;
        final String proc;
        final long deadlineNs;
        final Random random;
        final List<String> workloads = new ArrayList<>();
        final List<InetSocketAddress> hosts;
        final Map<String, Integer> knownVersion = new HashMap<>();
        long valueCounter;

        volatile CuratorFramework curator;
        volatile WorkloadZooKeeper zk;
        InterProcessMutex mutex;
        ExecutorService lockThread;
        final Object lockState = new Object();
        boolean holding; // guarded by lockState
        volatile OpLine open;

        Worker(Args args, History history, int index, long deadlineNs) {
            this.args = args;
            this.history = history;
            this.index = index;
            this.proc = args.prefix + "-" + index;
            this.deadlineNs = deadlineNs;
            this.random = new Random(args.seed * 1_000_003L + index);
            for (String w : args.workloads) if (!w.equals("watch")) workloads.add(w);
            this.hosts = rotated(args.members, index % args.members.size());
        }

        @Override
        public String sessionHex() {
            return sessionHexOf(zk);
        }

        @Override
        public String member() {
            WorkloadZooKeeper z = zk;
            return z == null ? null : z.member();
        }

        void openSession() {
            ZookeeperFactory factory = new ZookeeperFactory() {
                @Override
                public ZooKeeper newZooKeeper(String cs, int timeoutMs, Watcher watcher, boolean canBeReadOnly) throws Exception {
                    return newZooKeeper(cs, timeoutMs, watcher, canBeReadOnly, new ZKClientConfig());
                }

                @Override
                public ZooKeeper newZooKeeper(String cs, int timeoutMs, Watcher watcher, boolean canBeReadOnly, ZKClientConfig config) throws Exception {
                    WorkloadZooKeeper z = new WorkloadZooKeeper(cs, timeoutMs, watcher, new OrderedHostProvider(hosts), config);
                    zk = z;
                    return z;
                }
            };
            RetryPolicy retry = new RetryNTimes(3, 200);
            CuratorFramework c = CuratorFrameworkFactory.builder()
                    .connectString(connectString(hosts))
                    .sessionTimeoutMs(args.sessionTimeoutMs)
                    .connectionTimeoutMs(args.sessionTimeoutMs)
                    .retryPolicy(retry)
                    .zookeeperFactory(factory)
                    // The members are the ones given; a configuration change does not reorder them.
                    .ensembleTracker(false)
                    .build();
            c.getConnectionStateListenable().addListener((client, state) -> onConnectionState(client, state));
            c.start();
            curator = c;
            mutex = new InterProcessMutex(c, LOCK_PATH);
            lockThread = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, proc + "-lock");
                t.setDaemon(true);
                return t;
            });
        }

        /** The session did not answer within the bound: give it up and start a new one. */
        void replaceSession() {
            closeSessionInBackground();
            synchronized (lockState) {
                holding = false;
            }
            openSession();
        }

        void closeSessionInBackground() {
            CuratorFramework c = curator;
            ExecutorService l = lockThread;
            curator = null;
            zk = null;
            if (l != null) l.shutdownNow();
            if (c != null) {
                Thread t = new Thread(() -> {
                    try {
                        c.close();
                    } catch (RuntimeException e) {
                        // Closing a dead session: nothing to do.
                    }
                }, proc + "-close");
                t.setDaemon(true);
                t.start();
            }
        }

        void onConnectionState(CuratorFramework client, ConnectionState state) {
            if (state != ConnectionState.SUSPENDED && state != ConnectionState.LOST) return;
            synchronized (lockState) {
                // A replaced client's last words are not about the lock this worker holds now.
                if (client != curator) return;
                if (!holding) return;
                holding = false;
                long t = System.nanoTime();
                // t0 = t1: the moment the holder learned it may have lost the lock.
                Map<String, Object> line = obj("proc", proc, "wl", "lock", "f", "lost", "key", LOCK_PATH, "in", obj(),
                        "status", "ok", "out", obj("state", state.name()), "err", null, "t0", t, "t1", t,
                        "session", sessionHex(), "member", member());
                history.write(line);
            }
        }

        OpLine begin(String wl, String f, String key, Map<String, Object> in) {
            OpLine op = new OpLine(history, proc, wl, f, key, in, this);
            open = op;
            return op;
        }

        /** A reply to the op, or info and a new session when none came in time. */
        Reply finish(OpLine op, CompletableFuture<Reply> f) {
            // The bound is the op's, over all the calls it makes (sync-read makes two).
            Reply r = await(f, op.t0() + TimeUnit.MILLISECONDS.toNanos(OP_TIMEOUT_MS) - System.nanoTime());
            if (r == null) {
                op.info("TIMEOUT");
                replaceSession();
            }
            return r;
        }

        long nextValue() {
            valueCounter++;
            return (args.valueBase + index) * VALUE_BLOCK + valueCounter;
        }

        @Override
        public void run() {
            openSession();
            try {
                while (System.nanoTime() < deadlineNs && !workloads.isEmpty()) {
                    ZooKeeper current = handle();
                    if (current == null || !current.getState().isConnected()) {
                        // Nothing is sent on a session that is not connected; wait a little for it.
                        sleepMs(Math.max(1, Math.min(CONNECT_WAIT_MS, TimeUnit.NANOSECONDS.toMillis(deadlineNs - System.nanoTime()))));
                        continue;
                    }
                    String wl = pickWorkload();
                    try {
                        switch (wl) {
                            case "register": register(); break;
                            case "seq": seq(); break;
                            case "counter": counter(); break;
                            case "lock": lock(); break;
                            default: break;
                        }
                    } catch (RuntimeException e) {
                        // A call that threw before it was sent (a closed handle): the op, if one was
                        // begun, has an unknown outcome; a fresh session follows.
                        OpLine op = open;
                        if (op != null) op.info("CLIENT: " + e.getClass().getSimpleName());
                        replaceSession();
                    }
                    open = null;
                    think();
                }
            } finally {
                closeSessionInBackground();
            }
        }

        String pickWorkload() {
            int total = 0;
            for (String w : workloads) total += WEIGHTS.get(w);
            int r = random.nextInt(total);
            for (String w : workloads) {
                r -= WEIGHTS.get(w);
                if (r < 0) return w;
            }
            return workloads.get(workloads.size() - 1);
        }

        void think() {
            if (args.thinkMs <= 0) return;
            try {
                Thread.sleep(random.nextInt((int) args.thinkMs + 1));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        ZooKeeper handle() {
            // Curator's current handle (it makes a new one after an expiry).
            CuratorFramework c = curator;
            if (c == null) return null;
            try {
                ZooKeeper z = c.getZookeeperClient().getZooKeeper();
                if (z instanceof WorkloadZooKeeper) zk = (WorkloadZooKeeper) z;
                return z;
            } catch (Exception e) {
                return zk;
            }
        }

        // --- register ------------------------------------------------------------------------

        void register() {
            String key = REG_PARENT + "/" + random.nextInt(REG_KEYS);
            int pick = random.nextInt(100);
            ZooKeeper z = handle();
            if (pick < 20) {
                OpLine op = begin("register", "read", key, obj());
                Reply r = finish(op, getData(z, key));
                if (r != null) readDone(op, key, r);
            } else if (pick < 30) {
                OpLine op = begin("register", "sync-read", key, obj());
                Reply s = finish(op, sync(z, key));
                if (s == null) return;
                if (s.code() != KeeperException.Code.OK) {
                    op.byCode(s.code(), null);
                    return;
                }
                Reply r = finish(op, getData(z, key));
                if (r != null) readDone(op, key, r);
            } else if (pick < 50) {
                long value = nextValue();
                OpLine op = begin("register", "write", key, obj("value", value));
                Reply r = finish(op, setData(z, key, ascii(value), -1));
                if (r == null) return;
                if (r.code() == KeeperException.Code.OK) {
                    knownVersion.put(key, r.stat.getVersion());
                    op.ok(obj("version", (long) r.stat.getVersion(), "mzxid", hex(r.stat.getMzxid())));
                } else {
                    op.byCode(r.code(), null);
                }
            } else if (pick < 80) {
                long value = nextValue();
                int expected = knownVersion.getOrDefault(key, 0);
                OpLine op = begin("register", "cas", key, obj("value", value, "expectedVersion", (long) expected));
                Reply r = finish(op, setData(z, key, ascii(value), expected));
                if (r == null) return;
                if (r.code() == KeeperException.Code.OK) {
                    knownVersion.put(key, r.stat.getVersion());
                    op.ok(obj("version", (long) r.stat.getVersion(), "mzxid", hex(r.stat.getMzxid())));
                } else {
                    op.byCode(r.code(), null);
                }
            } else if (pick < 90) {
                long value = nextValue();
                OpLine op = begin("register", "create", key, obj("value", value));
                Reply r = finish(op, create(z, key, ascii(value), CreateMode.PERSISTENT));
                if (r == null) return;
                if (r.code() == KeeperException.Code.OK) {
                    knownVersion.put(key, 0);
                    op.ok(obj("mzxid", hex(r.stat.getMzxid())));
                } else {
                    op.byCode(r.code(), null);
                }
            } else {
                int expected = random.nextBoolean() ? -1 : knownVersion.getOrDefault(key, 0);
                OpLine op = begin("register", "delete", key, obj("expectedVersion", (long) expected));
                Reply r = finish(op, delete(z, key, expected));
                if (r == null) return;
                if (r.code() == KeeperException.Code.OK) knownVersion.remove(key);
                op.byCode(r.code(), obj());
            }
        }

        void readDone(OpLine op, String key, Reply r) {
            KeeperException.Code c = r.code();
            if (c == KeeperException.Code.OK) knownVersion.put(key, r.stat.getVersion());
            if (c == KeeperException.Code.OK || c == KeeperException.Code.NONODE) op.ok(readOut(r));
            else op.byCode(c, null);
        }

        // --- seq -----------------------------------------------------------------------------

        void seq() {
            ZooKeeper z = handle();
            OpLine op = begin("seq", "seq-create", SEQ_PREFIX, obj());
            Reply r = finish(op, create(z, SEQ_PREFIX, new byte[0], CreateMode.PERSISTENT_SEQUENTIAL));
            if (r == null) return;
            if (r.code() == KeeperException.Code.OK) op.ok(obj("name", basename(r.name), "mzxid", hex(r.stat.getMzxid())));
            else op.byCode(r.code(), null);
        }

        // --- counter -------------------------------------------------------------------------

        void counter() {
            ZooKeeper z = handle();
            if (random.nextInt(100) < 60) {
                // The reads that pick the versions are not ops of their own; when one of them fails
                // no multi is sent and nothing is recorded.
                Reply a = await(getData(z, CTR_A));
                if (a == null) {
                    replaceSession();
                    return;
                }
                if (a.code() != KeeperException.Code.OK) return;
                Reply b = await(getData(z, CTR_B));
                if (b == null) {
                    replaceSession();
                    return;
                }
                if (b.code() != KeeperException.Code.OK) return;
                Long n = decimal(a.data);
                if (n == null) return;
                int va = a.stat.getVersion();
                int vb = b.stat.getVersion();
                OpLine op = begin("counter", "incr", CTR_A, obj("from", n, "va", (long) va, "vb", (long) vb));
                Reply r = finish(op, multi(z, Arrays.asList(Op.setData(CTR_A, ascii(n + 1), va), Op.setData(CTR_B, ascii(n + 1), vb))));
                if (r == null) return;
                op.byCode(r.code(), obj("to", n + 1));
            } else {
                OpLine op = begin("counter", "read-both", CTR_A, obj());
                Reply r = finish(op, multi(z, Arrays.asList(Op.getData(CTR_A), Op.getData(CTR_B))));
                if (r == null) return;
                if (r.code() != KeeperException.Code.OK) {
                    op.byCode(r.code(), null);
                    return;
                }
                Long x = null;
                Long y = null;
                if (r.results.size() == 2 && r.results.get(0) instanceof OpResult.GetDataResult && r.results.get(1) instanceof OpResult.GetDataResult) {
                    x = decimal(((OpResult.GetDataResult) r.results.get(0)).getData());
                    y = decimal(((OpResult.GetDataResult) r.results.get(1)).getData());
                }
                op.ok(obj("a", x, "b", y));
            }
        }

        // --- lock ----------------------------------------------------------------------------

        void lock() {
            InterProcessMutex m = mutex;
            ExecutorService thread = lockThread;
            CuratorFramework c = curator;
            OpLine acquire = begin("lock", "acquire", LOCK_PATH, obj());
            Future<Boolean> f;
            try {
                f = thread.submit(() -> m.acquire(LOCK_WAIT_MS, TimeUnit.MILLISECONDS));
            } catch (RuntimeException e) {
                acquire.info("CLIENT: " + e.getClass().getSimpleName());
                replaceSession();
                return;
            }
            Boolean got = lockResult(acquire, f);
            if (got == null) return;
            if (!got) {
                acquire.fail("TIMEOUT");
                return;
            }
            synchronized (lockState) {
                acquire.ok(obj());
                holding = true;
            }
            open = null;
            // A suspension that came while acquire was returning: the lock is not to be trusted.
            if (!c.getZookeeperClient().isConnected()) onConnectionState(c, ConnectionState.SUSPENDED);
            try {
                Thread.sleep(random.nextInt((int) args.lockHoldMaxMs + 1));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            release(m, thread);
        }

        void release(InterProcessMutex m, ExecutorService thread) {
            OpLine release;
            synchronized (lockState) {
                // Taken under the lock state so that a `lost` line is never inside the release.
                release = begin("lock", "release", LOCK_PATH, obj());
                holding = false;
            }
            Future<Boolean> f;
            try {
                f = thread.submit(() -> {
                    m.release();
                    return true;
                });
            } catch (RuntimeException e) {
                release.info("CLIENT: " + e.getClass().getSimpleName());
                replaceSession();
                return;
            }
            CuratorFramework c = curator;
            Boolean done = lockResult(release, f);
            if (done != null) {
                release.ok(obj());
            } else if (curator == c) {
                // The lock node may still be there: the session ends, and its lock node with it.
                replaceSession();
            }
        }

        /** The lock call's result; null when the op was recorded as failed or unknown. */
        Boolean lockResult(OpLine op, Future<Boolean> f) {
            try {
                return f.get(OP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                f.cancel(true);
                op.info("TIMEOUT");
                replaceSession();
                return null;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                op.info("INTERRUPTED");
                return null;
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof KeeperException) {
                    KeeperException.Code code = ((KeeperException) cause).code();
                    if (definite(code)) op.fail(code.name());
                    else op.info(code.name());
                } else if (cause instanceof IllegalMonitorStateException) {
                    // Release of a lock Curator no longer counts as ours (its node went with an
                    // expired session): nothing was done.
                    op.fail("NOTOWNER");
                } else {
                    op.info("CLIENT: " + (cause == null ? "?" : cause.getClass().getSimpleName()));
                }
                return null;
            } catch (RuntimeException e) {
                op.info("CLIENT: " + e.getClass().getSimpleName());
                return null;
            }
        }
    }

    static final class Tagged {
        final int generation;
        final WatchedEvent event;

        Tagged(int generation, WatchedEvent event) {
            this.generation = generation;
            this.event = event;
        }
    }

    // ---------------------------------------------------------------------------------------
    // A watcher: a raw session with a persistent recursive watch on /faults/reg. Events and state
    // changes go through one queue to the watcher's thread, which writes them in order, each event
    // followed by a read of its path, so the watcher's lines never overlap.

    static final class WatcherSession implements Runnable, Session {
        final Args args;
        final History history;
        final String proc;
        final List<InetSocketAddress> hosts;
        final BlockingQueue<Tagged> queue = new LinkedBlockingQueue<>(WATCH_QUEUE_MAX);
        /** Which session the watcher's thread is on: events of a replaced one are dropped. */
        int generation;
        Watcher watcher;
        final AtomicBoolean stop = new AtomicBoolean();
        volatile WorkloadZooKeeper zk;
        boolean watchAdded;
        long disconnectedSinceNs;
        /** Counted down when the watch is first in place: the workers start after it. */
        final java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(1);
        String lastState;

        WatcherSession(Args args, History history, int index) {
            this.args = args;
            this.history = history;
            this.proc = args.prefix + "-watch-" + index;
            this.hosts = rotated(args.members, (args.processes + index) % args.members.size());
        }

        @Override
        public String sessionHex() {
            return sessionHexOf(zk);
        }

        @Override
        public String member() {
            WorkloadZooKeeper z = zk;
            return z == null ? null : z.member();
        }

        Watcher watcherFor(int gen) {
            return event -> {
                try {
                    queue.put(new Tagged(gen, event));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            };
        }

        void open() {
            generation++;
            watcher = watcherFor(generation);
            try {
                zk = new WorkloadZooKeeper(connectString(hosts), args.sessionTimeoutMs, watcher, new OrderedHostProvider(hosts), new ZKClientConfig());
                watchAdded = false;
            } catch (IOException e) {
                System.err.println(proc + ": cannot open a session: " + e);
                zk = null;
            }
        }

        void close() {
            WorkloadZooKeeper z = zk;
            zk = null;
            if (z == null) return;
            Thread t = new Thread(() -> {
                try {
                    z.close();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, proc + "-close");
            t.setDaemon(true);
            t.start();
        }

        void addWatch() {
            WorkloadZooKeeper z = zk;
            if (z == null || watchAdded || !z.getState().isConnected()) return;
            CompletableFuture<Reply> f = new CompletableFuture<>();
            z.addWatch(REG_PARENT, watcher, AddWatchMode.PERSISTENT_RECURSIVE,
                    (rc, p, ctx) -> f.complete(new Reply(rc, null, null, null, null)), null);
            Reply r = await(f);
            if (r != null && r.code() == KeeperException.Code.OK) {
                watchAdded = true;
                ready.countDown();
            }
        }

        void state(String name) {
            if (name.equals(lastState)) return;
            lastState = name;
            long t = System.nanoTime();
            history.write(obj("proc", proc, "wl", "watch", "f", "state", "key", REG_PARENT, "in", obj(),
                    "status", "ok", "out", obj("state", name), "err", null, "t0", t, "t1", t,
                    "session", sessionHex(), "member", member()));
        }

        @Override
        public void run() {
            open();
            try {
                for (;;) {
                    // After stop, what is queued is still written; then the watcher ends.
                    if (stop.get() && queue.isEmpty()) break;
                    if (zk == null) {
                        open();
                        if (zk == null) {
                            Thread.sleep(200);
                            continue;
                        }
                    }
                    if (zk.getState().isConnected()) {
                        disconnectedSinceNs = 0;
                    } else if (disconnectedSinceNs == 0) {
                        disconnectedSinceNs = System.nanoTime();
                    } else if (System.nanoTime() - disconnectedSinceNs > TimeUnit.MILLISECONDS.toNanos(args.sessionTimeoutMs)) {
                        // Disconnected for longer than the session timeout: the ensemble has expired
                        // the session or cannot take it back (a member behind the zxid this client
                        // has seen refuses it); a new session, as Curator does for the workers.
                        disconnectedSinceNs = 0;
                        close();
                        open();
                        continue;
                    }
                    addWatch();
                    Tagged tagged = queue.poll(100, TimeUnit.MILLISECONDS);
                    if (tagged == null || tagged.generation != generation) continue;
                    WatchedEvent e = tagged.event;
                    if (e.getType() == Watcher.Event.EventType.None) {
                        switch (e.getState()) {
                            case SyncConnected: state("SyncConnected"); break;
                            case Disconnected: state("Disconnected"); break;
                            case Expired:
                                state("Expired");
                                // A new session, and the watch again on it.
                                close();
                                open();
                                break;
                            default: break;
                        }
                        continue;
                    }
                    String type = e.getType().name();
                    if (!type.equals("NodeDataChanged") && !type.equals("NodeCreated") && !type.equals("NodeDeleted")) continue;
                    long t = System.nanoTime();
                    long zxid = e.getZxid();
                    history.write(obj("proc", proc, "wl", "watch", "f", "event", "key", e.getPath(), "in", obj(),
                            "status", "ok", "out", obj("type", type, "path", e.getPath(), "zxid", zxid > 0 ? hex(zxid) : null),
                            "err", null, "t0", t, "t1", t, "session", sessionHex(), "member", member()));
                    readAfter(e.getPath());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                close();
            }
        }

        void readAfter(String path) {
            WorkloadZooKeeper z = zk;
            if (z == null) return;
            OpLine op = new OpLine(history, proc, "register", "read", path, obj(), this);
            Reply r;
            try {
                r = await(getData(z, path));
            } catch (RuntimeException ex) {
                op.info("CLIENT: " + ex.getClass().getSimpleName());
                return;
            }
            if (r == null) {
                op.info("TIMEOUT");
                close();
                return;
            }
            KeeperException.Code c = r.code();
            if (c == KeeperException.Code.OK || c == KeeperException.Code.NONODE) op.ok(readOut(r));
            else op.byCode(c, null);
        }
    }

    // ---------------------------------------------------------------------------------------

    public static void main(String[] argv) {
        Args args;
        try {
            args = parseArgs(argv);
        } catch (RuntimeException e) {
            System.err.println("faults-workload: " + e.getMessage());
            System.err.println("usage: FaultsWorkload --connect host:port,... --seed N --duration-ms D --out FILE "
                    + "--workloads register,seq,counter,lock,watch --processes K --session-timeout-ms 6000 --prefix java [--think-ms 5] [--value-base 0] [--lock-hold-max-ms 20]");
            System.exit(2);
            return;
        }
        History history;
        try {
            history = new History(args.out);
        } catch (IOException e) {
            System.err.println("faults-workload: cannot open " + args.out + ": " + e);
            System.exit(3);
            return;
        }
        // The watcher first, so that it sees every change the workers make (bounded wait: an
        // ensemble that is down does not hold the workers back for long).
        List<WatcherSession> watchers = new ArrayList<>();
        List<Thread> watcherThreads = new ArrayList<>();
        if (args.workloads.contains("watch")) {
            WatcherSession ws = new WatcherSession(args, history, 0);
            watchers.add(ws);
            Thread t = new Thread(ws, ws.proc);
            t.setDaemon(true);
            watcherThreads.add(t);
        }
        watcherThreads.forEach(Thread::start);
        for (WatcherSession ws : watchers) {
            try {
                ws.ready.await(OP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        long start = System.nanoTime();
        long deadlineNs = start + TimeUnit.MILLISECONDS.toNanos(args.durationMs);

        List<Worker> workers = new ArrayList<>();
        List<Thread> workerThreads = new ArrayList<>();
        for (int w = 0; w < args.processes; w++) {
            Worker worker = new Worker(args, history, w, deadlineNs);
            workers.add(worker);
            Thread t = new Thread(worker, worker.proc);
            t.setDaemon(true);
            workerThreads.add(t);
        }
        workerThreads.forEach(Thread::start);

        // Workers stop issuing at the deadline; an op then outstanding has its own 10 s bound, and a
        // held lock one release more.
        long joinUntil = deadlineNs + TimeUnit.MILLISECONDS.toNanos(2 * OP_TIMEOUT_MS + 1_000);
        for (Thread t : workerThreads) joinBefore(t, joinUntil);
        for (Worker w : workers) {
            OpLine op = w.open;
            if (op != null) op.info("OUTSTANDING");
        }
        // Events of the last writes are still on their way to the watcher.
        sleepMs(500);
        for (WatcherSession ws : watchers) ws.stop.set(true);
        long watcherUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(OP_TIMEOUT_MS);
        for (Thread t : watcherThreads) joinBefore(t, watcherUntil);
        // Sessions close in the background; give them a moment so that servers see closeSession.
        sleepMs(Math.min(CLOSE_WAIT_MS, 1_000));
        history.close();
        System.exit(history.failed() ? 3 : 0);
    }

    static void joinBefore(Thread t, long untilNs) {
        long leftMs = TimeUnit.NANOSECONDS.toMillis(untilNs - System.nanoTime());
        if (leftMs <= 0) return;
        try {
            t.join(leftMs);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
