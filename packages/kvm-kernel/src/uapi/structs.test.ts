import { describe, expect, it } from "vitest";
import * as structs from "./structs.js";
import {
  decodeKvmClockData,
  decodeKvmCpuid2,
  decodeKvmCpuidEntry2,
  decodeKvmDebugregs,
  decodeKvmDirtyLog,
  decodeKvmDtable,
  decodeKvmEnableCap,
  decodeKvmFpu,
  decodeKvmGuestDebug,
  decodeKvmInterrupt,
  decodeKvmIoeventfd,
  decodeKvmIrqfd,
  decodeKvmIrqLevel,
  decodeKvmMpState,
  decodeKvmMsrList,
  decodeKvmMsrs,
  decodeKvmOneReg,
  decodeKvmPitConfig,
  decodeKvmRegs,
  decodeKvmSegment,
  decodeKvmSignalMask,
  decodeKvmSregs,
  decodeKvmSregs2,
  decodeKvmTranslation,
  decodeKvmUserspaceMemoryRegion,
  decodeKvmVcpuEvents,
  decodeKvmXcrs,
  emptyKvmFpu,
  emptyKvmRegs,
  emptyKvmSegment,
  emptyKvmSregs,
  emptyKvmVcpuEvents,
  encodeKvmClockData,
  encodeKvmCpuid2,
  encodeKvmCpuidEntry2,
  encodeKvmDebugregs,
  encodeKvmDirtyLog,
  encodeKvmDtable,
  encodeKvmEnableCap,
  encodeKvmFpu,
  encodeKvmGuestDebug,
  encodeKvmInterrupt,
  encodeKvmIoeventfd,
  encodeKvmIrqfd,
  encodeKvmIrqLevel,
  encodeKvmMpState,
  encodeKvmMsrList,
  encodeKvmMsrs,
  encodeKvmOneReg,
  encodeKvmPitConfig,
  encodeKvmRegs,
  encodeKvmSegment,
  encodeKvmSignalMask,
  encodeKvmSregs,
  encodeKvmSregs2,
  encodeKvmTranslation,
  encodeKvmUserspaceMemoryRegion,
  encodeKvmVcpuEvents,
  encodeKvmXcrs,
  KVM_REGS_FIELDS,
  type KvmCpuidEntry2,
  type KvmFpu,
  type KvmRegs,
  type KvmSegment,
  type KvmSregs,
  type KvmSregs2,
  type KvmVcpuEvents,
  kvmCpuid2Nent,
  kvmMsrListNmsrs,
  kvmMsrsNmsrs,
} from "./structs.js";

// ---------------------------------------------------------------------------------------
// Layout checking: a field is [offset, width, value] or [offset, bytes]. Every listed field
// must hold its value at its reference offset and every other byte of the struct must be 0,
// so a field at the wrong offset or of the wrong width fails.

type Field = readonly [number, 1 | 2 | 4 | 8, number | bigint] | readonly [number, Uint8Array];

function expectLayout(buf: Uint8Array, size: number, fields: readonly Field[], base = 0): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const covered = new Uint8Array(size);
  for (const field of fields) {
    const off = field[0];
    if (field.length === 2) {
      const bytes = field[1];
      expect(buf.subarray(base + off, base + off + bytes.length), `bytes @${off}`).toEqual(bytes);
      covered.fill(1, off, off + bytes.length);
      continue;
    }
    const [, width, value] = field;
    const o = base + off;
    const got =
      width === 1
        ? dv.getUint8(o)
        : width === 2
          ? dv.getUint16(o, true)
          : width === 4
            ? dv.getUint32(o, true)
            : dv.getBigUint64(o, true);
    expect(got, `field @${off} (${width} bytes)`).toBe(value);
    covered.fill(1, off, off + width);
  }
  for (let i = 0; i < size; i++) {
    if (!covered[i]) expect(buf[base + i], `padding/reserved byte @${i}`).toBe(0);
  }
}

