/**
 * KVM_RUN end to end with guest bytes: the exits Linux gives userspace, how each one is
 * completed on the next KVM_RUN, and what stays in the kernel. Scenarios follow the KVM
 * selftests where one applies (immediate_exit, dirty log, memslot moves, debug).
 */
import { describe, expect, it } from "vitest";
import { readKvmStats } from "../src/index.js";
import {
  decodeKvmRegs,
  decodeKvmSregs,
  EINTR,
  encodeKvmCpuid2,
  encodeKvmDirtyLog,
  encodeKvmGuestDebug,
  encodeKvmInterrupt,
  encodeKvmRegs,
  encodeKvmSregs,
  encodeKvmUserspaceMemoryRegion,
  KVM_EXIT_DEBUG,
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_HLT,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_IRQ_WINDOW_OPEN,
  KVM_EXIT_MMIO,
  KVM_EXIT_SHUTDOWN,
  KVM_GET_DIRTY_LOG,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_SW_BP,
  KVM_INTERNAL_ERROR_EMULATION,
  KVM_INTERRUPT,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_RUN,
  KVM_SET_CPUID2,
  KVM_SET_GUEST_DEBUG,
  KVM_SET_REGS,
  KVM_SET_SIGNAL_MASK,
  KVM_SET_SREGS,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SYNC_X86_REGS,
  SIG_BLOCK,
  SIGUSR1,
} from "../src/uapi/index.js";
import { type Guest, guest, le32 } from "./setup.js";
import { TOY_CPUID } from "./toy-vendor.js";

const run = (g: Guest): number => g.proc.ioctl(g.vcpu, KVM_RUN, 0);

function regs(g: Guest) {
  const b = new Uint8Array(144);
  expect(g.proc.ioctl(g.vcpu, KVM_GET_REGS, b)).toBe(0);
  return decodeKvmRegs(b);
}

function setRegs(g: Guest, patch: Partial<ReturnType<typeof regs>>): void {
  expect(g.proc.ioctl(g.vcpu, KVM_SET_REGS, encodeKvmRegs({ ...regs(g), ...patch }))).toBe(0);
}

/** Point IVT entry `vector` at `handler` (the toy's vector table at guest-physical 0). */
function ivt(g: Guest, vector: number, handler: number): void {
  g.ram.set(le32(handler), vector * 4 - g.ramBase);
}

describe("port I/O (KVM_EXIT_IO)", () => {
  it("OUT: data at data_offset in the PIO page, RIP still on the OUT until the next KVM_RUN", () => {
    // mov eax,0x11223344; mov edx,0x3f8; out dx,eax; hlt
    const g = guest([0xb8, ...le32(0x1122_3344), 0xba, ...le32(0x3f8), 0xef, 0xf4]);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_IO);
    expect(g.run.ioDirection).toBe(KVM_EXIT_IO_OUT);
    expect([g.run.ioPort, g.run.ioSize, g.run.ioCount]).toEqual([0x3f8, 4, 1]);
    expect(g.run.ioDataOffset).toBe(4096n);
    expect([...g.run.ioData()]).toEqual([0x44, 0x33, 0x22, 0x11]);
    expect(regs(g).rip).toBe(0x100an);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    expect(regs(g).rip).toBe(0x100cn);
  });

  it("IN: userspace's bytes land in AL/AX on the next KVM_RUN, the rest of EAX kept", () => {
    // in al,0x60; in ax,0x61 (66 e5); hlt
    const g = guest([0xe4, 0x60, 0x66, 0xe5, 0x61, 0xf4]);
    // The toy CPU is 32-bit: RAX is EAX here.
    setRegs(g, { rax: 0xffff_ffffn });
    expect(run(g)).toBe(0);
    expect(g.run.ioDirection).toBe(KVM_EXIT_IO_IN);
    expect([g.run.ioPort, g.run.ioSize]).toEqual([0x60, 1]);
    g.run.ioData()[0] = 0xab;
    expect(run(g)).toBe(0);
    expect(regs(g).rax).toBe(0xffff_ffabn);
    expect([g.run.ioPort, g.run.ioSize]).toEqual([0x61, 2]);
    g.run.ioData().set([0x34, 0x12]);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    expect(regs(g).rax).toBe(0xffff_1234n);
  });

  it("OUT to port 0x7e is skipped before the exit (KVM_X86_QUIRK_OUT_7E_INC_RIP)", () => {
    const g = guest([0xe6, 0x7e, 0xf4]);
    expect(run(g)).toBe(0);
    expect(g.run.ioPort).toBe(0x7e);
    expect(regs(g).rip).toBe(0x1002n);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
  });

  it("userspace moving RIP during an OUT exit cancels the skip (complete_fast_pio_out)", () => {
    const g = guest([0xe6, 0x80, 0xf4, 0xf4]);
    expect(run(g)).toBe(0);
    setRegs(g, { rip: 0x1003n });
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    expect(regs(g).rip).toBe(0x1004n);
  });

  it("REP OUTSB goes through the emulator: one exit, count elements packed in the PIO page", () => {
    // mov esi,0x2000; mov ecx,5; mov edx,0xe9; rep outsb; hlt
    const g = guest([
      0xbe,
      ...le32(0x2000),
      0xb9,
      ...le32(5),
      0xba,
      ...le32(0xe9),
      0xf3,
      0x6e,
      0xf4,
    ]);
    g.ram.set([...new TextEncoder().encode("hello")], 0x2000);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_IO);
    expect([g.run.ioPort, g.run.ioSize, g.run.ioCount]).toEqual([0xe9, 1, 5]);
    expect(new TextDecoder().decode(g.run.ioData())).toBe("hello");
    // The emulated instruction has retired: RSI advanced, RCX consumed.
    expect(regs(g).rsi).toBe(0x2005n);
    expect(regs(g).rcx).toBe(0n);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
  });

  it("REP INSB replays the instruction with userspace's data", () => {
    // mov edi,0x3000; mov ecx,3; mov edx,0x70; rep insb; hlt
    const g = guest([
      0xbf,
      ...le32(0x3000),
      0xb9,
      ...le32(3),
      0xba,
      ...le32(0x70),
      0xf3,
      0x6c,
      0xf4,
    ]);
    expect(run(g)).toBe(0);
    expect([g.run.ioDirection, g.run.ioCount]).toEqual([KVM_EXIT_IO_IN, 3]);
    g.run.ioData().set([7, 8, 9]);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    expect([...g.ram.subarray(0x3000, 0x3003)]).toEqual([7, 8, 9]);
    expect(regs(g).rdi).toBe(0x3003n);
  });
});

