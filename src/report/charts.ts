import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** A chart rendered headless: the SVG (for the HTML report) and a PNG (for files and docs). */
export interface RenderedChart {
  svg: string;
  png: Buffer;
}

/**
 * Render a Vega-Lite spec without a browser: Vega-Lite compiles it to Vega, Vega's headless
 * view renders SVG, sharp rasterises the SVG to PNG at 2x for crisp text.
 */
export async function renderChart(spec: TopLevelSpec): Promise<RenderedChart> {
  const compiled = compile({ background: 'white', ...spec } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
  return { svg, png };
}

type Row = Record<string, string | number | null>;

/** Lines of `y` over `x`, one per `series` value. */
export function lineChart(title: string, rows: Row[], x: string, y: string, series: string, yTitle = y): TopLevelSpec {
  return {
    title, width: 420, height: 220, data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: x, type: 'quantitative', title: x },
      y: { field: y, type: 'quantitative', title: yTitle },
      color: { field: series, type: 'nominal', title: series },
    },
  } as TopLevelSpec;
}

/** Bars of `y` per `x` category, grouped by `series`. */
export function barChart(title: string, rows: Row[], x: string, y: string, series: string): TopLevelSpec {
  return {
    title, width: 420, height: 220, data: { values: rows },
    mark: 'bar',
    encoding: {
      x: { field: x, type: 'nominal', title: x, sort: null },
      xOffset: { field: series },
      y: { field: y, type: 'quantitative', title: y },
      color: { field: series, type: 'nominal', title: series, legend: { labelLimit: 300, orient: 'bottom' } },
    },
  } as TopLevelSpec;
}

/** A precision-recall curve (recall on x). */
export function prChart(title: string, precision: number[], recall: number[]): TopLevelSpec {
  const rows = precision.map((p, k) => ({ recall: recall[k]!, precision: p })).filter((_, k, a) => k % Math.max(1, Math.floor(a.length / 400)) === 0);
  return {
    title, width: 320, height: 260, data: { values: rows },
    mark: 'line',
    encoding: {
      x: { field: 'recall', type: 'quantitative', scale: { domain: [0, 1] } },
      y: { field: 'precision', type: 'quantitative', scale: { domain: [0, 1] } },
    },
  } as TopLevelSpec;
}

/** A histogram of `field` (log-scaled bins are the caller's), one colour per `series`. */
export function histogram(title: string, rows: Row[], field: string, series: string, fieldTitle = field): TopLevelSpec {
  return {
    title, width: 420, height: 220, data: { values: rows },
    mark: { type: 'bar', opacity: 0.7 },
    encoding: {
      x: { field, type: 'quantitative', bin: { maxbins: 30 }, title: fieldTitle },
      y: { aggregate: 'count', type: 'quantitative', stack: null },
      color: { field: series, type: 'nominal' },
    },
  } as TopLevelSpec;
}

/** Points in 2-D coloured by `colour`. */
export function scatter(title: string, rows: Row[], colour: string): TopLevelSpec {
  return {
    title, width: 360, height: 300, data: { values: rows },
    mark: { type: 'circle', size: 30, opacity: 0.8 },
    encoding: {
      x: { field: 'x', type: 'quantitative', axis: { title: null } },
      y: { field: 'y', type: 'quantitative', axis: { title: null } },
      color: { field: colour, type: 'nominal' },
      tooltip: [{ field: 'id' }, { field: colour }],
    },
  } as TopLevelSpec;
}