/** A buffer full of junk, so encoders must zero the padding themselves. */
function dirty(size: number): Uint8Array {
  return new Uint8Array(size).fill(0xa5);
}

const BIG = 0xfedc_ba98_7654_3210n; // above 2^63
const MID = 0x0020_0000_0000_0001n; // above 2^53, not exact as a double

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed + 7 * i) % 255 || 1;
  return out;
}

function seg(k: number): KvmSegment {
  return {
    base: BIG + BigInt(k),
    limit: 0xfff0_0000 + k,
    selector: 0x8000 + k,
    type: 0x0b,
    present: 1,
    dpl: 3,
    db: 1,
    s: 1,
    l: 1,
    g: 1,
    avl: 1,
    unusable: 1,
  };
}

function segFields(base: number, s: KvmSegment): Field[] {
  return [
    [base + 0, 8, s.base],
    [base + 8, 4, s.limit],
    [base + 12, 2, s.selector],
    [base + 14, 1, s.type],
    [base + 15, 1, s.present],
    [base + 16, 1, s.dpl],
    [base + 17, 1, s.db],
    [base + 18, 1, s.s],
    [base + 19, 1, s.l],
    [base + 20, 1, s.g],
    [base + 21, 1, s.avl],
    [base + 22, 1, s.unusable],
  ];
}

const SAMPLE_REGS: KvmRegs = Object.fromEntries(
  KVM_REGS_FIELDS.map((name, i) => [name, (BIG ^ (BigInt(i) << 8n)) + BigInt(i)]),
) as unknown as KvmRegs;

const SAMPLE_SREGS: KvmSregs = {
  cs: seg(1),
  ds: seg(2),
  es: seg(3),
  fs: seg(4),
  gs: seg(5),
  ss: seg(6),
  tr: seg(7),
  ldt: seg(8),
  gdt: { base: BIG + 10n, limit: 0xfff1 },
  idt: { base: MID, limit: 0x0ff2 },
  cr0: 0x8005_0033n,
  cr2: BIG + 2n,
  cr3: MID + 3n,
  cr4: 0x0034_06e0n,
  cr8: 0xfn,
  efer: 0xd01n,
  apicBase: 0xfee0_0900n,
  interruptBitmap: [BIG, 1n << 63n, MID, 0x8000_0000_0000_0001n],
};

function sregsFields(s: KvmSregs): Field[] {
  const segs = [s.cs, s.ds, s.es, s.fs, s.gs, s.ss, s.tr, s.ldt];
  return [
    ...segs.flatMap((v, i) => segFields(24 * i, v)),
    [192, 8, s.gdt.base],
    [200, 2, s.gdt.limit],
    [208, 8, s.idt.base],
    [216, 2, s.idt.limit],
    [224, 8, s.cr0],
    [232, 8, s.cr2],
    [240, 8, s.cr3],
    [248, 8, s.cr4],
    [256, 8, s.cr8],
    [264, 8, s.efer],
    [272, 8, s.apicBase],
  ];
}

const SAMPLE_EVENTS: KvmVcpuEvents = {
  exception: { injected: 1, nr: 14, hasErrorCode: 1, pending: 1, errorCode: 0xdead_beef },
  interrupt: { injected: 1, nr: 0x20, soft: 1, shadow: 2 },
  nmi: { injected: 1, pending: 1, masked: 1 },
  sipiVector: 0x9a,
  flags: 0x3f,
  smi: { smm: 1, pending: 1, smmInsideNmi: 1, latchedInit: 1 },
  tripleFault: { pending: 1 },
  exceptionHasPayload: 1,
  exceptionPayload: BIG,
};

const SAMPLE_FPU: KvmFpu = {
  fpr: pattern(128, 3),
  fcw: 0x037f,
  fsw: 0x8001,
  ftwx: 0xc3,
  lastOpcode: 0x07ff,
  lastIp: BIG,
  lastDp: MID,
  xmm: pattern(256, 11),
  mxcsr: 0x1f80,
};

