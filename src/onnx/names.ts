/** The exported model's input and output names (what `vascseg export` writes and the runtimes feed and read). */
export const ONNX_INPUT = 'images';
export const ONNX_OUTPUTS = ['p3', 'p4', 'p5', 'proto'] as const;
