/**
 * Error numbers: include/uapi/asm-generic/errno-base.h (1..34) plus the few entries of
 * asm-generic/errno.h that KVM returns, with glibc's strerror(3) texts.
 *
 * The kernel model returns `-errno` the way Linux system call entry points do; every
 * helper here accepts either sign.
 */

export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const ENOEXEC = 8;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const ENOTBLK = 15;
export const EBUSY = 16;
export const EEXIST = 17;
export const EXDEV = 18;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const ENOTTY = 25;
export const ETXTBSY = 26;
export const EFBIG = 27;
export const ENOSPC = 28;
export const ESPIPE = 29;
export const EROFS = 30;
export const EMLINK = 31;
export const EPIPE = 32;
export const EDOM = 33;
export const ERANGE = 34;

// asm-generic/errno.h subset
export const ENOSYS = 38;
export const EOPNOTSUPP = 95;
/** Alias of EOPNOTSUPP on Linux. */
export const ENOTSUP = EOPNOTSUPP;
/** Alias of EAGAIN on Linux. */
export const EWOULDBLOCK = EAGAIN;

/** One row per errno value: [value, canonical name, glibc message]. */
const ERRNO_TABLE: ReadonlyArray<readonly [number, string, string]> = [
  [EPERM, "EPERM", "Operation not permitted"],
  [ENOENT, "ENOENT", "No such file or directory"],
  [ESRCH, "ESRCH", "No such process"],
  [EINTR, "EINTR", "Interrupted system call"],
  [EIO, "EIO", "Input/output error"],
  [ENXIO, "ENXIO", "No such device or address"],
  [E2BIG, "E2BIG", "Argument list too long"],
  [ENOEXEC, "ENOEXEC", "Exec format error"],
  [EBADF, "EBADF", "Bad file descriptor"],
  [ECHILD, "ECHILD", "No child processes"],
  [EAGAIN, "EAGAIN", "Resource temporarily unavailable"],
  [ENOMEM, "ENOMEM", "Cannot allocate memory"],
  [EACCES, "EACCES", "Permission denied"],
  [EFAULT, "EFAULT", "Bad address"],
  [ENOTBLK, "ENOTBLK", "Block device required"],
  [EBUSY, "EBUSY", "Device or resource busy"],
  [EEXIST, "EEXIST", "File exists"],
  [EXDEV, "EXDEV", "Invalid cross-device link"],
  [ENODEV, "ENODEV", "No such device"],
  [ENOTDIR, "ENOTDIR", "Not a directory"],
  [EISDIR, "EISDIR", "Is a directory"],
  [EINVAL, "EINVAL", "Invalid argument"],
  [ENFILE, "ENFILE", "Too many open files in system"],
  [EMFILE, "EMFILE", "Too many open files"],
  [ENOTTY, "ENOTTY", "Inappropriate ioctl for device"],
  [ETXTBSY, "ETXTBSY", "Text file busy"],
  [EFBIG, "EFBIG", "File too large"],
  [ENOSPC, "ENOSPC", "No space left on device"],
  [ESPIPE, "ESPIPE", "Illegal seek"],
  [EROFS, "EROFS", "Read-only file system"],
  [EMLINK, "EMLINK", "Too many links"],
  [EPIPE, "EPIPE", "Broken pipe"],
  [EDOM, "EDOM", "Numerical argument out of domain"],
  [ERANGE, "ERANGE", "Numerical result out of range"],
  [ENOSYS, "ENOSYS", "Function not implemented"],
  [EOPNOTSUPP, "EOPNOTSUPP", "Operation not supported"],
];

/** errno value → canonical name (11 → "EAGAIN", 95 → "EOPNOTSUPP"). */
export const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(
  ERRNO_TABLE.map(([value, name]) => [value, name]),
);

const MESSAGES: ReadonlyMap<number, string> = new Map(
  ERRNO_TABLE.map(([value, , message]) => [value, message]),
);

/** Name of an errno (either sign): `errnoName(-22)` is "EINVAL"; unknown → "errno N". */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}

/**
 * strerror(3) with glibc's texts. Accepts `errno` or `-errno`; 0 is "Success"; an unknown
 * value gives `Unknown error N` with N its absolute value.
 */
export function strerror(errno: number): string {
  const n = Math.abs(errno);
  if (n === 0) return "Success";
  return MESSAGES.get(n) ?? `Unknown error ${n}`;
}
