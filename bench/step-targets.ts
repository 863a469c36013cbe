/**
 * The fixed targets both sides of the training-step benches get: eight boxes per image (cx, cy,
 * w, h normalised; classes 0, 1, 2 in turn) with elliptical masks at prototype resolution
 * (px / 4): the boxes bench/official_torch.py gives the official step (it draws the masks at
 * image resolution, as the official loss wants them).
 */
export function stepTargets(batch: number, px: number): { targets: { image: number; cls: number; box: [number, number, number, number] }[]; masks: Float32Array[] } {
  const targets: { image: number; cls: number; box: [number, number, number, number] }[] = [], masks: Float32Array[] = [];
  const m = px / 4;
  const inside = (box: [number, number, number, number], q: number) =>
    ((((q % m) + 0.5) / m - box[0]) / (box[2] / 2)) ** 2 + ((Math.floor(q / m) + 0.5) / m - box[1]) ** 2 / (box[3] / 2) ** 2 <= 1;
  for (let b = 0; b < batch; b++) for (let k = 0; k < 8; k++) {
    const box: [number, number, number, number] = [0.1 + 0.1 * k, 0.15 + 0.09 * k, 0.05 + 0.02 * k, 0.06 + 0.015 * k];
    targets.push({ image: b, cls: k % 3, box });
    masks.push(Float32Array.from({ length: m * m }, (_, q) => (inside(box, q) ? 1 : 0)));
  }
  return { targets, masks };
}

/**
 * What the onnx engine's step benches train: a `size` model at `px` (seed 0), its plain
 * weights, a batch of random images (seed 7) and the loss of the fixed targets above.
 */
export async function stepFixture(size: string, px: number, batch: number) {
  const { tf, setupBackend } = await import('../src/engine/backend.ts');
  await setupBackend('wasm', { quiet: true });
  const { buildYolov7Seg, modelConfig } = await import('../src/model/yolov7seg.ts');
  const { TfModel } = await import('../src/model/tfjs.ts');
  const { plainWeights } = await import('../src/train/weights.ts');
  const { lossOnArrays, defaultHyp } = await import('../src/train/loss.ts');
  const config = modelConfig(size);
  const graph = buildYolov7Seg(config);
  const weights = plainWeights(new TfModel(graph, config, 0));
  const { targets, masks } = stepTargets(batch, px);
  const hyp = defaultHyp(3, px);
  const x = tf.randomUniform([batch, px, px, 3], 0, 1, 'float32', 7) as import('../src/engine/backend.ts').tf.Tensor4D;
  const loss: import('../src/train/loss.ts').PlainLossFunction = (out) => lossOnArrays(out, { targets, masks }, config, hyp);
  return { graph, weights, x, loss };
}
