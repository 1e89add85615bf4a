/**
 * Guests running under kvm_intel, driven exactly as a VMM drives KVM: KVM_SET_SREGS /
 * KVM_SET_REGS, then KVM_RUN until an exit userspace must handle. Each guest is a few
 * hand-assembled instructions; the VT-x engine runs them in VMX non-root operation.
 */
import {
  KVM_EXIT_SET_TPR,
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_USE_SW_BP,
  KVM_MEM_LOG_DIRTY_PAGES,
  type VcpuExit,
} from "@glassvm/kvm-kernel/uapi";
import { describe, expect, it } from "vitest";
import {
  createGuest,
  kernelVcpu,
  le16,
  le32,
  le64,
  longMode,
  protectedMode,
  realMode,
  writeGdt,
  writeLongModeTables,
} from "./guests.js";

/** An OUT exit to `port` carrying `bytes`. */
function expectOut(e: VcpuExit, port: number, bytes: readonly number[]): void {
  expect(e.reason).toBe("IoOut");
  if (e.reason !== "IoOut") return;
  expect(e.port).toBe(port);
  expect([...e.data]).toEqual(bytes);
}

const text = (s: string): number[] => [...new TextEncoder().encode(s)];

describe("real mode", () => {
  it("OUT to port 0xE9 is KVM_EXIT_IO with the byte; HLT is KVM_EXIT_HLT", () => {
    const g = createGuest();
    g.ram.set(
      [
        ...[0xb0, 0x41], // mov al, 'A'
        ...[0xe6, 0xe9], // out 0xe9, al
        0xf4, // hlt
      ],
      0x1000,
    );
    realMode(g);
    const e = g.vcpu.run();
    expectOut(e, 0xe9, text("A"));
    if (e.reason === "IoOut") expect(e.size).toBe(1);
    expect(g.vcpu.run()).toEqual({ reason: "Hlt" });
    expect(g.vcpu.getRegs().rip).toBe(0x1005n);
  });

  it("IN takes the byte userspace leaves in the PIO page", () => {
    const g = createGuest();
    g.ram.set(
      [
        ...[0xe4, 0x60], // in al, 0x60
        ...[0xe6, 0xe9], // out 0xe9, al
        0xf4, // hlt
      ],
      0x1000,
    );
    realMode(g);
    const e = g.vcpu.run();
    expect(e).toMatchObject({ reason: "IoIn", port: 0x60, size: 1 });
    if (e.reason === "IoIn") e.data[0] = 0x5a;
    expectOut(g.vcpu.run(), 0xe9, [0x5a]);
    expect(g.vcpu.run().reason).toBe("Hlt");
  });

  it("REP OUTSB goes through KVM's emulator as one KVM_EXIT_IO", () => {
    const g = createGuest();
    g.ram.set(
      [
        ...[0xbe, 0x10, 0x10], // mov si, 0x1010
        ...[0xb9, 0x05, 0x00], // mov cx, 5
        ...[0xba, 0xe9, 0x00], // mov dx, 0xe9
        ...[0xf3, 0x6e], // rep outsb
        0xf4, // hlt
      ],
      0x1000,
    );
    g.ram.set(text("Hello"), 0x1010);
    realMode(g);
    expectOut(g.vcpu.run(), 0xe9, text("Hello"));
    expect(g.vcpu.run().reason).toBe("Hlt");
    expect(g.vcpu.getRegs().rcx).toBe(0n);
  });

  it("KVM_INTERRUPT is delivered through the IVT at the next entry", () => {
    const g = createGuest();
    g.ram.set([...le16(0x2000), ...le16(0)], 0x20 * 4); // IVT[0x20] = 0000:2000
    g.ram.set(
      [
        0xfb, // sti
        0xf4, // hlt
      ],
      0x1000,
    );
    g.ram.set(
      [
        ...[0xb0, 0x49], // mov al, 'I'
        ...[0xe6, 0xe9], // out 0xe9, al
        0xf4, // hlt
      ],
      0x2000,
    );
    realMode(g);
    expect(g.vcpu.run().reason).toBe("Hlt");
    expect(g.vcpu.kvmRun.ifFlag).toBe(1);
    expect(g.vcpu.kvmRun.readyForInterruptInjection).toBe(1);
    g.vcpu.interrupt(0x20);
    expectOut(g.vcpu.run(), 0xe9, text("I"));
    // The interrupt frame: IP after the HLT, CS 0, FLAGS with IF.
    expect([...g.ram.subarray(0x7ffa, 0x8000)]).toEqual([
      ...le16(0x1002),
      ...le16(0),
      ...le16(0x202),
    ]);
  });

  it("an interrupt window userspace asked for opens one instruction after STI", () => {
    const g = createGuest();
    g.ram.set(
      [
        0xfa, // cli
        ...[0xe6, 0xe9], // out 0xe9, al
        0xfb, // sti
        0x90, // nop (in STI's shadow)
        0x90, // nop
        0xf4, // hlt
      ],
      0x1000,
    );
    realMode(g);
    expect(g.vcpu.run().reason).toBe("IoOut");
    expect(g.vcpu.kvmRun.readyForInterruptInjection).toBe(0);
    g.vcpu.kvmRun.requestInterruptWindow = 1;
    expect(g.vcpu.run()).toEqual({ reason: "IrqWindowOpen" });
    expect(g.vcpu.kvmRun.readyForInterruptInjection).toBe(1);
    expect(g.vcpu.getRegs().rip).toBe(0x1005n);
    expect(kernelVcpu(g).stat.irq_window_exits).toBe(1);
  });

  it("KVM_NMI is delivered through IVT vector 2", () => {
    const g = createGuest();
    g.ram.set([...le16(0x2000), ...le16(0)], 2 * 4); // IVT[2] = 0000:2000
    g.ram.set([0xf4], 0x1000); // hlt
    g.ram.set(
      [
        ...[0xb0, 0x4e], // mov al, 'N'
        ...[0xe6, 0xe9], // out 0xe9, al
        0xf4, // hlt
      ],
      0x2000,
    );
    realMode(g);
    expect(g.vcpu.run().reason).toBe("Hlt");
    g.vcpu.nmi();
    expectOut(g.vcpu.run(), 0xe9, text("N"));
    expect(kernelVcpu(g).stat.nmi_injections).toBe(1);
    // NMIs stay blocked in the handler (no IRET yet).
    expect(g.vcpu.getVcpuEvents().nmi.masked).toBe(1);
  });

  it("the guest enters protected mode itself: LGDT, MOV to CR0 (an exit), far JMP", () => {
    const g = createGuest();
    writeGdt(g);
    g.ram.set([...le16(0x1f), ...le32(0x500)], 0x1100); // GDTR image: limit, base
    g.ram.set(
      [
        ...[0x0f, 0x01, 0x16, ...le16(0x1100)], // lgdt [0x1100]
        ...[0x0f, 0x20, 0xc0], // mov eax, cr0
        ...[0x66, 0x83, 0xc8, 0x01], // or eax, 1
        ...[0x0f, 0x22, 0xc0], // mov cr0, eax
        ...[0x66, 0xea, ...le32(0x1200), ...le16(0x08)], // jmp dword 0x08:0x1200
      ],
      0x1000,
    );
    g.ram.set(
      [
        ...[0x66, 0xb8, ...le16(0x10)], // mov ax, 0x10
        ...[0x8e, 0xd8], // mov ds, ax
        ...[0x8e, 0xd0], // mov ss, ax
        ...[0xb8, ...le32(0x1122_3344)], // mov eax, 0x11223344
        ...[0xe7, 0xe9], // out 0xe9, eax
        0xf4, // hlt
      ],
      0x1200,
    );
    realMode(g);
    expectOut(g.vcpu.run(), 0xe9, le32(0x1122_3344));
    const s = g.vcpu.getSregs();
    expect(s.cr0 & 1n).toBe(1n);
    expect(s.cs).toMatchObject({ selector: 8, db: 1, base: 0n });
    expect(s.gdt).toEqual({ base: 0x500n, limit: 0x1f });
  });

  it("two vCPUs take turns on one host CPU, each VMCS reloaded and resumed", () => {
    const g = createGuest();
    const v1 = g.vm.createVcpu(1);
    const outs = (a: number, b: number) => [
      ...[0xb0, a], // mov al, a
      ...[0xe6, 0xe9], // out 0xe9, al
      ...[0xb0, b], // mov al, b
      ...[0xe6, 0xe9], // out 0xe9, al
      0xf4, // hlt
    ];
    g.ram.set(outs(0x30, 0x32), 0x1000);
    g.ram.set(outs(0x31, 0x33), 0x3000);
    realMode(g);
    realMode({ ...g, vcpu: v1 }, 0x3000);
    expectOut(g.vcpu.run(), 0xe9, text("0"));
    expectOut(v1.run(), 0xe9, text("1"));
    expectOut(g.vcpu.run(), 0xe9, text("2"));
    expectOut(v1.run(), 0xe9, text("3"));
    expect(g.vcpu.run().reason).toBe("Hlt");
    expect(v1.run().reason).toBe("Hlt");
    expect(g.vcpu.getRegs().rip).toBe(0x1009n);
    expect(v1.getRegs().rip).toBe(0x3009n);
  });

  it("INT3 under KVM_GUESTDBG_USE_SW_BP is KVM_EXIT_DEBUG at the breakpoint", () => {
    const g = createGuest();
    g.ram.set([0xcc], 0x1000); // int3
    realMode(g);
    g.vcpu.setGuestDebug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP);
    expect(g.vcpu.run()).toMatchObject({ reason: "Debug", exception: 3, pc: 0x1000n });
  });

  it("a write to a dirty-logged slot is logged, and logged again after each harvest", () => {
    const g = createGuest({ flags: KVM_MEM_LOG_DIRTY_PAGES });
    g.ram.set(
      [
        ...[0xc6, 0x06, 0x00, 0x30, 0x01], // mov byte [0x3000], 1
        0xf4, // hlt
        ...[0xc6, 0x06, 0x00, 0x30, 0x02], // mov byte [0x3000], 2
        0xf4, // hlt
      ],
      0x1000,
    );
    realMode(g);
    expect(g.vcpu.run().reason).toBe("Hlt");
    const size = g.ram.length;
    expect(g.vm.getDirtyLog(0, size)[0]! & (1 << 3)).toBe(1 << 3);
    expect(g.vm.getDirtyLog(0, size)[0]! & (1 << 3)).toBe(0);
    expect(g.vcpu.run().reason).toBe("Hlt");
    expect(g.vm.getDirtyLog(0, size)[0]! & (1 << 3)).toBe(1 << 3);
    expect(g.ram[0x3000]).toBe(2);
  });
});