describe("MMIO (KVM_EXIT_MMIO)", () => {
  it("a read outside every memslot exits; the data userspace fills goes to the register", () => {
    // mov eax,[0xd0000000]; hlt
    const g = guest([0xa1, ...le32(0xd000_0000), 0xf4]);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_MMIO);
    expect(g.run.mmioPhysAddr).toBe(0xd000_0000n);
    expect([g.run.mmioLen, g.run.mmioIsWrite]).toEqual([4, 0]);
    g.run.mmioData.set([0x78, 0x56, 0x34, 0x12]);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    expect(regs(g).rax).toBe(0x1234_5678n);
  });

  it("a write exits with the bytes; the instruction has already retired", () => {
    // mov eax,0xcafef00d; mov [0xfee00030],eax; hlt
    const g = guest([0xb8, ...le32(0xcafe_f00d), 0xa3, ...le32(0xfee0_0030), 0xf4]);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_MMIO);
    expect([g.run.mmioPhysAddr, g.run.mmioIsWrite, g.run.mmioLen]).toEqual([0xfee0_0030n, 1, 4]);
    expect([...g.run.mmioData.subarray(0, 4)]).toEqual([0x0d, 0xf0, 0xfe, 0xca]);
    expect(regs(g).rip).toBe(0x100an);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
  });

  it("KVM_MEM_READONLY: reads come from RAM, writes become MMIO exits (ROM)", () => {
    // mov al,[0x20000]; mov [0x20001],al; hlt
    const g = guest([0xa0, ...le32(0x2_0000), 0xa2, ...le32(0x2_0001), 0xf4]);
    const rom = g.proc.mmap(-1, 0x1000);
    g.proc.view(rom, 0x1000)[0] = 0x5a;
    const region = encodeKvmUserspaceMemoryRegion({
      slot: 1,
      flags: KVM_MEM_READONLY,
      guestPhysAddr: 0x2_0000n,
      memorySize: 0x1000n,
      userspaceAddr: BigInt(rom),
    });
    expect(g.proc.ioctl(g.vm, KVM_SET_USER_MEMORY_REGION, region)).toBe(0);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_MMIO);
    expect([g.run.mmioPhysAddr, g.run.mmioIsWrite, g.run.mmioData[0]]).toEqual([
      0x2_0001n,
      1,
      0x5a,
    ]);
    expect(g.proc.view(rom, 2)[1]).toBe(0);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
  });

  it("immediate_exit after an MMIO read completes the access first, then returns EINTR", () => {
    const g = guest([0xa0, ...le32(0xd000_0000), 0xf4]);
    expect(run(g)).toBe(0);
    g.run.mmioData[0] = 0x42;
    g.run.immediateExit = 1;
    expect(run(g)).toBe(-EINTR);
    expect(g.run.exitReason).toBe(KVM_EXIT_INTR);
    expect(regs(g).rax & 0xffn).toBe(0x42n);
    expect(regs(g).rip).toBe(0x1005n);
    g.run.immediateExit = 0;
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
  });
});

