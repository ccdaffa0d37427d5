/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The TCP header option that carries a request's trace context to its
 * server (kernel 5.10+: BPF_SOCK_OPS_HDR_OPT_LEN_CB and friends), attached
 * to the traced cgroups by user space. A client socket writes the option its
 * write's entry queued in opt_out (ctx.bpf.h) into the next segment it sends,
 * the one with the request's first bytes, once; a server socket keeps the
 * option of the segments it receives in opt_in for the read that returns
 * those bytes. Payload is never touched. */
#ifndef SOCKOPS_BPF_H
#define SOCKOPS_BPF_H

SEC("sockops")
int sockops_ctx(struct bpf_sock_ops *skops)
{
	struct bpf_sock *bsk = skops->sk;
	struct st_trace_ctx *c;
	struct tcp_opt in = {}, out;
	__u64 key;
	long n;

	if (!bsk)
		return 1;
	key = (__u64)bsk;
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bpf_map_delete_elem(&opt_in, &key); /* a socket of that address before */
		bpf_sock_ops_cb_flags_set(skops,
					  skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG);
		break;
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		/* also asked when the kernel sizes segments (args[0] is then
		 * BPF_WRITE_HDR_TCP_CURRENT_MSS): the request's first segment
		 * is sized with room for the option */
		if (!bpf_map_lookup_elem(&opt_out, &key))
			break;
		if (bpf_reserve_hdr_opt(skops, ST_TCPOPT_LEN, 0)) {
			count(ST_C_OPT_NOROOM, 1);
			bpf_map_delete_elem(&opt_out, &key);
		}
		break;
	case BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
		c = bpf_map_lookup_elem(&opt_out, &key);
		if (!c)
			break;
		out.b[0] = ST_TCPOPT_KIND;
		out.b[1] = ST_TCPOPT_LEN;
		__builtin_memcpy(out.b + 2, c->trace_id, 16);
		put_be64(out.b + 18, c->span_id);
		out.b[26] = c->flags & ST_CTXF_SAMPLED;
		if (bpf_store_hdr_opt(skops, &out, ST_TCPOPT_LEN, 0) == 0)
			count(ST_C_OPT_WRITTEN, 1);
		else
			count(ST_C_OPT_NOROOM, 1);
		bpf_map_delete_elem(&opt_out, &key);
		break;
	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB:
		in.b[0] = ST_TCPOPT_KIND;
		n = bpf_load_hdr_opt(skops, &in, sizeof(in), 0);
		if (n <= 0)
			break;
		if ((n != ST_TCPOPT_LEN && n != ST_TCPOPT_LEN_SHORT) || in.b[1] != n) {
			count(ST_C_OPT_BAD, 1);
			break;
		}
		bpf_map_update_elem(&opt_in, &key, &in, BPF_ANY);
		break;
	}
	return 1;
}

#endif
