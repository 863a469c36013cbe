import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appearanceSchema } from '../../src/synth/config.ts';
import { WsiWorld, stretchEllipse } from '../../src/synth/world.ts';

test('stretchEllipse: every point of an ellipse stretched s times down lies on the ellipse it returns', () => {
  for (const [a, b, angle, s] of [[60, 40, 0.3, 1.2], [90, 90, 0, 1.5], [70, 42, Math.PI / 2, 1.2], [5, 2, 2.9, 2], [61, 60, -1, 1.05]] as const) {
    const e = stretchEllipse(a, b, angle, s);
    assert.ok(e.a >= e.b && e.b > 0, `${e.a} >= ${e.b} > 0`);
    // The area grows by s; a circle stretched down stands upright.
    assert.ok(Math.abs(e.a * e.b - s * a * b) < 1e-9 * a * b * s, `area ${e.a * e.b} against ${s * a * b}`);
    for (let k = 0; k < 36; k++) {
      const t = (k * Math.PI) / 18;
      const u = a * Math.cos(t), v = b * Math.sin(t);
      const x = u * Math.cos(angle) - v * Math.sin(angle), y = s * (u * Math.sin(angle) + v * Math.cos(angle));
      const p = (x * Math.cos(e.angle) + y * Math.sin(e.angle)) / e.a, q = (-x * Math.sin(e.angle) + y * Math.cos(e.angle)) / e.b;
      assert.ok(Math.abs(p * p + q * q - 1) < 1e-9, `(${a}, ${b}, ${angle}) x ${s}, point ${k}: ${p * p + q * q}`);
    }
  }
  const circle = stretchEllipse(10, 10, 0.7, 1.3);
  assert.ok(Math.abs(Math.abs(circle.angle) - Math.PI / 2) < 1e-9 && Math.abs(circle.a - 13) < 1e-9, 'a circle comes out upright, 1.3 times taller');
});

test('tileObjects: with a stretch the objects of the WSI come out that many times taller, in the same order; without one they are the WSI\'s own', () => {
  const plain = new WsiWorld(3, 1, appearanceSchema.parse({}));
  assert.deepEqual(plain.tileObjects(1024, 2048), plain.objectsNear(1024, 2048));
  const s = 1.2;
  const world = new WsiWorld(3, 1, appearanceSchema.parse({ stretch: s }));
  // The tile at pixel row 2,457 looks at WSI rows from 2,457 / 1.2 = 2,047.5: the cells of WSI point (1024, 2047.5).
  const seen = world.tileObjects(1024, 2457), near = world.objectsNear(1024, 2457 / s);
  assert.equal(seen.tubules.length, near.tubules.length);
  assert.ok(seen.tubules.length > 50 && seen.vessels.length > 5 && seen.nuclei.length > 500, 'a neighbourhood of objects');
  seen.tubules.forEach((t, k) => {
    const w = near.tubules[k]!;
    assert.equal(t.cx, w.cx);
    assert.ok(Math.abs(t.cy - s * w.cy) < 1e-9);
    assert.ok(Math.abs(t.a * t.b - s * w.a * w.b) < 1e-6 * t.a * t.b, 'area times s');
  });
  seen.vessels.forEach((v, k) => {
    const w = near.vessels[k]!;
    const ys = v.ring.map(([, y]) => y), wys = w.ring.map(([, y]) => y);
    const height = Math.max(...ys) - Math.min(...ys), wsiHeight = Math.max(...wys) - Math.min(...wys);
    assert.ok(Math.abs(height - s * wsiHeight) <= 1, `vessel ${k}: ${height} px tall against ${wsiHeight} x ${s}`);
  });
  assert.ok(seen.glomeruli.every((g) => g.tall === s));
});
