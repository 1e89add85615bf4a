/**
 * arch/x86/kvm/vmx/vmx.c — kvm_intel, the part that stands today: module setup
 * (setup_vmcs_config), turning VMX on and off per CPU (kvm_cpu_vmxon / cpu_vmxoff with
 * the per-CPU VMXON region), and VMCS allocation (alloc_vmcs_cpu). vmx_create_vcpu,
 * vmx_vcpu_run and the exit handlers build on these.
 */
import type { HostKernel } from "@glassvm/kvm-kernel";
import { EBUSY, EIO } from "@glassvm/kvm-kernel/uapi";
import {
  CPU_BASED_CR3_LOAD_EXITING,
  CPU_BASED_CR3_STORE_EXITING,
  CPU_BASED_INTR_WINDOW_EXITING,
  CPU_BASED_INVLPG_EXITING,
  CPU_BASED_MONITOR_TRAP_FLAG,
  CPU_BASED_NMI_WINDOW_EXITING,
  CPU_BASED_PAUSE_EXITING,
  CPU_BASED_RDTSC_EXITING,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  CPU_BASED_VM_EXEC_CONTROL,
  CR0_GUEST_HOST_MASK,
  CR0_READ_SHADOW,
  CR3_TARGET_COUNT,
  CR4_GUEST_HOST_MASK,
  CR4_READ_SHADOW,
  EPT_POINTER,
  EXCEPTION_BITMAP,
  GUEST_ACTIVITY_ACTIVE,
  GUEST_ACTIVITY_STATE,
  GUEST_CR0,
  GUEST_CR3,
  GUEST_CR4,
  GUEST_DR7,
  GUEST_GDTR_BASE,
  GUEST_GDTR_LIMIT,
  GUEST_IA32_DEBUGCTL,
  GUEST_IA32_PAT,
  GUEST_IDTR_BASE,
  GUEST_IDTR_LIMIT,
  GUEST_INTERRUPTIBILITY_INFO,
  GUEST_PENDING_DBG_EXCEPTIONS,
  GUEST_RFLAGS,
  GUEST_RIP,
  GUEST_RSP,
  GUEST_SYSENTER_CS,
  GUEST_SYSENTER_EIP,
  GUEST_SYSENTER_ESP,
  HOST_CR0,
  HOST_CR3,
  HOST_CR4,
  HOST_CS_SELECTOR,
  HOST_DS_SELECTOR,
  HOST_ES_SELECTOR,
  HOST_FS_BASE,
  HOST_FS_SELECTOR,
  HOST_GDTR_BASE,
  HOST_GS_BASE,
  HOST_GS_SELECTOR,
  HOST_IA32_EFER,
  HOST_IA32_PAT,
  HOST_IA32_SYSENTER_CS,
  HOST_IA32_SYSENTER_EIP,
  HOST_IA32_SYSENTER_ESP,
  HOST_IDTR_BASE,
  HOST_RIP,
  HOST_RSP,
  HOST_SS_SELECTOR,
  HOST_TR_BASE,
  HOST_TR_SELECTOR,
  MSR_BITMAP,
  PAGE_FAULT_ERROR_CODE_MASK,
  PAGE_FAULT_ERROR_CODE_MATCH,
  PIN_BASED_POSTED_INTR,
  PIN_BASED_VM_EXEC_CONTROL,
  PIN_BASED_VMX_PREEMPTION_TIMER,
  SECONDARY_EXEC_ENABLE_VPID,
  SECONDARY_VM_EXEC_CONTROL,
  VIRTUAL_PROCESSOR_ID,
  VM_ENTRY_CONTROLS,
  VM_ENTRY_IA32E_MODE,
  VM_ENTRY_INTR_INFO_FIELD,
  VM_ENTRY_LOAD_IA32_PAT,
  VM_ENTRY_MSR_LOAD_COUNT,
  VM_EXIT_CONTROLS,
  VM_EXIT_LOAD_IA32_EFER,
  VM_EXIT_LOAD_IA32_PAT,
  VM_EXIT_MSR_LOAD_COUNT,
  VM_EXIT_MSR_STORE_COUNT,
  VM_EXIT_SAVE_IA32_EFER,
  VM_EXIT_SAVE_IA32_PAT,
  VM_EXIT_SAVE_VMX_PREEMPTION_TIMER,
  VMCS_LINK_POINTER,
  X86_CR4_VMXE,
} from "./asm/vmx.js";
import {
  cpuHasVmxEpt,
  cpuHasVmxMsrBitmap,
  setupVmcsConfig,
  type VmcsConfig,
} from "./capabilities.js";
import { HOST_CR0 as HOST_CR0_VALUE, HostCpu } from "./hw/host_cpu.js";
import { VMX_SUCCEED, vmxOutcomeName } from "./hw/vmx_cpu.js";
import {
  vmcsClear,
  vmcsLoad,
  vmcsWrite16,
  vmcsWrite32,
  vmcsWrite64,
  vmcsWritel,
} from "./vmx_ops.js";
import { vmxSetSegment } from "./vmx_segments.js";

