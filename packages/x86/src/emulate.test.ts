/**
 * The instruction emulator on its own: a vCPU made of plain objects (no KVM), one
 * instruction at a time, and what it hands back through X86EmulateVcpu / X86EmulateOps.
 * (kvm_intel and kvm_amd run it through KVM: packages/vmx/src/emulate.test.ts and the
 * guest suite on both backends.)
 */
import { describe, expect, it } from "vitest";
import type { X86Registers64 } from "./cpu-state.js";
import {
  segmentAccessRights,
  segmentFields,
  X86_SHADOW_INT_STI,
  X86EMUL_CONTINUE,
  X86EMUL_IO_NEEDED,
  X86EMUL_PROPAGATE_FAULT,
  X86EMUL_UNHANDLEABLE,
  X86EmulateCtxt,
  type X86EmulateOps,
  type X86EmulateSregs,
  type X86EmulateVcpu,
  type X86SegmentFields,
  x86EmulateInsn,
} from "./emulate.js";

const real = (selector: number, type: number): X86SegmentFields => ({
  selector,
  base: BigInt(selector * 16),
  limit: 0xffff,
  type,
  present: 1,
  dpl: 0,
  db: 0,
  s: 1,
  l: 0,
  g: 0,
  avl: 0,
  unusable: 0,
});

/** A real-mode vCPU over 64 KiB of RAM, recording every write-back. */
class FakeVcpu implements X86EmulateVcpu {
  readonly ram = new Uint8Array(0x1_0000);
  readonly fx = new Uint8Array(512);
  regs: X86Registers64 = {
    rax: 0n,
    rbx: 0n,
    rcx: 0n,
    rdx: 0n,
    rsi: 0n,
    rdi: 0n,
    rsp: 0x8000n,
    rbp: 0n,
    r8: 0n,
    r9: 0n,
    r10: 0n,
    r11: 0n,
    r12: 0n,
    r13: 0n,
    r14: 0n,
    r15: 0n,
    rip: 0x1000n,
    rflags: 2n,
  };
  readonly sregs: X86EmulateSregs = {
    es: real(0, 3),
    cs: real(0, 11),
    ss: real(0, 3),
    ds: real(0, 3),
    fs: real(0, 3),
    gs: real(0, 3),
    tr: { ...real(0, 11), s: 0 },
    ldt: { ...real(0, 2), s: 0 },
    gdt: { base: 0n, limit: 0xffff },
    idt: { base: 0n, limit: 0x3ff },
    cr0: 0x10n,
    cr2: 0n,
    cr3: 0n,
    cr4: 0n,
    cr8: 0n,
    efer: 0n,
  };
  readonly log: string[] = [];
  shadow = 0;
  insn: number[] = [];

  ramGeneration = () => 1;
  ramRanges = () => [{ base: 0, bytes: this.ram, readonly: false }];
  ramByte = (gpa: number) => (gpa < this.ram.length ? this.ram[gpa]! : -1);
  cpuidSource = () => (_leaf: number, _sub: number, out: Int32Array) => out.fill(0);
  getRegs = () => ({ ...this.regs });
  getSregs = () => this.sregs;
  fxsaveImage = () => this.fx;
  fxsaveChanged = () => this.log.push("fxsave");
  writeGpr = (reg: number, value: bigint) => this.log.push(`gpr${reg}=${value.toString(16)}`);
  setSegment = (seg: X86SegmentFields, sreg: number) =>
    this.log.push(`seg${sreg}=${seg.selector.toString(16)}@${seg.base.toString(16)}`);
  writeRip = (rip: bigint) => this.log.push(`rip=${rip.toString(16)}`);
  setRflags = (rflags: number) => this.log.push(`rflags=${rflags.toString(16)}`);
  getInterruptShadow = () => this.shadow;
  setInterruptShadow = (mask: number) => this.log.push(`shadow=${mask}`);
  queueException = (vector: number, error: number | undefined, cr2?: bigint) =>
    this.log.push(
      `exception ${vector} ${error ?? "-"} ${cr2 === undefined ? "-" : cr2.toString(16)}`,
    );
  setInsnBytes = (bytes: Uint8Array) => {
    this.insn = [...bytes];
  };
}

/** I/O that leaves RAM: MMIO above 64 KiB and ports, answered from queues. */
class FakeOps implements X86EmulateOps {
  readonly calls: string[] = [];
  mmio: number[] | null = [0x78, 0x56, 0x34, 0x12];
  portIn: number[] | null = [0xab];
  readEmulated(gpa: number, dst: Uint8Array): number {
    this.calls.push(`read ${gpa.toString(16)}/${dst.length}`);
    if (!this.mmio) return X86EMUL_IO_NEEDED;
    dst.set(this.mmio.slice(0, dst.length));
    return X86EMUL_CONTINUE;
  }
  writeEmulated(gpa: number, src: Uint8Array): number {
    this.calls.push(`write ${gpa.toString(16)} ${[...src].join(",")}`);
    return X86EMUL_CONTINUE;
  }
  pioInEmulated(size: number, port: number, count: number, dst: Uint8Array): number {
    this.calls.push(`in ${port.toString(16)} ${size}x${count}`);
    if (!this.portIn) return X86EMUL_IO_NEEDED;
    dst.set(this.portIn.slice(0, dst.length));
    return X86EMUL_CONTINUE;
  }
  pioOutEmulated(size: number, port: number, count: number, src: Uint8Array): number {
    this.calls.push(`out ${port.toString(16)} ${size}x${count} ${[...src].join(",")}`);
    return X86EMUL_CONTINUE;
  }
}

