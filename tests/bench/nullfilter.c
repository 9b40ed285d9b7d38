// SPDX-License-Identifier: BSD-2-Clause
/* nullfilter - a libmilter filter that accepts all and adds one header. */

/*
 * nullfilter - the floor of the milter protocol for the benchmark
 *
 * nullfilter -p SOCKET [-e]
 *
 * Accepts every message and adds one header ("X-Null: yes") at end of
 * message. By default it replies at every step, as a filter written
 * without care for the protocol's options does. With -e it negotiates
 * every step but end of message away (SMFIP_NO*) so the MTA sends only
 * connect-less sessions with the message end: the protocol's floor.
 * It stops on SIGTERM/SIGINT (libmilter's own signal handling).
 */

#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int eom_only;

static sfsistat
nf_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
	     unsigned long f2, unsigned long f3, unsigned long *pf0,
	     unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long no = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL |
			   SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOHDRS |
			   SMFIP_NOEOH | SMFIP_NOUNKNOWN | SMFIP_NODATA;

	(void)ctx;
	(void)f2;
	(void)f3;
	*pf0 = f0 & SMFIF_ADDHDRS;
	*pf1 = eom_only ? (f1 & no) : 0;
	*pf2 = 0;
	*pf3 = 0;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	(void)ctx;
	(void)host;
	(void)sa;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_helo(SMFICTX *ctx, char *helo)
{
	(void)ctx;
	(void)helo;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_env(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_header(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx;
	(void)name;
	(void)value;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_ctx(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	(void)ctx;
	(void)chunk;
	(void)len;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_eom(SMFICTX *ctx)
{
	if (smfi_addheader(ctx, "X-Null", "yes") != MI_SUCCESS)
		return SMFIS_TEMPFAIL;
	return SMFIS_ACCEPT;
}

int
main(int argc, char **argv)
{
	struct smfiDesc desc = {
		.xxfi_name = "nullfilter",
		.xxfi_version = SMFI_VERSION,
		.xxfi_flags = SMFIF_ADDHDRS,
		.xxfi_connect = nf_connect,
		.xxfi_helo = nf_helo,
		.xxfi_envfrom = nf_env,
		.xxfi_envrcpt = nf_env,
		.xxfi_header = nf_header,
		.xxfi_eoh = nf_ctx,
		.xxfi_body = nf_body,
		.xxfi_eom = nf_eom,
		.xxfi_abort = nf_ctx,
		.xxfi_close = nf_ctx,
		.xxfi_data = nf_ctx,
		.xxfi_negotiate = nf_negotiate,
	};
	const char *sock = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "p:e")) != -1) {
		if (opt == 'p')
			sock = optarg;
		else if (opt == 'e')
			eom_only = 1;
		else
			sock = NULL;
	}
	if (sock == NULL) {
		fprintf(stderr, "usage: nullfilter -p SOCKET [-e]\n");
		return 1;
	}
	if (smfi_setconn((char *)sock) == MI_FAILURE ||
	    smfi_register(desc) == MI_FAILURE ||
	    smfi_opensocket(1) == MI_FAILURE) {
		fprintf(stderr, "nullfilter: cannot open %s\n", sock);
		return 1;
	}
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
