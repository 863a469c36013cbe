import { Command } from 'commander';
import { setupBackend } from '../engine/backend.ts';
import { saveCheckpoint } from '../model/checkpoint.ts';
import { officialModel, OFFICIAL_IMGSZ } from '../model/import.ts';
import { CLASSES } from '../model/yolov7seg.ts';
import { assertReplaceable } from '../util/fs.ts';
import { parseImgsz } from './options.ts';

export function importCommand(): Command {
  return new Command('import')
    .description('turn official YOLOv7-seg weights (a segment/train.py .pt, a state dict .pt, or .safetensors) into a vascseg checkpoint for predict, export or train --init; read in TypeScript, no Python')
    .argument('<file>', 'official weights: .pt / .pth (torch.save) or .safetensors')
    .requiredOption('--out <dir>', 'checkpoint directory to write')
    .option('--model <size>', 'model size (default: read from the file: full at width 1, else w<width>)')
    .option('--imgsz <px>', 'the image size recorded as the training size (predict\'s default)', parseImgsz, OFFICIAL_IMGSZ)
    .action(async (file: string, opts: { out: string; model?: string; imgsz: number }) => {
      await setupBackend('cpu', { quiet: true });
      await assertReplaceable(opts.out, 'model.json', ['weights.bin']);
      const { model, log } = await officialModel(file, CLASSES, opts.model);
      for (const line of log) console.log(line);
      await saveCheckpoint(opts.out, model, { imgsz: opts.imgsz, epoch: 0, metrics: {}, state: { importedFrom: file } });
      model.dispose();
      console.log(`wrote ${opts.out} (--model ${model.config.size}, classes ${model.config.classes.join(', ')}, imgsz ${opts.imgsz})`);
    });
}
