/**
 * Every kind of bad pipeline is rejected at load time with one line naming the file, line and
 * column, before anything runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadPlan } from '../../src/graph/plan.js';
import { FlowError } from '../../src/graph/errors.js';
import { pipeline, writeFiles } from './helpers.js';

async function loadError(
  text: string,
  opts: { overrides?: string[]; extraFiles?: Record<string, string> } = {},
): Promise<{ message: string; file: string }> {
  const dir = await writeFiles({ 'p.yaml': text, ...(opts.extraFiles ?? {}) });
  const file = path.join(dir, 'p.yaml');
  try {
    await loadPlan(file, { overrides: opts.overrides });
  } catch (e) {
    assert.ok(e instanceof FlowError, `expected FlowError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `error must be one line: ${e.message}`);
    return { message: e.message, file };
  }
  assert.fail('pipeline loaded but should have failed');
}

const cases: {
  name: string;
  text: string;
  expect: RegExp;
  line?: number;
  overrides?: string[];
  extraFiles?: Record<string, string>;
}[] = [
  {
    name: 'YAML syntax error',
    text: pipeline('  a:\n    type: test.count\n    params: {n: [1, 2\n'),
    expect: /YAML syntax error/,
  },
  {
    name: 'unknown top-level key',
    text: `version: 1\nname: t\nnodez: {}\nnodes:\n  a: {type: x}\n`,
    expect: /unknown key 'nodez'/,
    line: 3,
  },
  {
    name: 'unknown node key',
    text: pipeline('  a:\n    type: test.count\n    parms: {n: 2}\n'),
    expect: /unknown key 'parms' in 'nodes.a'/,
    line: 11,
  },
  {
    name: 'unknown node type with suggestion',
    text: pipeline('  a:\n    type: test.cont\n'),
    expect: /unknown node type 'test.cont' \(did you mean 'test.count'\?\)/,
    line: 10,
  },
  {
    name: 'unknown param key',
    text: pipeline('  a:\n    type: test.count\n    params: {n: 2, sise: 3}\n'),
    expect: /unknown key 'sise' in 'a.params'/,
    line: 11,
  },
  {
    name: 'wrong param type',
    text: pipeline('  a:\n    type: test.count\n    params: {n: many}\n'),
    expect: /'a.params.n' must be integer/,
    line: 11,
  },
  {
    name: 'missing required param',
    text: pipeline('  k:\n    type: test.constant\n'),
    expect: /missing required key 'value'/,
  },
  {
    name: 'reference to an unknown param',
    text: pipeline('  a:\n    type: test.count\n    params: {n: "${m}"}\n'),
    expect: /reference '\$\{m\}' names no pipeline param \(did you mean 'n'\?\)/,
    line: 11,
  },
  {
    name: 'dangling (unwired) required input',
    text: pipeline('  a:\n    type: test.count\n  s:\n    type: test.scale\n'),
    expect: /node 's' \(test.scale\): required input 'x' \(image\) is not wired/,
    line: 12,
  },
  {
    name: 'input from an unknown node',
    text: pipeline('  s:\n    type: test.scale\n    inputs: {x: nope.value}\n'),
    expect: /refers to unknown node 'nope'/,
    line: 11,
  },
  {
    name: 'input from an unknown port',
    text: pipeline('  a:\n    type: test.count\n  s:\n    type: test.scale\n    inputs: {x: a.valeu}\n'),
    expect: /has no output 'valeu' \(did you mean 'value'\?\)/,
    line: 13,
  },
  {
    name: 'unknown input port',
    text: pipeline(
      '  a:\n    type: test.count\n  s:\n    type: test.scale\n    inputs: {x: a.value, z: a.value}\n',
    ),
    expect: /has no input port 'z'/,
    line: 13,
  },
  {
    name: 'duplicate input key',
    text: pipeline(
      '  a:\n    type: test.count\n  s:\n    type: test.scale\n    inputs: {x: a.value, x: a.value}\n',
    ),
    expect: /YAML syntax error: Map keys must be unique/,
  },
  {
    name: 'duplicate node id',
    text: pipeline('  a:\n    type: test.count\n  a:\n    type: test.count\n'),
    expect: /Map keys must be unique/,
  },
  {
    name: 'port type mismatch',
    text: pipeline(
      '  a:\n    type: test.count\n  t:\n    type: test.total\n    inputs: {x: a.value}\n  s:\n    type: test.scale\n    inputs: {x: t.total}\n',
    ),
    expect: /type mismatch: 't.total' is scalar but input 'x' of node 's' \(test.scale\) takes image/,
    line: 16,
  },
  {
    name: 'cycle, named',
    text: pipeline(
      '  a:\n    type: test.add\n    inputs: {a: b.y, b: b.y}\n  b:\n    type: test.scale\n    inputs: {x: a.y}\n',
    ),
    expect: /cycle in the pipeline graph: (a -> b -> a|b -> a -> b)/,
  },
  {
    name: '--set naming no pipeline param',
    text: pipeline('  a:\n    type: test.count\n'),
    overrides: ['nn=3'],
    expect: /--set nn=3: the pipeline has no param 'nn' \(did you mean 'n'\?\)/,
  },
  {
    name: '--set naming no node',
    text: pipeline('  a:\n    type: test.count\n'),
    overrides: ['b.n=3'],
    expect: /--set b.n=3: no node 'b'/,
  },
  {
    name: '--set naming no node param',
    text: pipeline('  a:\n    type: test.count\n'),
    overrides: ['a.size2=3'],
    expect: /node 'a' \(test.count\) has no param 'size2'/,
  },
  {
    name: '--set value of the wrong type',
    text: pipeline('  a:\n    type: test.count\n'),
    overrides: ['a.n=lots'],
    expect: /'a.params.n' must be integer/,
  },
  {
    name: 'plugin file missing',
    text: `version: 1\nname: t\nplugins: [./missing.ts]\nnodes:\n  a: {type: test.count}\n`,
    expect: /plugin file not found/,
    line: 3,
  },
  {
    name: 'include file missing',
    text: pipeline('  g:\n    include: chains/none.yaml\n'),
    expect: /included chain file not found/,
    line: 10,
  },
  {
    name: 'include leaves a chain input unwired',
    text: pipeline('  g:\n    include: chain.yaml\n'),
    extraFiles: {
      'chain.yaml':
        'version: 1\nname: c\ninputs: {x: image}\noutputs: {y: s.y}\nnodes:\n  s: {type: test.scale, inputs: {x: inputs.x}}\n',
    },
    expect: /include 'g' leaves chain input 'x' unwired/,
  },
  {
    name: 'include cycle',
    text: pipeline('  g:\n    include: c1.yaml\n'),
    extraFiles: {
      'c1.yaml': 'version: 1\nname: c1\nnodes:\n  h: {include: c2.yaml}\n',
      'c2.yaml': 'version: 1\nname: c2\nnodes:\n  h: {include: c1.yaml}\n',
    },
    expect: /include cycle: p.yaml -> c1.yaml -> c2.yaml -> c1.yaml/,
  },
  { name: 'not a mapping', text: '- a\n- b\n', expect: /must be a YAML mapping/ },
  {
    name: 'wrong version',
    text: `version: 2\nname: t\nnodes:\n  a: {type: test.count}\n`,
    expect: /'version' must be 1/,
    line: 1,
  },
  {
    name: 'bad reference syntax',
    text: pipeline('  s:\n    type: test.scale\n    inputs: {x: nodot}\n'),
    expect: /must be a port reference like 'node.port'/,
    line: 11,
  },
];

for (const c of cases) {
  test(`load error: ${c.name}`, async () => {
    const { message, file } = await loadError(c.text, c);
    assert.match(message, c.expect);
    assert.ok(
      message.includes(path.basename(path.dirname(file))) ||
        message.startsWith('--set') ||
        message.includes('.yaml'),
      `names the file: ${message}`,
    );
    if (c.line !== undefined)
      assert.match(message, new RegExp(`p\\.yaml:${c.line}:\\d+: `), `line ${c.line}: ${message}`);
  });
}
