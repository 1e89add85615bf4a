/**
 * Multiboot kernels built here, byte by byte, for the -kernel tests (the guest suite's
 * multiboot-hello is built with the system toolchain; these need none).
 *
 * The kernel code (32-bit, entered by the firmware in protected mode) records what the
 * multiboot hand-over gave it, writes "MB\n" to isa-debugcon and leaves through
 * isa-debug-exit at 0x501 with 0x10 (exit status 33):
 *   [0x500] = EAX (the boot loader magic)   [0x504] = EBX (the information structure)
 *   [0x508] = CR0                           [0x50c] = CS, [0x50e] = DS
 */
// biome-ignore format: one instruction per line
export const KERNEL_CODE: readonly number[] = [
  0xa3, 0x00, 0x05, 0x00, 0x00, // mov [0x500], eax
  0x89, 0x1d, 0x04, 0x05, 0x00, 0x00, // mov [0x504], ebx
  0x0f, 0x20, 0xc0, // mov eax, cr0
  0xa3, 0x08, 0x05, 0x00, 0x00, // mov [0x508], eax
  0x66, 0x8c, 0xc8, // mov ax, cs
  0x66, 0xa3, 0x0c, 0x05, 0x00, 0x00, // mov [0x50c], ax
  0x66, 0x8c, 0xd8, // mov ax, ds
  0x66, 0xa3, 0x0e, 0x05, 0x00, 0x00, // mov [0x50e], ax
  0xb0, 0x4d, 0xe6, 0xe9, // mov al, 'M'; out 0xe9, al
  0xb0, 0x42, 0xe6, 0xe9, // mov al, 'B'; out 0xe9, al
  0xb0, 0x0a, 0xe6, 0xe9, // mov al, '\n'; out 0xe9, al
  0xb0, 0x10, // mov al, 0x10
  0x66, 0xba, 0x01, 0x05, // mov dx, 0x501
  0xee, // out dx, al
  0xf4, // hlt
];

const MAGIC = 0x1badb002;

function u32(v: DataView, at: number, x: number): void {
  v.setUint32(at, x >>> 0, true);
}

/**
 * An ELF32 (EM_386) multiboot kernel: one PT_LOAD segment — the whole file at physical
 * `paddr`, plus `bss` zero bytes — with the multiboot header (flags 0: ELF layout) at file
 * offset 0x60 and the code at 0x80. `machine` 62 makes it claim x86-64.
 */
export function multibootElf(paddr = 0x10_0000, bss = 0x1000, machine = 3): Uint8Array {
  const code = 0x80;
  const file = new Uint8Array(code + KERNEL_CODE.length);
  const v = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]); // ELF, 32-bit, little-endian, version 1
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, machine, true);
  u32(v, 20, 1);
  u32(v, 24, paddr + code); // e_entry
  u32(v, 28, 52); // e_phoff
  v.setUint16(40, 52, true); // e_ehsize
  v.setUint16(42, 32, true); // e_phentsize
  v.setUint16(44, 1, true); // e_phnum
  u32(v, 52, 1); // PT_LOAD
  u32(v, 56, 0); // p_offset
  u32(v, 60, paddr); // p_vaddr
  u32(v, 64, paddr); // p_paddr
  u32(v, 68, file.length); // p_filesz
  u32(v, 72, file.length + bss); // p_memsz
  u32(v, 76, 7); // p_flags RWX
  u32(v, 80, 0x1000); // p_align
  u32(v, 0x60, MAGIC);
  u32(v, 0x64, 0);
  u32(v, 0x68, -MAGIC);
  file.set(KERNEL_CODE, code);
  return file;
}

/**
 * A flat ("a.out kludge", flags bit 16) multiboot kernel: the header at offset 0 gives
 * header_addr = load_addr = `at`, load_end_addr/bss_end_addr as given, entry at +0x20.
 */
export function multibootFlat(
  at = 0x10_0000,
  fields: { headerAddr?: number; loadEnd?: number; bssEnd?: number } = {},
): Uint8Array {
  const file = new Uint8Array(0x20 + KERNEL_CODE.length);
  const v = new DataView(file.buffer);
  const flags = 0x1_0000;
  u32(v, 0, MAGIC);
  u32(v, 4, flags);
  u32(v, 8, -(MAGIC + flags));
  u32(v, 12, fields.headerAddr ?? at);
  u32(v, 16, at);
  u32(v, 20, fields.loadEnd ?? 0);
  u32(v, 24, fields.bssEnd ?? 0);
  u32(v, 28, at + 0x20);
  file.set(KERNEL_CODE, 0x20);
  return file;
}