describe("exits handled in the kernel", () => {
  it("CPUID is answered from KVM_SET_CPUID2; above the maximum leaf Intel repeats the last basic leaf", () => {
    // mov eax,1; cpuid; hlt
    const g = guest([0xb8, ...le32(1), 0x0f, 0xa2, 0xf4]);
    expect(g.proc.ioctl(g.vcpu, KVM_SET_CPUID2, encodeKvmCpuid2(TOY_CPUID))).toBe(0);
    const events: unknown[] = [];
    const off = g.kernel.trace.kvm_cpuid.subscribe((e) => events.push(e));
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    const r = regs(g);
    expect(r.rax).toBe(0x206a7n);
    // OSXSAVE (ECX bit 27) follows CR4.OSXSAVE (clear); APIC (EDX bit 9) follows the APIC base.
    expect(r.rcx).toBe(1n);
    expect(r.rdx).toBe(0x0781_abfdn);
    expect(events).toEqual([
      expect.objectContaining({
        function: 1,
        index: 0,
        rax: 0x206a7,
        found: true,
        used_max_basic: false,
      }),
    ]);
    off();
    // Leaf 0x20 is beyond the maximum basic leaf 0xd: leaf 0xd's answer.
    setRegs(g, { rax: 0x20n, rcx: 0n, rip: 0x1005n });
    g.ram.set([0x0f, 0xa2, 0xf4], 0x1005);
    expect(run(g)).toBe(0);
    expect(regs(g).rax).toBe(7n);
  });

  it("RDMSR/WRMSR go to the MSR code; an unknown MSR is #GP for the guest", () => {
    // mov ecx,0x277; mov eax,0x06060606; mov edx,0x06060606; wrmsr; rdmsr; hlt
    const g = guest([
      0xb9,
      ...le32(0x277),
      0xb8,
      ...le32(0x0606_0606),
      0xba,
      ...le32(0x0606_0606),
      0x0f,
      0x30,
      0xb8,
      ...le32(0),
      0x0f,
      0x32,
      0xf4,
    ]);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    expect(regs(g).rax).toBe(0x0606_0606n);
    // mov ecx,0x12345; rdmsr → #GP → the handler at 0x1800: hlt
    const h = guest([0xb9, ...le32(0x12345), 0x0f, 0x32, 0xf4]);
    ivt(h, 13, 0x1800);
    h.ram[0x1800] = 0xf4;
    expect(run(h)).toBe(0);
    expect(h.run.exitReason).toBe(KVM_EXIT_HLT);
    expect(regs(h).rip).toBe(0x1801n);
  });

  it("the host timer's exits stay in the kernel: a long loop reaches its HLT in one KVM_RUN", () => {
    // mov ecx,50000; l: dec ecx; jnz l; hlt
    const g = guest([0xb9, ...le32(50_000), 0x49, 0x75, 0xfd, 0xf4]);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    const s = readKvmStats(g.kernel).total;
    expect(s.irq_exits).toBeGreaterThanOrEqual(9);
    expect(s.halt_exits).toBe(1);
    expect(s.exits).toBe(s.irq_exits + 1);
  });
});

describe("guest failures", () => {
  it("a fault with no way to deliver it is a triple fault: KVM_EXIT_SHUTDOWN", () => {
    // RAM starts at 0x1000, so the vector table at 0 is not memory: ud2 cannot be delivered.
    const g = guest([0x0f, 0x0b], { ramBase: 0x1000, ramSize: 0x1000 });
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_SHUTDOWN);
  });

  it("invalid guest state: KVM_EXIT_FAIL_ENTRY with the hardware's reason (0x80000021)", () => {
    const g = guest([0xf4]);
    const b = new Uint8Array(312);
    g.proc.ioctl(g.vcpu, KVM_GET_SREGS, b);
    const s = decodeKvmSregs(b);
    s.cs.present = 0;
    expect(g.proc.ioctl(g.vcpu, KVM_SET_SREGS, encodeKvmSregs(s))).toBe(0);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_FAIL_ENTRY);
    expect(g.run.failEntryHardwareEntryFailureReason).toBe(0x8000_0021n);
  });

  it("an instruction the emulator cannot do at CPL 0: KVM_EXIT_INTERNAL_ERROR / EMULATION", () => {
    // A jump past the end of RAM: fetching there is MMIO, which the emulator cannot run.
    const g = guest([0xeb, 0x7e], { entry: 0xff80 });
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_INTERNAL_ERROR);
    expect(g.run.internalSuberror).toBe(KVM_INTERNAL_ERROR_EMULATION);
    // data: exit reason 48 (EPT violation), qualification (fetch), GPA, …
    expect(g.run.internalData(0)).toBe(48n);
    expect(g.run.internalData(2)).toBe(0x1_0000n);
    expect(g.run.internalNdata).toBe(6);
  });
});

