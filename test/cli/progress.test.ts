/**
 * The progress display (issue 16): elapsed time, rate and ETA per node, the nodes' own messages
 * and the current item; pretty mode drawn on a fake terminal, plain and JSON modes for pipes.
 * Scripted events with a fake clock check the arithmetic; a real run checks all three modes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ProgressRenderer, type LogMode, type TextSink } from '../../src/cli/progress.js';
import { RunProgress, formatDuration } from '../../src/cli/progress-state.js';
import type { FlowEvent } from '../../src/runtime/events.js';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { initBackend } from '../../src/runtime/backend.js';
import { REPO } from '../engine/helpers.js';

class FakeStream implements TextSink {
  text = '';
  constructor(
    readonly isTTY = false,
    readonly columns?: number,
  ) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

/** A source of two items, a run-wide model, and a sampler reporting steps with messages. */
const SCRIPT: [number, FlowEvent][] = [
  [
    0,
    {
      type: 'run-start',
      pipeline: 'p',
      nodes: ['images', 'prior', 'sample'],
      backend: 'wasm',
      sources: { images: ['images'], prior: [], sample: ['images'] },
    },
  ],
  [0, { type: 'items', node: 'images', count: 2 }],
  [0, { type: 'node-start', node: 'prior' }],
  [0, { type: 'node-start', node: 'images', item: 'a' }],
  [200, { type: 'node-done', node: 'images', item: 'a', cached: false, ms: 200 }],
  [200, { type: 'node-start', node: 'images', item: 'b' }],
  [400, { type: 'node-done', node: 'images', item: 'b', cached: true, ms: 200 }],
  [500, { type: 'node-done', node: 'prior', cached: false, ms: 500 }],
  [1000, { type: 'node-start', node: 'sample', item: 'a' }],
  [3000, { type: 'progress', node: 'sample', item: 'a', step: 16, total: 40, message: 'samples 1-16 of 40' }],
  [
    5000,
    {
      type: 'progress',
      node: 'sample',
      item: 'a',
      step: 32,
      total: 40,
      message: 'samples 17-32 of 40',
      values: { loss: 0.5 },
    },
  ],
];

function play(mode: LogMode, out: TextSink, jsonOut?: TextSink, upTo = SCRIPT.length) {
  let now = 0;
  const r = new ProgressRenderer(mode, out, { now: () => now, redrawMs: 0, jsonOut });
  for (const [t, e] of SCRIPT.slice(0, upTo)) {
    now = t;
    r.handle(e);
  }
  return { r, setNow: (t: number) => (now = t) };
}

test('per node: items expected from its sources, completed fraction, rate and ETA', () => {
  const { r } = play('plain', new FakeStream());
  const st = r.state;
  const sample = st.nodes.get('sample');
  const prior = st.nodes.get('prior');
  assert.ok(sample && prior);
  assert.equal(prior.total, 1, 'a run-wide node runs once');
  assert.equal(sample.total, 2, 'a per-item node runs once per item of its source');
  assert.equal(RunProgress.completed(sample), 32 / 40);
  // 4 s since its first start for 0.8 of 2 items: 1.2 items to go at 5 s per item.
  assert.equal(RunProgress.eta(sample, 5000), 6000);
  assert.deepEqual(RunProgress.rate(sample, 5000), { value: 8, unit: 'steps/s' });
  assert.equal(RunProgress.eta(prior, 5000), 0, 'finished');
  assert.deepEqual(RunProgress.rate(st.nodes.get('images') as never, 5000), { value: 5, unit: 'items/s' });
  assert.equal(st.eta(5000), 6000);
  assert.deepEqual([860, 8300, 245_000, 3_720_000].map(formatDuration), ['0.9s', '8.3s', '4m05s', '1h02m']);
});

