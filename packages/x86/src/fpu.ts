/**
 * x87 and SSE register state (SDM Vol. 1 §8.1, §10.2): the XMM registers as typed-array
 * lanes, MXCSR, and the x87 control, status and tag words.
 */
export class FpuState {
  /** XMM0–XMM15, four 32-bit lanes each (lane 0 = bits 31:0). */
  readonly xmm = new Int32Array(16 * 4);
  /** MXCSR at reset: all exceptions masked, round to nearest. */
  mxcsr = 0x1f80;
  /** x87 FCW at FNINIT: all exceptions masked, 64-bit precision, round to nearest. */
  fcw = 0x037f;
  fsw = 0;
  /** Abridged tag word as FXSAVE stores it (bit set = register valid). */
  ftw = 0;

  reset(): void {
    this.xmm.fill(0);
    this.mxcsr = 0x1f80;
    this.fcw = 0x0040;
    this.fsw = 0;
    this.ftw = 0;
  }
}
