/**
 * npm run build:kernels — assembles each WebAssembly text module into the binary beside it
 * (src/train/kernels.wat: the optimiser's loops; src/synth/refiner.wat: the synthetic
 * generator's refiner; src/synth/jpeg.wat, blur.wat and finish.wat: its JPEG round trip, scanner
 * blur and finishing step). The binaries are committed, so users need no assembler; the tests
 * (test/train/kernels.test.ts, test/synth/{refiner,jpeg,blur,finish}.test.ts) check each is this
 * script's output.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

/** The modules, relative to the repository root, without their extension. */
export const KERNEL_MODULES = ['src/train/kernels', 'src/synth/refiner', 'src/synth/jpeg', 'src/synth/blur', 'src/synth/finish'] as const;

export async function assembleKernels(module: (typeof KERNEL_MODULES)[number] = 'src/train/kernels'): Promise<Uint8Array> {
  const path = fileURLToPath(new URL(`../${module}.wat`, import.meta.url));
  const wabt = await wabtInit();
  const parsed = wabt.parseWat(path, await readFile(path, 'utf8'));
  try {
    parsed.validate();
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const module of KERNEL_MODULES) {
    const out = fileURLToPath(new URL(`../${module}.wasm`, import.meta.url));
    const bytes = await assembleKernels(module);
    await writeFile(`${out}.tmp`, bytes);
    await rename(`${out}.tmp`, out);
    console.log(`${out}: ${bytes.length} bytes`);
  }
}
