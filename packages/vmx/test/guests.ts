/**
 * A host with kvm_intel loaded (modprobe), a VMM process that talks to /dev/kvm through
 * the uapi wrappers only, and the register set-ups tiny hand-assembled guests start from:
 * real mode, flat 32-bit protected mode with or without paging, and 64-bit long mode.
 */
import {
  HostKernel,
  type HostProcess,
  type KvmVcpu,
  kvmGlobal,
  kvmModule,
} from "@glassvm/kvm-kernel";
import {
  emptyKvmRegs,
  Kvm,
  type KvmRegs,
  type KvmSegment,
  type VcpuFd,
  type VmFd,
} from "@glassvm/kvm-kernel/uapi";
import { type KvmIntelModule, kvmIntelModule } from "../src/index.js";

export interface IntelHost {
  kernel: HostKernel;
  mod: KvmIntelModule;
  /** The VMM process (its HostOs: open, ioctl, mmap, close). */
  os: HostProcess;
  kvm: Kvm;
}

/** `modprobe kvm_intel` on a fresh kernel, a VMM process, and its /dev/kvm fd. */
export function kvmIntelHost(): IntelHost {
  const kernel = new HostKernel();
  const mod = kvmIntelModule(kernel);
  const r = kernel.loadModule(kvmModule(mod));
  if (r !== 0) throw new Error(`modprobe kvm_intel: ${r}`);
  const os = kernel.spawn("glassvm-test");
  return { kernel, mod, os, kvm: Kvm.open(os) };
}

export interface Guest extends IntelHost {
  vm: VmFd;
  vcpu: VcpuFd;
  /** Guest RAM as the VMM sees it (slot 0 at guest-physical `ramBase`). */
  ram: Uint8Array;
  ramAddr: number;
}

/**
 * A VM with `ramSize` bytes of RAM at guest-physical `ramBase` and one vCPU (with the
 * in-kernel irqchip when `irqchip`).
 */
export function createGuest({
  ramSize = 0x10_0000,
  ramBase = 0,
  flags = 0,
  irqchip = false,
} = {}): Guest {
  const host = kvmIntelHost();
  // irqchip: a kernel built with it, and KVM_CREATE_IRQCHIP before the vCPU.
  if (irqchip) host.kernel.config.CONFIG_KVM_IOAPIC = true;
  const vm = host.kvm.createVm();
  if (irqchip) vm.createIrqchip();
  const ramAddr = host.os.mmap(-1, ramSize);
  const ram = host.os.view(ramAddr, ramSize);
  vm.setUserMemoryRegion({
    slot: 0,
    flags,
    guestPhysAddr: BigInt(ramBase),
    memorySize: BigInt(ramSize),
    userspaceAddr: BigInt(ramAddr),
  });
  const vcpu = vm.createVcpu(0);
  return { ...host, vm, vcpu, ram, ramAddr };
}

/** The kernel's own struct kvm_vcpu behind a vCPU fd (for white-box checks). */
export function kernelVcpu(g: IntelHost, id = 0): KvmVcpu {
  for (const vm of kvmGlobal(g.kernel)!.vms) {
    const v = vm.vcpus.find((c) => c.vcpuId === id);
    if (v) return v;
  }
  throw new Error(`no vCPU ${id}`);
}

/** Little-endian bytes of a 16/32/64-bit value. */
export const le16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];
export const le32 = (v: number): number[] => [...le16(v & 0xffff), ...le16(v >>> 16)];
export const le64 = (v: bigint): number[] => [
  ...le32(Number(v & 0xffff_ffffn)),
  ...le32(Number(v >> 32n)),
];

const seg = (over: Partial<KvmSegment>): KvmSegment => ({
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
  ...over,
});

/** Registers: RIP at `rip`, the stack at `rsp`, RFLAGS 2, everything else 0. */
function setRegs(g: Guest, rip: number, rsp: number, extra: Partial<KvmRegs> = {}): void {
  g.vcpu.setRegs({ ...emptyKvmRegs(), rip: BigInt(rip), rsp: BigInt(rsp), rflags: 2n, ...extra });
}

