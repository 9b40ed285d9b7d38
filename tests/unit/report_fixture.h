/* report_fixture - history rows for the report unit tests (no database) */
#ifndef REPORT_FIXTURE_H
#define REPORT_FIXTURE_H

#include <string.h>

#include "store.h"

/* A group of count messages from ip for example.com. */
static void
fixture_group(struct store_group *g, const char *ip, uint64_t count,
	      enum am_result dmarc, enum dmarc_policy disposition)
{
	struct history_row *r = &g->row;

	memset(g, 0, sizeof *g);
	g->count = count;
	r->time = 1733443200 + 60;
	strcpy(r->source_ip, ip);
	strcpy(r->reporter, "mx.receiver.example");
	strcpy(r->header_from, "example.com");
	strcpy(r->envelope_from, "bounce.example.com");
	strcpy(r->envelope_to, "receiver.example");
	strcpy(r->policy_domain, "example.com");
	r->p = DMARC_P_REJECT;
	r->sp = DMARC_P_QUARANTINE;
	r->np = DMARC_P_UNSET;
	r->adkim = DMARC_ALIGN_RELAXED;
	r->aspf = DMARC_ALIGN_STRICT;
	r->discovery_walk = true;
	r->dmarc = dmarc;
	r->dkim_aligned = dmarc == AM_R_PASS;
	r->spf_aligned = false;
	r->disposition = disposition;
	strcpy(r->spf_domain, "bounce.example.com");
	r->spf = dmarc == AM_R_PASS ? AM_R_PASS : AM_R_SOFTFAIL;
	r->ndkim = 1;
	strcpy(r->dkim[0].domain, "example.com");
	strcpy(r->dkim[0].selector, "sel1");
	r->dkim[0].result = dmarc == AM_R_PASS ? AM_R_PASS : AM_R_FAIL;
	r->dkim[0].aligned = true;
}

#endif
