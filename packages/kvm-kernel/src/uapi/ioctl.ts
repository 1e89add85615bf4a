/**
 * include/uapi/asm-generic/ioctl.h: how an ioctl request number is built (x86 uses the
 * generic layout).
 *
 *   31 30 | 29 ........ 16 | 15 .... 8 | 7 ..... 0
 *    DIR  |      SIZE      |   TYPE    |    NR
 *
 * DIR is seen from userspace: WRITE = userspace hands data to the kernel, READ = the kernel
 * hands data back. SIZE is `sizeof` the argument type, passed here as a byte count.
 * Every result is an unsigned 32-bit number (a request with DIR bit 31 set is > 2^31).
 */

export const _IOC_NRBITS = 8;
export const _IOC_TYPEBITS = 8;
export const _IOC_SIZEBITS = 14;
export const _IOC_DIRBITS = 2;

export const _IOC_NRMASK = (1 << _IOC_NRBITS) - 1;
export const _IOC_TYPEMASK = (1 << _IOC_TYPEBITS) - 1;
export const _IOC_SIZEMASK = (1 << _IOC_SIZEBITS) - 1;
export const _IOC_DIRMASK = (1 << _IOC_DIRBITS) - 1;

export const _IOC_NRSHIFT = 0;
export const _IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS;
export const _IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS;
export const _IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS;

/** No data transfer (`_IO`). */
export const _IOC_NONE = 0;
/** Userspace → kernel (`_IOW`). */
export const _IOC_WRITE = 1;
/** Kernel → userspace (`_IOR`). */
export const _IOC_READ = 2;

function field(name: string, value: number, mask: number): number {
  if (!Number.isInteger(value) || value < 0 || value > mask) {
    throw new RangeError(`_IOC: ${name} ${value} does not fit in 0..${mask}`);
  }
  return value;
}

/**
 * `_IOC(dir, type, nr, size)`. Throws RangeError for a field that does not fit (the C
 * header catches an oversized `sizeof` at compile time instead).
 */
export function _IOC(dir: number, type: number, nr: number, size: number): number {
  return (
    ((field("dir", dir, _IOC_DIRMASK) << _IOC_DIRSHIFT) |
      (field("size", size, _IOC_SIZEMASK) << _IOC_SIZESHIFT) |
      (field("type", type, _IOC_TYPEMASK) << _IOC_TYPESHIFT) |
      (field("nr", nr, _IOC_NRMASK) << _IOC_NRSHIFT)) >>>
    0
  );
}

/** `_IO(type, nr)`: no argument struct (an integer may still be passed by value). */
export function _IO(type: number, nr: number): number {
  return _IOC(_IOC_NONE, type, nr, 0);
}

/** `_IOR(type, nr, T)` with `size = sizeof(T)`: the kernel writes T to user memory. */
export function _IOR(type: number, nr: number, size: number): number {
  return _IOC(_IOC_READ, type, nr, size);
}

/** `_IOW(type, nr, T)` with `size = sizeof(T)`: the kernel reads T from user memory. */
export function _IOW(type: number, nr: number, size: number): number {
  return _IOC(_IOC_WRITE, type, nr, size);
}

/** `_IOWR(type, nr, T)` with `size = sizeof(T)`: both directions. */
export function _IOWR(type: number, nr: number, size: number): number {
  return _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);
}

/** Direction bits (0..3) of a request. */
export function _IOC_DIR(req: number): number {
  return (req >>> _IOC_DIRSHIFT) & _IOC_DIRMASK;
}

/** Type ("magic") byte of a request; 0xAE for KVM. */
export function _IOC_TYPE(req: number): number {
  return (req >>> _IOC_TYPESHIFT) & _IOC_TYPEMASK;
}

/** Command number within the type. */
export function _IOC_NR(req: number): number {
  return (req >>> _IOC_NRSHIFT) & _IOC_NRMASK;
}

/** Argument size in bytes; for variable-length structs only the fixed header. */
export function _IOC_SIZE(req: number): number {
  return (req >>> _IOC_SIZESHIFT) & _IOC_SIZEMASK;
}
