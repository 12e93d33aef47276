/** The host inventory loaded into an empty database at first start (HOST_TOPOLOGY overrides it). */
export interface TopologyDevice {
  name: string;
  streamId: number;
  ats?: boolean;
  pasidBits?: number;
}
export interface TopologySmmu {
  name: string;
  idr?: number[];
  iidr?: number;
  aidr?: number;
  iotlbSize?: number;
  cmdqv?: { vintfs: number; vcmdqsPerVintf: number; sidsPerVintf: number; version?: number };
  devices?: TopologyDevice[];
}
export interface Topology {
  smmus: TopologySmmu[];
}

/** Two SMMUs (the second with a Tegra241 CMDQV), four devices each. */
export const BUILTIN_TOPOLOGY: Topology = {
  smmus: [
    {
      name: 'smmu0',
      devices: [
        { name: 'nic0', streamId: 0x100, ats: true },
        { name: 'nvme0', streamId: 0x101 },
        { name: 'gpu0', streamId: 0x102, ats: true, pasidBits: 20 },
        { name: 'accel0', streamId: 0x103, ats: true, pasidBits: 8 },
      ],
    },
    {
      name: 'smmu1',
      cmdqv: { vintfs: 4, vcmdqsPerVintf: 2, sidsPerVintf: 16, version: 1 },
      devices: [
        { name: 'nic1', streamId: 0x200, ats: true },
        { name: 'nvme1', streamId: 0x201 },
        { name: 'gpu1', streamId: 0x202, ats: true, pasidBits: 20 },
        { name: 'accel1', streamId: 0x203, ats: true, pasidBits: 8 },
      ],
    },
  ],
};
