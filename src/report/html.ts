import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import { renderChart } from './charts.ts';
import type { TopLevelSpec } from 'vega-lite';

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * A report being assembled: sections of HTML; every figure is written as a PNG beside
 * `report.html` and embedded in it as a data URI, so the page opens from disk anywhere.
 */
export class Report {
  private readonly parts: string[] = [];
  readonly figures: string[] = [];

  constructor(readonly dir: string, readonly title: string) {}

  heading(text: string): void {
    this.parts.push(`<h2>${escape(text)}</h2>`);
  }

  paragraph(text: string): void {
    this.parts.push(`<p>${escape(text)}</p>`);
  }

  table(columns: string[], rows: (string | number)[][]): void {
    const cell = (v: string | number) => `<td>${escape(typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : v)}</td>`;
    this.parts.push(`<table><thead><tr>${columns.map((c) => `<th>${escape(c)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</tbody></table>`);
  }

  async chart(name: string, spec: TopLevelSpec): Promise<void> {
    const { png } = await renderChart(spec);
    await this.image(name, png, name);
  }

  async image(name: string, png: Buffer, caption: string): Promise<void> {
    const file = `${name}.png`;
    await writeFile(join(this.dir, file), png);
    this.figures.push(file);
    this.parts.push(`<figure><img src="data:image/png;base64,${png.toString('base64')}" alt="${escape(caption)}" data-file="${escape(file)}"><figcaption>${escape(caption)}</figcaption></figure>`);
  }

  async write(): Promise<string> {
    const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escape(this.title)}</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
figure{display:inline-block;margin:8px;vertical-align:top}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:12px;color:#555}
</style></head><body><h1>${escape(this.title)}</h1>${this.parts.join('\n')}</body></html>\n`;
    const file = join(this.dir, 'report.html');
    await writeFileAtomic(file, html);
    return file;
  }
}
