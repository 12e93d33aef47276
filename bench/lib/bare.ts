/** Starts bench/lib/bare-server.ts in its own process (as the service runs in its own). */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { children, ROOT, serverSpawn } from './common.js';

export interface Bare {
  child: ChildProcess;
  port: number;
  base: string;
  stop(): Promise<void>;
}

export async function startBare(env: { viommu: unknown; ioas: unknown }): Promise<Bare> {
  const child = spawn(...serverSpawn(['--import', 'tsx', path.join(ROOT, 'bench', 'lib', 'bare-server.ts')]), {
    cwd: ROOT,
    env: { ...process.env, BARE_VIOMMU: JSON.stringify(env.viommu), BARE_IOAS: JSON.stringify(env.ioas) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the bare server exited (${code}) before listening`)));
  });
  return {
    child,
    port,
    base: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