/** A VMCS (or VMXON region) page: its physical address and bytes. */
export interface VmcsPage {
  readonly pa: number;
  readonly bytes: Uint8Array;
}

/** kvm_intel's global state: the host CPUs, vmcs_config, the per-CPU VMXON regions. */
export class KvmIntel {
  readonly cpus: HostCpu[];
  vmcsConfig: VmcsConfig | null = null;
  /** per_cpu(vmxarea): each CPU's VMXON region. */
  readonly vmxarea = new Map<number, VmcsPage>();

  constructor(
    readonly kernel: HostKernel,
    nrCpus = 1,
  ) {
    this.cpus = Array.from({ length: nrCpus }, (_, i) => new HostCpu(kernel, i));
  }

  /** hardware_setup: read the capability MSRs on the boot CPU; 0 or -EIO. */
  vmxHardwareSetup(): number {
    const cpu = this.cpus[0]!;
    const cfg = setupVmcsConfig((i) => cpu.rdmsr(i));
    if (typeof cfg === "number") {
      this.kernel.printk("kvm_intel: VMX not supported by CPU (required controls missing)");
      return cfg;
    }
    this.vmcsConfig = cfg;
    for (const c of this.cpus) this.vmxarea.set(c.id, this.allocVmcsCpu());
    return 0;
  }

  /**
   * alloc_vmcs_cpu: a zeroed page with the revision identifier at offset 0 (a VMCS or a
   * VMXON region — they share the format's first word).
   */
  allocVmcsCpu(): VmcsPage {
    const page = this.kernel.allocPage();
    new DataView(page.bytes.buffer, page.bytes.byteOffset, 4).setUint32(
      0,
      this.vmcsConfig?.revisionId ?? 0,
      true,
    );
    return page;
  }

  freeVmcs(page: VmcsPage): void {
    this.kernel.freePage(page.pa);
  }

  /** vmx_hardware_enable → kvm_cpu_vmxon: CR4.VMXE, then VMXON on the CPU's region. */
  vmxHardwareEnable(cpu: HostCpu): number {
    if ((cpu.cr4() & X86_CR4_VMXE) !== 0 || cpu.vmx.inVmxOperation) return -EBUSY;
    const area = this.vmxarea.get(cpu.id);
    if (!area) return -EIO;
    cpu.cr4Value |= X86_CR4_VMXE;
    const r = cpu.vmx.vmxon(cpu, area.pa);
    if (r !== VMX_SUCCEED) {
      cpu.cr4Value &= ~X86_CR4_VMXE;
      this.kernel.printk(`kvm: VMX: VMXON failed on CPU ${cpu.id}: ${vmxOutcomeName(r)}`);
      return -EIO;
    }
    return 0;
  }

  private initMmPgd: VmcsPage | null = null;
  /** allocate_vpid: VPID 0 belongs to the host. */
  nextVpid = 1;

  /** The host kernel's page-table root (init_mm.pgd): HOST_CR3. */
  hostCr3(): number {
    this.initMmPgd ??= this.kernel.allocPage();
    return this.initMmPgd.pa;
  }

  /** vmx_hardware_disable → cpu_vmxoff: VMXOFF and CR4.VMXE cleared. */
  vmxHardwareDisable(cpu: HostCpu): void {
    if (cpu.vmx.inVmxOperation) cpu.vmx.vmxoff(cpu);
    cpu.cr4Value &= ~X86_CR4_VMXE;
  }
}

