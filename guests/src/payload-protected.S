/*
 * payload-protected — the kvm-hello-world guest for a host that has set up 32-bit
 * protected mode without paging: a flat binary loaded at guest-physical 0, entered at
 * EIP = 0 with a 32-bit code segment of base 0 in CS and a writable data segment of
 * base 0 in DS. See hello-payload.inc and guests/README.md (the host contract).
 */
	.include "hello-payload.inc"
	.code32
	.text
	.globl	_start
_start:
	hello_payload