function emulate(code: number[], setup?: (v: FakeVcpu) => void) {
  const vcpu = new FakeVcpu();
  vcpu.ram.set(code, 0x1000);
  setup?.(vcpu);
  const ops = new FakeOps();
  const ctxt = new X86EmulateCtxt();
  return { vcpu, ops, run: (skipOnly = false) => x86EmulateInsn(ctxt, vcpu, ops, skipOnly) };
}

describe("x86EmulateInsn without a hypervisor", () => {
  it("a store to memory outside RAM is one writeEmulated; RIP moves past it", () => {
    const { vcpu, ops, run } = emulate([0xc6, 0x06, 0x10, 0x00, 0x5a], (v) => {
      v.sregs.ds = real(0x2000, 3); // mov byte [0x10], 0x5a → 0x20010, outside RAM
    });
    expect(run()).toBe(X86EMUL_CONTINUE);
    expect(ops.calls).toEqual(["write 20010 90"]);
    expect(vcpu.insn).toEqual([0xc6, 0x06, 0x10, 0x00, 0x5a]);
    expect(vcpu.log).toEqual(["rip=1005"]);
  });

  it("a load from outside RAM waits for its data (IO_NEEDED, nothing written back), then completes", () => {
    const { vcpu, ops, run } = emulate([0x66, 0xa1, 0x00, 0x00], (v) => {
      v.sregs.ds = real(0x3000, 3); // mov eax, [0] → 0x30000
    });
    ops.mmio = null;
    expect(run()).toBe(X86EMUL_IO_NEEDED);
    expect(vcpu.log).toEqual([]);
    ops.mmio = [0x78, 0x56, 0x34, 0x12];
    expect(run()).toBe(X86EMUL_CONTINUE);
    expect(vcpu.log).toEqual(["gpr0=12345678", "rip=1004"]);
  });

  it("REP OUTSB hands every byte to one pioOutEmulated after the instruction retired", () => {
    const { vcpu, ops, run } = emulate([0xf3, 0x6e], (v) => {
      v.ram.set([0x48, 0x69, 0x21], 0x2000);
      v.regs.rsi = 0x2000n;
      v.regs.rcx = 3n;
      v.regs.rdx = 0xe9n;
    });
    expect(run()).toBe(X86EMUL_CONTINUE);
    expect(ops.calls).toEqual(["out e9 1x3 72,105,33"]);
    expect(vcpu.log).toEqual(["gpr1=0", "gpr6=2003", "rip=1002"]);
  });

  it("IN asks for the port's data before the instruction consumes it", () => {
    const { vcpu, ops, run } = emulate([0xe4, 0x60]); // in al, 0x60
    expect(run()).toBe(X86EMUL_CONTINUE);
    expect(ops.calls).toEqual(["in 60 1x1"]);
    expect(vcpu.log).toEqual(["gpr0=ab", "rip=1002"]);
  });

  it("a far JMP loads CS through setSegment before RIP", () => {
    const { vcpu, run } = emulate([0xea, 0x34, 0x12, 0x00, 0x20]); // jmp 0x2000:0x1234
    expect(run()).toBe(X86EMUL_CONTINUE);
    expect(vcpu.log).toEqual(["seg1=2000@20000", "rip=1234"]);
  });

  it("STI opens an interrupt shadow over the next instruction", () => {
    const { vcpu, run } = emulate([0xfb]);
    expect(run()).toBe(X86EMUL_CONTINUE);
    expect(vcpu.log).toEqual(["rip=1001", "rflags=202", `shadow=${X86_SHADOW_INT_STI}`]);
  });

  it("a #GP is queued, not delivered; INT n and MOV to CR0 are not emulated", () => {
    const gp = emulate([0x0f, 0x20, 0xc0], (v) => {
      v.sregs.cr0 = 0x11n; // protected mode…
      v.sregs.cs = { ...real(0, 11), dpl: 3, selector: 3 }; // …at CPL 3: mov eax, cr0 → #GP(0)
      v.sregs.ss = { ...real(0, 3), dpl: 3, selector: 3 };
    });
    expect(gp.run()).toBe(X86EMUL_PROPAGATE_FAULT);
    expect(gp.vcpu.log).toEqual(["exception 13 0 -"]);
    expect(emulate([0xcd, 0x10]).run()).toBe(X86EMUL_UNHANDLEABLE);
    expect(emulate([0x0f, 0x22, 0xc0]).run()).toBe(X86EMUL_UNHANDLEABLE);
  });

  it("skip-only moves RIP past the instruction and executes nothing", () => {
    const { vcpu, ops, run } = emulate([0xe6, 0xe9]);
    expect(run(true)).toBe(X86EMUL_CONTINUE);
    expect(ops.calls).toEqual([]);
    expect(vcpu.log).toEqual(["rip=1002"]);
  });

  it("segment fields and the core's access-rights word convert both ways", () => {
    const cs = { ...real(0x10, 11), db: 1, g: 1, limit: 0xffff_ffff, base: 0n };
    const ar = segmentAccessRights(cs);
    expect(ar).toBe(0xc09b);
    expect(segmentFields(0x10, 0n, 0xffff_ffff, ar)).toEqual(cs);
    expect(segmentAccessRights({ ...cs, unusable: 1 })).toBe(1 << 16);
  });
});
