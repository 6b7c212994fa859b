//! The self-contained replay page (no external resources): the replay's
//! JSON is substituted for `/*DATA*/null`.

/// The page template.
pub const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>poolcheck replay</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
header{background:#1d2b3a;color:#fff;padding:10px 16px}
header h1{font-size:17px;margin:0 0 4px}
header .msg{font-family:monospace;font-size:13px;color:#ffd7d7}
header .meta{font-size:12px;color:#b8c7d8}
main{display:flex;gap:14px;padding:12px}
#list{width:300px;flex:none;background:#fff;border:1px solid #d5dae1;border-radius:6px;max-height:82vh;overflow:auto;font-family:monospace;font-size:13px}
#list div{padding:3px 8px;cursor:pointer;border-bottom:1px solid #eef0f3}
#list div.cur{background:#dbe9ff;font-weight:bold}
#list div.bad{color:#b00020}
#view{flex:1;min-width:0}
.controls{display:flex;gap:8px;align-items:center;margin-bottom:10px}
button{font-size:14px;padding:4px 12px}
input[type=range]{flex:1}
.card{background:#fff;border:1px solid #d5dae1;border-radius:6px;padding:10px 12px;margin-bottom:10px}
.card h2{font-size:14px;margin:0 0 8px;color:#35506b}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #d5dae1;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef2f7}
.item{display:inline-block;min-width:22px;padding:1px 5px;margin:1px;border-radius:4px;background:#e3f1e6;border:1px solid #9fcca9;font-family:monospace;text-align:center}
.item.priv{background:#fff1cf;border-color:#e0be6a}
.item.miss{background:#eee;border-color:#ccc;color:#777}
.empty{color:#999}
.diverge{background:#ffe3e6;border:2px solid #d33;padding:8px;border-radius:6px;font-family:monospace;font-size:13px;margin-bottom:10px}
.agree{background:#e6f6ea;border:1px solid #8c8;padding:6px;border-radius:6px;font-size:13px;margin-bottom:10px}
.mono{font-family:monospace}
tr.differs td{background:#fff0f0}
.ring{display:flex;flex-wrap:wrap;gap:2px;align-items:flex-end;margin:2px 0 6px}
.rc{display:flex;flex-direction:column;align-items:center;width:34px}
.rc .mk{font-size:10px;font-weight:bold;height:13px;color:#7a4b00}
.rc .cell{width:32px;height:24px;line-height:24px;border:1px solid #b9c2cc;border-radius:3px;background:#fafbfc;font-family:monospace;font-size:12px;text-align:center;box-sizing:border-box}
.rc .cell.typ{background:#9fd3ab;border-color:#4f9a62;font-weight:bold}
.rc.tail .cell{box-shadow:inset 0 -3px 0 #d08a00}
.rc.head .cell{box-shadow:inset 0 3px 0 #2b6cd0}
.rc .ix{font-size:9px;color:#99a}
.seg{font-size:12px;color:#35506b;font-family:monospace}
.lfslot{border-top:1px solid #e3e7ec;padding-top:6px;margin-top:6px}
</style></head><body>
<header><h1 id="title"></h1><div class="msg" id="msg"></div><div class="meta" id="meta"></div></header>
<main><div id="list"></div><div id="view">
<div class="controls"><button id="prev">&#9664; prev</button><button id="next">next &#9654;</button>
<input type="range" id="slider" min="0" value="0"><span id="pos" class="mono"></span></div>
<div id="body"></div></div></main>
<script>
const D = /*DATA*/null;
const $ = id => document.getElementById(id);
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const it = (v, cls) => v === null || v === undefined ? '<span class="item miss">miss</span>' : '<span class="item ' + (cls||'') + '">' + esc(v) + '</span>';
const opt = v => v === null || v === undefined ? '<span class="empty">·</span>' : it(v, 'priv');
const list = a => a && a.length ? a.map(x => it(x)).join('') : '<span class="empty">—</span>';
$('title').textContent = D.title;
$('msg').textContent = 'saved failure: ' + D.message;
if (D.lesson) {
  const b = document.createElement('div');
  b.className = 'diverge';
  b.style.margin = '8px 12px 0';
  b.innerHTML = '<b>&#10007; Lesson ' + esc(D.lesson.mutant) + ':</b> ' + esc(D.lesson.invariant) + '. Rule: <a href="' + esc(D.lesson.design) + '">DESIGN.md §' + esc(D.lesson.section) + '</a>. The step marked DIVERGENCE is where it breaks.';
  document.querySelector('header').after(b);
}
$('meta').textContent = 'seed ' + D.seed + ' · saved from ' + (D.mutant ? 'mutant ' + D.mutant : 'the real core') + ' · replayed with ' + (D.built_as ? 'mutant ' + D.built_as : 'the real core') + ' · ' + D.reproduced;
// One ring: a row of cells (filled = typ/occupied tag set, showing the
// item id), H above the cell at head % cap, T above the one at tail % cap.
const ring = (r, name) => {
  const cap = r.slots.length, hi = cap ? r.head % cap : -1, ti = cap ? r.tail % cap : -1;
  let h = '<div class="seg">' + esc(name) + ': head ' + r.head + ' · tail ' + r.tail + ' · ' + ((r.head - r.tail) >>> 0) + ' of ' + cap + '</div><div class="ring">';
  r.slots.forEach((v, i) => {
    const mk = (i === ti ? 'T' : '') + (i === hi ? 'H' : '');
    h += '<div class="rc' + (i === ti ? ' tail' : '') + (i === hi ? ' head' : '') + '"><span class="mk">' + mk + '</span><div class="cell' + (v === null ? '' : ' typ') + '" title="slot ' + i + (v === null ? ': typ clear' : ': typ set, item ' + esc(v)) + '">' + (v === null ? '' : esc(v)) + '</div><span class="ix">' + i + '</span></div>';
  });
  return h + '</div>';
};
const lockFree = lf => {
  let h = '<div class="card" id="lockfree"><h2>Lock-free internals after the step (Pool::snapshot; chain segments oldest/tail first; T = tail, H = head, filled = typ set)</h2>';
  if (!lf) return h + '<span class="empty">no snapshot (the pool is gone at this step)</span></div>';
  h += '<div class="seg">cleanups: ' + lf.cleanups + '</div>';
  if (lf.slots.length === 0) h += '<p class="empty">no slot holds anything</p>';
  for (const s of lf.slots) {
    h += '<div class="lfslot"><b>slot ' + s.slot + '</b> &nbsp; private ' + opt(s.private) + ' &nbsp; victim private ' + opt(s.victim_private);
    for (const [name, chain] of [['shared', s.shared], ['victim', s.victim]]) {
      if (chain.length === 0) h += '<div class="seg">' + name + ' chain: none</div>';
      chain.forEach((r, k) => { h += ring(r, name + ' segment ' + k); });
    }
    h += '</div>';
  }
  return h + '</div>';
};
let steps, render;
if (D.kind === 'sequential' || D.kind === 'go_diff') {
  steps = D.steps;
  render = i => {
    const t = steps[i];
    let h = '';
    h += t.divergence ? '<div class="diverge">DIVERGENCE: ' + esc(t.divergence) + '</div>' : '<div class="agree">lock-free and reference agree on this step</div>';
    h += '<div class="card"><h2>Step ' + (t.index === null ? 'end' : t.index) + ': ' + esc(t.action) + '</h2>';
    h += 'items put: ' + list(t.put) + '</div>';
    const row = (name, o, extra) => {
      const bad = JSON.stringify(o) !== JSON.stringify(t.reference);
      return '<tr' + (bad ? ' class="differs"' : '') + '><td>' + name + '</td><td>' + (o.got.length ? o.got.map(x => it(x)).join('') : '<span class="empty">—</span>') + '</td><td>' + list(o.dropped) + '</td><td class="mono">' + esc(extra || '') + '</td></tr>';
    };
    h += '<div class="card"><h2>Observed results</h2><table><tr><th>implementation</th><th>Get results</th><th>dropped in this step</th><th>lock-free path (stats)</th></tr>';
    h += row('lock-free (victim_pool)', t.lock_free, t.lock_free_paths);
    h += row('reference (mutex spec)', t.reference, '');
    h += row('spec model', t.model, '');
    if (t.go) {
      const bad = JSON.stringify(t.go) !== JSON.stringify(t.reference.got);
      h += '<tr' + (bad ? ' class="differs"' : '') + '><td>Go sync.Pool</td><td>' + (t.go.length ? t.go.map(x => it(x)).join('') : '<span class="empty">—</span>') + '</td><td><span class="empty">not observable</span></td><td></td></tr>';
    }
    h += '</table></div>';
    const slots = [...new Set(Object.keys(t.state.primary).concat(Object.keys(t.state.victim)))].map(Number).sort((a,b) => a-b);
    const cell = l => l ? [opt(l.private), l.shared.length ? l.shared.map(x => it(x)).join('') : '<span class="empty">empty</span>'] : ['<span class="empty">—</span>', '<span class="empty">—</span>'];
    h += '<div class="card"><h2>Reference state after the step (per slot; shared listed tail/oldest → head/newest)</h2>';
    if (slots.length === 0) h += '<span class="empty">no slot holds anything</span>';
    else {
      h += '<table><tr><th>slot</th><th>primary private</th><th>primary shared</th><th>victim private</th><th>victim shared</th></tr>';
      for (const s of slots) { const p = cell(t.state.primary[s]), v = cell(t.state.victim[s]); h += '<tr><td>' + s + '</td><td>' + p[0] + '</td><td>' + p[1] + '</td><td>' + v[0] + '</td><td>' + v[1] + '</td></tr>'; }
      h += '</table>';
    }
    h += '<p>held by the test: ' + list(t.held) + '</p></div>';
    h += lockFree(t.lock_free_state);
    return h;
  };
  $('list').innerHTML = steps.map((t, i) => '<div data-i="' + i + '" class="' + (t.divergence ? 'bad' : '') + '">' + (t.index === null ? 'end' : t.index) + '  ' + esc(t.action) + '</div>').join('');
} else if (D.kind === 'shuttle') {
  steps = [0];
  render = () => {
    const c = D.shuttle;
    let h = '<div class="diverge">FAILURE (shuttle test ' + esc(c.test) + '): ' + esc(D.message) + '</div>';
    h += '<div class="card"><h2>Schedule (shuttle::replay string)</h2><div class="mono" style="word-break:break-all">' + esc(c.schedule || '(none recorded)') + '</div></div>';
    h += '<div class="card"><h2>Replay command</h2><div class="mono">' + esc(D.command || '') + '</div></div>';
    h += '<div class="card"><h2>Recorded run</h2><pre class="mono">' + esc(c.excerpt.join('\n')) + '</pre><h2>This replay</h2><pre class="mono">' + esc(D.replay_excerpt.join('\n')) + '</pre></div>';
    return h;
  };
  $('list').innerHTML = '<div data-i="0">' + esc(D.shuttle.test) + '</div>';
} else {
  const th = D.concurrent.threads, obs = D.observed || {threads: [], drained: {}};
  const n = Math.max(...th.map(s => s.length));
  steps = Array.from({length: n}, (_, k) => k);
  render = k => {
    let h = '<div class="diverge">VIOLATION (recorded run): ' + esc(D.message) + '</div>';
    h += '<div class="card"><h2>Operation ' + k + ' of each thread (real threads: the interleaving was not recorded)</h2><table><tr>';
    th.forEach((s, t) => { h += '<th>thread ' + t + ' (slot ' + (obs.threads[t] ? obs.threads[t].slot : '?') + ')</th>'; });
    h += '</tr>';
    for (let r = 0; r < n; r++) {
      h += '<tr>';
      th.forEach((s, t) => { const res = obs.threads[t] ? obs.threads[t].results[r] : ''; h += '<td' + (r === k ? ' style="background:#dbe9ff"' : '') + ' class="mono">' + (r < s.length ? esc(s[r]) + (res ? ' → ' + esc(res) : '') : '') + '</td>'; });
      h += '</tr>';
    }
    h += '</table></div><div class="card"><h2>Drained at quiescence</h2>';
    for (const [slot, ids] of Object.entries(obs.drained)) h += 'slot ' + slot + ': ' + list(ids.map(x => '0x' + x.toString(16))) + '<br>';
    return h + '</div>';
  };
  $('list').innerHTML = steps.map(k => '<div data-i="' + k + '">op ' + k + '</div>').join('');
}
let cur = 0;
const m = /step=(\d+)/.exec(location.hash);
if (m) cur = Math.min(+m[1], steps.length - 1);
else if (D.kind === 'sequential' || D.kind === 'go_diff') { const b = steps.findIndex(t => t.divergence); if (b >= 0) cur = b; }
$('slider').max = Math.max(steps.length - 1, 0);
function show(i) {
  if (steps.length === 0) { $('body').innerHTML = '<div class="agree">empty history</div>'; return; }
  cur = Math.max(0, Math.min(i, steps.length - 1));
  $('slider').value = cur;
  $('pos').textContent = (cur + 1) + ' / ' + steps.length;
  $('body').innerHTML = render(cur);
  document.querySelectorAll('#list div').forEach(d => d.classList.toggle('cur', +d.dataset.i === cur));
  const c = document.querySelector('#list div.cur'); if (c) c.scrollIntoView({block: 'nearest'});
}
$('prev').onclick = () => show(cur - 1);
$('next').onclick = () => show(cur + 1);
$('slider').oninput = e => show(+e.target.value);
$('list').onclick = e => { const d = e.target.closest('div[data-i]'); if (d) show(+d.dataset.i); };
document.onkeydown = e => { if (e.key === 'ArrowLeft') show(cur - 1); if (e.key === 'ArrowRight') show(cur + 1); };
show(cur);
</script></body></html>
"##;