/** The host's kernel segments and tables (arch/x86 GDT layout; canonical kernel addresses). */
const __KERNEL_CS = 0x10;
const __KERNEL_DS = 0x18;
/** GDT_ENTRY_TSS * 8. */
const HOST_TR = 0x40;
/** The per-CPU entry area and the address of vmx_vmexit in the host kernel's image. */
const HOST_GDT_BASE = 0xffff_fe00_0000_1000n;
const HOST_IDT_BASE = 0xffff_fe00_0000_0000n;
const HOST_TSS_BASE = 0xffff_fe00_0000_3000n;
const VMX_VMEXIT_RIP = 0xffff_ffff_8100_0000n;
const PAT_DEFAULT = 0x0007_0406_0007_0406n;
/** KVM_VM_CR0_ALWAYS_ON_UNRESTRICTED_GUEST and KVM_VM_CR4_ALWAYS_ON_UNRESTRICTED_GUEST. */
const CR0_ALWAYS_ON_UG = (1 << 16) | (1 << 5);
const CR4_ALWAYS_ON_UG = X86_CR4_VMXE;
/** CR0/CR4 bits the guest owns (no exit on write): TS; and no CR4 bits. */
const CR0_GUEST_OWNED = 1 << 3;

/** struct vcpu_vmx (what this release keeps of it). */
export class VcpuVmx {
  constructor(
    /** The host CPU it is loaded on. */
    readonly cpu: HostCpu,
    /** vmcs01: the VMCS this vCPU runs from. */
    readonly vmcs: VmcsPage,
    /** The 4 KiB MSR bitmap (every bit set: every MSR access exits until cleared). */
    readonly msrBitmap: VmcsPage,
    readonly vpid: number,
  ) {}
}

/** What vmx_vcpu_create does before kvm-kernel's part: VPID, VMCS, MSR bitmap, VMPTRLD. */
export function vmxCreateVcpuVmx(kvm: KvmIntel, cpu: HostCpu): VcpuVmx {
  const cfg = kvm.vmcsConfig!;
  const vpid = (cfg.cpuBasedExec2Ctrl & SECONDARY_EXEC_ENABLE_VPID) !== 0 ? kvm.nextVpid++ : 0;
  const vmcs = kvm.allocVmcsCpu();
  const msrBitmap = kvm.kernel.allocPage();
  msrBitmap.bytes.fill(0xff);
  vmcsClear(cpu, vmcs.pa);
  vmcsLoad(cpu, vmcs.pa);
  const vmx = new VcpuVmx(cpu, vmcs, msrBitmap, vpid);
  initVmcs(kvm, vmx);
  return vmx;
}

/** vmx_set_constant_host_state: the host state every VM exit returns to. */
export function vmxSetConstantHostState(kvm: KvmIntel, vmx: VcpuVmx): void {
  const cpu = vmx.cpu;
  const cfg = kvm.vmcsConfig!;
  vmcsWritel(cpu, HOST_CR0, BigInt(HOST_CR0_VALUE));
  vmcsWritel(cpu, HOST_CR3, BigInt(kvm.hostCr3()));
  vmcsWritel(cpu, HOST_CR4, BigInt(cpu.cr4()));
  vmcsWrite16(cpu, HOST_CS_SELECTOR, __KERNEL_CS);
  vmcsWrite16(cpu, HOST_DS_SELECTOR, 0);
  vmcsWrite16(cpu, HOST_ES_SELECTOR, 0);
  vmcsWrite16(cpu, HOST_SS_SELECTOR, __KERNEL_DS);
  vmcsWrite16(cpu, HOST_TR_SELECTOR, HOST_TR);
  vmcsWritel(cpu, HOST_GDTR_BASE, HOST_GDT_BASE);
  vmcsWritel(cpu, HOST_IDTR_BASE, HOST_IDT_BASE);
  vmcsWritel(cpu, HOST_TR_BASE, HOST_TSS_BASE);
  vmcsWritel(cpu, HOST_RIP, VMX_VMEXIT_RIP);
  vmcsWritel(cpu, HOST_RSP, 0xffff_c900_0000_4000n);
  vmcsWrite32(cpu, HOST_IA32_SYSENTER_CS, 0);
  vmcsWritel(cpu, HOST_IA32_SYSENTER_ESP, 0n);
  vmcsWritel(cpu, HOST_IA32_SYSENTER_EIP, 0n);
  if ((cfg.vmexitCtrl & VM_EXIT_LOAD_IA32_PAT) !== 0) vmcsWrite64(cpu, HOST_IA32_PAT, PAT_DEFAULT);
  // SCE | LME | LMA | NXE: the 64-bit host kernel's EFER.
  if ((cfg.vmexitCtrl & VM_EXIT_LOAD_IA32_EFER) !== 0) vmcsWrite64(cpu, HOST_IA32_EFER, 0xd01n);
}

