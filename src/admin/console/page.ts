/** The console's page and style sheet; its script is app.ts. Nothing is fetched from elsewhere. */

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>zkts console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/style.css">
<script src="/console/app.js" defer></script>
</head>
<body>
<header>
  <div class="brand">zkts <span>console</span></div>
  <div class="server" id="server-line"><span id="mode-badge" class="badge">…</span> <span id="version"></span></div>
  <div class="spacer"></div>
  <span id="edit-badge" class="badge muted">read-only</span>
  <form id="login-form" class="login" autocomplete="off">
    <input id="login-user" placeholder="user" size="10" aria-label="user">
    <input id="login-password" type="password" placeholder="password" size="10" aria-label="password">
    <button type="submit" id="login-button">Log in</button>
  </form>
  <div id="logged-in" class="login" hidden><span>digest: <b id="login-name"></b></span> <button type="button" id="logout-button">Log out</button></div>
</header>
<main>
  <section class="cards" id="overview">
    <div class="card"><div class="label">zxid</div><div class="value" id="stat-zxid">–</div></div>
    <div class="card"><div class="label">znodes</div><div class="value" id="stat-znodes">–</div></div>
    <div class="card"><div class="label">connections</div><div class="value" id="stat-connections">–</div></div>
    <div class="card"><div class="label">outstanding</div><div class="value" id="stat-outstanding">–</div></div>
    <div class="card"><div class="label">sessions</div><div class="value" id="stat-sessions">–</div></div>
    <div class="card"><div class="label">watches</div><div class="value" id="stat-watches">–</div></div>
    <div class="card"><div class="label">ephemerals</div><div class="value" id="stat-ephemerals">–</div></div>
    <div class="card"><div class="label">uptime</div><div class="value" id="stat-uptime">–</div></div>
  </section>
  <section id="ensemble" class="ensemble" hidden>
    <h3>Ensemble <span id="ensemble-note" class="note"></span></h3>
    <table id="ensemble-table" class="grid"><thead><tr><th>sid</th><th>type</th><th>address</th><th>role</th><th>zxid</th><th>lag (txns)</th><th>synced</th></tr></thead><tbody></tbody></table>
  </section>
  <section class="charts">
    <div class="chart"><div class="chart-head"><span>request latency, ms (avg per second)</span><b id="latency-now"></b></div><canvas id="chart-latency"></canvas></div>
    <div class="chart"><div class="chart-head"><span>requests per second</span><b id="ops-now"></b></div><canvas id="chart-ops"></canvas></div>
  </section>
  <nav class="tabs">
    <button type="button" data-tab="browser" class="active">Znodes</button>
    <button type="button" data-tab="sessions">Sessions</button>
    <button type="button" data-tab="watches">Watches</button>
    <div class="spacer"></div>
    <span id="status-line" class="status"></span>
  </nav>
  <section id="tab-browser" class="tab browser">
    <div class="tree" id="tree"></div>
    <div class="detail" id="detail"><p class="hint">Select a node.</p></div>
  </section>
  <section id="tab-sessions" class="tab" hidden>
    <table id="sessions-table" class="grid"><thead><tr><th>session</th><th>timeout</th><th>expires in</th><th>client</th><th>last op</th><th>watches</th><th>ephemerals</th></tr></thead><tbody></tbody></table>
    <p class="note" id="sessions-note"></p>
  </section>
  <section id="tab-watches" class="tab watches" hidden>
    <div><h3>By path</h3><table id="watches-by-path" class="grid"><thead><tr><th>path</th><th>watchers</th></tr></thead><tbody></tbody></table></div>
    <div><h3>By session</h3><table id="watches-by-session" class="grid"><thead><tr><th>session</th><th>paths</th></tr></thead><tbody></tbody></table></div>
  </section>
