import { describe, expect, it } from "vitest";
import {
  AddressSpace,
  memoryRegionAddSubregion,
  memoryRegionInit,
  memoryRegionInitRam,
} from "../../system/memory.js";
import {
  type CPUX86State,
  DESC_A_MASK,
  DESC_B_MASK,
  DESC_CS_MASK,
  DESC_G_MASK,
  DESC_L_MASK,
  DESC_P_MASK,
  DESC_R_MASK,
  DESC_S_MASK,
  DESC_TYPE_SHIFT,
  DESC_W_MASK,
  R_CS,
  R_DS,
  R_ES,
  R_FS,
  R_GS,
  R_SS,
  type SegmentCache,
  type X86CPU,
  x86UpdateHflags,
} from "./cpu.js";
import { CPU_DUMP_CODE, cpuMemoryReadDebug, x86CpuDumpState } from "./cpu-dump.js";

const seg = (selector: number, base: bigint, limit: number, flags: number): SegmentCache => ({
  selector,
  base,
  limit,
  flags,
});

const DATA = DESC_P_MASK | DESC_S_MASK | DESC_W_MASK | DESC_A_MASK;
const CODE = DESC_P_MASK | DESC_S_MASK | DESC_CS_MASK | DESC_R_MASK | DESC_A_MASK;

/** A CPU in the state x86_cpu_reset_hold leaves (what KVM_GET_SREGS returns after reset). */
function resetCpu(): X86CPU {
  const env = {
    regs: new Array(16).fill(0n),
    eip: 0xfff0n,
    eflags: 2,
    segs: [
      seg(0, 0n, 0xffff, DATA),
      seg(0xf000, 0xffff_0000n, 0xffff, CODE),
      seg(0, 0n, 0xffff, DATA),
      seg(0, 0n, 0xffff, DATA),
      seg(0, 0n, 0xffff, DATA),
      seg(0, 0n, 0xffff, DATA),
    ],
    ldt: seg(0, 0n, 0xffff, DESC_P_MASK | (2 << DESC_TYPE_SHIFT)),
    tr: seg(0, 0n, 0xffff, DESC_P_MASK | (11 << DESC_TYPE_SHIFT)),
    gdt: { base: 0n, limit: 0xffff },
    idt: { base: 0n, limit: 0xffff },
    cr: [0x6000_0010n, 0n, 0n, 0n, 0n],
    efer: 0n,
    dr: [0n, 0n, 0n, 0n, 0xffff_0ff0n, 0x400n, 0xffff_0ff0n, 0x400n],
    a20Mask: ~0,
    hflags: 0,
  } as Partial<CPUX86State> as CPUX86State;
  env.regs[2] = 0x663n;
  x86UpdateHflags(env);
  return { env, halted: 0 } as Partial<X86CPU> as X86CPU;
}

/** 1 MiB of RAM at 0 (the rest of the space unassigned), as address_space_memory. */
function ramSpace(): { as: AddressSpace; ram: Uint8Array } {
  const root = memoryRegionInit("m", "system", 2 ** 40);
  const ram = new Uint8Array(0x10_0000);
  memoryRegionAddSubregion(root, 0, memoryRegionInitRam("m", "ram", ram));
  return { as: new AddressSpace("memory", root, true), ram };
}