/** vmx_exec_control: the primary controls for this vCPU (EPT: no CR3/INVLPG exits). */
export function vmxExecControl(cfg: VmcsConfig): number {
  let c = cfg.cpuBasedExecCtrl;
  // The window-exiting controls are turned on only while KVM waits for a window.
  c &= ~(
    CPU_BASED_INTR_WINDOW_EXITING |
    CPU_BASED_NMI_WINDOW_EXITING |
    CPU_BASED_RDTSC_EXITING |
    CPU_BASED_USE_IO_BITMAPS |
    CPU_BASED_MONITOR_TRAP_FLAG |
    CPU_BASED_PAUSE_EXITING
  );
  if (cpuHasVmxEpt(cfg)) {
    c &= ~(CPU_BASED_CR3_LOAD_EXITING | CPU_BASED_CR3_STORE_EXITING | CPU_BASED_INVLPG_EXITING);
  }
  return c >>> 0;
}

/** init_vmcs: the control fields and constant host state of a fresh vmcs01. */
export function initVmcs(kvm: KvmIntel, vmx: VcpuVmx): void {
  const cpu = vmx.cpu;
  const cfg = kvm.vmcsConfig!;
  vmcsWrite64(cpu, VMCS_LINK_POINTER, 0xffff_ffff_ffff_ffffn);
  // vmx_pin_based_exec_ctrl: no posted interrupts (no APICv); the preemption timer is
  // armed only when a deadline needs it.
  vmcsWrite32(
    cpu,
    PIN_BASED_VM_EXEC_CONTROL,
    cfg.pinBasedExecCtrl & ~(PIN_BASED_POSTED_INTR | PIN_BASED_VMX_PREEMPTION_TIMER),
  );
  vmcsWrite32(cpu, CPU_BASED_VM_EXEC_CONTROL, vmxExecControl(cfg));
  vmcsWrite32(cpu, SECONDARY_VM_EXEC_CONTROL, cfg.cpuBasedExec2Ctrl);
  if (vmx.vpid) vmcsWrite16(cpu, VIRTUAL_PROCESSOR_ID, vmx.vpid);
  if (cpuHasVmxMsrBitmap(cfg) && (vmxExecControl(cfg) & CPU_BASED_USE_MSR_BITMAPS) !== 0) {
    vmcsWrite64(cpu, MSR_BITMAP, BigInt(vmx.msrBitmap.pa));
  }
  vmcsWrite32(cpu, PAGE_FAULT_ERROR_CODE_MASK, 0);
  vmcsWrite32(cpu, PAGE_FAULT_ERROR_CODE_MATCH, 0);
  vmcsWrite32(cpu, CR3_TARGET_COUNT, 0);
  vmcsWrite16(cpu, HOST_FS_SELECTOR, 0);
  vmcsWrite16(cpu, HOST_GS_SELECTOR, 0);
  vmxSetConstantHostState(kvm, vmx);
  vmcsWritel(cpu, HOST_FS_BASE, 0n);
  vmcsWritel(cpu, HOST_GS_BASE, 0n);
  vmcsWrite32(cpu, VM_EXIT_MSR_STORE_COUNT, 0);
  vmcsWrite32(cpu, VM_EXIT_MSR_LOAD_COUNT, 0);
  vmcsWrite32(cpu, VM_ENTRY_MSR_LOAD_COUNT, 0);
  if ((cfg.vmentryCtrl & VM_ENTRY_LOAD_IA32_PAT) !== 0)
    vmcsWrite64(cpu, GUEST_IA32_PAT, PAT_DEFAULT);
  // vmx_vmexit_ctrl: the save-PAT/EFER/timer controls exist for nested guests only.
  vmcsWrite32(
    cpu,
    VM_EXIT_CONTROLS,
    cfg.vmexitCtrl &
      ~(VM_EXIT_SAVE_IA32_PAT | VM_EXIT_SAVE_IA32_EFER | VM_EXIT_SAVE_VMX_PREEMPTION_TIMER),
  );
  // The guest starts outside IA-32e mode; set_efer turns the entry control on.
  vmcsWrite32(cpu, VM_ENTRY_CONTROLS, cfg.vmentryCtrl & ~VM_ENTRY_IA32E_MODE);
  vmcsWritel(cpu, CR0_GUEST_HOST_MASK, BigInt(~CR0_GUEST_OWNED >>> 0) | 0xffff_ffff_0000_0000n);
  vmcsWritel(cpu, CR4_GUEST_HOST_MASK, 0xffff_ffff_ffff_ffffn);
  vmcsWrite32(cpu, EXCEPTION_BITMAP, (1 << 1) | (1 << 6) | (1 << 17) | (1 << 18));
}

