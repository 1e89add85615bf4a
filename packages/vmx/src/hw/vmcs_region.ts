/**
 * The VMCS as a region of memory (SDM Vol. 3C 25.2): bytes 0–3 the revision identifier
 * (bit 31 = shadow-VMCS indicator), bytes 4–7 the VMX-abort indicator, then storage in
 * a layout private to this implementation — software must use VMREAD/VMWRITE, and here
 * it can: nothing outside this file knows where a field lives.
 *
 * Private layout: byte 8 holds the launch state, and each supported field has an 8-byte
 * little-endian slot from byte 16 on, in VMCS_FIELDS order.
 */
import { VMCS_FIELDS } from "../vmcs-fields.js";

const LAUNCH_STATE = 8;
const FIRST_SLOT = 16;

/** encoding (bits 14:0, with the HIGH bit cleared) → slot offset, or 0 when unsupported. */
const SLOT = new Uint16Array(0x8000);
VMCS_FIELDS.forEach((f, i) => {
  SLOT[f.encoding] = FIRST_SLOT + 8 * i;
});

if (FIRST_SLOT + 8 * VMCS_FIELDS.length > 0x1000)
  throw new Error("VMCS fields overflow the region");

/** Launch state (SDM 25.1): after VMCLEAR "clear", after a successful VMLAUNCH "launched". */
export const VMCS_STATE_CLEAR = 0;
export const VMCS_STATE_LAUNCHED = 1;

/** The slot offset of a full field encoding, or 0 when this implementation lacks it. */
export function vmcsSlot(encoding: number): number {
  return encoding >= 0 && encoding < 0x8000 ? SLOT[encoding]! : 0;
}

/** One VMCS region seen through a DataView (the current VMCS is held this way). */
export class VmcsRegion {
  readonly view: DataView;

  constructor(
    /** Its physical address. */
    readonly pa: number,
    readonly bytes: Uint8Array,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get revisionId(): number {
    return this.view.getUint32(0, true);
  }

  get abortIndicator(): number {
    return this.view.getUint32(4, true);
  }

  set abortIndicator(v: number) {
    this.view.setUint32(4, v >>> 0, true);
  }

  get launchState(): number {
    return this.bytes[LAUNCH_STATE]!;
  }

  set launchState(s: number) {
    this.bytes[LAUNCH_STATE] = s;
  }

  /** Low 32 bits of a field (16- and 32-bit fields, and the low half of wider ones). */
  read32(slot: number): number {
    return this.view.getUint32(slot, true);
  }

  /** Bits 63:32 of a field. */
  readHigh32(slot: number): number {
    return this.view.getUint32(slot + 4, true);
  }

  read64(slot: number): bigint {
    return this.view.getBigUint64(slot, true);
  }

  write32(slot: number, v: number): void {
    this.view.setUint32(slot, v >>> 0, true);
  }

  writeHigh32(slot: number, v: number): void {
    this.view.setUint32(slot + 4, v >>> 0, true);
  }

  write64(slot: number, v: bigint): void {
    this.view.setBigUint64(slot, BigInt.asUintN(64, v), true);
  }
}
