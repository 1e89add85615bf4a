/*
 * payload-paged — the kvm-hello-world guest for a host that has set up 32-bit protected
 * mode with paging (CR0.PG) and page tables that map the payload's page and address 0x400
 * to themselves. Entered at EIP = 0 like payload-protected; the instructions are the same,
 * only the mode the host built differs. See guests/README.md for the host contract.
 */
	.include "hello-payload.inc"
	.code32
	.text
	.globl	_start
_start:
	hello_payload
