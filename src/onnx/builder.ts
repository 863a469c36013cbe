import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * A small writer of ONNX models: named values, nodes in topological order, float32 and int64
 * initialisers, and serialisation through `onnx-proto` (the ONNX schema compiled for
 * protobufjs). The model exporters (inference now, training graphs later) build on it.
 */
export const OPSET = 16;
/** IR version 8 goes with opsets up to 17 (onnxruntime 1.14+ reads it). */
const IR_VERSION = 8;

export type AttributeValue = number | number[] | string | { ints: number[] } | { float: number };
/** A dimension: a fixed size or a symbolic name (dynamic, e.g. `batch`). */
export type Dim = number | string;

function attribute(name: string, value: AttributeValue): InstanceType<typeof onnx.AttributeProto> {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(value) });
  if (typeof value === 'number') {
    // Integers are INT attributes; pass `{ float: x }` for a float that happens to be whole.
    return Number.isInteger(value)
      ? onnx.AttributeProto.create({ name, type: T.INT, i: value })
      : onnx.AttributeProto.create({ name, type: T.FLOAT, f: value });
  }
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: T.INTS, ints: value });
  if ('ints' in value) return onnx.AttributeProto.create({ name, type: T.INTS, ints: value.ints });
  return onnx.AttributeProto.create({ name, type: T.FLOAT, f: value.float });
}

function valueInfo(name: string, dims: readonly Dim[], elemType = onnx.TensorProto.DataType.FLOAT): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

export class OnnxBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  /** A fresh value name derived from `hint`. */
  fresh(hint: string): string {
    let name = hint;
    while (this.names.has(name)) name = `${hint}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  input(name: string, dims: readonly Dim[]): string {
    this.names.add(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  output(name: string, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  /** A float32 constant stored as an initialiser (weights, scales). */
  float(name: string, data: Float32Array | number[], dims: readonly number[]): string {
    const values = data instanceof Float32Array ? data : Float32Array.from(data);
    const count = dims.reduce((a, b) => a * b, 1);
    if (values.length !== count) throw new Error(`initialiser ${name}: ${values.length} values for shape [${dims.join(', ')}]`);
    const id = this.fresh(name);
    this.initializers.push(onnx.TensorProto.create({
      name: id,
      dims: [...dims],
      dataType: onnx.TensorProto.DataType.FLOAT,
      // Little-endian raw bytes, as ONNX requires (copy: the view may share a larger buffer).
      rawData: new Uint8Array(values.slice().buffer),
    }));
    return id;
  }

  /** An int64 constant (shapes, axes). */
  int64(name: string, data: readonly number[]): string {
    const id = this.fresh(name);
    const raw = new BigInt64Array(data.map((v) => BigInt(v)));
    this.initializers.push(onnx.TensorProto.create({ name: id, dims: [data.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(raw.buffer) }));
    return id;
  }

  /** Add a node; returns the names of its outputs (`outputs` of them, default 1). */
  node(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, outputs: number | string[] = 1, hint = opType.toLowerCase()): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, k) => this.fresh(outputs > 1 ? `${hint}_${k}` : hint)) : outputs.map((o) => this.fresh(o));
    this.nodes.push(onnx.NodeProto.create({
      opType,
      input: [...inputs],
      output: outs,
      name: this.fresh(`n_${hint}`),
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    }));
    return outs;
  }

  /** Shorthand for a one-output node. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, hint?: string): string {
    return this.node(opType, inputs, attributes, 1, hint)[0]!;
  }

  /** Serialise to the ONNX protobuf bytes. */
  encode(graphName: string, metadata: Record<string, string> = {}, docString = ''): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'vascseg',
      producerVersion: '0.1.0',
      docString,
      graph: onnx.GraphProto.create({ name: graphName, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs }),
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
