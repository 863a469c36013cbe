// Pipeline jobs run in child processes; register tsx's loader there, then load the TypeScript job.
import { register } from 'tsx/esm/api';

register();
await import('./job.ts');
