/**
 * `Fifo8` (util/fifo8.c, include/qemu/fifo8.h): a byte FIFO of fixed capacity, as the
 * UART's receive and transmit FIFOs use. Pushing into a full FIFO or popping an empty
 * one is a programming error (QEMU asserts); callers check `isFull`/`isEmpty` first.
 */
export class Fifo8 {
  private readonly data: Uint8Array;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.data = new Uint8Array(capacity);
  }

  /** Bytes held (`fifo8_num_used`). */
  get num(): number {
    return this.count;
  }

  /** `fifo8_push`. */
  push(b: number): void {
    if (this.count === this.capacity) throw new RangeError("fifo8_push: FIFO full");
    this.data[(this.head + this.count) % this.capacity] = b;
    this.count++;
  }

  /** `fifo8_pop`. */
  pop(): number {
    if (this.count === 0) throw new RangeError("fifo8_pop: FIFO empty");
    const b = this.data[this.head]!;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return b;
  }

  /** `fifo8_reset`. */
  reset(): void {
    this.count = 0;
    this.head = 0;
  }

  isEmpty(): boolean {
    return this.count === 0;
  }

  isFull(): boolean {
    return this.count === this.capacity;
  }
}
