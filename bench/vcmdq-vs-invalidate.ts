/**
 * Issue #5 benchmark: executing 256-command batches through a Tegra241 guest VCMDQ over HTTP
 * (POST /v1/hw-queues/{id}/commands, octet-stream) against the invalidate path with the same
 * commands (POST /v1/viommus/{id}/invalidate, octet-stream), measured in the same run on the same
 * app and vIOMMU. Prints the throughput ratio (target ≥ 0.8). Bounded: fixed rounds, loopback only.
 * BENCH_CONCURRENCY (default 4) sets the keep-alive connections.
 */
import http from 'node:http';
import { benchApp, benchVm } from './setup.js';

const BATCH = 256;
const ROUNDS = 11;
const REQUESTS_PER_ROUND = 200;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);

function commands(count: number): Buffer {
  const buf = Buffer.alloc(count * 16);
  for (let i = 0; i < count; i++) {
    // TLBI_NH_VA ASID 1, TG=1 NUM=0, addr varies; the last entry is a CMD_SYNC as a guest ends a batch.
    const o = i * 16;
    if (i === count - 1) {
      buf.writeUInt32LE(0x46, o);
      continue;
    }
    buf.writeBigUInt64LE(0x0001000000000012n, o);
    buf.writeBigUInt64LE(0x0000000000000401n | (BigInt(i) << 12n), o + 8);
  }
  return buf;
}

async function post(agent: http.Agent, port: number, url: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: url, method: 'POST', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function throughput(port: number, url: string, body: Buffer, requests: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < requests) {
        next++;
        const status = await post(agent, port, url, body);
        if (status !== 200) throw new Error(`${url} answered ${status}`);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  agent.destroy();
  return (requests * BATCH) / seconds;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Rounds alternate the two paths and each round's ratio is taken from its own two measurements;
 * the result is the median of those ratios, so a slow phase of a shared machine (it drifts by
 * ±20 % over a run) weighs on both sides of a ratio instead of on one path's figure.
 */
export async function runVcmdqBench(): Promise<{ vcmdq: number; invalidate: number; ratio: number; ratios: number[] }> {
  const b = await benchApp();
  const { app } = b;
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const { viommu } = await benchVm(b, 'bench', 'tegra241_cmdqv', { iova: '0x40000000', length: '0x10000' });
    // 4096 bytes = 256 entries: one batch fills the queue; the SMMU drains it before answering.
    const queue = (await b.call('POST', '/v1/hw-queues', { viommuId: viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: '0x40000000', length: '0x1000' })).id;
    await b.call('PATCH', `/v1/hw-queues/${queue}`, { enabled: true });

    const vcmdqBody = commands(BATCH);
    const invBody = commands(BATCH).subarray(0, (BATCH - 1) * 16); // the invalidate path rejects CMD_SYNC; the kernel adds its own
    const vcmdqUrl = `/v1/hw-queues/${queue}/commands`;
    const invUrl = `/v1/viommus/${viommu}/invalidate`;
    await throughput(port, vcmdqUrl, vcmdqBody, 100);
    await throughput(port, invUrl, invBody, 100);
    const v: number[] = [];
    const inv: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which path goes first, so neither always runs on a warmer machine.
      const runV = () => throughput(port, vcmdqUrl, vcmdqBody, REQUESTS_PER_ROUND);
      const runInv = () => throughput(port, invUrl, invBody, REQUESTS_PER_ROUND);
      let vr: number;
      let ir: number;
      if (r % 2 === 0) {
        vr = await runV();
        ir = await runInv();
      } else {
        ir = await runInv();
        vr = await runV();
      }
      v.push(vr);
      inv.push(ir);
      ratios.push(vr / ir);
    }
    return { vcmdq: median(v), invalidate: median(inv), ratio: median(ratios), ratios };
  } finally {
    await b.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runVcmdqBench();
  console.log(`vCMDQ 256-command batches over HTTP: ${Math.round(r.vcmdq).toLocaleString()} commands/s`);
  console.log(`invalidate path, same commands:     ${Math.round(r.invalidate).toLocaleString()} commands/s`);
  console.log(`per-round ratios: ${[...r.ratios].sort((a, b) => a - b).map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`ratio vCMDQ / invalidate (median of rounds): ${r.ratio.toFixed(2)} (target ≥ 0.8) ${r.ratio >= 0.8 ? 'PASS' : 'MISS'}`);
}