describe("signals and immediate_exit", () => {
  it("a signal KVM_SET_SIGNAL_MASK unblocks interrupts KVM_RUN: -EINTR, KVM_EXIT_INTR", () => {
    const g = guest([0xeb, 0xfe]); // jmp $
    expect(g.proc.sigprocmask(SIG_BLOCK, [SIGUSR1])).toBe(0);
    const mask = new Uint8Array(12);
    new DataView(mask.buffer).setUint32(0, 8, true);
    expect(g.proc.ioctl(g.vcpu, KVM_SET_SIGNAL_MASK, mask)).toBe(0);
    expect(g.proc.kill(SIGUSR1)).toBe(0);
    expect(run(g)).toBe(-EINTR);
    expect(g.run.exitReason).toBe(KVM_EXIT_INTR);
    expect(readKvmStats(g.kernel).total.signal_exits).toBe(1);
    // Still pending and blocked outside KVM_RUN; QEMU eats it with sigtimedwait.
    expect(g.proc.sigtimedwait(SIGUSR1)).toBe(SIGUSR1);
  });

  it("immediate_exit returns -EINTR without entering the guest", () => {
    const g = guest([0xf4]);
    g.run.immediateExit = 1;
    const entries: unknown[] = [];
    g.kernel.trace.kvm_entry.subscribe((e) => entries.push(e));
    expect(run(g)).toBe(-EINTR);
    expect(g.run.exitReason).toBe(KVM_EXIT_INTR);
    expect(entries).toEqual([]);
  });
});

describe("interrupt injection without an in-kernel irqchip", () => {
  it("request_interrupt_window waits for IF=1; KVM_INTERRUPT then delivers the vector", () => {
    // cli; nop; sti; nop; nop; hlt      handler for 0x20 at 0x1800: hlt
    const g = guest([0xfa, 0x90, 0xfb, 0x90, 0x90, 0xf4]);
    ivt(g, 0x20, 0x1800);
    g.ram[0x1800] = 0xf4;
    g.run.requestInterruptWindow = 1;
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_IRQ_WINDOW_OPEN);
    expect(g.run.readyForInterruptInjection).toBe(1);
    expect(g.run.ifFlag).toBe(1);
    // The STI shadow covered the next instruction: the window opened after it.
    expect(regs(g).rip).toBe(0x1004n);
    expect(g.proc.ioctl(g.vcpu, KVM_INTERRUPT, encodeKvmInterrupt(0x20))).toBe(0);
    g.run.requestInterruptWindow = 0;
    const inj: unknown[] = [];
    g.kernel.trace.kvm_inj_virq.subscribe((e) => inj.push(e));
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    expect(regs(g).rip).toBe(0x1801n);
    expect(inj).toEqual([expect.objectContaining({ vector: 0x20, reinjected: true })]);
  });
});

describe("guest debugging (KVM_SET_GUEST_DEBUG)", () => {
  it("single-step: one KVM_EXIT_DEBUG per instruction, TF hidden from KVM_GET_REGS", () => {
    const g = guest([0x90, 0x40, 0x40, 0xf4]);
    const dbg = encodeKvmGuestDebug({
      control: KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP,
      debugreg: Array(8).fill(0n),
    });
    expect(g.proc.ioctl(g.vcpu, KVM_SET_GUEST_DEBUG, dbg)).toBe(0);
    const pcs: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      expect(run(g)).toBe(0);
      expect(g.run.exitReason).toBe(KVM_EXIT_DEBUG);
      expect(g.run.debugException).toBe(1);
      expect(g.run.debugDr6 & (1n << 14n)).toBe(1n << 14n);
      pcs.push(g.run.debugPc);
    }
    expect(pcs).toEqual([0x1001n, 0x1002n, 0x1003n]);
    expect(regs(g).rflags & 0x100n).toBe(0n);
    expect(regs(g).rax).toBe(2n);
  });

  it("software breakpoints: INT3 exits with KVM_EXIT_DEBUG at its address", () => {
    const g = guest([0x90, 0xcc, 0xf4]);
    const dbg = encodeKvmGuestDebug({
      control: KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP,
      debugreg: Array(8).fill(0n),
    });
    expect(g.proc.ioctl(g.vcpu, KVM_SET_GUEST_DEBUG, dbg)).toBe(0);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_DEBUG);
    expect([g.run.debugException, g.run.debugPc]).toEqual([3, 0x1001n]);
  });
});

