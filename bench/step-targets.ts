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
