import { describe, expect, it } from "vitest";
import {
  KVM_CREATE_PIT2,
  KVM_GET_PIT2,
  KVM_PIT_FLAGS_SPEAKER_DATA_ON,
  KVM_SET_PIT2,
  kvmIoctlName,
} from "./kvm.js";
import {
  decodeKvmPitState2,
  encodeKvmPitState2,
  KVM_PIT_STATE2_SIZE,
  type KvmPitChannelState,
} from "./structs.js";

const channel = (n: number): KvmPitChannelState => ({
  count: 0x1_0000 - n,
  latchedCount: 0x1234 + n,
  countLatched: 3,
  statusLatched: 1,
  status: 0x36,
  readState: 3,
  writeState: 4,
  writeLatch: 0x9c,
  rwMode: 3,
  mode: n === 0 ? 2 : 3,
  bcd: 0,
  gate: n === 2 ? 0 : 1,
  countLoadTime: 123_456_789_000n + BigInt(n),
});

describe("struct kvm_pit_state2 and the PIT ioctls", () => {
  it("has Linux's request numbers", () => {
    expect(KVM_CREATE_PIT2 >>> 0).toBe(0x4040_ae77);
    expect(KVM_GET_PIT2 >>> 0).toBe(0x8070_ae9f);
    expect(KVM_SET_PIT2 >>> 0).toBe(0x4070_aea0);
    expect(kvmIoctlName(KVM_SET_PIT2)).toBe("KVM_SET_PIT2");
  });

  it("round-trips at Linux's offsets: channel n at 24·n, count_load_time at +16, flags at 72", () => {
    const state = {
      channels: [channel(0), channel(1), channel(2)],
      flags: KVM_PIT_FLAGS_SPEAKER_DATA_ON,
    };
    const buf = encodeKvmPitState2(state);
    expect(buf.length).toBe(KVM_PIT_STATE2_SIZE);
    const dv = new DataView(buf.buffer);
    expect(dv.getUint32(24, true)).toBe(0xffff);
    expect(dv.getUint8(24 + 13)).toBe(3); // channel 1's mode
    expect(dv.getUint8(48 + 15)).toBe(0); // channel 2's gate
    expect(dv.getBigInt64(16, true)).toBe(123_456_789_000n);
    expect(dv.getUint32(72, true)).toBe(2);
    expect(decodeKvmPitState2(buf)).toEqual(state);
  });
});
