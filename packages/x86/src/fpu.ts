/**
 * x87 and SSE register state (SDM Vol. 1 §8.1, §10.2): the XMM registers as typed-array
 * lanes, MXCSR, and the x87 control, status and tag words.
 *
 * There is no x87 arithmetic: the x87 data registers, last-instruction pointers and opcode
 * are kept only so that FXSAVE/FXRSTOR (Vol. 1 §10.5.1) give back what they were given.
 */

/**
 * MXCSR bits that may be set (SDM Vol. 1 §11.6.6): all of bits 15:0, DAZ included. FXSAVE
 * stores it as MXCSR_MASK; LDMXCSR and FXRSTOR raise #GP(0) for any other bit.
 */
export const MXCSR_MASK = 0x0000_ffff;

export class FpuState {
  /** XMM0–XMM15, four 32-bit lanes each (lane 0 = bits 31:0). */
  readonly xmm = new Int32Array(16 * 4);
  /** The same registers by byte and by word (little-endian host, as ram32 assumes). */
  readonly xmm8 = new Uint8Array(this.xmm.buffer);
  readonly xmm16 = new Uint16Array(this.xmm.buffer);
  /** MXCSR at reset: all exceptions masked, round to nearest. */
  mxcsr = 0x1f80;
  /** x87 FCW at FNINIT: all exceptions masked, 64-bit precision, round to nearest. */
  fcw = 0x037f;
  fsw = 0;
  /** Abridged tag word as FXSAVE stores it (bit set = register valid). */
  ftw = 0;
  /** Last x87 opcode, instruction and data pointers (FXSAVE bytes 6–23). */
  fop = 0;
  fip = 0;
  /** FCS in the 32-bit FXSAVE format, FIP[63:32] in the 64-bit one. */
  fipHi = 0;
  fdp = 0;
  /** FDS in the 32-bit FXSAVE format, FDP[63:32] in the 64-bit one. */
  fdpHi = 0;
  /** ST0–ST7 (R0–R7 in stack order from TOP), 10 bytes each, as FXSAVE stores them. */
  readonly stRegs = new Uint8Array(8 * 10);
  /**
   * CPUID.01H:EDX bits 26:24 (SSE2, SSE, FXSR) of the embedder's table, read once per
   * `cpu.cpuid` function (insn/sse.ts); `featuresOf` is the function they came from.
   */
  features = 0;
  featuresOf: unknown = null;

  reset(): void {
    this.xmm.fill(0);
    this.mxcsr = 0x1f80;
    this.fcw = 0x0040;
    this.fsw = 0;
    this.ftw = 0;
    this.fop = 0;
    this.fip = 0;
    this.fipHi = 0;
    this.fdp = 0;
    this.fdpHi = 0;
    this.stRegs.fill(0);
  }

  /**
   * This state as a 512-byte FXSAVE image, 64-bit layout (SDM Vol. 2 FXSAVE, Table 3-53):
   * what a hypervisor keeps for a guest between runs (KVM's vcpu->arch.guest_fpu).
   */
  saveImage(fx: Uint8Array): void {
    put16(fx, 0, this.fcw);
    put16(fx, 2, this.fsw);
    fx[4] = this.ftw & 0xff;
    put16(fx, 6, this.fop);
    put32(fx, 8, this.fip);
    put32(fx, 12, this.fipHi);
    put32(fx, 16, this.fdp);
    put32(fx, 20, this.fdpHi);
    put32(fx, 24, this.mxcsr);
    put32(fx, 28, MXCSR_MASK);
    const st = this.stRegs;
    for (let i = 0; i < 8; i++) {
      for (let b = 0; b < 10; b++) fx[32 + 16 * i + b] = st[10 * i + b]!;
    }
    // xmm8 is exactly the 256 bytes of XMM0–15.
    fx.set(this.xmm8, 160);
  }

  /** Load this state from a 512-byte FXSAVE image (64-bit layout); no checks, as XRSTORS. */
  restoreImage(fx: Uint8Array): void {
    this.fcw = get16(fx, 0);
    this.fsw = get16(fx, 2);
    this.ftw = fx[4]!;
    this.fop = get16(fx, 6);
    this.fip = get32(fx, 8);
    this.fipHi = get32(fx, 12);
    this.fdp = get32(fx, 16);
    this.fdpHi = get32(fx, 20);
    this.mxcsr = get32(fx, 24) >>> 0;
    // A hypervisor does this on every run: short loops for the ten-byte x87 registers and
    // one view of the image's XMM area, made once per image.
    const st = this.stRegs;
    for (let i = 0; i < 8; i++) {
      for (let b = 0; b < 10; b++) st[10 * i + b] = fx[32 + 16 * i + b]!;
    }
    this.xmm8.set(xmmArea(fx));
  }

  /** FNINIT (SDM Vol. 2 FINIT/FNINIT): control, status, tags and pointers to their defaults. */
  fninit(): void {
    this.fcw = 0x037f;
    this.fsw = 0;
    this.ftw = 0;
    this.fop = 0;
    this.fip = 0;
    this.fipHi = 0;
    this.fdp = 0;
    this.fdpHi = 0;
  }
}

/** Little-endian 16- and 32-bit fields of an FXSAVE image. */
function get16(fx: Uint8Array, o: number): number {
  return fx[o]! | (fx[o + 1]! << 8);
}

function get32(fx: Uint8Array, o: number): number {
  return fx[o]! | (fx[o + 1]! << 8) | (fx[o + 2]! << 16) | (fx[o + 3]! << 24) | 0;
}

function put16(fx: Uint8Array, o: number, v: number): void {
  fx[o] = v & 0xff;
  fx[o + 1] = (v >>> 8) & 0xff;
}

function put32(fx: Uint8Array, o: number, v: number): void {
  put16(fx, o, v);
  put16(fx, o + 2, v >>> 16);
}

/** Bytes 160–415 of an FXSAVE image (XMM0–15), one view per image. */
const xmmAreas = new WeakMap<Uint8Array, Uint8Array>();

function xmmArea(fx: Uint8Array): Uint8Array {
  let area = xmmAreas.get(fx);
  if (!area) {
    area = fx.subarray(160, 416);
    xmmAreas.set(fx, area);
  }
  return area;
}