const CPUID_ENTRIES: KvmCpuidEntry2[] = [
  {
    function: 0,
    index: 0,
    flags: 0,
    eax: 0xd,
    ebx: 0x756e_6547,
    ecx: 0x6c65_746e,
    edx: 0x4965_6e69,
  },
  {
    function: 0x8000_0001,
    index: 7,
    flags: 1,
    eax: 0xffff_ffff,
    ebx: 0x8000_0000,
    ecx: 1,
    edx: 0x2c10_0800,
  },
];

// ---------------------------------------------------------------------------------------

describe("struct sizes (§4, §5)", () => {
  it.each([
    ["KVM_REGS_SIZE", 144],
    ["KVM_SEGMENT_SIZE", 24],
    ["KVM_DTABLE_SIZE", 16],
    ["KVM_SREGS_SIZE", 312],
    ["KVM_SREGS2_SIZE", 320],
    ["KVM_USERSPACE_MEMORY_REGION_SIZE", 32],
    ["KVM_USERSPACE_MEMORY_REGION2_SIZE", 160],
    ["KVM_MSRS_HEADER_SIZE", 8],
    ["KVM_MSR_ENTRY_SIZE", 16],
    ["KVM_MSR_LIST_HEADER_SIZE", 4],
    ["KVM_CPUID2_HEADER_SIZE", 8],
    ["KVM_CPUID_ENTRY2_SIZE", 40],
    ["KVM_CPUID_HEADER_SIZE", 8],
    ["KVM_FPU_SIZE", 416],
    ["KVM_VCPU_EVENTS_SIZE", 64],
    ["KVM_MP_STATE_SIZE", 4],
    ["KVM_GUEST_DEBUG_SIZE", 72],
    ["KVM_INTERRUPT_SIZE", 4],
    ["KVM_DIRTY_LOG_SIZE", 16],
    ["KVM_TRANSLATION_SIZE", 24],
    ["KVM_DEBUGREGS_SIZE", 128],
    ["KVM_ENABLE_CAP_SIZE", 104],
    ["KVM_SIGNAL_MASK_HEADER_SIZE", 4],
    ["KVM_XCRS_SIZE", 392],
    ["KVM_LAPIC_STATE_SIZE", 1024],
    ["KVM_IRQ_LEVEL_SIZE", 8],
    ["KVM_ONE_REG_SIZE", 16],
    ["KVM_XSAVE_SIZE", 4096],
    ["KVM_CLOCK_DATA_SIZE", 48],
    ["KVM_PIT_CONFIG_SIZE", 64],
    ["KVM_IRQCHIP_SIZE", 520],
    ["KVM_IRQ_ROUTING_HEADER_SIZE", 8],
    ["KVM_IRQFD_SIZE", 32],
    ["KVM_IOEVENTFD_SIZE", 64],
    ["KVM_NESTED_STATE_HEADER_SIZE", 128],
    ["KVM_PIT_STATE2_SIZE", 112],
    ["KVM_RUN_SIZE", 2352],
  ] as const)("%s = %i", (name, size) => {
    expect((structs as unknown as Record<string, unknown>)[name]).toBe(size);
  });

  it("default encode buffers have the struct's size", () => {
    expect(encodeKvmRegs(emptyKvmRegs())).toHaveLength(144);
    expect(encodeKvmSegment(emptyKvmSegment())).toHaveLength(24);
    expect(encodeKvmSregs(emptyKvmSregs())).toHaveLength(312);
    expect(encodeKvmFpu(emptyKvmFpu())).toHaveLength(416);
    expect(encodeKvmVcpuEvents(emptyKvmVcpuEvents())).toHaveLength(64);
    expect(
      encodeKvmMsrs([
        { index: 1, data: 2n },
        { index: 3, data: 4n },
      ]),
    ).toHaveLength(40);
    expect(encodeKvmCpuid2(CPUID_ENTRIES)).toHaveLength(88);
    expect(encodeKvmMsrList(3)).toHaveLength(16);
  });
});

