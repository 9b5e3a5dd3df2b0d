// flow serve: the page. Plain ES module, no build step: it talks to the JSON API of src/serve/server.ts.

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
};

async function api(url, init) {
  const res = await fetch(url, init);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

const state = {
  pipeline: undefined, // { pipeline } or { yaml: { name, text } }
  description: undefined,
  image: undefined, // { test } or { upload }
  imageUrl: undefined,
  maskDrawn: false,
  runs: new Map(),
  viewing: undefined,
};

// ---------- setup: pipelines, images, params ----------

async function loadPipelines() {
  const list = await api('/api/pipelines');
  const select = $('pipeline');
  for (const p of list) select.append(el('option', { value: p.file }, `${p.file} - ${p.name}`));
  const preferred = list.find((p) => p.file === 'ldm-inpaint.yaml') ?? list[0];
  if (preferred) select.value = preferred.file;
  select.addEventListener('change', () => choosePipeline({ pipeline: select.value }));
  if (preferred) await choosePipeline({ pipeline: preferred.file });
}

async function choosePipeline(source) {
  $('setup-error').textContent = '';
  try {
    const d = source.yaml
      ? await api('/api/pipelines/describe', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(source),
        })
      : await api(`/api/pipelines/describe?file=${encodeURIComponent(source.pipeline)}`);
    state.pipeline = source;
    state.description = d;
    renderDescription(d);
  } catch (e) {
    $('setup-error').textContent = e.message;
  }
}

function renderDescription(d) {
  $('pipeline-description').textContent = d.description ?? '';
  $('image-block').hidden = d.loads.length === 0;
  $('mask-block').hidden = d.inpaints.length === 0;
  renderMaskKinds(d);
  const params = $('params');
  params.replaceChildren(...d.params.filter((p) => p.key !== 'mask' || !d.inpaints.length).map(paramField));
  const nodes = $('node-params');
  nodes.replaceChildren(
    ...d.nodes.map((n) =>
      el(
        'details',
        {},
        el('summary', {}, `${n.id} (${n.type})`),
        ...n.params.map((p) => paramField(p, n.id)),
      ),
    ),
  );
}

/** One input for a param: a select for enums, a checkbox for booleans, else text or number. */
function paramField(p, nodeId) {
  const s = p.schema ?? {};
  const name = nodeId ? p.key.slice(nodeId.length + 1) : p.key;
  const type =
    s.type ?? (typeof p.value === 'number' ? 'number' : typeof p.value === 'boolean' ? 'boolean' : 'string');
  let input;
  if (s.enum) {
    input = el('select', {}, ...(p.value === undefined ? [el('option', { value: '' }, '(default)')] : []));
    for (const v of s.enum) input.append(el('option', { value: JSON.stringify(v) }, String(v)));
    if (p.value !== undefined) input.value = JSON.stringify(p.value);
  } else if (type === 'boolean') {
    input = el('input', { type: 'checkbox' });
    input.checked = Boolean(p.value);
  } else if (type === 'number' || type === 'integer') {
    input = el('input', {
      type: 'number',
      step: type === 'integer' ? '1' : 'any',
      min: s.minimum,
      max: s.maximum,
    });
    if (p.value !== undefined) input.value = String(p.value);
  } else {
    input = el('input', { type: 'text' });
    if (p.value !== undefined) input.value = typeof p.value === 'string' ? p.value : JSON.stringify(p.value);
  }
  input.dataset.key = p.key;
  input.dataset.kind = nodeId ? 'node' : 'pipeline';
  input.dataset.initial = inputValue(input) ?? '';
  return el(
    'div',
    { class: 'param', title: s.description ?? '' },
    el('label', {}, el('span', { class: 'name' }, name), input),
  );
}

function inputValue(input) {
  if (input.type === 'checkbox') return input.checked ? 'true' : 'false';
  return input.value === '' ? undefined : input.value;
}

