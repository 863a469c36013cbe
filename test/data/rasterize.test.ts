import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rasterize, type Ring } from '../../src/data/rasterize.ts';

interface Case { name: string; rings: Ring[]; area: number; sha256: string }
const fixture = JSON.parse(readFileSync(new URL('../fixtures/fillpoly.json', import.meta.url), 'utf8')) as {
  width: number; height: number; opencv: string; cases: Case[];
};

test('fillPoly fixtures from OpenCV: every mask identical, pixel for pixel', () => {
  const failures: string[] = [];
  for (const c of fixture.cases) {
    const mask = rasterize(c.rings, fixture.width, fixture.height);
    let area = 0;
    for (const v of mask) area += v;
    const sha = createHash('sha256').update(mask).digest('hex');
    if (sha !== c.sha256) failures.push(`${c.name}: area ${area}, OpenCV ${c.area}`);
  }
  assert.ok(fixture.cases.filter((c) => c.name.startsWith('real:')).length === 674, 'all 674 real polygons are in the fixture');
  assert.deepEqual(failures, []);
});

test('boundary pixels are included, as fillPoly does', () => {
  const mask = rasterize([[[2, 2], [5, 2], [5, 4], [2, 4]]], 8, 8);
  const rows = [];
  for (let y = 0; y < 8; y++) rows.push(Array.from(mask.subarray(y * 8, y * 8 + 8)).join(''));
  assert.deepEqual(rows, ['00000000', '00000000', '00111100', '00111100', '00111100', '00000000', '00000000', '00000000']);
});
