// The web console at the AdminServer's "/": its JSON API over HTTP, then the page itself in Debian's
// Chromium (driven by playwright-core) against a zkts process with a small workload.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as http from 'node:http';
import * as path from 'node:path';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { AdminServer } from '../src/admin/adminserver';
import { EventType, OpCode } from '../src/protocol/constants';
import * as R from '../src/protocol/generated/records';
import { digestOf } from '../src/server/auth';
import { OPEN_ACL, startInProcessZkts, ZkClient } from './util/client';
import { fourLetterWord, freePort, startZkts, type RunningServer } from './util/servers';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_WAIT_MS = 120_000;
// docs/console.png is refreshed only on request (ZKTS_UPDATE_SCREENSHOT=1), so a test run leaves the tree clean.
const SCREENSHOT = process.env.ZKTS_UPDATE_SCREENSHOT === '1'
  ? path.resolve(__dirname, '..', '..', 'docs', 'console.png')
  : path.join(os.tmpdir(), `zkts-console-${process.pid}.png`);
const SCREENSHOT_MAX_BYTES = 200 * 1024;
const UI_WAIT_MS = 15_000;
const EPHEMERAL = 1;
const SECRET_ACL = [{ perms: 31, id: { scheme: 'digest', id: digestOf('alice:secret') } }];

interface HttpReply {
  status: number;
  body: string;
  type: string | undefined;
}

