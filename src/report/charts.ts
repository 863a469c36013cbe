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