test('pretty mode on a terminal: header, bars, item, message, ETA; redraws in place; cut to the width', () => {
  const tty = new FakeStream(true, 200);
  const { r, setNow } = play('pretty', tty);
  r.flush();
  const first = tty.text;
  const lines = first.trimEnd().split('\n');
  assert.equal(lines.length, 4, 'a header and one line per node');
  assert.equal(lines[0], 'elapsed 5.0s  ETA 6.0s');
  assert.match(lines[1] as string, /^images +█{20} 2\/2 \(1 cached\) {2}0\.4s {2}5\.00 items\/s$/);
  assert.match(lines[2] as string, /^prior +█{20} 1\/1 {2}0\.5s {2}2\.00 items\/s$/);
  assert.equal(
    lines[3],
    `sample ${'█'.repeat(8)}${'░'.repeat(12)} 0/2  4.0s  8.00 steps/s ETA 6.0s  [a] step 32/40 samples 17-32 of 40 loss=0.5000`,
  );
  setNow(6000);
  r.handle({ type: 'log', node: 'sample', item: 'a', message: 'hello' });
  r.flush();
  const next = tty.text.slice(first.length);
  assert.ok(
    next.startsWith('\x1b[4A\x1b[0Jsample [a]: hello\n'),
    'a log line goes above the block, which is redrawn',
  );
  assert.match(next, /elapsed 6\.0s/);
  const narrow = new FakeStream(true, 30);
  const n = play('pretty', narrow).r;
  n.flush();
  for (const l of narrow.text.trimEnd().split('\n')) assert.ok(l.length < 30, `'${l}' fits in 30 columns`);
  r.stop();
  n.stop();
});

test('plain mode: stamped lines, throttled progress, completions; no escape codes', () => {
  const out = new FakeStream();
  play('plain', out);
  assert.equal(
    out.text,
    [
      '[   0.4s] images: 2/2 done in 0.4s (5.00 items/s, 1 cached)',
      '[   0.5s] prior: 1/1 done in 0.5s (2.00 items/s)',
      '[   3.0s] sample [a] step 16/40 samples 1-16 of 40  8.00 steps/s ETA 8.0s', // 0.4 of 2 items in 2 s,
      '',
    ].join('\n'),
  );
});

test('JSON mode: one JSON object per event on its own stream, nothing on the terminal', () => {
  const out = new FakeStream();
  const json = new FakeStream();
  play('json', out, json);
  assert.equal(out.text, '');
  const parsed = json.text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as FlowEvent & { time: string });
  assert.deepEqual(
    parsed.map(({ time: _t, ...e }) => e),
    SCRIPT.map(([, e]) => e),
  );
  assert.equal(parsed[0]?.time, new Date(0).toISOString());
});

test('a real run through all three modes', async () => {
  await initBackend('wasm');
  const modes = {
    pretty: new FakeStream(true, 160),
    plain: new FakeStream(),
    json: new FakeStream(),
  };
  const renderers = [
    new ProgressRenderer('pretty', modes.pretty, { redrawMs: 0 }),
    new ProgressRenderer('plain', modes.plain),
    new ProgressRenderer('json', new FakeStream(), { jsonOut: modes.json }),
  ];
  const plan = await loadPlan(path.join(REPO, 'pipelines/measure-demo.yaml'), {
    overrides: ['images=../assets/images/64/c*.png'],
  });
  const handle = runPlan(plan, { cache: false });
  handle.events$.subscribe((e) => {
    for (const r of renderers) r.handle(e);
    renderers[0]?.flush();
  });
  const { summary } = await handle.result;
  for (const id of Object.keys(summary.nodes))
    assert.match(
      modes.plain.text,
      new RegExp(`\\] ${id.replace('/', '\\/')}: ${summary.nodes[id]?.executions}/3 done in `),
    );
  assert.match(modes.plain.text, /inpaint \[camera\]: mask 'rotated'/, 'node logs are shown with their item');
  assert.ok(!modes.plain.text.includes('\x1b'));
  const last = modes.pretty.text
    .slice(modes.pretty.text.lastIndexOf('\x1b[0J') + 4)
    .trimEnd()
    .split('\n');
  assert.match(last[0] as string, /^elapsed \d+\.\ds$/, 'finished: no ETA left');
  assert.equal(last.length, 1 + Object.keys(summary.nodes).length);
  for (const l of last.slice(1)) assert.match(l, / 3\/3 {2}\d+\.\ds {2}[\d.]+ items\/s$/);
  const events = modes.json.text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as FlowEvent);
  assert.equal(events[0]?.type, 'run-start');
  assert.equal(events.at(-1)?.type, 'run-done');
  assert.equal(events.filter((e) => e.type === 'node-done').length, 3 * Object.keys(summary.nodes).length);
});