describe("kvm_regs", () => {
  it("puts each register at 8·i in uapi order (rax, rbx, rcx, rdx, …)", () => {
    const buf = encodeKvmRegs(SAMPLE_REGS, dirty(144));
    expectLayout(buf, 144, [
      [0, 8, SAMPLE_REGS.rax],
      [8, 8, SAMPLE_REGS.rbx],
      [16, 8, SAMPLE_REGS.rcx],
      [24, 8, SAMPLE_REGS.rdx],
      [32, 8, SAMPLE_REGS.rsi],
      [40, 8, SAMPLE_REGS.rdi],
      [48, 8, SAMPLE_REGS.rsp],
      [56, 8, SAMPLE_REGS.rbp],
      [64, 8, SAMPLE_REGS.r8],
      [72, 8, SAMPLE_REGS.r9],
      [80, 8, SAMPLE_REGS.r10],
      [88, 8, SAMPLE_REGS.r11],
      [96, 8, SAMPLE_REGS.r12],
      [104, 8, SAMPLE_REGS.r13],
      [112, 8, SAMPLE_REGS.r14],
      [120, 8, SAMPLE_REGS.r15],
      [128, 8, SAMPLE_REGS.rip],
      [136, 8, SAMPLE_REGS.rflags],
    ]);
    expect(decodeKvmRegs(buf)).toEqual(SAMPLE_REGS);
  });

  it("empty is all zero; u64 wraps modulo 2^64", () => {
    expect(Object.values(emptyKvmRegs())).toEqual(new Array(18).fill(0n));
    const regs = { ...emptyKvmRegs(), rax: -1n, rbx: (1n << 64n) + 5n };
    const back = decodeKvmRegs(encodeKvmRegs(regs));
    expect(back.rax).toBe(0xffff_ffff_ffff_ffffn);
    expect(back.rbx).toBe(5n);
  });
});

describe("kvm_segment, kvm_dtable", () => {
  it("segment offsets", () => {
    const s = seg(9);
    const buf = encodeKvmSegment(s, dirty(24));
    expectLayout(buf, 24, segFields(0, s));
    expect(decodeKvmSegment(buf)).toEqual(s);
  });

  it("dtable offsets (limit is u16, then 6 bytes of padding)", () => {
    const d = { base: BIG, limit: 0xfedc };
    const buf = encodeKvmDtable(d, dirty(16));
    expectLayout(buf, 16, [
      [0, 8, BIG],
      [8, 2, 0xfedc],
    ]);
    expect(decodeKvmDtable(buf)).toEqual(d);
  });
});

describe("kvm_sregs, kvm_sregs2", () => {
  it("every field of kvm_sregs at its offset", () => {
    const buf = encodeKvmSregs(SAMPLE_SREGS, dirty(312));
    expectLayout(buf, 312, [
      ...sregsFields(SAMPLE_SREGS),
      [280, 8, SAMPLE_SREGS.interruptBitmap[0]],
      [288, 8, SAMPLE_SREGS.interruptBitmap[1]],
      [296, 8, SAMPLE_SREGS.interruptBitmap[2]],
      [304, 8, SAMPLE_SREGS.interruptBitmap[3]],
    ]);
    expect(decodeKvmSregs(buf)).toEqual(SAMPLE_SREGS);
  });

  it("kvm_sregs2: flags @280, pdptrs @288; no interrupt bitmap", () => {
    const s2: KvmSregs2 = {
      ...SAMPLE_SREGS,
      flags: 1n,
      pdptrs: [BIG, MID, 0x1000_0001n, 0x8000_0000_0000_1001n],
    };
    const buf = encodeKvmSregs2(s2, dirty(320));
    expectLayout(buf, 320, [
      ...sregsFields(s2),
      [280, 8, 1n],
      [288, 8, BIG],
      [296, 8, MID],
      [304, 8, 0x1000_0001n],
      [312, 8, 0x8000_0000_0000_1001n],
    ]);
    expect(decodeKvmSregs2(buf)).toEqual({ ...s2, interruptBitmap: [0n, 0n, 0n, 0n] });
  });

  it("empty sregs is all zero", () => {
    expect(encodeKvmSregs(emptyKvmSregs(), dirty(312))).toEqual(new Uint8Array(312));
  });
});

