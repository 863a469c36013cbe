#!/usr/bin/env node
// Run before `npm test`: the queue executor's tests start their own redis-server (a real one,
// on a free loopback port). Use the one on PATH; as root on Debian/Ubuntu, install it; else
// say in one line what is missing.
import { execFileSync, spawnSync } from 'node:child_process';

const onPath = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

if (!onPath('redis-server')) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !onPath('apt-get')) {
    console.error('npm test needs redis-server on PATH for the job-queue tests: install the redis-server package (Debian/Ubuntu: sudo apt-get install redis-server)');
    process.exit(1);
  }
  console.log('redis-server is not on PATH: installing Debian\'s redis-server package for the job-queue tests');
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  if (!install()) {
    execFileSync('apt-get', ['update'], { stdio: 'inherit' });
    if (!install()) {
      console.error('npm test needs redis-server on PATH for the job-queue tests, and `apt-get install redis-server` failed (above)');
      process.exit(1);
    }
  }
  if (!onPath('redis-server')) {
    console.error('npm test needs redis-server on PATH for the job-queue tests: the redis-server package is installed, but its redis-server is not on this PATH');
    process.exit(1);
  }
}
