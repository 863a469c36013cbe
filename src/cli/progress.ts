import { SingleBar, Presets } from 'cli-progress';

/** A progress bar with rate and ETA on a terminal; a line per 10% elsewhere (CI logs stay short). */
export function progress(label: string): { update(done: number, total: number): void; stop(): void } {
  if (process.stderr.isTTY) {
    const bar = new SingleBar({
      format: `${label} [{bar}] {value}/{total} {percentage}% | {rate}/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
    }, Presets.shades_classic);
    const start = Date.now();
    let started = false;
    return {
      update(done, total) {
        if (!started) { bar.start(total, 0, { rate: '0' }); started = true; }
        bar.update(done, { rate: (done / Math.max((Date.now() - start) / 1000, 1e-3)).toFixed(1) });
      },
      stop() { if (started) bar.stop(); },
    };
  }
  let lastDecile = -1;
  return {
    update(done, total) {
      const decile = Math.floor((10 * done) / Math.max(total, 1));
      if (decile !== lastDecile) {
        lastDecile = decile;
        process.stderr.write(`${label}: ${done}/${total}\n`);
      }
    },
    stop() {},
  };
}
