/**
 * Fault injection for the crash tests: `VASCSEG_FAULT=name:n` (names may hold colons: `dir:next:3`) kills the process with SIGKILL
 * the n-th time execution passes `faultPoint(name)` (a debug knob, as tinygrad's env vars).
 * Points sit between the steps of every write whose interruption must lose nothing.
 */
const raw = process.env.VASCSEG_FAULT;
const cut = raw?.lastIndexOf(':') ?? -1;
const target = raw === undefined ? null : cut > 0 ? { name: raw.slice(0, cut), hit: Number(raw.slice(cut + 1)) } : { name: raw, hit: 1 };
let passes = 0;

export function faultPoint(name: string): void {
  if (target?.name !== name) return;
  if (++passes === target.hit) process.kill(process.pid, 'SIGKILL');
}
