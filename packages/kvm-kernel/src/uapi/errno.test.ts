import { describe, expect, it } from "vitest";
import * as errno from "./errno.js";

const { ERRNO_NAMES, errnoName, strerror } = errno;

/** errno-base.h (1..34) plus the errno.h subset, with glibc's strerror texts. */
const TABLE: ReadonlyArray<readonly [number, string, string]> = [
  [1, "EPERM", "Operation not permitted"],
  [2, "ENOENT", "No such file or directory"],
  [3, "ESRCH", "No such process"],
  [4, "EINTR", "Interrupted system call"],
  [5, "EIO", "Input/output error"],
  [6, "ENXIO", "No such device or address"],
  [7, "E2BIG", "Argument list too long"],
  [8, "ENOEXEC", "Exec format error"],
  [9, "EBADF", "Bad file descriptor"],
  [10, "ECHILD", "No child processes"],
  [11, "EAGAIN", "Resource temporarily unavailable"],
  [12, "ENOMEM", "Cannot allocate memory"],
  [13, "EACCES", "Permission denied"],
  [14, "EFAULT", "Bad address"],
  [15, "ENOTBLK", "Block device required"],
  [16, "EBUSY", "Device or resource busy"],
  [17, "EEXIST", "File exists"],
  [18, "EXDEV", "Invalid cross-device link"],
  [19, "ENODEV", "No such device"],
  [20, "ENOTDIR", "Not a directory"],
  [21, "EISDIR", "Is a directory"],
  [22, "EINVAL", "Invalid argument"],
  [23, "ENFILE", "Too many open files in system"],
  [24, "EMFILE", "Too many open files"],
  [25, "ENOTTY", "Inappropriate ioctl for device"],
  [26, "ETXTBSY", "Text file busy"],
  [27, "EFBIG", "File too large"],
  [28, "ENOSPC", "No space left on device"],
  [29, "ESPIPE", "Illegal seek"],
  [30, "EROFS", "Read-only file system"],
  [31, "EMLINK", "Too many links"],
  [32, "EPIPE", "Broken pipe"],
  [33, "EDOM", "Numerical argument out of domain"],
  [34, "ERANGE", "Numerical result out of range"],
  [38, "ENOSYS", "Function not implemented"],
  [95, "EOPNOTSUPP", "Operation not supported"],
];

describe("errno", () => {
  it.each(TABLE)("%i %s: %s", (value, name, message) => {
    expect((errno as unknown as Record<string, unknown>)[name]).toBe(value);
    expect(ERRNO_NAMES.get(value)).toBe(name);
    expect(errnoName(value)).toBe(name);
    expect(errnoName(-value)).toBe(name);
    expect(strerror(value)).toBe(message);
    expect(strerror(-value)).toBe(message);
  });

  it("aliases share a value and the canonical name", () => {
    expect(errno.EWOULDBLOCK).toBe(11);
    expect(errno.ENOTSUP).toBe(95);
    expect(ERRNO_NAMES.get(11)).toBe("EAGAIN");
    expect(ERRNO_NAMES.get(95)).toBe("EOPNOTSUPP");
    expect(ERRNO_NAMES.size).toBe(TABLE.length);
  });

  it("unknown and zero", () => {
    expect(strerror(0)).toBe("Success");
    expect(strerror(200)).toBe("Unknown error 200");
    expect(strerror(-200)).toBe("Unknown error 200");
    expect(errnoName(-200)).toBe("errno 200");
  });
});