</main>
</body>
</html>
`;

export const CONSOLE_CSS = `:root {
  --bg: #f5f6f8; --panel: #fff; --ink: #1d2330; --muted: #6b7280; --line: #e2e5ea;
  --accent: #2f6fdf; --accent2: #e07b24; --ok: #1f9d55; --bad: #c0392b;
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); }
header { display: flex; align-items: center; gap: 12px; padding: 8px 16px; background: #1d2330; color: #fff; }
header .brand { font-weight: 700; font-size: 16px; }
header .brand span { font-weight: 400; color: #aab3c5; }
header .server { color: #cfd6e4; font-size: 12px; }
.spacer { flex: 1; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; background: var(--ok); color: #fff; font-size: 12px; }
.badge.muted { background: #4b5567; }
.badge.warn { background: var(--accent2); }
.login { display: flex; gap: 6px; align-items: center; }
.login[hidden] { display: none; }
input, button, select, textarea { font: inherit; }
input { padding: 3px 6px; border: 1px solid #9aa3b5; border-radius: 4px; }
button { padding: 3px 10px; border: 1px solid #9aa3b5; border-radius: 4px; background: #fff; cursor: pointer; }
header button { background: #2c3445; color: #fff; border-color: #4b5567; }
button:hover { border-color: var(--accent); }
button.danger { color: var(--bad); }
main { padding: 12px 16px; }
.cards { display: grid; grid-template-columns: repeat(8, 1fr); gap: 8px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
.card .label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; margin-top: 8px; }
.chart { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
.chart-head { display: flex; justify-content: space-between; color: var(--muted); font-size: 12px; }
.chart-head b { color: var(--ink); font-variant-numeric: tabular-nums; }
.chart canvas { width: 100%; height: 90px; display: block; }
.tabs { display: flex; gap: 4px; margin-top: 10px; border-bottom: 1px solid var(--line); align-items: end; }
.tabs button { border: 1px solid var(--line); border-bottom: none; border-radius: 6px 6px 0 0; background: #eceef2; padding: 5px 14px; }
.tabs button.active { background: var(--panel); font-weight: 600; }
.status { color: var(--muted); font-size: 12px; padding-bottom: 4px; }
.status.error { color: var(--bad); }
.tab { background: var(--panel); border: 1px solid var(--line); border-top: none; padding: 10px; min-height: 300px; }
.tab[hidden] { display: none; }
.browser { display: grid; grid-template-columns: 300px 1fr; gap: 12px; }
.tree { border-right: 1px solid var(--line); overflow: auto; max-height: 62vh; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
.tree ul { list-style: none; margin: 0; padding-left: 14px; }
.tree > ul { padding-left: 0; }
.tree .item { display: flex; gap: 4px; align-items: center; padding: 1px 4px; cursor: pointer; border-radius: 3px; white-space: nowrap; }
.tree .item:hover { background: #eef3fd; }
.tree .item.selected { background: #dbe7fb; }
.tree .twisty { width: 12px; color: var(--muted); text-align: center; flex: none; }
.tree .count { color: var(--muted); font-size: 11px; }
.tree .eph { color: var(--accent2); font-size: 10px; }
.tree .more { color: var(--accent); cursor: pointer; padding: 1px 4px 1px 20px; }
.detail { overflow: auto; max-height: 62vh; min-width: 0; }
.detail h2 { margin: 0 0 6px; font-size: 15px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; word-break: break-all; }
.detail h3, .watches h3 { margin: 12px 0 4px; font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.detail .cols { display: grid; grid-template-columns: minmax(0, 1fr) 300px; gap: 12px; }
.views { display: flex; gap: 4px; margin-bottom: 4px; }
.views button.active { background: var(--accent); color: #fff; border-color: var(--accent); }
pre.data { margin: 0; padding: 8px; background: #f7f8fa; border: 1px solid var(--line); border-radius: 4px; max-height: 300px; overflow: auto; font-size: 12px; white-space: pre-wrap; word-break: break-all; }
.noauth { padding: 8px; border: 1px dashed var(--bad); color: var(--bad); border-radius: 4px; background: #fdf3f2; }
.note { color: var(--muted); font-size: 12px; margin: 4px 0; }
table.grid { border-collapse: collapse; width: 100%; font-size: 12px; }
.ensemble { margin-top: 8px; }
.ensemble h3 { margin: 4px 0; font-size: 13px; }
.ensemble tr.self td { font-weight: 600; }
table.grid th, table.grid td { border-bottom: 1px solid var(--line); padding: 3px 6px; text-align: left; vertical-align: top; }
table.grid th { color: var(--muted); font-weight: 600; }
table.kv td:first-child { color: var(--muted); width: 110px; }
td.mono, table.kv td, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.tag { display: inline-block; padding: 0 6px; margin: 1px 2px; border-radius: 8px; background: #eef0f4; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 11px; }
.watches { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.edit { margin-top: 12px; padding: 8px; border: 1px solid var(--line); border-radius: 6px; background: #fbfcfd; }
.edit textarea { width: 100%; min-height: 70px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
.edit .row { display: flex; gap: 6px; align-items: center; margin-top: 6px; flex-wrap: wrap; }
.hint { color: var(--muted); }
`;