describe("kvm_userspace_memory_region", () => {
  it("offsets and round trip", () => {
    const r = {
      slot: 0x0001_0002,
      flags: 3,
      guestPhysAddr: 0x1_0000_0000n,
      memorySize: MID,
      userspaceAddr: BIG,
    };
    const buf = encodeKvmUserspaceMemoryRegion(r, dirty(32));
    expectLayout(buf, 32, [
      [0, 4, r.slot],
      [4, 4, 3],
      [8, 8, r.guestPhysAddr],
      [16, 8, MID],
      [24, 8, BIG],
    ]);
    expect(decodeKvmUserspaceMemoryRegion(buf)).toEqual(r);
  });
});

describe("kvm_msrs, kvm_msr_list", () => {
  const entries = [
    { index: 0xc000_0080, data: BIG },
    { index: 0x10, data: MID },
    { index: 0x1b, data: 0xfee0_0900n },
  ];

  it("nmsrs @0, pad @4, entries of 16 bytes from 8 (index @0, data @8)", () => {
    const buf = encodeKvmMsrs(entries, dirty(56));
    expectLayout(buf, 56, [
      [0, 4, 3],
      [8, 4, 0xc000_0080],
      [16, 8, BIG],
      [24, 4, 0x10],
      [32, 8, MID],
      [40, 4, 0x1b],
      [48, 8, 0xfee0_0900n],
    ]);
    expect(kvmMsrsNmsrs(buf)).toBe(3);
    expect(decodeKvmMsrs(buf)).toEqual(entries);
  });

  it("decodeKvmMsrs throws RangeError when nmsrs runs past the buffer", () => {
    const buf = encodeKvmMsrs(entries);
    expect(() => decodeKvmMsrs(buf.subarray(0, 55))).toThrow(RangeError);
    new DataView(buf.buffer).setUint32(0, 4, true);
    expect(() => decodeKvmMsrs(buf)).toThrow(RangeError);
    expect(() => decodeKvmMsrs(new Uint8Array(4))).toThrow(RangeError);
  });

  it("works at an offset inside a larger (shared) buffer", () => {
    const sab = new Uint8Array(new SharedArrayBuffer(128));
    const view = sab.subarray(16);
    encodeKvmMsrs(entries, view, 8);
    expect(new DataView(sab.buffer).getUint32(24, true)).toBe(3);
    expect(decodeKvmMsrs(sab, 24)).toEqual(entries);
  });

  it("msr list: nmsrs @0, u32 indices from 4", () => {
    const request = encodeKvmMsrList(4);
    expectLayout(request, 20, [[0, 4, 4]]);
    expect(kvmMsrListNmsrs(request)).toBe(4);

    const answer = encodeKvmMsrList(4, [0x174, 0xc000_0080]);
    expect(answer).toHaveLength(20);
    expectLayout(answer, 20, [
      [0, 4, 2],
      [4, 4, 0x174],
      [8, 4, 0xc000_0080],
    ]);
    expect(decodeKvmMsrList(answer)).toEqual([0x174, 0xc000_0080]);
    expect(() => decodeKvmMsrList(request.subarray(0, 19))).toThrow(RangeError);
  });
});

