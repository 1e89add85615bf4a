/*
 * payload-long — the kvm-hello-world guest for a host that has set up IA-32e (long) mode:
 * CR4.PAE, EFER.LME/LMA, CR0.PG, 4-level page tables mapping virtual = physical for at
 * least the first page, and a 64-bit code segment (L = 1) in CS. A flat binary loaded at
 * guest-physical 0 and entered at RIP = 0. See guests/README.md for the host contract.
 */
	.include "hello-payload.inc"
	.code64
	.text
	.globl	_start
_start:
	hello_payload