describe("x86_cpu_dump_state", () => {
  it("prints the reset state as qemu-system-x86_64 does (real mode: no type decode)", () => {
    expect(x86CpuDumpState(resetCpu(), 0)).toBe(
      [
        "EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000663",
        "ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000",
        "EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0",
        "ES =0000 00000000 0000ffff 00009300",
        "CS =f000 ffff0000 0000ffff 00009b00",
        "SS =0000 00000000 0000ffff 00009300",
        "DS =0000 00000000 0000ffff 00009300",
        "FS =0000 00000000 0000ffff 00009300",
        "GS =0000 00000000 0000ffff 00009300",
        "LDT=0000 00000000 0000ffff 00008200",
        "TR =0000 00000000 0000ffff 00008b00",
        "GDT=     00000000 0000ffff",
        "IDT=     00000000 0000ffff",
        "CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000",
        "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 ",
        "DR6=00000000ffff0ff0 DR7=0000000000000400",
        "EFER=0000000000000000",
        "",
      ].join("\n"),
    );
  });

  it("decodes segments in 32-bit protected mode, flags and CPL included", () => {
    const cpu = resetCpu();
    const env = cpu.env;
    env.cr[0] = 0x6000_0011n;
    env.segs[R_CS] = seg(0x1b, 0n, 0xffff_ffff, CODE | DESC_B_MASK | DESC_G_MASK | (3 << 13));
    env.segs[R_SS] = seg(0x23, 0n, 0xffff_ffff, DATA | DESC_B_MASK | DESC_G_MASK | (3 << 13));
    env.segs[R_DS] = seg(0x10, 0x1000n, 0xfff, DESC_P_MASK | DESC_S_MASK | (1 << 10));
    env.segs[R_FS] = seg(0, 0n, 0, 0);
    env.tr = seg(0x28, 0x2000n, 0x67, DESC_P_MASK | (11 << DESC_TYPE_SHIFT));
    env.eflags = 0x2 | 0x1 | 0x40 | 0x80 | 0x400 | 0x800;
    x86UpdateHflags(env);
    const lines = x86CpuDumpState(cpu, 0).split("\n");
    expect(lines[2]).toBe("EIP=0000fff0 EFL=00000cc3 [DOSZ--C] CPL=3 II=0 A20=1 SMM=0 HLT=0");
    expect(lines.slice(3, 11)).toEqual([
      "ES =0000 00000000 0000ffff 00009300 DPL=0 DS16 [-WA]",
      "CS =001b 00000000 ffffffff 00c0fb00 DPL=3 CS32 [-RA]",
      "SS =0023 00000000 ffffffff 00c0f300 DPL=3 DS   [-WA]",
      "DS =0010 00001000 00000fff 00009400 DPL=0 DS16 [E--]",
      "FS =0000 00000000 00000000 00000000",
      "GS =0000 00000000 0000ffff 00009300 DPL=0 DS16 [-WA]",
      "LDT=0000 00000000 0000ffff 00008200 DPL=0 LDT",
      "TR =0028 00002000 00000067 00008b00 DPL=0 TSS32-busy",
    ]);
    expect(lines[13]).toBe("CR0=60000011 CR2=00000000 CR3=00000000 CR4=00000000");
  });

  it("uses the RAX layout with a 64-bit code segment, 16-digit tables in long mode", () => {
    const cpu = resetCpu();
    const env = cpu.env;
    for (let i = 0; i < 16; i++) env.regs[i] = BigInt(i) * 0x1_0000_0001n;
    env.eip = 0xffff_ffff_8100_0000n;
    env.cr[0] = 0x8005_0033n;
    env.cr[2] = 0xdead_beef_0000n;
    env.cr[3] = 0x1_0000n;
    env.cr[4] = 0x20n;
    env.efer = 0xd01n;
    env.segs[R_CS] = seg(0x10, 0n, 0xffff_ffff, CODE | DESC_L_MASK | DESC_G_MASK);
    for (const r of [R_ES, R_SS, R_DS, R_FS, R_GS]) env.segs[r] = seg(0x18, 0n, 0xffff_ffff, DATA);
    env.gdt = { base: 0xffff_8880_0000_1000n, limit: 0x7f };
    env.tr = seg(0x40, 0xffff_fe00_0000_3000n, 0x4087, DESC_P_MASK | (11 << DESC_TYPE_SHIFT));
    x86UpdateHflags(env);
    const lines = x86CpuDumpState(cpu, 0).split("\n");
    expect(lines.slice(0, 5)).toEqual([
      "RAX=0000000000000000 RBX=0000000300000003 RCX=0000000100000001 RDX=0000000200000002",
      "RSI=0000000600000006 RDI=0000000700000007 RBP=0000000500000005 RSP=0000000400000004",
      "R8 =0000000800000008 R9 =0000000900000009 R10=0000000a0000000a R11=0000000b0000000b",
      "R12=0000000c0000000c R13=0000000d0000000d R14=0000000e0000000e R15=0000000f0000000f",
      "RIP=ffffffff81000000 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0",
    ]);
    expect(lines[6]).toBe("CS =0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]");
    expect(lines[7]).toBe("SS =0018 0000000000000000 ffffffff 00009300 DPL=0 DS   [-WA]");
    expect(lines[12]).toBe("TR =0040 fffffe0000003000 00004087 00008b00 DPL=0 TSS64-busy");
    expect(lines.slice(13, 16)).toEqual([
      "GDT=     ffff888000001000 0000007f",
      "IDT=     0000000000000000 0000ffff",
      "CR0=80050033 CR2=0000deadbeef0000 CR3=0000000000010000 CR4=00000020",
    ]);
    expect(lines[18]).toBe("EFER=0000000000000d01");
  });
});

