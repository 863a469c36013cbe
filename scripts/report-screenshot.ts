/**
 * npm run docs:report-screenshot [-- RUN_DIR] — write the run's report and a screenshot of it
 * (headless Chromium: CHROMIUM, a system one, or the bundled build) to docs/report-screenshot.png. Default: runs/pipeline/exp.
 */
import { pathToFileURL } from 'node:url';
import { launchChromium } from '../test/helpers/chromium.ts';
import { setupBackend } from '../src/engine/backend.ts';
import { runReport } from '../src/report/run-report.ts';

const run = process.argv[2] ?? 'runs/pipeline/exp';
await setupBackend('auto', { quiet: true });
const { file } = await runReport(run, (l) => console.log(l));
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
await page.goto(pathToFileURL(file).href);
// The top of the page: tables and the first figures (the whole page is several screens).
await page.screenshot({ path: 'docs/report-screenshot.png', fullPage: true, clip: { x: 0, y: 0, width: 1200, height: 2600 } });
await browser.close();
console.log(`docs/report-screenshot.png from ${file}`);