function parseValue(input) {
  const v = inputValue(input);
  if (v === undefined) return undefined;
  if (input.tagName === 'SELECT') return JSON.parse(v);
  if (input.type === 'checkbox') return v === 'true';
  if (input.type === 'number') return Number(v);
  return v;
}

/** Only the params the person changed travel with the run. */
function changedParams() {
  const out = { params: {}, nodeParams: {} };
  for (const input of document.querySelectorAll('#setup [data-key]')) {
    if ((inputValue(input) ?? '') === input.dataset.initial) continue;
    const v = parseValue(input);
    if (v === undefined) continue;
    out[input.dataset.kind === 'node' ? 'nodeParams' : 'params'][input.dataset.key] = v;
  }
  return out;
}

async function loadTestImages() {
  const select = $('test-image');
  for (const f of await api('/api/test-images')) select.append(el('option', { value: f }, f));
  select.addEventListener('change', () => {
    state.image = select.value ? { test: select.value } : undefined;
    showImage(select.value ? `/assets/${select.value}` : undefined);
  });
  $('image-file').addEventListener('change', async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    try {
      const form = new FormData();
      form.append('file', file);
      const up = await api('/api/uploads', { method: 'POST', body: form });
      state.image = { upload: up.id };
      select.value = '';
      showImage(`/api/uploads/${up.id}`);
      $('setup-error').textContent = '';
    } catch (e) {
      $('setup-error').textContent = e.message;
    }
  });
  $('yaml-file').addEventListener('change', async (ev) => {
    const file = ev.target.files[0];
    if (file) await choosePipeline({ yaml: { name: file.name, text: await file.text() } });
  });
}

// ---------- the mask canvas ----------

const canvas = $('mask-canvas');
const mask = document.createElement('canvas'); // white = observed, black = to fill
mask.width = canvas.width;
mask.height = canvas.height;
let shown; // the image under the mask

function clearMask() {
  const m = mask.getContext('2d', { willReadFrequently: true });
  m.fillStyle = '#fff';
  m.fillRect(0, 0, mask.width, mask.height);
  state.maskDrawn = false;
  drawCanvas();
}

function showImage(url) {
  state.imageUrl = url;
  if (!url) {
    shown = undefined;
    drawCanvas();
    return;
  }
  const img = new Image();
  img.onload = () => {
    shown = img;
    drawCanvas();
  };
  img.src = url;
}

function drawCanvas() {
  const c = canvas.getContext('2d', { willReadFrequently: true });
  c.imageSmoothingEnabled = false;
  c.fillStyle = '#000';
  c.fillRect(0, 0, canvas.width, canvas.height);
  if (shown) {
    // Centre crop to a square, as the `load` node does.
    const s = Math.min(shown.width, shown.height);
    c.drawImage(
      shown,
      (shown.width - s) / 2,
      (shown.height - s) / 2,
      s,
      s,
      0,
      0,
      canvas.width,
      canvas.height,
    );
  }
  const data = mask.getContext('2d').getImageData(0, 0, mask.width, mask.height).data;
  const over = c.getImageData(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] < 128) {
      over.data[i] = Math.round(over.data[i] * 0.4 + 255 * 0.6);
      over.data[i + 1] = Math.round(over.data[i + 1] * 0.4);
      over.data[i + 2] = Math.round(over.data[i + 2] * 0.4);
    }
  }
  c.putImageData(over, 0, 0);
}

function paintAt(ev) {
  const r = canvas.getBoundingClientRect();
  const x = ((ev.clientX - r.left) / r.width) * canvas.width;
  const y = ((ev.clientY - r.top) / r.height) * canvas.height;
  const m = mask.getContext('2d');
  m.fillStyle = '#000';
  m.beginPath();
  m.arc(x, y, Number($('brush').value) / 2, 0, 2 * Math.PI);
  m.fill();
  state.maskDrawn = true;
  selectMaskKind('draw');
  drawCanvas();
}

