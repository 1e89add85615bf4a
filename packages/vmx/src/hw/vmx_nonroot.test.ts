/**
 * Non-root operation at the hardware level: a VMCS prepared the way kvm_intel prepares one
 * (init_vmcs, vmx_vcpu_reset, EPT from a memslot), then VMLAUNCH/VMRESUME on the host CPU
 * and the exit-information fields read back with VMREAD — no KVM in between.
 */
import { HostKernel } from "@glassvm/kvm-kernel";
import { beforeEach, describe, expect, it } from "vitest";
import {
  CPU_BASED_INTR_WINDOW_EXITING,
  CPU_BASED_UNCOND_IO_EXITING,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_VM_EXEC_CONTROL,
  EXCEPTION_BITMAP,
  EXIT_QUALIFICATION,
  GUEST_ACTIVITY_STATE,
  GUEST_CS_BASE,
  GUEST_CS_SELECTOR,
  GUEST_IDTR_LIMIT,
  GUEST_INTERRUPTIBILITY_INFO,
  GUEST_PHYSICAL_ADDRESS,
  GUEST_RFLAGS,
  GUEST_RIP,
  GUEST_RSP,
  GUEST_SS_BASE,
  IDT_VECTORING_INFO_FIELD,
  IO_BITMAP_A,
  IO_BITMAP_B,
  PIN_BASED_VM_EXEC_CONTROL,
  PIN_BASED_VMX_PREEMPTION_TIMER,
  VM_ENTRY_INTR_INFO_FIELD,
  VM_EXIT_INSTRUCTION_LEN,
  VM_EXIT_INTR_INFO,
  VM_EXIT_REASON,
  VMX_PREEMPTION_TIMER_VALUE,
} from "../asm/vmx.js";
import {
  EXIT_REASON_CPUID,
  EXIT_REASON_CR_ACCESS,
  EXIT_REASON_EPT_VIOLATION,
  EXIT_REASON_EXCEPTION_NMI,
  EXIT_REASON_EXTERNAL_INTERRUPT,
  EXIT_REASON_HLT,
  EXIT_REASON_INTERRUPT_WINDOW,
  EXIT_REASON_IO_INSTRUCTION,
  EXIT_REASON_PREEMPTION_TIMER,
  EXIT_REASON_TRIPLE_FAULT,
} from "../asm/vmx-exit-reasons.js";
import { EptMmu } from "../mmu/ept.js";
import { KvmIntel, type VcpuVmx, vmxCreateVcpuVmx, vmxLoadMmuPgd, vmxVcpuReset } from "../vmx.js";
import {
  vmcsRead32,
  vmcsRead64,
  vmcsReadl,
  vmcsWrite16,
  vmcsWrite32,
  vmcsWrite64,
  vmcsWritel,
} from "../vmx_ops.js";
import type { HostCpu } from "./host_cpu.js";
import { VMX_VMEXIT } from "./vmx_cpu.js";
import { HOST_TIMER_VECTOR } from "./vmx_nonroot.js";

const MiB = 1 << 20;