describe("memory", () => {
  it("dirty logging: pages the guest wrote, cleared by each KVM_GET_DIRTY_LOG", () => {
    // mov [0x5000],al; mov [0x7004],al; hlt
    const g = guest([0xa2, ...le32(0x5000), 0xa2, ...le32(0x7004), 0xf4]);
    const region = encodeKvmUserspaceMemoryRegion({
      slot: 0,
      flags: KVM_MEM_LOG_DIRTY_PAGES,
      guestPhysAddr: 0n,
      memorySize: 0x10000n,
      userspaceAddr: BigInt(g.ramAddr),
    });
    expect(g.proc.ioctl(g.vm, KVM_SET_USER_MEMORY_REGION, region)).toBe(0);
    const bitmap = g.proc.mmap(-1, 8);
    const log = encodeKvmDirtyLog({ slot: 0, dirtyBitmap: BigInt(bitmap) });
    expect(run(g)).toBe(0);
    expect(g.proc.ioctl(g.vm, KVM_GET_DIRTY_LOG, log)).toBe(0);
    expect(g.proc.view(bitmap, 2)[0]).toBe((1 << 5) | (1 << 7));
    expect(g.proc.ioctl(g.vm, KVM_GET_DIRTY_LOG, log)).toBe(0);
    expect(g.proc.view(bitmap, 1)[0]).toBe(0);
  });

  it("a moved slot is seen by the guest at its new address (memslot move)", () => {
    // mov al,[0x40000]; hlt
    const g = guest([0xa0, ...le32(0x4_0000), 0xf4]);
    const mem = g.proc.mmap(-1, 0x1000);
    g.proc.view(mem, 1)[0] = 0x99;
    const at = (gpa: bigint) =>
      encodeKvmUserspaceMemoryRegion({
        slot: 5,
        flags: 0,
        guestPhysAddr: gpa,
        memorySize: 0x1000n,
        userspaceAddr: BigInt(mem),
      });
    expect(g.proc.ioctl(g.vm, KVM_SET_USER_MEMORY_REGION, at(0x3_0000n))).toBe(0);
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_MMIO);
    g.run.mmioData[0] = 0x11;
    expect(run(g)).toBe(0);
    expect(regs(g).rax & 0xffn).toBe(0x11n);
    expect(g.proc.ioctl(g.vm, KVM_SET_USER_MEMORY_REGION, at(0x4_0000n))).toBe(0);
    setRegs(g, { rip: 0x1000n });
    expect(run(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    expect(regs(g).rax & 0xffn).toBe(0x99n);
  });
});

describe("sync regs and tracepoints", () => {
  it("kvm_valid_regs: the registers are in kvm_run after the exit", () => {
    const g = guest([0xb8, ...le32(0xabcd), 0xf4]);
    g.run.kvmValidRegs = BigInt(KVM_SYNC_X86_REGS);
    expect(run(g)).toBe(0);
    const r = decodeKvmRegs(g.run.bytes, 304);
    expect([r.rax, r.rip]).toEqual([0xabcdn, 0x1006n]);
  });

  it("kvm_entry, kvm_exit (with the vendor's exit name), kvm_pio, kvm_userspace_exit", () => {
    const g = guest([0xe6, 0xe9, 0xf4]);
    const seen: string[] = [];
    const off = g.kernel.trace.subscribe("kvm_*", (name, e) => {
      if (name === "kvm_exit")
        seen.push(`${name} ${(e as { exit_reason_name: string }).exit_reason_name}`);
      else seen.push(name);
    });
    expect(run(g)).toBe(0);
    expect(run(g)).toBe(0);
    off();
    expect(seen).toEqual([
      "kvm_fpu",
      "kvm_entry",
      "kvm_exit IO_INSTRUCTION",
      "kvm_pio",
      "kvm_fpu",
      "kvm_userspace_exit",
      "kvm_fpu",
      "kvm_entry",
      "kvm_exit HLT",
      "kvm_fpu",
      "kvm_userspace_exit",
    ]);
    expect(g.kernel.trace.kvm_exit.enabled).toBe(false);
  });
});