let painting = false;
canvas.addEventListener('pointerdown', (ev) => {
  painting = true;
  canvas.setPointerCapture(ev.pointerId);
  paintAt(ev);
});
canvas.addEventListener('pointermove', (ev) => painting && paintAt(ev));
canvas.addEventListener('pointerup', () => (painting = false));
$('clear-mask').addEventListener('click', clearMask);

function renderMaskKinds(d) {
  const maskParam = d.params.find((p) => p.key === 'mask');
  const kinds = (maskParam?.schema?.enum ?? ['small', 'random', 'rotated']).filter((k) => k !== 'file');
  const box = $('mask-kinds');
  box.replaceChildren(
    ...['draw', ...kinds].map((k) =>
      el('label', {}, el('input', { type: 'radio', name: 'mask-kind', value: k }), k === 'draw' ? 'draw' : k),
    ),
  );
  selectMaskKind(maskParam?.value && kinds.includes(maskParam.value) ? maskParam.value : 'draw');
}

function selectMaskKind(kind) {
  const r = document.querySelector(`input[name="mask-kind"][value="${kind}"]`);
  if (r) r.checked = true;
}

async function maskChoice() {
  if (!state.description?.inpaints.length) return undefined;
  const kind = document.querySelector('input[name="mask-kind"]:checked')?.value;
  if (kind !== 'draw') return kind ? { kind } : undefined;
  if (!state.maskDrawn) throw new Error('draw the region to fill on the image, or pick a mask kind');
  const blob = await new Promise((resolve) => mask.toBlob(resolve, 'image/png'));
  const form = new FormData();
  form.append('file', blob, 'mask.png');
  const up = await api('/api/uploads', { method: 'POST', body: form });
  return { upload: up.id };
}

// ---------- runs ----------

$('run').addEventListener('click', async () => {
  $('setup-error').textContent = '';
  try {
    const body = { ...state.pipeline, ...changedParams() };
    if (state.image) body.image = state.image;
    const m = await maskChoice();
    if (m) body.mask = m;
    const rec = await api('/api/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    watch(rec);
  } catch (e) {
    $('setup-error').textContent = e.message;
  }
});

function watch(rec) {
  const run = { record: rec };
  const reset = () =>
    Object.assign(run, { nodes: new Map(), order: [], curves: new Map(), previews: new Map() });
  reset();
  state.runs.set(rec.id, run);
  state.viewing = rec.id;
  renderQueue();
  renderRun();
  const source = new EventSource(`/api/runs/${rec.id}/events`);
  // Every connection (a reconnect too) replays the run from its start.
  source.onopen = reset;
  source.onmessage = (m) => {
    onEvent(run, JSON.parse(m.data));
    if (['done', 'failed', 'cancelled'].includes(run.record.status)) source.close();
  };
}

function onEvent(run, e) {
  const node = (id) => {
    if (!run.nodes.has(id))
      run.nodes.set(id, { done: 0, cached: 0, items: undefined, step: 0, total: 0, running: 0, ms: 0 });
    return run.nodes.get(id);
  };
  switch (e.type) {
    case 'status':
      run.record = { ...run.record, ...e };
      if (e.summary) run.summary = e.summary;
      renderQueue();
      if (['done', 'failed', 'cancelled'].includes(e.status)) void loadHistory();
      break;
    case 'run-start':
      run.order = e.nodes;
      e.nodes.forEach(node);
      break;
    case 'items':
      node(e.node).items = e.count;
      for (const id of run.order) if (node(id).items === undefined) node(id).items = e.count;
      break;
    case 'node-start':
      node(e.node).running++;
      break;
    case 'progress': {
      const n = node(e.node);
      Object.assign(n, { step: e.step, total: e.total, message: e.message, item: e.item });
      if (e.values && e.values.loss !== undefined) {
        const key = `${e.node} ${e.item ?? ''}`.trim();
        if (!run.curves.has(key)) run.curves.set(key, []);
        run.curves.get(key).push(e.values.loss);
      }
      break;
    }
    case 'node-done': {
      const n = node(e.node);
      n.running = Math.max(0, n.running - 1);
      n.done++;
      n.ms += e.ms;
      if (e.cached) n.cached++;
      n.step = 0;
      break;
    }
    case 'preview':
      run.previews.set(`${e.node} ${e.item ?? ''}`.trim(), e);
      break;
    default:
      break;
  }
  if (state.viewing === run.record.id) scheduleRender();
}

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    renderRun();
  });
}

