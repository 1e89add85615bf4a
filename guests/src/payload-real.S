/*
 * payload-real — the kvm-hello-world guest for a host that sets up real mode itself.
 * A flat binary loaded at guest-physical 0 and entered at CS:IP = 0000:0000 (CS base 0).
 * It copies CS into DS, so DS need not be set; see hello-payload.inc for what it does and
 * guests/README.md for the whole host contract.
 */
	.include "hello-payload.inc"
	.code16
	.text
	.globl	_start
_start:
	mov	%cs, %ax
	mov	%ax, %ds
	hello_payload
