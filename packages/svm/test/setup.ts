/**
 * A host for the hardware tests: the host kernel, one AMD host CPU with SVM enabled (EFER.SVME,
 * VM_HSAVE_PA), 1 MiB of guest RAM mapped at GPA 0 by nested page tables, an IOPM and an
 * MSRPM, and a VMCB in the state Linux's init_vmcb leaves for a real-mode guest at 0:1000.
 */
import { HostKernel } from "@glassvm/kvm-kernel";
import { expect } from "vitest";
import {
  EFER_SVME,
  HostCpu,
  INTERCEPT_VMRUN,
  IOPM_SIZE,
  MSR_EFER,
  MSR_VM_HSAVE_PA,
  MSRPM_SIZE,
  SVM_NESTED_CTL_NP_ENABLE,
  VMCB_ASID,
  VMCB_CR0,
  VMCB_CS,
  VMCB_DR6,
  VMCB_DR7,
  VMCB_DS,
  VMCB_EFER,
  VMCB_ES,
  VMCB_G_PAT,
  VMCB_GDTR,
  VMCB_IDTR,
  VMCB_IOPM_BASE_PA,
  VMCB_MISC_CTL,
  VMCB_MSRPM_BASE_PA,
  VMCB_NESTED_CR3,
  VMCB_RFLAGS,
  VMCB_RIP,
  VMCB_RSP,
  VMCB_SS,
  Vmcb,
} from "../src/index.js";

export const MiB = 1 << 20;

export interface SvmHost {
  kernel: HostKernel;
  cpu: HostCpu;
  vmcb: Vmcb;
  ram: Uint8Array;
  hsavePa: number;
  iopmPa: number;
  msrpmPa: number;
  /** Set (or clear) the IOPM bit of `port`. */
  interceptPort(port: number, on?: boolean): void;
  /** Set the MSRPM bit for RDMSR (`write` false) or WRMSR of `msr`. */
  interceptMsr(msr: number, write: boolean): void;
  /** Host-physical bytes of a multi-page area (pages allocated back to back). */
  pageBytes(pa: number): Uint8Array;
}

/** `n` consecutive zeroed pages; the physical address of the first. */
function allocPages(kernel: HostKernel, n: number): number {
  const first = kernel.allocPage().pa;
  for (let i = 1; i < n; i++) {
    const p = kernel.allocPage().pa;
    if (p !== first + i * 4096) throw new Error("pages not consecutive");
  }
  return first;
}

/** 4-level nested tables mapping GPA [0, ram.length) to the RAM's host frames (P|RW|US). */
export function buildNpt(kernel: HostKernel, ram: Uint8Array, flags = 7): number {
  const pfn = kernel.gupPages(ram);
  const pml4 = kernel.allocPage();
  const pdpt = kernel.allocPage();
  const pd = kernel.allocPage();
  const w64 = (b: Uint8Array, i: number, v: number) =>
    new DataView(b.buffer, b.byteOffset).setBigUint64(i * 8, BigInt(v), true);
  w64(pml4.bytes, 0, pdpt.pa + 7);
  w64(pdpt.bytes, 0, pd.pa + 7);
  const pages = ram.length / 4096;
  for (let t = 0; t * 512 < pages; t++) {
    const pt = kernel.allocPage();
    w64(pd.bytes, t, pt.pa + 7);
    for (let i = 0; i < 512 && t * 512 + i < pages; i++) {
      w64(pt.bytes, i, (pfn + t * 512 + i) * 4096 + flags);
    }
  }
  return pml4.pa;
}

export function svmHost(): SvmHost {
  const kernel = new HostKernel();
  const cpu = new HostCpu(kernel);
  expect(cpu.wrmsr(MSR_EFER, BigInt(cpu.efer() | EFER_SVME))).toBe(true);
  const hsavePa = kernel.allocPage().pa;
  expect(cpu.wrmsr(MSR_VM_HSAVE_PA, BigInt(hsavePa))).toBe(true);
  const vmcbPage = kernel.allocPage();
  const vmcb = new Vmcb(vmcbPage.pa, vmcbPage.bytes);
  const iopmPa = allocPages(kernel, IOPM_SIZE / 4096);
  const msrpmPa = allocPages(kernel, MSRPM_SIZE / 4096);
  const proc = kernel.spawn();
  const addr = proc.mmap(-1, MiB);
  const ram = proc.view(addr, MiB);
  const ncr3 = buildNpt(kernel, ram);

  vmcb.setIntercept(INTERCEPT_VMRUN);
  vmcb.write32(VMCB_ASID, 1);
  vmcb.write64(VMCB_IOPM_BASE_PA, BigInt(iopmPa));
  vmcb.write64(VMCB_MSRPM_BASE_PA, BigInt(msrpmPa));
  vmcb.write64(VMCB_MISC_CTL, BigInt(SVM_NESTED_CTL_NP_ENABLE));
  vmcb.write64(VMCB_NESTED_CR3, BigInt(ncr3));
  vmcb.write64(VMCB_G_PAT, 0x0007_0406_0007_0406n);
  // Real mode at 0000:1000, stack below 0x8000 (init_vmcb's segment values).
  for (const at of [VMCB_ES, VMCB_SS, VMCB_DS]) {
    vmcb.setSegment(at, { selector: 0, attrib: 0x93, limit: 0xffff, base: 0n });
  }
  vmcb.setSegment(VMCB_CS, { selector: 0, attrib: 0x9b, limit: 0xffff, base: 0n });
  vmcb.write32(VMCB_GDTR + 4, 0xffff);
  vmcb.write32(VMCB_IDTR + 4, 0x3ff);
  vmcb.write64(VMCB_EFER, BigInt(EFER_SVME));
  vmcb.write64(VMCB_CR0, 0x10n);
  vmcb.write64(VMCB_DR6, 0xffff_0ff0n);
  vmcb.write64(VMCB_DR7, 0x400n);
  vmcb.write64(VMCB_RFLAGS, 0x2n);
  vmcb.write64(VMCB_RIP, 0x1000n);
  vmcb.write64(VMCB_RSP, 0x8000n);

  const pageBytes = (pa: number): Uint8Array => kernel.physBytes(pa, 4096)!;
  return {
    kernel,
    cpu,
    vmcb,
    ram,
    hsavePa,
    iopmPa,
    msrpmPa,
    interceptPort(port, on = true) {
      const page = pageBytes(iopmPa + (port >>> 15) * 4096);
      const byte = (port >>> 3) & 0xfff;
      if (on) page[byte] = page[byte]! | (1 << (port & 7));
      else page[byte] = page[byte]! & ~(1 << (port & 7));
    },
    interceptMsr(msr, write) {
      const ranges = [0, 0xc000_0000, 0xc001_0000];
      const r = ranges.findIndex((b) => msr >>> 0 >= b && msr >>> 0 < b + 0x2000);
      const bit = r * 0x800 * 8 + ((msr >>> 0) - ranges[r]!) * 2 + (write ? 1 : 0);
      const page = pageBytes(msrpmPa + (bit >>> 15) * 4096);
      const byte = (bit >>> 3) & 0xfff;
      page[byte] = page[byte]! | (1 << (bit & 7));
    },
    pageBytes,
  };
}