describe("protected mode", () => {
  it("a 32-bit OUT of EAX", () => {
    const g = createGuest();
    g.ram.set(
      [
        ...[0xb8, ...le32(0x1234_5678)], // mov eax, 0x12345678
        ...[0xe7, 0xe9], // out 0xe9, eax
        0xf4, // hlt
      ],
      0x1000,
    );
    protectedMode(g);
    expectOut(g.vcpu.run(), 0xe9, le32(0x1234_5678));
    expect(g.vcpu.run().reason).toBe("Hlt");
  });

  it("paging: linear 0x401800 is physical 0x1800 through a 4 MiB page", () => {
    const g = createGuest();
    g.ram.set(le32(0xdead_beef), 0x1800);
    g.ram.set(
      [
        ...[0xa1, ...le32(0x40_1800)], // mov eax, [0x401800]
        ...[0xe7, 0xe9], // out 0xe9, eax
        0xf4, // hlt
      ],
      0x1000,
    );
    protectedMode(g, { paging: true });
    expectOut(g.vcpu.run(), 0xe9, le32(0xdead_beef));
    expect(g.vcpu.getSregs().cr3).toBe(0x2000n);
  });

  it("PAE paging: the PDPTEs KVM loads into the VMCS map the guest", () => {
    const g = createGuest();
    g.ram.set([...le64(0x3001n), ...le64(0n), ...le64(0n), ...le64(0n)], 0x2000); // PDPT
    g.ram.set(le64(0x83n), 0x3000); // PD[0]: 2 MiB page at 0
    g.ram.set(le32(0x600d_f00d), 0x1800);
    g.ram.set(
      [
        ...[0xa1, ...le32(0x1800)], // mov eax, [0x1800]
        ...[0xe7, 0xe9], // out 0xe9, eax
        0xf4, // hlt
      ],
      0x1000,
    );
    protectedMode(g);
    const s = g.vcpu.getSregs();
    g.vcpu.setSregs({ ...s, cr0: s.cr0 | (1n << 31n), cr3: 0x2000n, cr4: 0x20n });
    expectOut(g.vcpu.run(), 0xe9, le32(0x600d_f00d));
  });

  it("CR0.TS is the guest's own: set without an exit, seen by KVM_GET_SREGS", () => {
    const g = createGuest();
    g.ram.set(
      [
        ...[0x0f, 0x20, 0xc0], // mov eax, cr0
        ...[0x83, 0xc8, 0x08], // or eax, 8 (TS)
        ...[0x0f, 0x22, 0xc0], // mov cr0, eax
        ...[0x0f, 0x20, 0xc0], // mov eax, cr0
        ...[0xe7, 0xe9], // out 0xe9, eax
        0xf4, // hlt
      ],
      0x1000,
    );
    protectedMode(g);
    // The guest reads its own CR0 (the read shadow): PE, ET, NE and now TS.
    expectOut(g.vcpu.run(), 0xe9, le32(0x39));
    expect(g.vcpu.getSregs().cr0).toBe(0x39n);
    expect(kernelVcpu(g).stat.exits).toBe(1);
  });

  it("CPUID is answered in the kernel from KVM_SET_CPUID2's table", () => {
    const g = createGuest();
    g.vcpu.setCpuid2(g.kvm.getSupportedCpuid());
    g.ram.set(
      [
        ...[0x31, 0xc0], // xor eax, eax
        ...[0x0f, 0xa2], // cpuid
        ...[0x89, 0xd8], // mov eax, ebx
        ...[0xe7, 0xe9], // out 0xe9, eax
        0xf4, // hlt
      ],
      0x1000,
    );
    protectedMode(g);
    expectOut(g.vcpu.run(), 0xe9, text("Genu"));
  });

  it("WRMSR then RDMSR of IA32_SYSENTER_CS, handled in the kernel", () => {
    const g = createGuest();
    g.ram.set(
      [
        ...[0xb9, ...le32(0x174)], // mov ecx, 0x174 (IA32_SYSENTER_CS)
        ...[0xb8, ...le32(0x10)], // mov eax, 0x10
        ...[0x31, 0xd2], // xor edx, edx
        ...[0x0f, 0x30], // wrmsr
        ...[0x31, 0xc0], // xor eax, eax
        ...[0x0f, 0x32], // rdmsr
        ...[0xe7, 0xe9], // out 0xe9, eax
        0xf4, // hlt
      ],
      0x1000,
    );
    protectedMode(g);
    expectOut(g.vcpu.run(), 0xe9, le32(0x10));
    expect(g.vcpu.getMsrs([0x174])[0]!.data).toBe(0x10n);
  });

  it("a write to a guest-physical address no slot maps is KVM_EXIT_MMIO", () => {
    const g = createGuest();
    g.ram.set(
      [
        ...[0xb8, ...le32(0xcafe_babe)], // mov eax, 0xcafebabe
        ...[0xa3, ...le32(0x1000_0000)], // mov [0x10000000], eax
        0xf4, // hlt
      ],
      0x1000,
    );
    protectedMode(g);
    const e = g.vcpu.run();
    expect(e.reason).toBe("MmioWrite");
    if (e.reason === "MmioWrite") {
      expect(e.addr).toBe(0x1000_0000n);
      expect([...e.data]).toEqual(le32(0xcafe_babe));
    }
    expect(g.vcpu.run().reason).toBe("Hlt");
  });

  it("an MMIO read gets the bytes userspace puts in kvm_run.mmio.data", () => {
    const g = createGuest();
    g.ram.set(
      [
        ...[0xa1, ...le32(0x1000_0000)], // mov eax, [0x10000000]
        ...[0xe7, 0xe9], // out 0xe9, eax
        0xf4, // hlt
      ],
      0x1000,
    );
    protectedMode(g);
    const e = g.vcpu.run();
    expect(e).toMatchObject({ reason: "MmioRead", addr: 0x1000_0000n });
    if (e.reason === "MmioRead") e.data.set([1, 2, 3, 4]);
    expectOut(g.vcpu.run(), 0xe9, [1, 2, 3, 4]);
  });

  it("VMCALL with an unknown hypercall number returns -KVM_ENOSYS in EAX", () => {
    const g = createGuest();
    g.ram.set(
      [
        ...[0xb8, ...le32(0x1234)], // mov eax, 0x1234
        ...[0x0f, 0x01, 0xc1], // vmcall
        ...[0xe7, 0xe9], // out 0xe9, eax
        0xf4, // hlt
      ],
      0x1000,
    );
    protectedMode(g);
    expectOut(g.vcpu.run(), 0xe9, le32(-1000 >>> 0));
    expect(kernelVcpu(g).stat.hypercalls).toBe(1);
  });

  it("an interrupt with no IDT to deliver it is a triple fault: KVM_EXIT_SHUTDOWN", () => {
    const g = createGuest();
    g.ram.set([0xcd, 0x80], 0x1000); // int 0x80
    protectedMode(g);
    g.vcpu.setSregs({ ...g.vcpu.getSregs(), idt: { base: 0n, limit: 0 } });
    expect(g.vcpu.run()).toEqual({ reason: "Shutdown" });
  });

  it("a reserved RFLAGS bit fails VM entry: KVM_EXIT_FAIL_ENTRY 0x80000021", () => {
    const g = createGuest();
    g.ram.set([0xf4], 0x1000); // hlt
    protectedMode(g);
    g.vcpu.setRegs({ ...g.vcpu.getRegs(), rflags: 0x2n | (1n << 3n) });
    expect(g.vcpu.run()).toEqual({
      reason: "FailEntry",
      hardwareEntryFailureReason: 0x8000_0021n,
      cpu: 0,
    });
  });
});

