import { Command, Option } from 'commander';
import { setupBackend } from '../engine/backend.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { exportOnnx, onnxInfoFromCheckpoint } from '../onnx/export.ts';
import { weightArrays } from '../model/tfjs.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { exportOfficial } from '../model/official.ts';
import { writeSafetensors } from '../model/formats/safetensors.ts';
import { parseImgsz } from './options.ts';

interface ExportCli {
  weights: string;
  format: 'onnx' | 'safetensors';
  imgsz?: number;
  out?: string;
}

export function exportCommand(): Command {
  return new Command('export')
    .description('export a checkpoint as an ONNX model (input images [N,3,H,W] in 0..1, any multiple of 32; outputs p3, p4, p5, proto in NHWC; batch-norm folded) for onnxruntime or other tools, or as safetensors under the official YOLOv7-seg names, which the official model loads with load_state_dict')
    .requiredOption('--weights <dir>', 'checkpoint directory (e.g. runs/train/exp/weights/best)')
    .addOption(new Option('--format <f>', 'onnx, or safetensors (the official state dict: model.N.conv.weight, ...)').choices(['onnx', 'safetensors']).default('onnx'))
    .option('--imgsz <px>', 'default inference size recorded in the model (default: the training size); the input stays dynamic', parseImgsz)
    .option('--out <file>', 'output file (default: <weights>.onnx or .safetensors beside the checkpoint directory)')
    .action(async (opts: ExportCli) => {
      await setupBackend('cpu', { quiet: true });
      const { model, meta } = await loadCheckpoint(opts.weights);
      if (opts.format === 'safetensors') {
        if (model.graph.padding !== 'symmetric') throw new Error(`${opts.weights}: this checkpoint pads 'same' (it predates symmetric padding), so in the official model its weights would sample shifted windows; retrain it, or export --format onnx`);
        const out = opts.out ?? `${opts.weights.replace(/\/+$/, '')}.safetensors`;
        const tensors = exportOfficial(weightArrays(model), model.graph, model.config);
        await writeSafetensors(out, tensors, { format: 'pt', producer: 'vascseg', classes: model.config.classes.join(','), size: model.config.size });
        console.log(`${opts.weights} (${meta.config.size}, epoch ${meta.epoch}) -> ${out}: ${tensors.size} tensors under the official names; in Python: model.load_state_dict(safetensors.torch.load_file('${out}'))`);
        return;
      }
      const info = { ...onnxInfoFromCheckpoint(meta), imgsz: opts.imgsz ?? meta.imgsz };
      const bytes = exportOnnx(model.graph, weightArrays(model), info);
      const out = opts.out ?? `${opts.weights.replace(/\/+$/, '')}.onnx`;
      await writeFileAtomic(out, bytes);
      console.log(`${opts.weights} (${meta.config.size}, epoch ${meta.epoch}, imgsz ${info.imgsz}) -> ${out} (${(bytes.length / 1e6).toFixed(1)} MB, ONNX opset 16)`);
    });
}
