/** `--name value` flags of a bench or script; a flag without a default is required (the error names the file whose header documents it). */
export function flagReader(file: string, argv: readonly string[] = process.argv.slice(2)): (name: string, def?: string) => string {
  return (name, def) => {
    const k = argv.indexOf(name);
    if (k >= 0 && argv[k + 1] !== undefined) return argv[k + 1]!;
    if (def === undefined) throw new Error(`${name} is required (see the top of ${file})`);
    return def;
  };
}