describe("kvm_cpuid2, kvm_cpuid_entry2", () => {
  it("nent @0, entries of 40 bytes from 8", () => {
    const buf = encodeKvmCpuid2(CPUID_ENTRIES, undefined, dirty(88));
    const [a, b] = CPUID_ENTRIES as [KvmCpuidEntry2, KvmCpuidEntry2];
    const entryFields = (base: number, e: KvmCpuidEntry2): Field[] => [
      [base + 0, 4, e.function],
      [base + 4, 4, e.index],
      [base + 8, 4, e.flags],
      [base + 12, 4, e.eax],
      [base + 16, 4, e.ebx],
      [base + 20, 4, e.ecx],
      [base + 24, 4, e.edx],
    ];
    expectLayout(buf, 88, [[0, 4, 2], ...entryFields(8, a), ...entryFields(48, b)]);
    expect(kvmCpuid2Nent(buf)).toBe(2);
    expect(decodeKvmCpuid2(buf)).toEqual(CPUID_ENTRIES);
    expect(decodeKvmCpuidEntry2(buf, 48)).toEqual(b);
    expect(decodeKvmCpuidEntry2(encodeKvmCpuidEntry2(b, dirty(40)))).toEqual(b);
  });

  it("a GET request: [] and a capacity give nent = capacity and zeroed room", () => {
    const buf = encodeKvmCpuid2([], 256);
    expect(buf).toHaveLength(8 + 40 * 256);
    expect(kvmCpuid2Nent(buf)).toBe(256);
    expect(buf.subarray(4).every((x) => x === 0)).toBe(true);
  });

  it("throws RangeError when nent runs past the buffer", () => {
    const buf = encodeKvmCpuid2(CPUID_ENTRIES);
    expect(() => decodeKvmCpuid2(buf.subarray(0, 87))).toThrow(RangeError);
  });
});

describe("kvm_fpu", () => {
  it("offsets and round trip", () => {
    const buf = encodeKvmFpu(SAMPLE_FPU, dirty(416));
    expectLayout(buf, 416, [
      [0, SAMPLE_FPU.fpr],
      [128, 2, 0x037f],
      [130, 2, 0x8001],
      [132, 1, 0xc3],
      [134, 2, 0x07ff],
      [136, 8, BIG],
      [144, 8, MID],
      [152, SAMPLE_FPU.xmm],
      [408, 4, 0x1f80],
    ]);
    const back = decodeKvmFpu(buf);
    expect(back).toEqual(SAMPLE_FPU);
    // decoded byte arrays are copies
    buf[0] = 0;
    expect(back.fpr[0]).toBe(SAMPLE_FPU.fpr[0]);
  });
});

describe("kvm_vcpu_events", () => {
  it("every field at its reference offset", () => {
    const buf = encodeKvmVcpuEvents(SAMPLE_EVENTS, dirty(64));
    expectLayout(buf, 64, [
      [0, 1, 1],
      [1, 1, 14],
      [2, 1, 1],
      [3, 1, 1],
      [4, 4, 0xdead_beef],
      [8, 1, 1],
      [9, 1, 0x20],
      [10, 1, 1],
      [11, 1, 2],
      [12, 1, 1],
      [13, 1, 1],
      [14, 1, 1],
      [16, 4, 0x9a],
      [20, 4, 0x3f],
      [24, 1, 1],
      [25, 1, 1],
      [26, 1, 1],
      [27, 1, 1],
      [28, 1, 1],
      [55, 1, 1],
      [56, 8, BIG],
    ]);
    expect(decodeKvmVcpuEvents(buf)).toEqual(SAMPLE_EVENTS);
  });

  it("distinct values survive a round trip", () => {
    const ev: KvmVcpuEvents = {
      exception: { injected: 2, nr: 3, hasErrorCode: 4, pending: 5, errorCode: 6 },
      interrupt: { injected: 7, nr: 8, soft: 9, shadow: 10 },
      nmi: { injected: 11, pending: 12, masked: 13 },
      sipiVector: 14,
      flags: 15,
      smi: { smm: 16, pending: 17, smmInsideNmi: 18, latchedInit: 19 },
      tripleFault: { pending: 20 },
      exceptionHasPayload: 21,
      exceptionPayload: MID,
    };
    expect(decodeKvmVcpuEvents(encodeKvmVcpuEvents(ev))).toEqual(ev);
    expect(encodeKvmVcpuEvents(emptyKvmVcpuEvents(), dirty(64))).toEqual(new Uint8Array(64));
  });
});

