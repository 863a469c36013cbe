import { Command, Option } from 'commander';
import { setupBackend } from '../engine/backend.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { exportOnnx, onnxInfoFromCheckpoint } from '../onnx/export.ts';
import { weightArrays } from '../model/tfjs.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { parseInteger, parseImgsz } from './options.ts';

interface ExportCli {
  weights: string;
  format: 'onnx';
  imgsz?: number;
  out?: string;
}

export function exportCommand(): Command {
  return new Command('export')
    .description('export a checkpoint as an ONNX model (input images [N,3,H,W] in 0..1, any multiple of 32; outputs p3, p4, p5, proto in NHWC; batch-norm folded) for onnxruntime or other tools')
    .requiredOption('--weights <dir>', 'checkpoint directory (e.g. runs/train/exp/weights/best)')
    .addOption(new Option('--format <f>', 'export format').choices(['onnx']).default('onnx'))
    .option('--imgsz <px>', 'default inference size recorded in the model (default: the training size); the input stays dynamic', parseImgsz)
    .option('--out <file>', 'output file (default: <weights>.onnx beside the checkpoint directory)')
    .action(async (opts: ExportCli) => {
      await setupBackend('cpu', { quiet: true });
      const { model, meta } = await loadCheckpoint(opts.weights);
      if (opts.imgsz !== undefined && opts.imgsz % 32 !== 0) throw new Error(`--imgsz must be a multiple of 32, got ${opts.imgsz}`);
      const info = { ...onnxInfoFromCheckpoint(meta), imgsz: opts.imgsz ?? meta.imgsz };
      const bytes = exportOnnx(model.graph, weightArrays(model), info);
      const out = opts.out ?? `${opts.weights.replace(/\/+$/, '')}.onnx`;
      await writeFileAtomic(out, bytes);
      console.log(`${opts.weights} (${meta.config.size}, epoch ${meta.epoch}, imgsz ${info.imgsz}) -> ${out} (${(bytes.length / 1e6).toFixed(1)} MB, ONNX opset 16)`);
    });
}