describe("Code= (CPU_DUMP_CODE)", () => {
  it("shows 20 bytes before EIP, the byte at EIP in <..>, 50 in all", () => {
    const { as, ram } = ramSpace();
    const cpu = resetCpu();
    cpu.env.segs[R_CS] = seg(0x1000, 0x1_0000n, 0xffff, CODE);
    cpu.env.eip = 0x100n;
    for (let i = 0; i < 50; i++) ram[0x1_0100 - 20 + i] = i;
    const code = x86CpuDumpState(cpu, CPU_DUMP_CODE, as).split("\n").at(-2);
    const bytes = Array.from({ length: 50 }, (_, i) => i.toString(16).padStart(2, "0"));
    bytes[20] = `<${bytes[20]}>`;
    expect(code).toBe(`Code=${bytes.join(" ")}`);
  });

  it("starts at CS.base when EIP < 20, and prints ?? where nothing is mapped", () => {
    const { as } = ramSpace();
    const cpu = resetCpu();
    cpu.env.segs[R_CS] = seg(0xfff0, 0xf_fff0n, 0xffff, CODE);
    cpu.env.eip = 3n;
    const code = x86CpuDumpState(cpu, CPU_DUMP_CODE, as).split("\n").at(-2);
    // 0xFFFF0..0xFFFFF is RAM (16 bytes), from 0x100000 on nothing.
    expect(code).toBe(`Code=00 00 00 <00> ${"00 ".repeat(12)}${"?? ".repeat(33)}??`);
  });

  it("translates through 32-bit and 4-level page tables", () => {
    const { as, ram } = ramSpace();
    const dv = new DataView(ram.buffer);
    const env = resetCpu().env;
    env.cr[0] = 0x8000_0011n;
    // 32-bit paging: PD at 0x1000, PT at 0x2000, linear 0x40001000 → 0x5000.
    env.cr[3] = 0x1000n;
    dv.setUint32(0x1000 + (0x40001000 >>> 22) * 4, 0x2000 | 3, true);
    dv.setUint32(0x2000 + 1 * 4, 0x5000 | 3, true);
    ram[0x5123] = 0xab;
    x86UpdateHflags(env);
    expect(cpuMemoryReadDebug(env, as, 0x4000_1123n)).toBe(0xab);
    expect(cpuMemoryReadDebug(env, as, 0x4000_2123n)).toBeNull(); // PTE not present
    // 4-level: PML4 0x10000 → PDPT 0x11000 → PD 0x12000 with a 2 MiB page at 0.
    env.cr[3] = 0x1_0000n;
    env.cr[4] = 0x20n;
    env.efer = 0x500n;
    const la = 0xffff_8000_0020_0000n + 0x5123n;
    const pml4i = Number((la >> 39n) & 0x1ffn);
    const pdpti = Number((la >> 30n) & 0x1ffn);
    const pdi = Number((la >> 21n) & 0x1ffn);
    dv.setUint32(0x1_0000 + pml4i * 8, 0x1_1000 | 3, true);
    dv.setUint32(0x1_1000 + pdpti * 8, 0x1_2000 | 3, true);
    dv.setUint32(0x1_2000 + pdi * 8, 0x0 | 0x83, true);
    x86UpdateHflags(env);
    expect(cpuMemoryReadDebug(env, as, la)).toBe(0xab);
  });
});
