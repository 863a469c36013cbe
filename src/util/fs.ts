import { access } from 'node:fs/promises';

/** Whether a path exists (any kind of entry). */
export const pathExists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);
