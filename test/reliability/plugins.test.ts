/**
 * Plugins run code: checking a pipeline (validate, graph, cache explain, nodes --pipeline) loads
 * them only when the user allows it; running the pipeline loads them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { stat, writeFile } from 'node:fs/promises';
import { loadPlan } from '../../src/graph/plan.js';
import { describeNodes } from '../../src/cli/nodes-command.js';
import { tempDir } from '../engine/helpers.js';

test('a pipeline with plugins is refused unless plugins are allowed; its plugin code never runs', async () => {
  const dir = await tempDir();
  const ran = path.join(dir, 'plugin-ran');
  await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  await writeFile(
    path.join(dir, 'evil.js'),
    `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(ran)}, 'x');\nexport default [];\n`,
  );
  await writeFile(
    path.join(dir, 'p.yaml'),
    'version: 1\nname: p\nplugins: [./evil.js]\nnodes:\n  a: { type: measure.sr }\n',
  );
  await assert.rejects(
    loadPlan(path.join(dir, 'p.yaml'), { allowPlugins: false }),
    /p\.yaml:3:\d+: the pipeline loads plugins, which run code on this machine \(\.\/evil\.js\); pass --allow-plugins to load them/,
  );
  await assert.rejects(
    describeNodes(undefined, { pipeline: path.join(dir, 'p.yaml'), plugin: [] }),
    /--allow-plugins/,
  );
  await assert.rejects(stat(ran), /ENOENT/, 'the plugin did not run');
  await assert.rejects(loadPlan(path.join(dir, 'p.yaml')), /plugin exports no node definitions/);
  assert.ok((await stat(ran)).isFile(), 'running loads plugins (this one exports nothing)');
});
