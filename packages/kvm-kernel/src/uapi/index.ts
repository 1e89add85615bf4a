/**
 * @glassvm/kvm-kernel/uapi — what userspace may know about KVM: the contents of
 * include/uapi/linux/kvm.h and asm/kvm.h (ioctl numbers, constants, struct codecs, the
 * kvm_run view), errno, the HostOs system-call interface, and one typed wrapper per ioctl
 * (kvm-ioctls.ts). The header files are re-exported whole, as a C program includes them.
 */
export * from "./errno.js";
export * from "./hostos.js";
export * from "./ioctl.js";
export * from "./kvm.js";
export * from "./kvm_run.js";
export * from "./kvm-ioctls.js";
export * from "./structs.js";
export * from "./thread.js";