describe("kvm_guest_debug", () => {
  it("control @0, debugreg[8] from 8", () => {
    const dbg = {
      control: 0x0003_0003,
      debugreg: [BIG, MID, 3n, 4n, 5n, 6n, 0xffff_0ff0n, 0x400n],
    };
    const buf = encodeKvmGuestDebug(dbg, dirty(72));
    expectLayout(buf, 72, [
      [0, 4, 0x0003_0003],
      ...dbg.debugreg.map((v, i): Field => [8 + 8 * i, 8, v]),
    ]);
    expect(decodeKvmGuestDebug(buf)).toEqual(dbg);
    // missing entries encode as 0
    expect(decodeKvmGuestDebug(encodeKvmGuestDebug({ control: 1, debugreg: [] })).debugreg).toEqual(
      new Array(8).fill(0n),
    );
  });
});

describe("small structs", () => {
  it("kvm_dirty_log", () => {
    const v = { slot: 0x10005, dirtyBitmap: BIG };
    const buf = encodeKvmDirtyLog(v, dirty(16));
    expectLayout(buf, 16, [
      [0, 4, 0x10005],
      [8, 8, BIG],
    ]);
    expect(decodeKvmDirtyLog(buf)).toEqual(v);
  });

  it("kvm_translation", () => {
    const v = { linearAddress: BIG, physicalAddress: MID, valid: 1, writeable: 2, usermode: 3 };
    const buf = encodeKvmTranslation(v, dirty(24));
    expectLayout(buf, 24, [
      [0, 8, BIG],
      [8, 8, MID],
      [16, 1, 1],
      [17, 1, 2],
      [18, 1, 3],
    ]);
    expect(decodeKvmTranslation(buf)).toEqual(v);
  });

  it("kvm_debugregs", () => {
    const v = { db: [BIG, MID, 3n, 4n], dr6: 0xffff_0ff0n, dr7: 0x400n, flags: 1n << 63n };
    const buf = encodeKvmDebugregs(v, dirty(128));
    expectLayout(buf, 128, [
      [0, 8, BIG],
      [8, 8, MID],
      [16, 8, 3n],
      [24, 8, 4n],
      [32, 8, 0xffff_0ff0n],
      [40, 8, 0x400n],
      [48, 8, 1n << 63n],
    ]);
    expect(decodeKvmDebugregs(buf)).toEqual(v);
  });

  it("kvm_enable_cap", () => {
    const v = { cap: 121, flags: 0, args: [24n, BIG, MID, 1n] };
    const buf = encodeKvmEnableCap(v, dirty(104));
    expectLayout(buf, 104, [
      [0, 4, 121],
      [8, 8, 24n],
      [16, 8, BIG],
      [24, 8, MID],
      [32, 8, 1n],
    ]);
    expect(decodeKvmEnableCap(buf)).toEqual(v);
  });

  it("kvm_irq_level, kvm_mp_state, kvm_interrupt", () => {
    const lvl = { irq: 0xdead_0004, level: 1 };
    const buf = encodeKvmIrqLevel(lvl, dirty(8));
    expectLayout(buf, 8, [
      [0, 4, 0xdead_0004],
      [4, 4, 1],
    ]);
    expect(decodeKvmIrqLevel(buf)).toEqual(lvl);

    expectLayout(encodeKvmMpState(3), 4, [[0, 4, 3]]);
    expect(decodeKvmMpState(encodeKvmMpState(0xffff_fff0))).toBe(0xffff_fff0);
    expectLayout(encodeKvmInterrupt(0x20), 4, [[0, 4, 0x20]]);
    expect(decodeKvmInterrupt(encodeKvmInterrupt(255))).toBe(255);
  });

  it("kvm_signal_mask", () => {
    const sigset = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 0x80);
    const buf = encodeKvmSignalMask(sigset);
    expectLayout(buf, 12, [
      [0, 4, 8],
      [4, sigset],
    ]);
    expect(decodeKvmSignalMask(buf)).toEqual({ len: 8, sigset });
    expect(() => decodeKvmSignalMask(buf.subarray(0, 11))).toThrow(RangeError);
  });

  it("kvm_xcrs", () => {
    const v = { nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 0x7n }] };
    const buf = encodeKvmXcrs(v, dirty(392));
    expectLayout(buf, 392, [
      [0, 4, 1],
      [8, 4, 0],
      [16, 8, 7n],
    ]);
    expect(decodeKvmXcrs(buf)).toEqual(v);
    const many = { nrXcrs: 99, flags: 5, xcrs: [] };
    expect(decodeKvmXcrs(encodeKvmXcrs(many)).xcrs).toHaveLength(16);
    expect(() =>
      encodeKvmXcrs({ ...many, xcrs: new Array(17).fill({ xcr: 0, value: 0n }) }),
    ).toThrow(RangeError);
  });

  it("kvm_one_reg", () => {
    const v = { id: BIG, addr: MID };
    const buf = encodeKvmOneReg(v, dirty(16));
    expectLayout(buf, 16, [
      [0, 8, BIG],
      [8, 8, MID],
    ]);
    expect(decodeKvmOneReg(buf)).toEqual(v);
  });

  it("kvm_clock_data", () => {
    const v = { clock: MID, flags: 0xe, realtime: BIG, hostTsc: 0x1234_5678_9abcn };
    const buf = encodeKvmClockData(v, dirty(48));
    expectLayout(buf, 48, [
      [0, 8, MID],
      [8, 4, 0xe],
      [16, 8, BIG],
      [24, 8, 0x1234_5678_9abcn],
    ]);
    expect(decodeKvmClockData(buf)).toEqual(v);
  });

  it("kvm_pit_config", () => {
    const buf = encodeKvmPitConfig({ flags: 1 }, dirty(64));
    expectLayout(buf, 64, [[0, 4, 1]]);
    expect(decodeKvmPitConfig(buf)).toEqual({ flags: 1 });
  });

  it("kvm_irqfd", () => {
    const v = { fd: 7, gsi: 4, flags: 2, resamplefd: 8 };
    const buf = encodeKvmIrqfd(v, dirty(32));
    expectLayout(buf, 32, [
      [0, 4, 7],
      [4, 4, 4],
      [8, 4, 2],
      [12, 4, 8],
    ]);
    expect(decodeKvmIrqfd(buf)).toEqual(v);
  });

  it("kvm_ioeventfd (fd is s32)", () => {
    const v = { datamatch: BIG, addr: 0x3f8n, len: 1, fd: -1, flags: 3 };
    const buf = encodeKvmIoeventfd(v, dirty(64));
    expectLayout(buf, 64, [
      [0, 8, BIG],
      [8, 8, 0x3f8n],
      [16, 4, 1],
      [20, 4, 0xffff_ffff],
      [24, 4, 3],
    ]);
    expect(decodeKvmIoeventfd(buf)).toEqual(v);
  });
});

describe("buffers", () => {
  it("encode/decode at an offset in a SharedArrayBuffer subarray", () => {
    const whole = new Uint8Array(new SharedArrayBuffer(1024));
    const view = whole.subarray(100, 600);
    encodeKvmSregs(SAMPLE_SREGS, view, 50);
    expect(decodeKvmSregs(whole, 150)).toEqual(SAMPLE_SREGS);
    expect(whole.subarray(0, 150).every((x) => x === 0)).toBe(true);
    expect(whole.subarray(150 + 312).every((x) => x === 0)).toBe(true);
  });

  it("a struct that does not fit is a RangeError and nothing is written", () => {
    const buf = dirty(143);
    expect(() => encodeKvmRegs(SAMPLE_REGS, buf)).toThrow(RangeError);
    expect(buf.every((x) => x === 0xa5)).toBe(true);
    expect(() => decodeKvmRegs(new Uint8Array(200), 57)).toThrow(RangeError);
    expect(() => decodeKvmRegs(new Uint8Array(200), -1)).toThrow(RangeError);
  });
});
