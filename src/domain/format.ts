/** How 64-bit values are written in every API shape (api.md "Conventions"). */

/** 64-bit words (STE, commands): "0x" + 16 lowercase hex digits. */
export const word64 = (v: bigint): string => '0x' + v.toString(16).padStart(16, '0');
/** Addresses and lengths: "0x" + lowercase hex digits. */
export const addr64 = (v: bigint): string => '0x' + v.toString(16);