/**
 * __vmx_vcpu_reset + vmx_vcpu_reset's VMCS part: the RESET state of SDM Table 10-1 as
 * unrestricted guest runs it (real mode, CS F000:FFF0 with base FFFF0000).
 */
export function vmxVcpuReset(vmx: VcpuVmx): void {
  const cpu = vmx.cpu;
  const data = {
    base: 0n,
    limit: 0xffff,
    selector: 0,
    type: 3,
    present: 1,
    dpl: 0,
    db: 0,
    s: 1,
    l: 0,
    g: 0,
    avl: 0,
    unusable: 0,
  };
  for (const seg of [0, 2, 3, 4, 5]) vmxSetSegment(cpu, data, seg);
  vmxSetSegment(cpu, { ...data, selector: 0xf000, base: 0xffff_0000n, type: 11 }, 1);
  vmxSetSegment(cpu, { ...data, type: 11, s: 0 }, 6);
  vmxSetSegment(cpu, { ...data, type: 2, s: 0 }, 7);
  vmcsWritel(cpu, GUEST_GDTR_BASE, 0n);
  vmcsWrite32(cpu, GUEST_GDTR_LIMIT, 0xffff);
  vmcsWritel(cpu, GUEST_IDTR_BASE, 0n);
  vmcsWrite32(cpu, GUEST_IDTR_LIMIT, 0xffff);
  vmcsWrite32(cpu, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
  vmcsWrite32(cpu, GUEST_INTERRUPTIBILITY_INFO, 0);
  vmcsWritel(cpu, GUEST_PENDING_DBG_EXCEPTIONS, 0n);
  vmcsWrite32(cpu, VM_ENTRY_INTR_INFO_FIELD, 0);
  vmcsWrite32(cpu, GUEST_SYSENTER_CS, 0);
  vmcsWritel(cpu, GUEST_SYSENTER_ESP, 0n);
  vmcsWritel(cpu, GUEST_SYSENTER_EIP, 0n);
  vmcsWrite64(cpu, GUEST_IA32_DEBUGCTL, 0n);
  vmcsWritel(cpu, GUEST_DR7, 0x400n);
  vmcsWritel(cpu, GUEST_RFLAGS, 0x2n);
  vmcsWritel(cpu, GUEST_RIP, 0xfff0n);
  vmcsWritel(cpu, GUEST_RSP, 0n);
  vmxSetCr0(vmx, 0x6000_0010);
  vmxSetCr4(vmx, 0);
  vmcsWritel(cpu, GUEST_CR3, 0n);
}

/** vmx_set_cr0 (unrestricted guest): the shadow holds the guest's value, GUEST_CR0 adds NE and WP. */
export function vmxSetCr0(vmx: VcpuVmx, cr0: number): void {
  vmcsWritel(vmx.cpu, CR0_READ_SHADOW, BigInt(cr0 >>> 0));
  vmcsWritel(vmx.cpu, GUEST_CR0, BigInt((cr0 | CR0_ALWAYS_ON_UG) >>> 0));
}

/** vmx_set_cr4: the shadow holds the guest's value, GUEST_CR4 adds VMXE. */
export function vmxSetCr4(vmx: VcpuVmx, cr4: number): void {
  vmcsWritel(vmx.cpu, CR4_READ_SHADOW, BigInt(cr4 >>> 0));
  vmcsWritel(vmx.cpu, GUEST_CR4, BigInt((cr4 | CR4_ALWAYS_ON_UG) >>> 0));
}

/** vmx_load_mmu_pgd with EPT: the EPT pointer, and the guest's own CR3. */
export function vmxLoadMmuPgd(vmx: VcpuVmx, eptp: bigint, guestCr3: bigint): void {
  vmcsWrite64(vmx.cpu, EPT_POINTER, eptp);
  vmcsWritel(vmx.cpu, GUEST_CR3, guestCr3);
}
