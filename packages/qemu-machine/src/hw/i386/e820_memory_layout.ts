/**
 * hw/i386/e820_memory_layout.c: the machine's e820 table — what the firmware learns about
 * RAM and reserved ranges, through fw_cfg's "etc/e820" file. Each entry is QEMU's packed
 * `struct e820_entry`: address (le64), length (le64), type (le32) — 20 bytes.
 */

export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;
export const E820_NVS = 4;
export const E820_UNUSABLE = 5;

export interface E820Entry {
  readonly address: bigint;
  readonly length: bigint;
  readonly type: number;
}

let table: E820Entry[] = [];

/** `e820_add_entry`: append a range; returns the new count. */
export function e820AddEntry(address: bigint, length: bigint, type: number): number {
  table.push({ address, length, type });
  return table.length;
}

/** `e820_get_table`: the entries (in the order added). */
export function e820GetTable(): readonly E820Entry[] {
  return table;
}

/** The table as fw_cfg's "etc/e820" bytes. */
export function e820TableBytes(): Uint8Array {
  const out = new Uint8Array(20 * table.length);
  const v = new DataView(out.buffer);
  table.forEach((e, i) => {
    v.setBigUint64(20 * i, e.address, true);
    v.setBigUint64(20 * i + 8, e.length, true);
    v.setUint32(20 * i + 16, e.type, true);
  });
  return out;
}

/** Forget the table (a fresh process; qemuInit does it). */
export function e820Reset(): void {
  table = [];
}
