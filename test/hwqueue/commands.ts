/** Command streams the VCMDQ tests write (test/hwqueue/prod-commit.test.ts, test/reliability/vcmdq-crash.test.ts). */

/** Guest IOVA of the queue mappings these tests make. */
export const A = 0x40000000;
export const hex = (n: number) => `0x${n.toString(16)}`;

/** `n` raw commands: TLBI_NH_VA with ASID `asid` and an address per entry, the last a CMD_SYNC. */
export function commands(n: number, asid: number, salt = 0): Buffer {
  const buf = Buffer.alloc(n * 16);
  for (let i = 0; i < n; i++) {
    if (i === n - 1) {
      buf.writeUInt32LE(0x46, i * 16);
      continue;
    }
    buf.writeBigUInt64LE(0x12n | (BigInt(asid) << 48n), i * 16);
    buf.writeBigUInt64LE(0x401n | (BigInt(i + salt) << 12n), i * 16 + 8);
  }
  return buf;
}
