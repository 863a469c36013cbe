import * as tf from '@tensorflow/tfjs-core';
// The umbrella package's Node bundle registers every op's gradient and the cpu backend
// (tfjs-core's own Node bundle registers no gradients).
import '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { registerGradientFixes } from './gradients.ts';

export type Device = 'auto' | 'node' | 'wasm' | 'cpu';
export const DEVICES: readonly Device[] = ['auto', 'node', 'wasm', 'cpu'];

const require = createRequire(import.meta.url);
let chosen: string | null = null;

/** tfjs-node (or tfjs-node-gpu) when the user installed it; it cannot be installed here. */
async function tryNode(): Promise<boolean> {
  for (const name of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(name);
      return await tf.setBackend('tensorflow');
    } catch {
      // not installed, or its native library is missing: try the next
    }
  }
  return false;
}

async function tryWasm(): Promise<boolean> {
  // In Node the .wasm binaries are read from the package's dist folder.
  setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
  try {
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}

/**
 * Choose the tfjs backend once per process: `node` (tfjs-node/-gpu if installed), else `wasm`
 * (XNNPACK, one thread in Node), else `cpu` (plain JS, slow, the reference). Gradient kernels
 * wasm lacks or gets wrong are registered first. The choice is printed only when it is not
 * the expected one (auto fell back to plain-JS cpu) or with `vascseg --verbose`
 * (VASCSEG_VERBOSE=1); `quiet` silences even that.
 */
export async function setupBackend(device: Device = 'auto', options: { quiet?: boolean } = {}): Promise<string> {
  registerGradientFixes();
  const order: Device[] = device === 'auto' ? ['node', 'wasm', 'cpu'] : [device];
  for (const d of order) {
    const ok = d === 'node' ? await tryNode() : d === 'wasm' ? await tryWasm() : await tf.setBackend('cpu');
    if (ok) {
      await tf.ready();
      const name = tf.getBackend();
      // The cpu backend greets its first tensor in Node with a banner urging tfjs-node, which
      // cannot be installed here; the choice is ours and said once below when it matters.
      if (name === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
      const unexpected = device === 'auto' && name === 'cpu';
      if (chosen !== name && !options.quiet && (unexpected || process.env.VASCSEG_VERBOSE)) {
        console.error(`tfjs backend: ${name}${device === 'auto' ? ' (auto)' : ''}${unexpected ? ': wasm failed to initialise, plain JS is several times slower' : ''}`);
      }
      chosen = name;
      return name;
    }
    if (device !== 'auto') {
      throw new Error(d === 'node'
        ? 'device node: @tensorflow/tfjs-node (or -gpu) is not installed or its native library failed to load; use --device wasm or cpu'
        : `device ${d}: the tfjs ${d} backend failed to initialise`);
    }
  }
  throw new Error('no tfjs backend could be initialised');
}

export { tf };
