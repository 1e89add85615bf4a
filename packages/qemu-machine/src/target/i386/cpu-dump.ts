/**
 * target/i386/cpu-dump.c: `x86_cpu_dump_state`, the register dump of `info registers`,
 * `-d cpu` and of a vCPU that KVM could not run (kvm_cpu_exec prints it with
 * CPU_DUMP_CODE before stopping the VM). The text is qemu-system-x86_64's: a 64-bit code
 * segment (HF_CS64) gets the RAX…R15 layout, anything else EAX…; in long mode (HF_LMA)
 * GDT/IDT/CR2/CR3 are 16 digits; DR0–DR7 are always 16 (target_ulong is 64-bit).
 *
 *   EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000663
 *   …
 *   CS =f000 ffff0000 0000ffff 00009b00
 *   Code=?? ?? <??> ??             (50 bytes from CS.base+EIP−min(EIP, 20); ?? unreadable)
 *
 * The Code= bytes are read as cpu_memory_rw_debug does: the linear address translated
 * through the guest's page tables (x86_cpu_get_phys_page_attrs_debug: none, 32-bit, PAE,
 * 4- and 5-level), then address_space_memory; unassigned memory gives `??`.
 * Not modelled: CPU_DUMP_FPU (the x87/SSE lines: KVM's FPU state is not fetched yet),
 * CPU_DUMP_CCOP (lazy flags exist only under TCG), APX registers.
 */
import type { AddressSpace } from "../../system/memory.js";
import {
  type CPUX86State,
  DESC_A_MASK,
  DESC_B_MASK,
  DESC_CS_MASK,
  DESC_DPL_SHIFT,
  DESC_L_MASK,
  DESC_P_MASK,
  DESC_R_MASK,
  DESC_S_MASK,
  DESC_TYPE_SHIFT,
  DESC_W_MASK,
  HF_CPL_MASK,
  HF_CS64_MASK,
  HF_INHIBIT_IRQ_MASK,
  HF_LMA_MASK,
  HF_PE_MASK,
  HF_SMM_MASK,
  R_CS,
  type SegmentCache,
  type X86CPU,
} from "./cpu.js";

/** cpu_dump_state flags (include/hw/core/cpu.h). */
export const CPU_DUMP_CODE = 0x0001_0000;
export const CPU_DUMP_FPU = 0x0002_0000;
export const CPU_DUMP_CCOP = 0x0004_0000;

const DUMP_CODE_BYTES_TOTAL = 50;
const DUMP_CODE_BYTES_BACKWARD = 20;

/** Conforming (code) and expand-down (data) share bit 10 of the flags word. */
const DESC_C_MASK = 1 << 10;
const DESC_E_MASK = 1 << 10;

const SEG_NAMES = ["ES", "CS", "SS", "DS", "FS", "GS"] as const;

const SYS_TYPE_NAMES: readonly (readonly string[])[] = [
  [
    "Reserved",
    "TSS16-avl",
    "LDT",
    "TSS16-busy",
    "CallGate16",
    "TaskGate",
    "IntGate16",
    "TrapGate16",
    "Reserved",
    "TSS32-avl",
    "Reserved",
    "TSS32-busy",
    "CallGate32",
    "Reserved",
    "IntGate32",
    "TrapGate32",
  ],
  [
    "<hiword>",
    "Reserved",
    "LDT",
    "Reserved",
    "Reserved",
    "Reserved",
    "Reserved",
    "Reserved",
    "Reserved",
    "TSS64-avl",
    "Reserved",
    "TSS64-busy",
    "CallGate64",
    "Reserved",
    "IntGate64",
    "TrapGate64",
  ],
];

const U64 = (1n << 64n) - 1n;

/** `%0<width>x` of the low `width * 4` bits. */
function hex(v: bigint | number, width: number): string {
  const b = typeof v === "bigint" ? v : BigInt(v >>> 0);
  return BigInt.asUintN(width * 4, b)
    .toString(16)
    .padStart(width, "0");
}

/** `cpu_x86_dump_seg_cache`: one segment line with its decoded descriptor type. */
function cpuX86DumpSegCache(env: CPUX86State, name: string, sc: SegmentCache): string {
  const f = sc.flags;
  let out =
    env.hflags & HF_CS64_MASK
      ? `${name.padEnd(3)}=${hex(sc.selector, 4)} ${hex(sc.base, 16)} ${hex(sc.limit, 8)} ${hex(f & 0x00ff_ff00, 8)}`
      : `${name.padEnd(3)}=${hex(sc.selector, 4)} ${hex(sc.base, 8)} ${hex(sc.limit, 8)} ${hex(f & 0x00ff_ff00, 8)}`;
  if (!(env.hflags & HF_PE_MASK) || !(f & DESC_P_MASK)) return `${out}\n`;
  out += ` DPL=${(f >>> DESC_DPL_SHIFT) & 3} `;
  if (f & DESC_S_MASK) {
    if (f & DESC_CS_MASK) {
      out += f & DESC_L_MASK ? "CS64" : f & DESC_B_MASK ? "CS32" : "CS16";
      out += ` [${f & DESC_C_MASK ? "C" : "-"}${f & DESC_R_MASK ? "R" : "-"}`;
    } else {
      out += f & DESC_B_MASK || env.hflags & HF_LMA_MASK ? "DS  " : "DS16";
      out += ` [${f & DESC_E_MASK ? "E" : "-"}${f & DESC_W_MASK ? "W" : "-"}`;
    }
    out += `${f & DESC_A_MASK ? "A" : "-"}]`;
  } else {
    out += SYS_TYPE_NAMES[env.hflags & HF_LMA_MASK ? 1 : 0]![(f >>> DESC_TYPE_SHIFT) & 15];
  }
  return `${out}\n`;
}

