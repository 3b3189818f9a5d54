/// <reference lib="dom" />
/**
 * The console's script, run in the browser. tsc compiles it as a plain script (no imports or
 * exports, everything inside one function) and the AdminServer serves the result as /console/app.js.
 */
(() => {
  const POLL_MS = 1000;
  const HISTORY_POINTS = 60;
  const MIN_WINDOW_POINTS = 20;
  const LIST_REFRESH_MS = 2000;

  interface Stats {
    mode: string;
    version: string;
    zxid: string;
    znodeCount: number;
    connections: number;
    outstanding: number;
    sessions: number;
    watches: number;
    ephemerals: number;
    requests: number;
    totalLatencyMs: number;
    uptimeMs: number;
    nowMs: number;
    editable: boolean;
    user: string | null;
    storageError: string | null;
    ensemble: Ensemble | null;
  }
  interface EnsembleMember {
    sid: string;
    learnerType: string;
    address: string;
    role: string;
    zxid: string | null;
    lagTxns: number | null;
    synced: boolean | null;
  }
  interface Ensemble {
    mySid: string;
    leaderSid: string | null;
    zabState: string;
    members: EnsembleMember[];
  }
  interface ChildEntry {
    name: string;
    numChildren: number;
    ephemeral: boolean;
  }
  interface NodeInfo {
    path: string;
    stat: Record<string, string | number>;
    data: { allowed: boolean; isNull?: boolean; base64?: string; length?: number; truncated?: boolean; limit?: number };
    acl: { allowed: boolean; masked?: boolean; entries?: { perms: string; scheme: string; id: string }[] };
    editable: boolean;
  }
  class HttpError extends Error {
    constructor(
      readonly status: number,
      readonly code: string,
      message: string,
    ) {
      super(message);
    }
  }

  const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

  function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...kids: (Node | string)[]): HTMLElementTagNameMap[K] {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k);
    return e;
  }

  async function api<T>(name: string, params: Record<string, string | number> = {}, body?: unknown): Promise<T> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) q.set(k, String(v));
    const qs = q.toString();
    const init: RequestInit = { credentials: 'same-origin' };
    if (body !== undefined) {
      init.method = 'POST';
      init.headers = { 'Content-Type': 'application/json', 'X-Zkts-Console': '1' };
      init.body = JSON.stringify(body);
    }
    const res = await fetch(`/console/api/${name}${qs ? '?' + qs : ''}`, init);
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new HttpError(res.status, String(json.error ?? res.status), String(json.message ?? json.error ?? res.statusText));
    return json as T;
  }

  /** `kind` marks who set the line, so that a recovered poll clears only its own error. */
  function setStatus(text: string, error = false, kind = ''): void {
    const s = $('status-line');
    s.textContent = text;
    s.classList.toggle('error', error);
    s.dataset.kind = kind;
  }

  // --- overview and charts ---------------------------------------------------------------------

  let editable = false;
  let user: string | null = null;
  let last: Stats | undefined;
  const latency: number[] = [];
  const ops: number[] = [];

  function fmtDuration(ms: number): string {
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  }

  function push(series: number[], v: number): void {
    series.push(v);
    if (series.length > HISTORY_POINTS) series.shift();
  }

  function drawChart(canvas: HTMLCanvasElement, series: number[], color: string): void {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const max = Math.max(1, ...series) * 1.15;
    const left = 34;
    g.strokeStyle = '#e2e5ea';
    g.fillStyle = '#6b7280';
    g.font = '10px system-ui, sans-serif';
    g.lineWidth = 1;
    for (let i = 0; i <= 2; i++) {
      const y = Math.round(4 + ((h - 8) * i) / 2) + 0.5;
      g.beginPath();
      g.moveTo(left, y);
      g.lineTo(w, y);
      g.stroke();
      const label = (max * (1 - i / 2)).toFixed(max < 10 ? 1 : 0);
      g.fillText(label, 2, y + 3);
    }
    if (series.length < 2) return;
    // A short history is drawn over at least MIN_WINDOW_POINTS so that it does not hug the right edge.
    const step = (w - left) / (Math.max(series.length, MIN_WINDOW_POINTS) - 1);
    const x0 = w - step * (series.length - 1);
    const y = (v: number) => 4 + (h - 8) * (1 - v / max);
    g.beginPath();
    g.moveTo(x0, h - 4);
    series.forEach((v, i) => g.lineTo(x0 + i * step, y(v)));
    g.lineTo(x0 + (series.length - 1) * step, h - 4);
    g.closePath();
    g.fillStyle = color + '33';
    g.fill();
    g.beginPath();
    series.forEach((v, i) => (i === 0 ? g.moveTo(x0, y(v)) : g.lineTo(x0 + i * step, y(v))));
    g.strokeStyle = color;
    g.lineWidth = 1.5;
    g.stroke();
  }

  function renderStats(s: Stats): void {
    $('mode-badge').textContent = s.mode;
    $('version').textContent = s.version;
    $('stat-zxid').textContent = s.zxid;
    $('stat-znodes').textContent = String(s.znodeCount);
    $('stat-connections').textContent = String(s.connections);
    $('stat-outstanding').textContent = String(s.outstanding);
    $('stat-sessions').textContent = String(s.sessions);
    $('stat-watches').textContent = String(s.watches);
    $('stat-ephemerals').textContent = String(s.ephemerals);
    $('stat-uptime').textContent = fmtDuration(s.uptimeMs);
    if (last) {
      const dt = Math.max(1, s.nowMs - last.nowMs) / 1000;
      // A stat reset makes the counters go back: count that second as empty.
      const dn = s.requests - last.requests;
      const dl = s.totalLatencyMs - last.totalLatencyMs;
      push(ops, dn > 0 ? dn / dt : 0);
      push(latency, dn > 0 && dl >= 0 ? dl / dn : 0);
      $('ops-now').textContent = ops[ops.length - 1].toFixed(1);
      $('latency-now').textContent = latency[latency.length - 1].toFixed(2);
    }
    last = s;
    drawChart($<HTMLCanvasElement>('chart-latency'), latency, '#2f6fdf');
    drawChart($<HTMLCanvasElement>('chart-ops'), ops, '#e07b24');
    if (s.editable !== editable) {
      editable = s.editable;
      const b = $('edit-badge');
      b.textContent = editable ? 'editing enabled' : 'read-only';
      b.className = 'badge ' + (editable ? 'warn' : 'muted');
    }
    setUser(s.user);
    renderEnsemble(s.ensemble);
  }

  /** An ensemble member's view of every member: role, zxid and lag (the leader knows them all). */
  function renderEnsemble(e: Ensemble | null): void {
    $('ensemble').hidden = e === null;
    if (e === null) return;
    const dash = (v: string | number | null) => (v === null ? '–' : String(v));
    const rows = e.members.map((m) =>
      el(
        'tr',
        m.sid === e.mySid ? { class: 'self' } : {},
        el('td', {}, m.sid),
        el('td', {}, m.learnerType),
        el('td', {}, m.address),
        el('td', {}, m.role),
        el('td', {}, dash(m.zxid)),
        el('td', {}, dash(m.lagTxns)),
        el('td', {}, m.synced === null ? '–' : m.synced ? 'yes' : 'no'),
      ),
    );
    $('ensemble-table').querySelector('tbody')!.replaceChildren(...rows);
    const leads = e.leaderSid !== null && e.leaderSid === e.mySid;
    $('ensemble-note').textContent =
      `this server: sid ${e.mySid}, ${e.zabState}` + (e.leaderSid === null ? ', no leader' : leads ? '' : `; leader: sid ${e.leaderSid} (only the leader knows every member's zxid)`);
  }

  function setUser(u: string | null): void {
    if (u === user) return;
    user = u;
    $('login-form').hidden = u !== null;
    $('logged-in').hidden = u === null;
    $('login-name').textContent = u ?? '';
  }

  async function poll(): Promise<void> {
    try {
      const s = await api<Stats>('stats');
      renderStats(s);
      if (s.storageError !== null) setStatus(`the server cannot take writes: ${s.storageError}`, true, 'poll');
      else if ($('status-line').dataset.kind === 'poll') setStatus('');
    } catch (e) {
      setStatus(`cannot reach the server: ${(e as Error).message}`, true, 'poll');
    }
  }

  // --- tabs ------------------------------------------------------------------------------------

  let activeTab = 'browser';
  let listTimer: number | undefined;

  function showTab(name: string): void {
    activeTab = name;
    document.querySelectorAll<HTMLButtonElement>('.tabs button[data-tab]').forEach((b) => b.classList.toggle('active', b.dataset.tab === name));
    for (const t of ['browser', 'sessions', 'watches']) $(`tab-${t}`).hidden = t !== name;
    if (listTimer !== undefined) window.clearInterval(listTimer);
    listTimer = undefined;
    if (name === 'sessions' || name === 'watches') {
      void refreshList();
      listTimer = window.setInterval(() => void refreshList(), LIST_REFRESH_MS);
    }
  }

  async function refreshList(): Promise<void> {
    try {
      if (activeTab === 'sessions') renderSessions(await api('sessions'));
      else if (activeTab === 'watches') renderWatches(await api('watches'));
    } catch (e) {
      setStatus((e as Error).message, true);
    }
  }

  function tags(items: string[], more: number): (Node | string)[] {
    const out: (Node | string)[] = items.map((p) => el('span', { class: 'tag' }, p));
    if (more > 0) out.push(el('span', { class: 'note' }, ` … ${more} more`));
    return out;
  }

  interface SessionRow {
    id: string;
    timeoutMs: number;
    expiresInMs: number | null;
    closing: boolean;
    remote: string | null;
    lastOp: string | null;
    ephemerals: string[];
    ephemeralsTotal: number;
    watches: number;
  }

  function renderSessions(r: { total: number; sessions: SessionRow[] }): void {
    const body = $('sessions-table').querySelector('tbody')!;
    body.replaceChildren(
      ...r.sessions.map((s) =>
        el(
          'tr',
          { 'data-session': s.id },
          el('td', { class: 'mono' }, s.id + (s.closing ? ' (closing)' : '')),
          el('td', {}, `${s.timeoutMs} ms`),
          el('td', {}, s.expiresInMs === null ? '–' : `${s.expiresInMs} ms`),
          el('td', { class: 'mono' }, s.remote ?? 'disconnected'),
          el('td', {}, s.lastOp ?? '–'),
          el('td', {}, String(s.watches)),
          el('td', { class: 'ephemerals' }, ...tags(s.ephemerals, s.ephemeralsTotal - s.ephemerals.length)),
        ),
      ),
    );
    $('sessions-note').textContent = r.total > r.sessions.length ? `showing ${r.sessions.length} of ${r.total} sessions` : `${r.total} session${r.total === 1 ? '' : 's'}`;
  }

  interface WatchesList {
    totalPaths: number;
    totalSessions: number;
    byPath: { path: string; total: number; watchers: { session: string; kinds: string[] }[] }[];
    bySession: { session: string; total: number; paths: { path: string; kinds: string[] }[] }[];
  }

  function renderWatches(r: WatchesList): void {
    $('watches-by-path').querySelector('tbody')!.replaceChildren(
      ...r.byPath.map((p) =>
        el('tr', {}, el('td', { class: 'mono' }, p.path), el('td', {}, ...tags(p.watchers.map((w) => `${w.session} ${w.kinds.join('+')}`), p.total - p.watchers.length))),
      ),
    );
    $('watches-by-session').querySelector('tbody')!.replaceChildren(
      ...r.bySession.map((s) =>
        el('tr', {}, el('td', { class: 'mono' }, s.session), el('td', {}, ...tags(s.paths.map((p) => `${p.path} ${p.kinds.join('+')}`), s.total - s.paths.length))),
      ),
    );
  }

  // --- znode tree ------------------------------------------------------------------------------

  let selected = '/';

  function childPath(parent: string, name: string): string {
    return parent === '/' ? '/' + name : parent + '/' + name;
  }

  /** A tree row; `numChildren` undefined stands for "expandable, count unknown" (the root). */
  function treeItem(p: string, name: string, numChildren: number | undefined, ephemeral: boolean): HTMLLIElement {
    const expandable = numChildren === undefined || numChildren > 0;
    const twisty = el('span', { class: 'twisty' }, expandable ? '▸' : '');
    const label = el('span', { class: 'name' }, name);
    const row = el('div', { class: 'item', 'data-path': p }, twisty, label);
    if (numChildren !== undefined && numChildren > 0) row.append(el('span', { class: 'count' }, `(${numChildren})`));
    if (ephemeral) row.append(el('span', { class: 'eph' }, 'eph'));
    const li = el('li', {}, row);
    row.addEventListener('click', () => {
      void select(p);
      if (expandable) void toggle(li, p);
    });
    return li;
  }

  async function loadChildren(li: HTMLLIElement, p: string, offset: number, list: HTMLUListElement): Promise<void> {
    try {
      const r = await api<{ total: number; offset: number; children: ChildEntry[] }>('children', { path: p, offset });
      for (const c of r.children) list.append(treeItem(childPath(p, c.name), c.name, c.numChildren, c.ephemeral));
      const shown = r.offset + r.children.length;
      if (shown < r.total) {
        const more = el('li', { class: 'more' }, `more… (${r.total - shown} left)`);
        more.addEventListener('click', () => {
          more.remove();
          void loadChildren(li, p, shown, list);
        });
        list.append(more);
      }
    } catch (e) {
      list.append(el('li', { class: 'note' }, e instanceof HttpError && e.code === 'NOAUTH' ? 'no permission' : (e as Error).message));
    }
  }

  async function toggle(li: HTMLLIElement, p: string): Promise<void> {
    const twisty = li.querySelector(':scope > .item > .twisty')!;
    const open = li.querySelector(':scope > ul');
    if (open) {
      open.remove();
      twisty.textContent = '▸';
      return;
    }
    const list = el('ul');
    li.append(list);
    twisty.textContent = '▾';
    await loadChildren(li, p, 0, list);
  }

  /** Opens the tree down to a path, loading each level. */
  async function reveal(p: string): Promise<void> {
    const parts = p.split('/').filter((x) => x !== '');
    let cur = '/';
    for (const part of parts) {
      const li = treeLi(cur);
      if (li && !li.querySelector(':scope > ul')) await toggle(li, cur);
      cur = childPath(cur, part);
    }
    await select(p);
  }

  function treeLi(p: string): HTMLLIElement | null {
    for (const row of Array.from(document.querySelectorAll<HTMLElement>('#tree .item'))) if (row.dataset.path === p) return row.parentElement as HTMLLIElement;
    return null;
  }

  async function resetTree(): Promise<void> {
    const root = treeItem('/', '/', undefined, false);
    $('tree').replaceChildren(el('ul', {}, root));
    await toggle(root, '/');
  }

  // --- node detail -----------------------------------------------------------------------------

  let dataView: 'text' | 'json' | 'hex' = 'text';
  let current: NodeInfo | undefined;

  function bytesOf(b64: string): Uint8Array {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function utf8(bytes: Uint8Array): string | undefined {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return undefined;
    }
  }

  function hexDump(bytes: Uint8Array): string {
    const lines: string[] = [];
    for (let off = 0; off < bytes.length; off += 16) {
      const row = bytes.subarray(off, off + 16);
      const hexPart = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
      const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
      lines.push(`${off.toString(16).padStart(8, '0')}  ${hexPart.padEnd(47)}  ${ascii}`);
    }
    return lines.join('\n');
  }

  function prettyJson(text: string | undefined): string | undefined {
    if (text === undefined || text.trim() === '') return undefined;
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return undefined;
    }
  }

  function defaultView(bytes: Uint8Array): 'text' | 'json' | 'hex' {
    const text = utf8(bytes);
    if (prettyJson(text) !== undefined) return 'json';
    // Control characters other than whitespace mean binary.
    if (text === undefined || /[\u0000-\u0008\u000e-\u001f]/.test(text)) return 'hex';
    return 'text';
  }

  function renderData(n: NodeInfo): HTMLElement {
    const box = el('div', { id: 'data-box' });
    const d = n.data;
    if (!d.allowed) {
      box.append(el('div', { class: 'noauth', id: 'data-noauth' }, 'no permission to read this node (READ is needed); log in with a digest user above'));
      return box;
    }
    const bytes = bytesOf(d.base64 ?? '');
    const text = utf8(bytes);
    const views = el('div', { class: 'views' });
    for (const v of ['text', 'json', 'hex'] as const) {
      const b = el('button', { type: 'button', 'data-view': v, class: v === dataView ? 'active' : '' }, v === 'json' ? 'JSON' : v);
      b.addEventListener('click', () => {
        dataView = v;
        renderDetail();
      });
      views.append(b);
    }
    views.append(el('span', { class: 'note' }, d.isNull ? 'null data' : `${d.length} bytes`));
    let body: string;
    if (dataView === 'hex') body = hexDump(bytes);
    else if (dataView === 'json') body = prettyJson(text) ?? (text === undefined ? '(not UTF-8: see hex)' : '(not JSON)');
    else body = text ?? '(not UTF-8: see hex)';
    box.append(views, el('pre', { class: 'data', id: 'data-view', 'data-mode': dataView }, body));
    if (d.truncated) box.append(el('p', { class: 'note', id: 'data-truncated' }, `showing the first ${d.limit} of ${d.length} bytes`));
    return box;
  }

  const STAT_FIELDS = ['czxid', 'mzxid', 'ctime', 'mtime', 'version', 'cversion', 'aversion', 'ephemeralOwner', 'dataLength', 'numChildren', 'pzxid'];

  function renderStat(n: NodeInfo): HTMLElement {
    const rows = STAT_FIELDS.map((k) => {
      const v = n.stat[k];
      if (k !== 'ctime' && k !== 'mtime') return el('tr', { 'data-field': k }, el('td', {}, k), el('td', {}, String(v)));
      const when = new Date(Number(v)).toISOString().replace('T', ' ').replace('Z', ' UTC');
      return el('tr', { 'data-field': k }, el('td', {}, k), el('td', { title: `${v} ms since the epoch` }, when));
    });
    return el('table', { class: 'grid kv', id: 'stat-table' }, el('tbody', {}, ...rows));
  }

  function renderAcl(n: NodeInfo): HTMLElement {
    if (!n.acl.allowed) return el('div', { class: 'noauth', id: 'acl-noauth' }, 'no permission to read the ACL (READ or ADMIN is needed)');
    const t = el(
      'table',
      { class: 'grid', id: 'acl-table' },
      el('thead', {}, el('tr', {}, el('th', {}, 'scheme'), el('th', {}, 'id'), el('th', {}, 'perms'))),
      el('tbody', {}, ...(n.acl.entries ?? []).map((a) => el('tr', {}, el('td', {}, a.scheme), el('td', { class: 'mono' }, a.id), el('td', { class: 'mono' }, a.perms)))),
    );
    const box = el('div', {}, t);
    if (n.acl.masked) box.append(el('p', { class: 'note' }, 'digest hashes masked: ADMIN is needed to see them'));
    return box;
  }

  function renderEdit(n: NodeInfo): HTMLElement {
    if (!n.editable) return el('p', { class: 'note', id: 'edit-disabled' }, 'Read-only console: set zkts.console.editable=true to create, change or delete nodes.');
    const bytes = n.data.allowed ? bytesOf(n.data.base64 ?? '') : new Uint8Array();
    const area = el('textarea', { id: 'edit-data', spellcheck: 'false' });
    area.value = n.data.allowed && !n.data.truncated ? (utf8(bytes) ?? hexDump(bytes)) : '';
    const enc = el('select', { id: 'edit-encoding' }, el('option', { value: 'utf8' }, 'text'), el('option', { value: 'hex' }, 'hex'));
    if (n.data.allowed && utf8(bytes) === undefined) {
      enc.value = 'hex';
      area.value = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    }
    const set = el('button', { type: 'button', id: 'edit-set' }, 'Set data');
    const childName = el('input', { id: 'edit-child', placeholder: 'child name', size: '14' });
    const create = el('button', { type: 'button', id: 'edit-create' }, 'Create child');
    const del = el('button', { type: 'button', id: 'edit-delete', class: 'danger' }, 'Delete');
    const run = async (what: string, fn: () => Promise<unknown>, after: string) => {
      try {
        const r = (await fn()) as { zxid: string };
        setStatus(`${what}: done at zxid ${r.zxid}`);
        await refreshNode(after);
      } catch (e) {
        setStatus(`${what}: ${(e as Error).message}`, true);
      }
    };
    set.addEventListener('click', () => void run('setData', () => api('set', {}, { path: n.path, data: area.value, encoding: enc.value, version: n.stat.version }), n.path));
    create.addEventListener('click', () => {
      const p = childPath(n.path, childName.value);
      void run('create', () => api('create', {}, { path: p, data: area.value, encoding: enc.value }), p);
    });
    del.addEventListener('click', () => {
      const parent = n.path.slice(0, n.path.lastIndexOf('/')) || '/';
      if (window.confirm(`Delete ${n.path}?`)) void run('delete', () => api('delete', {}, { path: n.path, version: n.stat.version }), parent);
    });
    return el(
      'div',
      { class: 'edit', id: 'edit-panel' },
      area,
      el('div', { class: 'row' }, enc, set, el('span', { class: 'note' }, `(version ${n.stat.version})`), el('span', { class: 'spacer' }), childName, create, del),
    );
  }

  function renderDetail(): void {
    const n = current;
    const d = $('detail');
    if (!n) return;
    d.replaceChildren(
      el('h2', { id: 'detail-path' }, n.path),
      el(
        'div',
        { class: 'cols' },
        el('div', {}, el('h3', {}, 'Data'), renderData(n), renderEdit(n)),
        el('div', {}, el('h3', {}, 'Stat'), renderStat(n), el('h3', {}, 'ACL'), renderAcl(n)),
      ),
    );
  }

  async function select(p: string): Promise<void> {
    selected = p;
    document.querySelectorAll<HTMLElement>('#tree .item').forEach((r) => r.classList.toggle('selected', r.dataset.path === p));
    if (location.hash !== '#' + encodeURI(p)) history.replaceState(null, '', '#' + encodeURI(p));
    try {
      const n = await api<NodeInfo>('node', { path: p });
      if (selected !== p) return;
      if (current?.path !== p && n.data.allowed) dataView = defaultView(bytesOf(n.data.base64 ?? ''));
      current = n;
      renderDetail();
    } catch (e) {
      current = undefined;
      $('detail').replaceChildren(el('h2', {}, p), el('p', { class: 'noauth' }, (e as Error).message));
    }
  }

  /** After a write or a login: reload the tree and show `p`. */
  async function refreshNode(p: string): Promise<void> {
    current = undefined;
    await resetTree();
    await reveal(p);
  }

  // --- login -----------------------------------------------------------------------------------

  async function login(ev: Event): Promise<void> {
    ev.preventDefault();
    const u = $<HTMLInputElement>('login-user');
    const pw = $<HTMLInputElement>('login-password');
    try {
      const r = await api<{ user: string }>('login', {}, { user: u.value, password: pw.value });
      pw.value = '';
      setUser(r.user);
      setStatus(`logged in as digest user ${r.user}`);
      await refreshNode(selected);
    } catch (e) {
      setStatus(`login: ${(e as Error).message}`, true);
    }
  }

  async function logout(): Promise<void> {
    try {
      await api('logout', {}, {});
      setUser(null);
      setStatus('logged out');
      await refreshNode(selected);
    } catch (e) {
      setStatus(`logout: ${(e as Error).message}`, true);
    }
  }

  // --- start -----------------------------------------------------------------------------------

  function start(): void {
    document.querySelectorAll<HTMLButtonElement>('.tabs button[data-tab]').forEach((b) => b.addEventListener('click', () => showTab(b.dataset.tab!)));
    $('login-form').addEventListener('submit', (e) => void login(e));
    $('logout-button').addEventListener('click', () => void logout());
    window.addEventListener('hashchange', () => {
      const p = decodeURIComponent(location.hash.slice(1));
      if (p.startsWith('/') && p !== selected) void reveal(p);
    });
    void poll();
    window.setInterval(() => void poll(), POLL_MS);
    const initial = decodeURIComponent(location.hash.slice(1));
    void resetTree().then(() => reveal(initial.startsWith('/') ? initial : '/'));
    document.body.dataset.ready = '1';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