function request(port: number, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, path: p, method, headers: text === undefined ? headers : { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data, type: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

function hexId(id: bigint): string {
  return '0x' + BigInt.asUintN(64, id).toString(16);
}

async function srvr(zk: RunningServer): Promise<{ zxid: string; nodeCount: number }> {
  const text = await fourLetterWord(zk.host, zk.port, 'srvr');
  return { zxid: /^Zxid: (0x[0-9a-f]+)$/m.exec(text)![1], nodeCount: Number(/^Node count: (\d+)$/m.exec(text)![1]) };
}

async function chromiumPresent(): Promise<boolean> {
  const deadline = Date.now() + CHROMIUM_WAIT_MS;
  while (!fs.existsSync(CHROMIUM)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return true;
}

async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent({ timeout: UI_WAIT_MS })) ?? '';
}

/** Waits until the element's text satisfies `pred`; fails with what it last saw. */
async function waitText(page: Page, selector: string, pred: (s: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + UI_WAIT_MS;
  let last = '';
  for (;;) {
    last = (await page.locator(selector).first().textContent({ timeout: UI_WAIT_MS }).catch(() => null)) ?? '';
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: ${selector} shows ${JSON.stringify(last.slice(0, 300))}`);
    await page.waitForTimeout(50);
  }
}

async function openNode(page: Page, p: string): Promise<void> {
  const parts = p.split('/').filter((x) => x !== '');
  let cur = '';
  for (const part of parts) {
    cur += '/' + part;
    const item = page.locator(`#tree .item[data-path="${cur}"]`);
    await item.waitFor({ timeout: UI_WAIT_MS });
    const isOpen = await item.evaluate((e) => e.parentElement!.querySelector(':scope > ul') !== null);
    // Clicking an open node would close it; the last one is clicked to select it.
    if (!isOpen || cur === p) await item.click();
  }
  await waitText(page, '#detail-path', (s) => s === p, `detail of ${p}`);
}

t.test('console API over HTTP, and /commands unchanged', async (t) => {
  const zk = await startInProcessZkts({ 'admin.serverPort': '0', 'admin.serverAddress': '127.0.0.1' });
  t.teardown(() => zk.stop());
  const admin = new AdminServer(zk.server, pino({ level: 'silent' }));
  await admin.start();
  t.teardown(() => admin.stop());
  const port = admin.address().port;
  const c = await ZkClient.connect(zk.host, zk.port);
  t.teardown(() => c.destroy());
  await c.create('/a', Buffer.from('x'.repeat(70_000)));
  await c.create('/s', Buffer.from('hidden'), 0, SECRET_ACL);
  for (let i = 0; i < 600; i++) c.send(OpCode.create, (w) => R.encodeCreateRequest(w, { path: `/a/c${String(i).padStart(3, '0')}`, data: null, acl: OPEN_ACL, flags: 0 }));
  await c.getData('/a');

  const page = await request(port, 'GET', '/');
  t.equal(page.status, 200);
  t.match(page.type, /^text\/html/);
  t.match(page.body, /<title>zkts console<\/title>/);
  t.notMatch(page.body, /https?:\/\//, 'nothing fetched from elsewhere');
  const js = await request(port, 'GET', '/console/app.js');
  t.equal(js.status, 200);
  t.match(js.type, /javascript/);
  t.notMatch(js.body, /sourceMappingURL|require\(|exports\./, 'a plain browser script');
  t.equal((await request(port, 'GET', '/console/style.css')).status, 200);

  const stats = JSON.parse((await request(port, 'GET', '/console/api/stats')).body);
  t.equal(stats.mode, 'standalone');
  t.equal(stats.zxid, hexId(zk.server.lastProcessedZxid));
  t.equal(stats.znodeCount, zk.server.tree.nodeCount + 1, 'counted as mntr counts');
  t.equal(stats.editable, false);

  const node = JSON.parse((await request(port, 'GET', '/console/api/node?path=/a')).body);
  t.equal(node.data.length, 70_000);
  t.equal(node.data.truncated, true, 'data capped');
  t.equal(Buffer.from(node.data.base64, 'base64').length, 64 * 1024);
  t.same(Object.keys(node.stat), ['czxid', 'mzxid', 'ctime', 'mtime', 'version', 'cversion', 'aversion', 'ephemeralOwner', 'dataLength', 'numChildren', 'pzxid']);
  const kids = JSON.parse((await request(port, 'GET', '/console/api/children?path=/a&limit=100000')).body);
  t.equal(kids.total, 600);
  t.equal(kids.children.length, 500, 'a page is capped');
  const page2 = JSON.parse((await request(port, 'GET', '/console/api/children?path=/a&offset=500')).body);
  t.equal(page2.children[0].name, 'c500');

  const secret = JSON.parse((await request(port, 'GET', '/console/api/node?path=/s')).body);
  t.same(secret.data, { allowed: false }, 'READ checked');
  t.same(secret.acl, { allowed: false }, 'READ|ADMIN checked for the ACL');
  t.equal(secret.stat.dataLength, 6, 'the Stat needs no permission, as exists');
  t.equal((await request(port, 'GET', '/console/api/children?path=/s')).status, 403);
  t.equal((await request(port, 'GET', '/console/api/node?path=/nope')).status, 404);
  t.equal((await request(port, 'GET', '/console/api/node?path=bad')).status, 400);

  t.equal((await request(port, 'POST', '/console/api/login', { user: 'alice', password: 'secret' })).status, 403, 'POST needs the console header');
  const login = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/console/api/login', method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Zkts-Console': '1' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ user: 'alice', password: 'secret' }));
  });
  t.equal(login.statusCode, 200);
  const cookie = String(login.headers['set-cookie']).split(';')[0];
  t.match(String(login.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
  const asAlice = JSON.parse((await request(port, 'GET', '/console/api/node?path=/s', undefined, { Cookie: cookie })).body);
  t.equal(Buffer.from(asAlice.data.base64, 'base64').toString(), 'hidden');
  t.equal(asAlice.acl.entries[0].id, digestOf('alice:secret'), 'ADMIN sees the hash');
  t.equal(JSON.parse((await request(port, 'GET', '/console/api/node?path=/s', undefined, { Cookie: 'zkts_console=forged' })).body).data.allowed, false);

  const refused = await request(port, 'POST', '/console/api/set', { path: '/a', data: 'y' }, { 'X-Zkts-Console': '1', Cookie: cookie });
  t.equal(refused.status, 403);
  t.equal(JSON.parse(refused.body).error, 'READ_ONLY', 'editing is off by default');
  t.equal(
    (await request(port, 'POST', '/console/api/logout', {}, { 'X-Zkts-Console': '1', Origin: 'http://evil.example', Cookie: cookie })).status,
    403,
    'a foreign Origin is refused',
  );

  t.equal((await request(port, 'GET', '/commands')).status, 200);
  t.equal(JSON.parse((await request(port, 'GET', '/commands/ruok')).body).command, 'ruok');
  t.equal((await request(port, 'GET', '/elsewhere')).status, 404);
});

t.test('zkts.console.enabled=false leaves "/" unserved', async (t) => {
  const zk = await startInProcessZkts({ 'admin.serverPort': '0', 'admin.serverAddress': '127.0.0.1', 'zkts.console.enabled': 'false' });
  t.teardown(() => zk.stop());
  t.same(zk.server.config.unknownKeys, [], 'a known key');
  const admin = new AdminServer(zk.server, pino({ level: 'silent' }));
  await admin.start();
  t.teardown(() => admin.stop());
  const port = admin.address().port;
  t.equal((await request(port, 'GET', '/')).status, 404);
  t.equal((await request(port, 'GET', '/console/api/stats')).status, 404);
  t.equal((await request(port, 'GET', '/commands/ruok')).status, 200);
});

t.test('in the browser', async (t) => {
  const skip = (await chromiumPresent()) ? false : `${CHROMIUM} is absent (scripts/install-deps.sh installs it)`;

  t.test('the console in Chromium', { skip }, async (t) => {
    const adminPort = await freePort();
    const zk = await startZkts({ extraConfig: { 'admin.enableServer': 'true', 'admin.serverPort': String(adminPort), 'admin.serverAddress': '127.0.0.1' } });
    t.teardown(() => zk.stop());
    const base = `http://127.0.0.1:${adminPort}`;

    const owner = await ZkClient.connect(zk.host, zk.port);
    const a = await ZkClient.connect(zk.host, zk.port);
    const b = await ZkClient.connect(zk.host, zk.port);
    const watcher = await ZkClient.connect(zk.host, zk.port);
    t.teardown(() => [owner, a, b, watcher].forEach((c) => c.destroy()));
    const json = { service: 'orders', replicas: 3, zones: ['eu-1', 'eu-2'], limits: { cpu: '500m' } };
    const blob = Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x7f, 0x80, 0x41, 0x42, 0x0a, 0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70]);
    t.equal((await owner.create('/app', Buffer.from('hello console'))).header.err, 0);
    await owner.create('/app/config', Buffer.from(JSON.stringify(json)));
    await owner.create('/app/blob', blob);
    await owner.create('/app/workers', null);
    await owner.create('/secret', Buffer.from('top secret'), 0, SECRET_ACL);
    await owner.create('/locks', null);
    for (let i = 0; i < 12; i++) await owner.create(`/app/workers/w-${String(i).padStart(2, '0')}`, Buffer.from(`worker ${i}`));
    await a.create('/locks/lock-a1', null, EPHEMERAL);
    await a.create('/locks/lock-a2', null, EPHEMERAL);
    await b.create('/app/workers/leader', Buffer.from(JSON.stringify({ id: 'b' })), EPHEMERAL);
    await watcher.getData('/app/config', true);
    await watcher.getChildren('/app/workers', true);
    const expected = await srvr(zk);

    const browser = await launchBrowser();
    t.teardown(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('response', (r) => {
      // The refused write below is the one expected failure.
      if (r.status() >= 400 && !(r.status() === 403 && r.url().endsWith('/console/api/set'))) pageErrors.push(`${r.status()} ${r.url()}`);
    });
    await page.goto(base + '/');

    // Overview.
    t.equal(await waitText(page, '#stat-znodes', (s) => s === String(expected.nodeCount), 'znode count'), String(expected.nodeCount), 'znode count as srvr reports it');
    t.equal(await waitText(page, '#stat-zxid', (s) => s === expected.zxid, 'zxid'), expected.zxid, 'zxid as srvr reports it');
    t.equal(await textOf(page, '#mode-badge'), 'standalone');
    t.equal(await page.locator('#ensemble').isHidden(), true, 'no ensemble table on a standalone server');
    await waitText(page, '#stat-sessions', (s) => s === '4', 'sessions');
    t.equal(await textOf(page, '#stat-ephemerals'), '3');
    t.equal(await textOf(page, '#edit-badge'), 'read-only');

    // Sessions and their ephemerals; watches.
    await page.click('.tabs button[data-tab="sessions"]');
    const rowA = `#sessions-table tr[data-session="${hexId(a.sessionId)}"]`;
    const ephA = await waitText(page, `${rowA} td.ephemerals`, (s) => s.includes('/locks/lock-a2'), 'ephemerals of a');
    t.match(ephA, /\/locks\/lock-a1.*\/locks\/lock-a2/, 'session a lists its ephemerals');
    t.match(await textOf(page, `#sessions-table tr[data-session="${hexId(b.sessionId)}"] td.ephemerals`), '/app/workers/leader');
    await page.click('.tabs button[data-tab="watches"]');
    const byPath = await waitText(page, '#watches-by-path', (s) => s.includes('/app/config'), 'watches by path');
    t.match(byPath, `/app/config${hexId(watcher.sessionId)} data`);
    t.match(byPath, `/app/workers${hexId(watcher.sessionId)} child`);
    t.match(await textOf(page, '#watches-by-session'), hexId(watcher.sessionId));

    // The znode browser: text, JSON, hex, Stat, ACL.
    await page.click('.tabs button[data-tab="browser"]');
    await openNode(page, '/app');
    t.equal(await textOf(page, '#data-view'), 'hello console');
    t.equal(await page.locator('#data-view').getAttribute('data-mode'), 'text');
    t.equal(await page.locator('#stat-table tr').count(), 11, 'all 11 Stat fields');
    t.match(await textOf(page, '#stat-table tr[data-field="dataLength"]'), /dataLength13$/);
    t.match(await textOf(page, '#stat-table tr[data-field="numChildren"]'), /numChildren3$/);
    t.match(await textOf(page, '#acl-table tbody'), /^worldanyonecdrwa$/, 'world:anyone, all perms');
    await openNode(page, '/app/config');
    t.equal(await page.locator('#data-view').getAttribute('data-mode'), 'json', 'JSON is recognised');
    t.equal(await textOf(page, '#data-view'), JSON.stringify(json, null, 2), 'pretty-printed');
    await page.click('.views button[data-view="text"]');
    t.equal(await textOf(page, '#data-view'), JSON.stringify(json));
    await page.click('.views button[data-view="hex"]');
    t.match(await textOf(page, '#data-view'), /^00000000  7b 22 73 65 72 76 69 63 65 22 3a 22 6f 72 64 65  \{"service":"orde/);
    await openNode(page, '/app/blob');
    t.equal(await page.locator('#data-view').getAttribute('data-mode'), 'hex', 'binary data shows as hex');
    t.equal(await textOf(page, '#data-view'), '00000000  00 01 02 ff fe 7f 80 41 42 0a 00 10 20 30 40 50  .......AB... 0@P\n00000010  60 70                                            `p');

    // The protected node: no permission until a digest login.
    await openNode(page, '/secret');
    t.match(await textOf(page, '#data-noauth'), 'no permission');
    t.match(await textOf(page, '#acl-noauth'), 'no permission');
    t.match(await textOf(page, '#stat-table tr[data-field="dataLength"]'), /dataLength10$/, 'the Stat shows without permission');
    await page.fill('#login-user', 'alice');
    await page.fill('#login-password', 'wrong');
    await page.click('#login-button');
    await waitText(page, '#login-name', (s) => s === 'alice', 'login name');
    await waitText(page, '#detail-path', (s) => s === '/secret', 'detail after login');
    t.match(await textOf(page, '#data-noauth'), 'no permission', 'a wrong password gives an identity without access');
    await page.click('#logout-button');
    await page.locator('#login-form').waitFor({ state: 'visible', timeout: UI_WAIT_MS });
    await page.fill('#login-user', 'alice');
    await page.fill('#login-password', 'secret');
    await page.click('#login-button');
    t.equal(await waitText(page, '#data-view', (s) => s === 'top secret', 'secret data after login'), 'top secret');
    t.match(await textOf(page, '#acl-table tbody'), `digest${digestOf('alice:secret')}cdrwa`);

    // Editing is refused when not enabled.
    t.ok(await page.locator('#edit-disabled').isVisible(), 'no edit controls');
    const refused = await page.evaluate(async () => {
      const r = await fetch('/console/api/set', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Zkts-Console': '1' }, body: JSON.stringify({ path: '/app', data: 'changed' }) });
      return { status: r.status, body: await r.json() };
    });
    t.equal(refused.status, 403);
    t.equal(refused.body.error, 'READ_ONLY');
    t.equal((await owner.getData('/app')).reader.readBuffer()?.toString(), 'hello console', 'the node is unchanged');

    // A screenshot: the overview with live charts above the browser showing a JSON node.
    await page.click('#logout-button');
    await page.locator('#login-form').waitFor({ state: 'visible', timeout: UI_WAIT_MS });
    let load = true;
    const loadDone = (async () => {
      for (let i = 0; load; i++) {
        await Promise.all([owner.getData('/app/config'), owner.getChildren('/app/workers'), owner.exists(`/app/workers/w-0${i % 10}`)]);
        await new Promise((r) => setTimeout(r, 3 + Math.round(12 * (1 + Math.sin(i / 25)))));
      }
    })();
    await page.fill('#login-user', '');
    await page.evaluate(() => window.scrollTo(0, 0));
    await openNode(page, '/app/config');
    await page.click('.views button[data-view="json"]');
    await waitText(page, '#ops-now', (s) => s !== '' && Number(s) > 0, 'ops chart');
    await page.waitForTimeout(12_000);
    load = false;
    await loadDone;
    const shot = await page.screenshot({ type: 'png' });
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    fs.writeFileSync(SCREENSHOT, shot);
    t.ok(shot.length > 20_000 && shot.length < SCREENSHOT_MAX_BYTES, `screenshot size ${shot.length} bytes`);
    const pixels = await page.evaluate(async (b64) => {
      const img = new Image();
      img.src = 'data:image/png;base64,' + b64;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const g = c.getContext('2d')!;
      g.drawImage(img, 0, 0);
      const at = (x: number, y: number) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3)).join(',');
      const colors = new Set<string>();
      for (let y = 0; y < c.height; y += 20) for (let x = 0; x < c.width; x += 20) colors.add(at(x, y));
      return { width: c.width, height: c.height, header: at(5, 5), body: at(640, 790), colors: colors.size };
    }, shot.toString('base64'));
    t.equal(pixels.width, 1280);
    t.equal(pixels.height, 800);
    t.not(pixels.header, pixels.body, 'the dark header differs from the page');
    t.ok(pixels.colors > 10, `not blank: ${pixels.colors} colours sampled`);
    t.same(pageErrors, [], 'no script errors');
  });

  t.test('with zkts.console.editable=true a setData is a normal write', { skip }, async (t) => {
    const adminPort = await freePort();
    const zk = await startZkts({
      extraConfig: { 'admin.enableServer': 'true', 'admin.serverPort': String(adminPort), 'admin.serverAddress': '127.0.0.1', 'zkts.console.editable': 'true' },
    });
    t.teardown(() => zk.stop());
    const c = await ZkClient.connect(zk.host, zk.port);
    t.teardown(() => c.destroy());
    await c.create('/cfg', Buffer.from('v1'));
    await c.create('/guarded', Buffer.from('g'), 0, [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }]);
    await c.getData('/cfg', true);
    await c.getChildren('/cfg', true);
    const before = await srvr(zk);

    const browser = await launchBrowser();
    t.teardown(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`http://127.0.0.1:${adminPort}/#/cfg`);
    await waitText(page, '#edit-badge', (s) => s === 'editing enabled', 'edit badge');
    await waitText(page, '#detail-path', (s) => s === '/cfg', 'deep link');
    await page.locator('#edit-panel').waitFor({ timeout: UI_WAIT_MS });
    await page.fill('#edit-data', 'v2 from the console');
    await page.click('#edit-set');
    const changed = await c.waitNotification((e) => e.type === EventType.NodeDataChanged && e.path === '/cfg');
    t.ok(changed, 'the client watch fired');
    const r = await c.getData('/cfg');
    t.equal(r.reader.readBuffer()?.toString(), 'v2 from the console', 'the client reads the new data');
    const after = await srvr(zk);
    t.equal(BigInt(after.zxid), BigInt(before.zxid) + 1n, 'one txn, one zxid');
    await waitText(page, '#status-line', (s) => s.startsWith('setData: done at zxid ' + after.zxid), 'status line');
    t.equal(await waitText(page, '#data-view', (s) => s === 'v2 from the console', 'reloaded data'), 'v2 from the console');

    await page.fill('#edit-child', 'child');
    await page.fill('#edit-data', 'made here');
    await page.click('#edit-create');
    await c.waitNotification((e) => e.type === EventType.NodeChildrenChanged && e.path === '/cfg');
    t.equal((await c.getData('/cfg/child')).reader.readBuffer()?.toString(), 'made here', 'create through the console');

    const api = (body: unknown) =>
      page.evaluate(async (b) => {
        const res = await fetch('/console/api/set', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Zkts-Console': '1' }, body: JSON.stringify(b) });
        return { status: res.status, body: await res.json() };
      }, body);
    const noauth = await api({ path: '/guarded', data: 'x' });
    t.equal(noauth.status, 403, 'ACLs apply to console writes');
    t.equal(noauth.body.error, 'NOAUTH');
    const stale = await api({ path: '/cfg', data: 'x', version: 0 });
    t.equal(stale.body.error, 'BADVERSION', 'versions apply');
  });
});