function renderQueue() {
  const list = $('queue');
  list.replaceChildren(
    ...[...state.runs.values()].reverse().map((r) => {
      const rec = r.record;
      const active = rec.status === 'queued' || rec.status === 'running';
      return el(
        'li',
        { 'data-run': rec.id },
        el('span', { class: `badge ${rec.status}` }, rec.status),
        el(
          'a',
          { href: '#', onclick: (ev) => (ev.preventDefault(), (state.viewing = rec.id), renderRun()) },
          `${rec.pipeline} ${rec.id}`,
        ),
        active
          ? el('button', { type: 'button', class: 'cancel', onclick: () => cancel(rec.id) }, 'Cancel')
          : '',
        rec.error ? el('span', { class: 'error' }, rec.error) : '',
      );
    }),
  );
}

async function cancel(id) {
  try {
    await api(`/api/runs/${id}`, { method: 'DELETE' });
  } catch (e) {
    $('setup-error').textContent = e.message;
  }
}

function renderRun() {
  const run = state.runs.get(state.viewing);
  if (!run) return;
  $('run-view').hidden = false;
  $('run-title').textContent = `${run.record.pipeline} (${run.record.id})`;
  $('run-status').textContent = run.record.status + (run.record.error ? `: ${run.record.error}` : '');
  $('run-status').className = `status ${run.record.status}`;
  const rows = run.order.map((id) => {
    const n = run.nodes.get(id);
    const items = n.items ?? 1;
    const frac = n.done / items + (n.total ? n.step / n.total / items : 0);
    const allCached = n.done > 0 && n.cached === n.done;
    const state_ = n.done >= items ? (allCached ? 'cached' : 'done') : n.running ? 'running' : '';
    const detail = [
      `${n.done}/${items}`,
      n.cached ? `${n.cached} cached` : '',
      n.done && !n.running ? `${(n.ms / 1000).toFixed(1)} s` : '',
      n.total && n.running ? `step ${n.step}/${n.total}` : '',
      n.running && n.message ? n.message : '',
      n.running && n.item ? `item ${n.item}` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    return el(
      'tr',
      { 'data-node': id, class: state_ },
      el('td', { class: 'node' }, id),
      el(
        'td',
        {},
        el(
          'div',
          { class: `bar ${state_}` },
          el('div', { style: `width:${Math.min(100, frac * 100).toFixed(1)}%` }),
        ),
      ),
      el('td', {}, state_ === 'cached' ? el('span', { class: 'badge cached' }, 'cached') : ''),
      el('td', { class: 'note' }, detail),
    );
  });
  $('nodes').tBodies[0].replaceChildren(...rows);
  $('curves').replaceChildren(...[...run.curves.entries()].map(([k, v]) => lossCurve(k, v)));
  $('previews').replaceChildren(
    ...[...run.previews.entries()].map(([k, p]) =>
      el(
        'figure',
        { class: 'preview' },
        el('img', {
          src: p.png,
          class: 'pixelated',
          width: String(p.width * scaleFor(p)),
          height: String(p.height * scaleFor(p)),
          alt: k,
        }),
        el('figcaption', {}, `${k} · step ${p.step}/${p.total}`),
      ),
    ),
  );
  renderResults($('results'), run.record.folder, run.summary);
}

const scaleFor = (p) => Math.max(1, Math.floor(96 / p.height));

function lossCurve(key, values) {
  const w = 240;
  const h = 110;
  const c = el('canvas', { width: String(w), height: String(h), class: 'curve' });
  const g = c.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, w, h);
  g.strokeStyle = '#ccc';
  g.strokeRect(0.5, 0.5, w - 1, h - 1);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || 1;
  g.strokeStyle = '#2f6fb3';
  g.lineWidth = 1.5;
  g.beginPath();
  values.forEach((v, i) => {
    const x = 6 + (i / Math.max(1, values.length - 1)) * (w - 12);
    const y = h - 14 - ((v - lo) / span) * (h - 24);
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
  g.fillStyle = '#555';
  g.font = '10px sans-serif';
  g.fillText(`${hi.toPrecision(4)}`, 4, 10);
  g.fillText(`${lo.toPrecision(4)}  (step ${values.length})`, 4, h - 3);
  return el('figure', {}, c, el('figcaption', {}, `loss: ${key}`));
}

/** The run's grids and its metrics (scalars per item, per node). */
function renderResults(box, folder, summary) {
  if (!folder || !summary) {
    box.replaceChildren();
    return;
  }
  const grids = summary.files.filter((f) => f.endsWith('grid.png'));
  const figures = grids.map((f) =>
    el(
      'figure',
      { class: 'grid' },
      el('img', { src: `/files/${folder}/${f}`, alt: f, class: 'result-grid' }),
      el('figcaption', {}, f),
    ),
  );
  const tables = Object.entries(summary.metrics).map(([node, byItem]) => metricsTable(node, byItem));
  box.replaceChildren(...figures, ...tables.filter(Boolean));
}

function metricsTable(node, byItem) {
  const items = Object.keys(byItem);
  const keys = [
    ...new Set(items.flatMap((i) => Object.keys(byItem[i]).filter((k) => typeof byItem[i][k] === 'number'))),
  ];
  if (!keys.length) return undefined;
  const fmt = (v) =>
    typeof v !== 'number'
      ? ''
      : Number.isInteger(v)
        ? String(v)
        : Math.abs(v) >= 100
          ? v.toFixed(1)
          : v.toFixed(3);
  return el(
    'div',
    { class: 'metrics-box' },
    el('h4', {}, `metrics: ${node}`),
    el(
      'table',
      { class: 'metrics' },
      el('tr', {}, el('th', {}, 'item'), ...keys.map((k) => el('th', {}, k))),
      ...items.map((i) =>
        el('tr', {}, el('td', {}, i || '(run)'), ...keys.map((k) => el('td', {}, fmt(byItem[i][k])))),
      ),
    ),
  );
}

async function loadHistory() {
  const runs = await api('/api/history');
  $('history').replaceChildren(
    ...runs.map((r) =>
      el(
        'li',
        {
          onclick: () => {
            state.viewing = undefined;
            $('run-view').hidden = false;
            $('run-title').textContent = `${r.pipeline} (${r.folder})`;
            $('run-status').textContent = `finished ${r.started} in ${(r.ms / 1000).toFixed(1)} s`;
            for (const id of ['curves', 'previews']) $(id).replaceChildren();
            $('nodes').tBodies[0].replaceChildren();
            renderResults($('results'), r.folder, r);
          },
        },
        el('span', { class: 'badge done' }, r.pipeline),
        el('span', {}, r.folder),
        el('span', { class: 'note' }, `${(r.ms / 1000).toFixed(1)} s`),
      ),
    ),
  );
}

/** Runs this server already has (from another tab, or before a reload) are shown too. */
async function loadQueue() {
  for (const rec of await api('/api/runs')) watch(rec);
}

clearMask();
await Promise.all([loadPipelines(), loadTestImages(), loadHistory(), loadQueue()]);
document.body.dataset.ready = 'true';