describe("VMX non-root operation on the x86 core", () => {
  let kernel: HostKernel;
  let cpu: HostCpu;
  let vmx: VcpuVmx;
  let ram: Uint8Array;
  let launched: boolean;

  beforeEach(() => {
    kernel = new HostKernel();
    const kvm = new KvmIntel(kernel);
    expect(kvm.vmxHardwareSetup()).toBe(0);
    cpu = kvm.cpus[0]!;
    expect(kvm.vmxHardwareEnable(cpu)).toBe(0);
    vmx = vmxCreateVcpuVmx(kvm, cpu);
    vmxVcpuReset(vmx);
    const proc = kernel.spawn();
    const addr = proc.mmap(-1, MiB);
    ram = proc.view(addr, MiB);
    const eptp = new EptMmu(kernel).build([
      { baseGfn: 0, npages: MiB / 4096, bytes: ram, readonly: false },
    ]);
    vmxLoadMmuPgd(vmx, eptp, 0n);
    // Real mode, CS = 0, code at 0x1000, stack below 0x8000.
    vmcsWrite16(cpu, GUEST_CS_SELECTOR, 0);
    vmcsWritel(cpu, GUEST_CS_BASE, 0n);
    vmcsWritel(cpu, GUEST_RIP, 0x1000n);
    vmcsWritel(cpu, GUEST_RSP, 0x8000n);
    launched = false;
  });

  const code = (at: number, ...bytes: number[]) => ram.set(bytes, at);
  /** VMLAUNCH the first time, VMRESUME after; returns the basic exit reason. */
  const run = (): number => {
    const r = launched ? cpu.vmx.vmresume(cpu) : cpu.vmx.vmlaunch(cpu);
    launched = true;
    expect(r, cpu.vmx.lastEntryFailure?.message).toBe(VMX_VMEXIT);
    return vmcsRead32(cpu, VM_EXIT_REASON);
  };
  const rip = () => Number(vmcsReadl(cpu, GUEST_RIP));
  const skip = () =>
    vmcsWritel(cpu, GUEST_RIP, BigInt(rip() + vmcsRead32(cpu, VM_EXIT_INSTRUCTION_LEN)));

  it("OUT imm8 exits with the I/O qualification, then HLT exits", () => {
    code(0x1000, 0xb0, 0x48, 0xe6, 0xe9, 0xf4); // mov al,'H'; out 0xe9,al; hlt
    expect(run()).toBe(EXIT_REASON_IO_INSTRUCTION);
    // size 1 (0), OUT, immediate operand (bit 6), port 0xE9 in bits 31:16.
    expect(vmcsReadl(cpu, EXIT_QUALIFICATION)).toBe(BigInt(0x40 | (0xe9 << 16)));
    expect(rip()).toBe(0x1002);
    expect(vmcsRead32(cpu, VM_EXIT_INSTRUCTION_LEN)).toBe(2);
    // The general registers stay in the processor.
    expect(cpu.regs[0]! & 0xff).toBe(0x48);
    skip();
    expect(run()).toBe(EXIT_REASON_HLT);
    expect(vmcsRead32(cpu, VM_EXIT_INSTRUCTION_LEN)).toBe(1);
    expect(rip()).toBe(0x1004);
  });

  it("IN from DX: direction bit, port from DX, no immediate bit", () => {
    code(0x1000, 0xba, 0x78, 0x03, 0xec); // mov dx,0x378; in al,dx
    expect(run()).toBe(EXIT_REASON_IO_INSTRUCTION);
    expect(vmcsReadl(cpu, EXIT_QUALIFICATION)).toBe(BigInt(0x8 | (0x378 << 16)));
  });

  it("with I/O bitmaps, a clear bit lets the access reach the processor's ports", () => {
    const bitmapA = kernel.allocPage();
    const bitmapB = kernel.allocPage();
    bitmapA.bytes[0x80 >>> 3] = 1 << (0x80 & 7); // port 0x80 exits
    vmcsWrite64(cpu, IO_BITMAP_A, BigInt(bitmapA.pa));
    vmcsWrite64(cpu, IO_BITMAP_B, BigInt(bitmapB.pa));
    const ctl = vmcsRead32(cpu, CPU_BASED_VM_EXEC_CONTROL);
    vmcsWrite32(
      cpu,
      CPU_BASED_VM_EXEC_CONTROL,
      (ctl & ~CPU_BASED_UNCOND_IO_EXITING) | CPU_BASED_USE_IO_BITMAPS,
    );
    const seen: number[] = [];
    cpu.nonRoot.ports = {
      ioRead: () => 0,
      ioWrite: (port, _size, value) => seen.push(port, value),
      mmioRead: () => 0,
      mmioWrite: () => {},
    };
    code(0x1000, 0xb0, 0x07, 0xe6, 0x70, 0xe6, 0x80); // mov al,7; out 0x70,al; out 0x80,al
    expect(run()).toBe(EXIT_REASON_IO_INSTRUCTION);
    expect(seen).toEqual([0x70, 7]);
    expect(Number(vmcsReadl(cpu, EXIT_QUALIFICATION)) >>> 16).toBe(0x80);
  });

  it("CPUID always exits", () => {
    code(0x1000, 0x0f, 0xa2); // cpuid
    expect(run()).toBe(EXIT_REASON_CPUID);
    expect(vmcsRead32(cpu, VM_EXIT_INSTRUCTION_LEN)).toBe(2);
  });

  it("fetching outside the EPT is an EPT violation with the guest-physical address", () => {
    vmcsWrite16(cpu, GUEST_CS_SELECTOR, 0xf000);
    vmcsWritel(cpu, GUEST_CS_BASE, 0xffff_0000n);
    vmcsWritel(cpu, GUEST_RIP, 0xfff0n);
    expect(run()).toBe(EXIT_REASON_EPT_VIOLATION);
    expect(vmcsRead64(cpu, GUEST_PHYSICAL_ADDRESS)).toBe(0xffff_fff0n);
    // Bit 2: instruction fetch; bits 5:3 zero: nothing mapped there.
    expect(vmcsReadl(cpu, EXIT_QUALIFICATION)).toBe(4n);
  });

  it("a write to a hole is an EPT violation; the instruction has not run", () => {
    // mov ax,0xffff; mov ds,ax; mov [0x10],al   → linear 0x100000, past the 1 MiB slot
    code(0x1000, 0xb8, 0xff, 0xff, 0x8e, 0xd8, 0xa2, 0x10, 0x00);
    expect(run()).toBe(EXIT_REASON_EPT_VIOLATION);
    expect(vmcsRead64(cpu, GUEST_PHYSICAL_ADDRESS)).toBe(0x10_0000n);
    expect(vmcsReadl(cpu, EXIT_QUALIFICATION)).toBe(2n);
    expect(rip()).toBe(0x1005);
  });

  it("#UD in the exception bitmap exits with the interruption information", () => {
    code(0x1000, 0x0f, 0x0b); // ud2
    expect(run()).toBe(EXIT_REASON_EXCEPTION_NMI);
    // Vector 6, type 3 (hardware exception), no error code, valid.
    expect(vmcsRead32(cpu, VM_EXIT_INTR_INFO)).toBe((0x8000_0000 | (3 << 8) | 6) >>> 0);
    expect(rip()).toBe(0x1000);
  });

  it("MOV from CR0 reads the shadow; MOV to CR0 changing an owned bit exits", () => {
    // mov eax,cr0; or al,1; mov cr0,eax
    code(0x1000, 0x0f, 0x20, 0xc0, 0x0c, 0x01, 0x0f, 0x22, 0xc0);
    expect(run()).toBe(EXIT_REASON_CR_ACCESS);
    // The shadow (0x60000010), not GUEST_CR0 (which has NE): then PE set.
    expect(cpu.regs[0]! >>> 0).toBe(0x6000_0011);
    // CR0, MOV to CR, register EAX.
    expect(vmcsReadl(cpu, EXIT_QUALIFICATION)).toBe(0n);
    expect(rip()).toBe(0x1005);
  });

  it("injects an external interrupt through the IVT at VM entry", () => {
    // IVT entry 0x20 → 0000:0x2000, where the handler does OUT 0xe9.
    ram.set([0x00, 0x20, 0x00, 0x00], 0x20 * 4);
    code(0x2000, 0xe6, 0xe9);
    code(0x1000, 0x90);
    vmcsWritel(cpu, GUEST_RFLAGS, 0x202n);
    vmcsWrite32(cpu, VM_ENTRY_INTR_INFO_FIELD, 0x8000_0020);
    expect(run()).toBe(EXIT_REASON_IO_INSTRUCTION);
    expect(rip()).toBe(0x2000);
    // The frame: IP 0x1000, CS 0, FLAGS 0x202.
    const sp = Number(vmcsReadl(cpu, GUEST_RSP));
    expect(sp).toBe(0x8000 - 6);
    expect(ram[sp]! | (ram[sp + 1]! << 8)).toBe(0x1000);
    expect(ram[sp + 4]! | (ram[sp + 5]! << 8)).toBe(0x202);
    // Every VM exit clears the valid bit.
    expect(vmcsRead32(cpu, VM_ENTRY_INTR_INFO_FIELD) >>> 31).toBe(0);
  });

  it("an exit while delivering an event reports it as IDT-vectoring information", () => {
    // The stack lies in the EPT hole: pushing the frame of the injected interrupt exits.
    vmcsWritel(cpu, GUEST_SS_BASE, 0x10_0000n);
    vmcsWritel(cpu, GUEST_RFLAGS, 0x202n);
    vmcsWrite32(cpu, VM_ENTRY_INTR_INFO_FIELD, 0x8000_0020);
    expect(run()).toBe(EXIT_REASON_EPT_VIOLATION);
    expect(vmcsRead64(cpu, GUEST_PHYSICAL_ADDRESS)).toBe(0x10_7ffen);
    // Vector 0x20, type 0 (external interrupt), valid: KVM re-injects it from here.
    expect(vmcsRead32(cpu, IDT_VECTORING_INFO_FIELD)).toBe(0x8000_0020);
    expect(rip()).toBe(0x1000);
  });

  it("a software interrupt whose handler is in the hole exits after delivery, not during", () => {
    ram.set([0x10, 0x00, 0xff, 0xff], 0x21 * 4); // IVT 0x21 → FFFF:0010 = 0x100000
    code(0x1000, 0xcd, 0x21); // int 0x21
    expect(run()).toBe(EXIT_REASON_EPT_VIOLATION);
    expect(vmcsRead64(cpu, GUEST_PHYSICAL_ADDRESS)).toBe(0x10_0000n);
    expect(vmcsRead32(cpu, IDT_VECTORING_INFO_FIELD)).toBe(0);
  });

  it("a fault in event delivery with no way out is a triple fault", () => {
    vmcsWrite32(cpu, EXCEPTION_BITMAP, 0);
    vmcsWrite32(cpu, GUEST_IDTR_LIMIT, 0);
    code(0x1000, 0x0f, 0x0b); // ud2 → #UD → #GP (IVT limit) → #DF → shutdown
    expect(run()).toBe(EXIT_REASON_TRIPLE_FAULT);
  });

  it("an interrupt window opens at once when IF = 1 and nothing blocks", () => {
    code(0x1000, 0x90);
    vmcsWritel(cpu, GUEST_RFLAGS, 0x202n);
    const ctl = vmcsRead32(cpu, CPU_BASED_VM_EXEC_CONTROL);
    vmcsWrite32(cpu, CPU_BASED_VM_EXEC_CONTROL, ctl | CPU_BASED_INTR_WINDOW_EXITING);
    expect(run()).toBe(EXIT_REASON_INTERRUPT_WINDOW);
    expect(rip()).toBe(0x1000);
  });

  it("STI's shadow is saved as blocking by STI and delays the window by one instruction", () => {
    code(0x1000, 0xfb, 0x90, 0x90); // sti; nop; nop
    const ctl = vmcsRead32(cpu, CPU_BASED_VM_EXEC_CONTROL);
    vmcsWrite32(cpu, CPU_BASED_VM_EXEC_CONTROL, ctl | CPU_BASED_INTR_WINDOW_EXITING);
    expect(run()).toBe(EXIT_REASON_INTERRUPT_WINDOW);
    expect(rip()).toBe(0x1002);
    expect(vmcsRead32(cpu, GUEST_INTERRUPTIBILITY_INFO)).toBe(0);
  });

  it("the host timer brings a spinning guest back as an external interrupt", () => {
    code(0x1000, 0xeb, 0xfe); // jmp $
    cpu.nonRoot.timeslice = 5000;
    expect(run()).toBe(EXIT_REASON_EXTERNAL_INTERRUPT);
    // Acknowledged on exit (kvm_intel requires it): the host's vector, valid.
    expect(vmcsRead32(cpu, VM_EXIT_INTR_INFO)).toBe((0x8000_0000 | HOST_TIMER_VECTOR) >>> 0);
    expect(rip()).toBe(0x1000);
  });

  it("the VMX-preemption timer expires in a spinning guest", () => {
    code(0x1000, 0xeb, 0xfe);
    const pin = vmcsRead32(cpu, PIN_BASED_VM_EXEC_CONTROL);
    vmcsWrite32(cpu, PIN_BASED_VM_EXEC_CONTROL, pin | PIN_BASED_VMX_PREEMPTION_TIMER);
    vmcsWrite32(cpu, VMX_PREEMPTION_TIMER_VALUE, 3);
    expect(run()).toBe(EXIT_REASON_PREEMPTION_TIMER);
  });

  it("a guest halted by HLT without HLT exiting is woken by the host timer, HLT saved", () => {
    const ctl = vmcsRead32(cpu, CPU_BASED_VM_EXEC_CONTROL);
    vmcsWrite32(cpu, CPU_BASED_VM_EXEC_CONTROL, ctl & ~(1 << 7));
    code(0x1000, 0xf4);
    expect(run()).toBe(EXIT_REASON_EXTERNAL_INTERRUPT);
    expect(vmcsRead32(cpu, GUEST_ACTIVITY_STATE)).toBe(1);
    expect(rip()).toBe(0x1001);
  });

  it("reports every exit-information write as the processor's", () => {
    const writes: number[] = [];
    cpu.vmx.onFieldWrite = (_pa, enc, by) => {
      if (by === "cpu") writes.push(enc);
    };
    code(0x1000, 0xf4);
    run();
    expect(writes).toContain(VM_EXIT_REASON);
    expect(writes).toContain(GUEST_RIP);
    expect(writes).toContain(VM_EXIT_INSTRUCTION_LEN);
  });
});