describe("VM entry that fails as an instruction", () => {
  it("#GP injected without its error code in protected mode: FAIL_ENTRY with VM-instruction error 7", () => {
    const g = createGuest();
    g.ram.set([0xf4], 0x1000); // hlt
    protectedMode(g);
    const ev = g.vcpu.getVcpuEvents();
    g.vcpu.setVcpuEvents({
      ...ev,
      exception: { ...ev.exception, injected: 1, nr: 13, hasErrorCode: 0 },
    });
    // VMfailValid(7), "VM entry with invalid control field(s)": no guest instruction ran.
    expect(g.vcpu.run()).toEqual({ reason: "FailEntry", hardwareEntryFailureReason: 7n, cpu: 0 });
    expect(g.vcpu.getRegs().rip).toBe(0x1000n);
  });
});

describe("long mode", () => {
  it("64-bit code: a 64-bit immediate, a shift, two OUTs", () => {
    const g = createGuest();
    g.ram.set(
      [
        ...[0x48, 0xb8, ...le64(0x1122_3344_5566_7788n)], // mov rax, 0x1122334455667788
        ...[0xe7, 0xe9], // out 0xe9, eax
        ...[0x48, 0xc1, 0xe8, 0x20], // shr rax, 32
        ...[0xe7, 0xe9], // out 0xe9, eax
        0xf4, // hlt
      ],
      0x1000,
    );
    longMode(g);
    expectOut(g.vcpu.run(), 0xe9, le32(0x5566_7788));
    expectOut(g.vcpu.run(), 0xe9, le32(0x1122_3344));
    expect(g.vcpu.run().reason).toBe("Hlt");
    expect(g.vcpu.getRegs().rax).toBe(0x1122_3344n);
    expect(g.vcpu.getSregs().efer & 0x400n).toBe(0x400n);
  });

  it("lowering CR8 exits with KVM_EXIT_SET_TPR — unless the local APIC is in the kernel", () => {
    const code = [
      ...[0xb8, ...le32(9)], // mov eax, 9
      ...[0x44, 0x0f, 0x22, 0xc0], // mov cr8, rax
      ...[0xb8, ...le32(3)], // mov eax, 3
      ...[0x44, 0x0f, 0x22, 0xc0], // mov cr8, rax (lower)
      ...[0x44, 0x0f, 0x20, 0xc0], // mov rax, cr8
      ...[0xe7, 0xe9], // out 0xe9, eax
      0xf4, // hlt
    ];
    const user = createGuest();
    user.ram.set(code, 0x1000);
    longMode(user);
    // KVM_EXIT_SET_TPR: userspace keeps the TPR of its APIC.
    expect(user.vcpu.run()).toMatchObject({ reason: "Unsupported", exitReason: KVM_EXIT_SET_TPR });
    expectOut(user.vcpu.run(), 0xe9, le32(3));
    const kernel = createGuest({ irqchip: true });
    kernel.ram.set(code, 0x1000);
    longMode(kernel);
    expectOut(kernel.vcpu.run(), 0xe9, le32(3)); // the TPR is the in-kernel LAPIC's
    const lapic = kernel.vcpu.getLapic();
    expect(new DataView(lapic.buffer, lapic.byteOffset).getUint32(0x80, true)).toBe(3 << 4);
  });

  it("the guest enters long mode itself: CR4.PAE, CR3, EFER.LME by WRMSR, CR0.PG", () => {
    const g = createGuest();
    g.vcpu.setCpuid2(g.kvm.getSupportedCpuid());
    writeLongModeTables(g);
    g.ram.set(
      [
        ...[0x0f, 0x20, 0xe0], // mov eax, cr4
        ...[0x83, 0xc8, 0x20], // or eax, 0x20 (PAE)
        ...[0x0f, 0x22, 0xe0], // mov cr4, eax
        ...[0xb8, ...le32(0x2000)], // mov eax, 0x2000
        ...[0x0f, 0x22, 0xd8], // mov cr3, eax (no exit with EPT)
        ...[0xb9, ...le32(0xc000_0080)], // mov ecx, IA32_EFER
        ...[0x0f, 0x32], // rdmsr
        ...[0x0d, ...le32(0x100)], // or eax, 0x100 (LME)
        ...[0x0f, 0x30], // wrmsr
        ...[0x0f, 0x20, 0xc0], // mov eax, cr0
        ...[0x0d, ...le32(0x8000_0000)], // or eax, 0x80000000 (PG)
        ...[0x0f, 0x22, 0xc0], // mov cr0, eax
        ...[0xea, ...le32(0x1100), ...le16(0x18)], // jmp 0x18:0x1100
      ],
      0x1000,
    );
    g.ram.set(
      [
        ...[0x48, 0xb8, ...le64(0x8877_6655_4433_2211n)], // mov rax, 0x8877665544332211
        ...[0xe7, 0xe9], // out 0xe9, eax
        ...[0x48, 0xc1, 0xe8, 0x20], // shr rax, 32
        ...[0xe7, 0xe9], // out 0xe9, eax
        0xf4, // hlt
      ],
      0x1100,
    );
    protectedMode(g);
    expectOut(g.vcpu.run(), 0xe9, le32(0x4433_2211));
    const s = g.vcpu.getSregs();
    expect(s.efer & 0x500n).toBe(0x500n);
    expect(s.cr3).toBe(0x2000n);
    expect(s.cr4 & 0x20n).toBe(0x20n);
    expect(s.cs).toMatchObject({ selector: 0x18, l: 1 });
    expectOut(g.vcpu.run(), 0xe9, le32(0x8877_6655));
    expect(g.vcpu.run().reason).toBe("Hlt");
  });

  it("SYSCALL goes to the LSTAR userspace set with KVM_SET_MSRS", () => {
    const g = createGuest();
    g.ram.set([0x0f, 0x05], 0x1000); // syscall
    g.ram.set(
      [
        ...[0xb0, 0x53], // mov al, 'S'
        ...[0xe6, 0xe9], // out 0xe9, al
        0xf4, // hlt
      ],
      0x5000,
    );
    longMode(g, { efer: 1n }); // EFER.SCE
    g.vcpu.setMsrs([
      { index: 0xc000_0081, data: 0x18n << 32n }, // STAR: kernel CS 0x18
      { index: 0xc000_0082, data: 0x5000n }, // LSTAR
      { index: 0xc000_0084, data: 0x200n }, // SYSCALL_MASK: IF
    ]);
    expectOut(g.vcpu.run(), 0xe9, text("S"));
    const r = g.vcpu.getRegs();
    expect(r.rcx).toBe(0x1002n);
    expect(r.r11).toBe(0x2n);
  });

  it("the emulator sees the guest's live SSE registers (MOVD of XMM0 to MMIO)", () => {
    const g = createGuest();
    g.ram.set(
      [
        ...[0xb8, ...le32(0x5eed_1234)], // mov eax, 0x5eed1234
        ...[0x66, 0x0f, 0x6e, 0xc0], // movd xmm0, eax
        ...[0x66, 0x0f, 0x7e, 0x04, 0x25, ...le32(0x1000_0000)], // movd [0x10000000], xmm0
        0xf4, // hlt
      ],
      0x1000,
    );
    g.vcpu.setCpuid2(g.kvm.getSupportedCpuid()); // SSE2 for the emulator's decoder
    longMode(g);
    g.ram.set(le64(0x1000_0083n), 0x4000 + 8 * 0x80); // PD[128]: 2 MiB page at 0x10000000
    const s = g.vcpu.getSregs();
    g.vcpu.setSregs({ ...s, cr4: s.cr4 | (1n << 9n) }); // CR4.OSFXSR
    const e = g.vcpu.run();
    expect(e).toMatchObject({ reason: "MmioWrite", addr: 0x1000_0000n });
    if (e.reason === "MmioWrite") expect([...e.data]).toEqual(le32(0x5eed_1234));
    expect(g.vcpu.run().reason).toBe("Hlt");
    // KVM_GET_FPU after the run: XMM0 as the guest left it.
    expect([...g.vcpu.getFpu().xmm.subarray(0, 4)]).toEqual(le32(0x5eed_1234));
  });

  it("CS.L and CS.D both set fails VM entry: KVM_EXIT_FAIL_ENTRY 0x80000021", () => {
    const g = createGuest();
    g.ram.set([0xf4], 0x1000); // hlt
    longMode(g);
    const s = g.vcpu.getSregs();
    g.vcpu.setSregs({ ...s, cs: { ...s.cs, db: 1 } });
    expect(g.vcpu.run()).toEqual({
      reason: "FailEntry",
      hardwareEntryFailureReason: 0x8000_0021n,
      cpu: 0,
    });
  });
});