/** Real mode with every segment at 0 (code at linear `entry`), stack at 0x8000. */
export function realMode(g: Guest, entry = 0x1000): void {
  const s = g.vcpu.getSregs();
  const data = seg({});
  g.vcpu.setSregs({
    ...s,
    cs: seg({ type: 11 }),
    ds: data,
    es: data,
    fs: data,
    gs: data,
    ss: data,
  });
  setRegs(g, entry, 0x8000);
}

/** GDT at 0x500: null, 32-bit flat code (0x08), flat data (0x10), 64-bit code (0x18). */
export const GDT_BASE = 0x500;
export function writeGdt(g: Guest): void {
  g.ram.set(
    [
      ...le64(0n),
      ...le64(0x00cf_9b00_0000_ffffn),
      ...le64(0x00cf_9300_0000_ffffn),
      ...le64(0x00af_9b00_0000_ffffn),
    ],
    GDT_BASE,
  );
}

const CODE32 = seg({ selector: 0x08, limit: 0xffff_ffff, type: 11, db: 1, g: 1 });
const DATA32 = seg({ selector: 0x10, limit: 0xffff_ffff, type: 3, db: 1, g: 1 });
const CODE64 = seg({ selector: 0x18, limit: 0xffff_ffff, type: 11, l: 1, g: 1 });

const CR0_PE = 1n;
const CR0_ET = 1n << 4n;
const CR0_NE = 1n << 5n;
const CR0_PG = 1n << 31n;
const CR4_PSE = 1n << 4n;
const CR4_PAE = 1n << 5n;
const EFER_LME = 1n << 8n;
const EFER_LMA = 1n << 10n;

/**
 * Flat 32-bit protected mode (CS 0x08, data 0x10, base 0, limit 4 GiB). With `paging`, a
 * page directory at 0x2000 maps the first 4 MiB twice with PSE pages: at 0 and at 4 MiB.
 */
export function protectedMode(g: Guest, { entry = 0x1000, paging = false } = {}): void {
  writeGdt(g);
  const s = g.vcpu.getSregs();
  let cr0 = CR0_PE | CR0_ET | CR0_NE;
  let cr4 = 0n;
  if (paging) {
    // PDE 0 and PDE 1: 4 MiB pages (PS | RW | P) of physical 0.
    g.ram.set([...le32(0x83), ...le32(0x83)], 0x2000);
    cr0 |= CR0_PG;
    cr4 |= CR4_PSE;
  }
  g.vcpu.setSregs({
    ...s,
    cs: CODE32,
    ds: DATA32,
    es: DATA32,
    fs: DATA32,
    gs: DATA32,
    ss: DATA32,
    gdt: { base: BigInt(GDT_BASE), limit: 0x1f },
    cr0,
    cr3: paging ? 0x2000n : 0n,
    cr4,
  });
  setRegs(g, entry, 0x8000);
}

/** PML4 at 0x2000, PDPT at 0x3000, PD at 0x4000: the first 2 MiB identity-mapped. */
export function writeLongModeTables(g: Guest): void {
  g.ram.set(le64(0x3003n), 0x2000); // PML4[0] → PDPT, RW | P
  g.ram.set(le64(0x4003n), 0x3000); // PDPT[0] → PD, RW | P
  g.ram.set(le64(0x83n), 0x4000); // PD[0]: 2 MiB page at 0, PS | RW | P
}

/**
 * 64-bit long mode: 4-level tables at 0x2000 (PML4), 0x3000 (PDPT), 0x4000 (PD) identity
 * map the first 2 MiB with one large page; CS 0x18 is 64-bit code.
 */
export function longMode(g: Guest, { entry = 0x1000, efer = 0n } = {}): void {
  writeGdt(g);
  writeLongModeTables(g);
  const s = g.vcpu.getSregs();
  g.vcpu.setSregs({
    ...s,
    cs: CODE64,
    ds: DATA32,
    es: DATA32,
    fs: DATA32,
    gs: DATA32,
    ss: DATA32,
    gdt: { base: BigInt(GDT_BASE), limit: 0x1f },
    cr0: CR0_PE | CR0_ET | CR0_NE | CR0_PG,
    cr3: 0x2000n,
    cr4: CR4_PAE,
    efer: EFER_LME | EFER_LMA | efer,
  });
  setRegs(g, entry, 0x8000);
}