/** A 64-bit little-endian entry of guest-physical memory, or null if unreadable. */
function readPhys64(as: AddressSpace, addr: bigint): bigint | null {
  const lo = as.readChecked(Number(addr), 4);
  const hi = as.readChecked(Number(addr) + 4, 4);
  if (lo === null || hi === null) return null;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

const PG_PRESENT = 1n;
const PG_PSE = 1n << 7n;
const PAE_ADDR_MASK = ((1n << 52n) - 1n) & ~0xfffn;

/**
 * `x86_cpu_get_phys_page_attrs_debug`, for one byte: the guest-physical address of the
 * linear address `addr` under the current paging mode, or null when a level is not
 * present (or its table cannot be read).
 */
export function x86CpuGetPhysAddrDebug(
  env: CPUX86State,
  as: AddressSpace,
  addr: bigint,
): bigint | null {
  const cr0 = env.cr[0] ?? 0n;
  const cr3 = env.cr[3] ?? 0n;
  const cr4 = env.cr[4] ?? 0n;
  const a20 = BigInt.asUintN(64, BigInt(env.a20Mask));
  // No truncation to 32 bits outside long mode: QEMU's debug walk does not wrap either.
  const la = BigInt.asUintN(64, addr);
  if ((cr0 & (1n << 31n)) === 0n) return la & a20;
  if ((cr4 & (1n << 5n)) !== 0n) {
    // PAE: 4- or 5-level in long mode, else a 4-entry PDPT.
    let table: bigint;
    let levels: number;
    if (env.hflags & HF_LMA_MASK) {
      levels = (cr4 & (1n << 12n)) !== 0n ? 5 : 4;
      table = cr3 & PAE_ADDR_MASK;
    } else {
      const pdpte = readPhys64(as, (cr3 & 0xffff_ffe0n) + ((la >> 30n) & 3n) * 8n);
      if (pdpte === null || (pdpte & PG_PRESENT) === 0n) return null;
      table = pdpte & PAE_ADDR_MASK;
      levels = 2;
    }
    for (let level = levels; level >= 1; level--) {
      const shift = BigInt(12 + 9 * (level - 1));
      const e = readPhys64(as, (table + ((la >> shift) & 0x1ffn) * 8n) & a20);
      if (e === null || (e & PG_PRESENT) === 0n) return null;
      if (level === 1 || (level <= 3 && (e & PG_PSE) !== 0n)) {
        const size = 1n << shift;
        return ((e & PAE_ADDR_MASK & ~(size - 1n)) | (la & (size - 1n))) & a20;
      }
      table = e & PAE_ADDR_MASK;
    }
    return null;
  }
  // 32-bit paging: a page directory, 4 KiB tables or (CR4.PSE) 4 MiB pages.
  const pdeAt = ((cr3 & 0xffff_f000n) + ((la >> 22n) & 0x3ffn) * 4n) & a20;
  const pde = as.readChecked(Number(pdeAt), 4);
  if (pde === null || (pde & 1) === 0) return null;
  if (pde & 0x80 && (cr4 & (1n << 4n)) !== 0n) {
    const high = BigInt((pde >>> 13) & 0xff) << 32n;
    return (high | BigInt(pde & 0xffc0_0000) | (la & 0x3f_ffffn)) & a20;
  }
  const pteAt = (BigInt(pde & 0xffff_f000) + ((la >> 12n) & 0x3ffn) * 4n) & a20;
  const pte = as.readChecked(Number(pteAt), 4);
  if (pte === null || (pte & 1) === 0) return null;
  return (BigInt(pte & 0xffff_f000) | (la & 0xfffn)) & a20;
}

/** `cpu_memory_rw_debug` for one byte read at linear `addr`: the byte, or null. */
export function cpuMemoryReadDebug(
  env: CPUX86State,
  as: AddressSpace,
  addr: bigint,
): number | null {
  const phys = x86CpuGetPhysAddrDebug(env, as, addr);
  if (phys === null || phys > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return as.readChecked(Number(phys), 1);
}

/**
 * `x86_cpu_dump_state(cs, f, flags)`: the text QEMU prints (it is the caller's job to
 * synchronize the state from KVM first, as cpu_dump_state does). `as` is the memory the
 * Code= bytes come from (address_space_memory); without it they are all `??`.
 */
export function x86CpuDumpState(cpu: X86CPU, flags: number, as?: AddressSpace): string {
  const env = cpu.env;
  const eflags = env.eflags >>> 0;
  const r = (i: number): bigint => BigInt.asUintN(64, env.regs[i] ?? 0n);
  const fl =
    (eflags & 0x400 ? "D" : "-") +
    (eflags & 0x800 ? "O" : "-") +
    (eflags & 0x80 ? "S" : "-") +
    (eflags & 0x40 ? "Z" : "-") +
    (eflags & 0x10 ? "A" : "-") +
    (eflags & 0x04 ? "P" : "-") +
    (eflags & 0x01 ? "C" : "-");
  const tail =
    `CPL=${env.hflags & HF_CPL_MASK} II=${env.hflags & HF_INHIBIT_IRQ_MASK ? 1 : 0} ` +
    `A20=${(env.a20Mask >> 20) & 1} SMM=${env.hflags & HF_SMM_MASK ? 1 : 0} HLT=${cpu.halted}\n`;
  let out = "";
  if (env.hflags & HF_CS64_MASK) {
    const q = (i: number) => hex(r(i), 16);
    // Encoding order: RAX RCX RDX RBX RSP RBP RSI RDI; QEMU prints A B C D, SI DI BP SP.
    out +=
      `RAX=${q(0)} RBX=${q(3)} RCX=${q(1)} RDX=${q(2)}\n` +
      `RSI=${q(6)} RDI=${q(7)} RBP=${q(5)} RSP=${q(4)}\n` +
      `R8 =${q(8)} R9 =${q(9)} R10=${q(10)} R11=${q(11)}\n` +
      `R12=${q(12)} R13=${q(13)} R14=${q(14)} R15=${q(15)}\n` +
      `RIP=${hex(env.eip, 16)} RFL=${hex(eflags, 8)} [${fl}] ${tail}`;
  } else {
    const d = (i: number) => hex(r(i), 8);
    out +=
      `EAX=${d(0)} EBX=${d(3)} ECX=${d(1)} EDX=${d(2)}\n` +
      `ESI=${d(6)} EDI=${d(7)} EBP=${d(5)} ESP=${d(4)}\n` +
      `EIP=${hex(env.eip, 8)} EFL=${hex(eflags, 8)} [${fl}] ${tail}`;
  }
  SEG_NAMES.forEach((name, i) => {
    out += cpuX86DumpSegCache(env, name, env.segs[i]!);
  });
  out += cpuX86DumpSegCache(env, "LDT", env.ldt);
  out += cpuX86DumpSegCache(env, "TR", env.tr);
  const cr = (i: number): bigint => env.cr[i] ?? 0n;
  const dr = (i: number): string => hex(env.dr[i] ?? 0n, 16);
  if (env.hflags & HF_LMA_MASK) {
    out +=
      `GDT=     ${hex(env.gdt.base, 16)} ${hex(env.gdt.limit, 8)}\n` +
      `IDT=     ${hex(env.idt.base, 16)} ${hex(env.idt.limit, 8)}\n` +
      `CR0=${hex(cr(0), 8)} CR2=${hex(cr(2), 16)} CR3=${hex(cr(3), 16)} CR4=${hex(cr(4), 8)}\n`;
  } else {
    out +=
      `GDT=     ${hex(env.gdt.base, 8)} ${hex(env.gdt.limit, 8)}\n` +
      `IDT=     ${hex(env.idt.base, 8)} ${hex(env.idt.limit, 8)}\n` +
      `CR0=${hex(cr(0), 8)} CR2=${hex(cr(2), 8)} CR3=${hex(cr(3), 8)} CR4=${hex(cr(4), 8)}\n`;
  }
  for (let i = 0; i < 4; i++) out += `DR${i}=${dr(i)} `;
  out += `\nDR6=${dr(6)} DR7=${dr(7)}\n`;
  out += `EFER=${hex(env.efer, 16)}\n`;
  if (flags & CPU_DUMP_CODE) {
    const eip = BigInt.asUintN(64, env.eip);
    const base = (env.segs[R_CS]!.base + eip) & U64;
    const offs = Number(eip < BigInt(DUMP_CODE_BYTES_BACKWARD) ? eip : DUMP_CODE_BYTES_BACKWARD);
    const bytes: string[] = [];
    for (let i = 0; i < DUMP_CODE_BYTES_TOTAL; i++) {
      const b = as ? cpuMemoryReadDebug(env, as, (base - BigInt(offs) + BigInt(i)) & U64) : null;
      const s = b === null ? "??" : hex(b, 2);
      bytes.push(i === offs ? `<${s}>` : s);
    }
    out += `Code=${bytes.join(" ")}\n`;
  }
  return out;
}
