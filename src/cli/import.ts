import { Command } from 'commander';
import { setupBackend } from '../engine/backend.ts';
import { saveCheckpoint } from '../model/checkpoint.ts';
import { initFromOfficial, officialModelSize, readOfficialWeights } from '../model/import.ts';
import { TfModel } from '../model/tfjs.ts';
import { buildYolov7Seg, CLASSES, modelConfig } from '../model/yolov7seg.ts';
import { assertReplaceable } from '../util/fs.ts';
import { parseImgsz } from './options.ts';

export function importCommand(): Command {
  return new Command('import')
    .description('turn official YOLOv7-seg weights (a segment/train.py .pt, a state dict .pt, or .safetensors) into a vascseg checkpoint for predict, export or train --init; read in TypeScript, no Python')
    .argument('<file>', 'official weights: .pt / .pth (torch.save) or .safetensors')
    .requiredOption('--out <dir>', 'checkpoint directory to write')
    .option('--model <size>', 'model size (default: read from the file: full at width 1, else w<width>)')
    .option('--imgsz <px>', 'the image size recorded as the training size (predict\'s default)', parseImgsz, 640)
    .action(async (file: string, opts: { out: string; model?: string; imgsz: number }) => {
      await setupBackend('cpu', { quiet: true });
      await assertReplaceable(opts.out, 'model.json', ['weights.bin']);
      const size = opts.model ?? officialModelSize((await readOfficialWeights(file)).tensors, file);
      const config = modelConfig(size, CLASSES);
      const model = new TfModel(buildYolov7Seg(config), config, 0);
      for (const line of await initFromOfficial(model, file)) console.log(line);
      await saveCheckpoint(opts.out, model, { imgsz: opts.imgsz, epoch: 0, metrics: {}, state: { importedFrom: file } });
      model.dispose();
      console.log(`wrote ${opts.out} (--model ${size}, classes ${config.classes.join(', ')}, imgsz ${opts.imgsz})`);
    });
}
