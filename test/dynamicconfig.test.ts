// The config files of a reconfig-enabled member, against what ZooKeeper 3.8.0 and 3.9.5 wrote
// for the same zoo.cfg on live ensembles (docs/RECONFIG.md §1).
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  backupStaticConfig,
  dynamicConfigText,
  editStaticConfig,
  removeNextDynamicConfig,
  writeDynamicConfigFile,
  writeNextDynamicConfig,
} from '../src/storage/dynamicconfig';
import { parseQuorumVerifier } from '../src/quorum/verifier';

function tmpDir(t: Test): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'dyncfg-')));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const ZOO_CFG = [
  'tickTime=2000',
  'initLimit=10',
  'syncLimit=5',
  'dataDir=/tmp/rc/e1/s1/data',
  'admin.serverAddress=127.0.0.1',
  'admin.serverPort=46401',
  '4lw.commands.whitelist=*',
  'reconfigEnabled=true',
  'standaloneEnabled=false',
  'server.1=127.0.0.1:46201:46301;127.0.0.1:46101',
  'server.2=127.0.0.1:46202:46302;127.0.0.1:46102',
  'server.3=127.0.0.1:46203:46303;127.0.0.1:46103',
  '',
].join('\n');

const FIRST = parseQuorumVerifier(
  ['server.1=127.0.0.1:46201:46301;127.0.0.1:46101', 'server.2=127.0.0.1:46202:46302;127.0.0.1:46102', 'server.3=127.0.0.1:46203:46303;127.0.0.1:46103', 'version=100000000'].join('\n'),
);

t.test('the first leader: zoo.cfg.bak, zoo.cfg.dynamic.100000000 and zoo.cfg rewritten, byte for byte', async (t) => {
  const dir = tmpDir(t);
  const cfg = path.join(dir, 'zoo.cfg');
  fs.writeFileSync(cfg, ZOO_CFG);
  backupStaticConfig(cfg);
  t.equal(fs.readFileSync(cfg + '.bak', 'utf8'), ZOO_CFG, 'the .bak is a byte copy');
  const dyn = writeDynamicConfigFile(cfg, FIRST);
  t.equal(path.basename(dyn), 'zoo.cfg.dynamic.100000000');
  t.equal(
    fs.readFileSync(dyn, 'utf8'),
    [
      'server.1=127.0.0.1:46201:46301:participant;127.0.0.1:46101',
      'server.2=127.0.0.1:46202:46302:participant;127.0.0.1:46102',
      'server.3=127.0.0.1:46203:46303:participant;127.0.0.1:46103',
    ].join('\n'),
    'roles spelled out, no version line, no final newline',
  );
  editStaticConfig(cfg, dyn, true);
  t.equal(
    fs.readFileSync(cfg, 'utf8'),
    [
      'dataDir=/tmp/rc/e1/s1/data',
      '4lw.commands.whitelist=*',
      'syncLimit=5',
      'reconfigEnabled=true',
      'standaloneEnabled=false',
      'initLimit=10',
      'tickTime=2000',
      'admin.serverAddress=127.0.0.1',
      'admin.serverPort=46401',
      `dynamicConfigFile=${dyn}`,
      '',
    ].join('\n'),
    "ZooKeeper's order for this key set (java.util.Properties), the pointer last",
  );
  // A later rewrite reads a key set that holds dynamicConfigFile: ZooKeeper's order changed with it.
  editStaticConfig(cfg, dyn, true);
  t.same(
    fs.readFileSync(cfg, 'utf8').trim().split('\n').map((l) => l.split('=')[0]),
    ['standaloneEnabled', 'dataDir', '4lw.commands.whitelist', 'initLimit', 'tickTime', 'syncLimit', 'admin.serverAddress', 'reconfigEnabled', 'admin.serverPort', 'dynamicConfigFile'],
  );
  t.notOk(fs.existsSync(cfg + '.tmp'), 'no temporary file left');
});

t.test('client port keys stay until the membership names the client address', async (t) => {
  const dir = tmpDir(t);
  const cfg = path.join(dir, 'zoo.cfg');
  fs.writeFileSync(cfg, 'clientPort=46101\nclientPortAddress=127.0.0.1\ndataDir=/d\npeerType=participant\nserver.1=127.0.0.1:46201:46301\ngroup.1=1\nweight.1=1\ndynamicConfigFile=/old\n');
  const dyn = writeDynamicConfigFile(cfg, parseQuorumVerifier('server.1=127.0.0.1:46201:46301\nserver.2=127.0.0.1:46202:46302\nversion=100000000'));
  editStaticConfig(cfg, dyn, false);
  const kept = fs.readFileSync(cfg, 'utf8').trim().split('\n').map((l) => l.split('=')[0]).sort();
  t.same(kept, ['clientPort', 'clientPortAddress', 'dataDir', 'dynamicConfigFile']);
  editStaticConfig(cfg, dyn, true);
  t.same(fs.readFileSync(cfg, 'utf8').trim().split('\n').map((l) => l.split('=')[0]).sort(), ['dataDir', 'dynamicConfigFile']);
});

t.test('.dynamic.next holds the version line, sorted in; it goes once the config commits', async (t) => {
  const dir = tmpDir(t);
  const cfg = path.join(dir, 'zoo.cfg');
  const four = parseQuorumVerifier(
    [
      'server.1=127.0.0.1:46201:46301;127.0.0.1:46101',
      'server.2=127.0.0.1:46202:46302;127.0.0.1:46102',
      'server.3=127.0.0.1:46203:46303;127.0.0.1:46103',
      'server.4=127.0.0.1:46204:46304;127.0.0.1:46104',
      'version=100000002',
    ].join('\n'),
  );
  writeNextDynamicConfig(cfg, four);
  t.equal(
    fs.readFileSync(cfg + '.dynamic.next', 'utf8'),
    [
      'server.1=127.0.0.1:46201:46301:participant;127.0.0.1:46101',
      'server.2=127.0.0.1:46202:46302:participant;127.0.0.1:46102',
      'server.3=127.0.0.1:46203:46303:participant;127.0.0.1:46103',
      'server.4=127.0.0.1:46204:46304:participant;127.0.0.1:46104',
      'version=100000002',
    ].join('\n'),
  );
  removeNextDynamicConfig(cfg);
  t.notOk(fs.existsSync(cfg + '.dynamic.next'));
  // Lines sort as strings: server.10 before server.2.
  const ten = parseQuorumVerifier('server.2=127.0.0.1:1:2\nserver.10=127.0.0.1:3:4\nversion=5');
  t.equal(dynamicConfigText(ten, false), 'server.10=127.0.0.1:3:4:participant\nserver.2=127.0.0.1:1:2:participant');
});
