#!/bin/bash
# Records the quorum-port traffic of a live ZooKeeper 3.8.0 ensemble (three voters and one
# observer on 127.0.0.1) through the scenarios of capture-quorum.py, for the quorum wire fixtures.
# Port plan: client 340N, quorum 341N, election 342N for server N (1..4; 4 is the observer).
# Usage: scripts/capture-quorum.sh OUTDIR [all|trunc]   (writes OUTDIR/cap.pcap and the server logs)
set -u
OUT=${1:?outdir}
MODE=${2:-all}
BASE=$OUT/ens
rm -rf "$BASE"; mkdir -p "$BASE"
CP=/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/servlet-api.jar:/usr/share/java/slf4j-simple.jar
SERVERS="server.1=127.0.0.1:3411:3421 server.2=127.0.0.1:3412:3422 server.3=127.0.0.1:3413:3423 server.4=127.0.0.1:3414:3424:observer"
for i in 1 2 3 4; do
  mkdir -p $BASE/s$i/data; echo $i > $BASE/s$i/data/myid
  {
    printf '%s\n' tickTime=1000 initLimit=10 syncLimit=5 dataDir=$BASE/s$i/data clientPort=340$i \
      clientPortAddress=127.0.0.1 admin.enableServer=false '4lw.commands.whitelist=*' reconfigEnabled=true
    [ $i = 4 ] && echo peerType=observer
    for s in $SERVERS; do echo $s; done
  } > $BASE/s$i/zoo.cfg
done
tcpdump -i lo -s 0 -U -w $OUT/cap.pcap 'tcp and (portrange 3401-3404 or portrange 3411-3414 or portrange 3421-3424)' \
  > $OUT/tcpdump.log 2>&1 &
echo $! > $OUT/tcpdump.pid
sleep 1
cat > $BASE/start.sh <<EOS
#!/bin/bash
cd $BASE/s\$1
nohup java -Xmx192m -Dzookeeper.skipACL=yes -cp $CP org.apache.zookeeper.server.quorum.QuorumPeerMain $BASE/s\$1/zoo.cfg >> server.log 2>&1 &
echo \$! > pid
EOS
chmod +x $BASE/start.sh
/usr/bin/python3 "$(dirname "$0")/capture-quorum.py" "$BASE" "$MODE" 2>&1 | tee $OUT/scenarios.log
rc=${PIPESTATUS[0]}
for i in 1 2 3 4; do [ -f $BASE/s$i/pid ] && kill $(cat $BASE/s$i/pid) 2>/dev/null; done
sleep 2
kill $(cat $OUT/tcpdump.pid)
exit $rc
