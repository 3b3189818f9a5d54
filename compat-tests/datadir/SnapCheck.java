// Reads snapshot files the way ZooKeeper 3.8's server loads them (FileSnap + the seal checks of
// SnapStream, which SnapshotFormatter skips) and checks the digest section against the digest
// ZooKeeper computes for the tree it read. One line per file:
//   <name> ok nodes=N sessions=N digest <none | zxid=0x.. matches | zxid=0x.. MISMATCH ...>
//   <name> FAILED <exception>
// Exits 1 if any file failed to load.

import java.io.File;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.CheckedInputStream;
import org.apache.jute.BinaryInputArchive;
import org.apache.jute.InputArchive;
import org.apache.zookeeper.server.DataTree;
import org.apache.zookeeper.server.persistence.FileSnap;
import org.apache.zookeeper.server.persistence.SnapStream;
import org.apache.zookeeper.server.persistence.Util;

public class SnapCheck {
  // SnapStream.checkSealIntegrity, which is not public.
  static void seal(CheckedInputStream is, InputArchive ia, String where) throws IOException {
    long computed = is.getChecksum().getValue();
    long stored = ia.readLong("val");
    if (computed != stored) throw new IOException("CRC corruption " + where);
    String slash = ia.readString("path");
    if (!"/".equals(slash)) throw new IOException("no '/' after the checksum " + where);
  }

  public static void main(String[] args) {
    int failed = 0;
    for (String name : args) {
      File f = new File(name);
      try (CheckedInputStream is = SnapStream.getInputStream(f)) {
        long zxid = Util.getZxidFromName(f.getName(), "snapshot");
        InputArchive ia = BinaryInputArchive.getArchive(is);
        DataTree dt = new DataTree();
        Map<Long, Integer> sessions = new HashMap<>();
        new FileSnap(f.getParentFile()).deserialize(dt, sessions, ia);
        seal(is, ia, "after the tree");
        if (dt.deserializeZxidDigest(ia, zxid)) seal(is, ia, "after the digest");
        DataTree.ZxidDigest d = dt.getDigestFromLoadedSnapshot();
        String digest;
        if (d == null) digest = "none";
        else if (d.getDigest() == dt.getTreeDigest()) digest = "zxid=0x" + Long.toHexString(d.getZxid()) + " matches";
        else digest = "zxid=0x" + Long.toHexString(d.getZxid()) + " MISMATCH stored=" + d.getDigest() + " computed=" + dt.getTreeDigest();
        System.out.println(f.getName() + " ok nodes=" + dt.getNodeCount() + " sessions=" + sessions.size() + " digest " + digest);
      } catch (Exception e) {
        failed++;
        System.out.println(f.getName() + " FAILED " + e);
      }
    }
    System.exit(failed == 0 ? 0 : 1);
  }
}
