/**
 * npm run build:kernels — assembles src/train/kernels.wat into src/train/kernels.wasm (the file
 * the trainer loads; committed, so users need no assembler). test/train/kernels.test.ts checks
 * that the committed binary is this file's output.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

export async function assembleKernels(): Promise<Uint8Array> {
  const path = fileURLToPath(new URL('../src/train/kernels.wat', import.meta.url));
  const wabt = await wabtInit();
  const module = wabt.parseWat(path, await readFile(path, 'utf8'));
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = fileURLToPath(new URL('../src/train/kernels.wasm', import.meta.url));
  const bytes = await assembleKernels();
  await writeFile(`${out}.tmp`, bytes);
  await rename(`${out}.tmp`, out);
  console.log(`${out}: ${bytes.length} bytes`);
}
