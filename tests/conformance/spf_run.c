/* SPDX-License-Identifier: BSD-2-Clause */
/* spf_run - run SPF checks read from stdin through the spf module */
/*
 * Usage: spf_run [TIMEOUT_MS] < cases
 *
 * Each input line is "id<TAB>client-ip<TAB>helo<TAB>mailfrom" (mailfrom
 * may be empty); each output line is
 * "id<TAB>result<TAB>D|E<TAB>explanation<TAB>why<TAB>lookups<TAB>ms",
 * where D says the explanation is our default and E that it came from
 * the domain's exp=. DNS goes to AM_TEST_DNS (ADDR@PORT) in forward
 * mode, with a fresh query set per check and TIMEOUT_MS (default 1000)
 * as the deadline. Exit status 0 unless the driver itself failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "dns.h"
#include "spf.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void
clean(char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\t' || *s == '\n' || *s == '\r')
			*s = ' ';
}

int
main(int argc, char **argv)
{
	struct dns_options opt = {0};
	char err[256];
	char line[4096];
	unsigned int timeout_ms = argc > 1 ? (unsigned int)atoi(argv[1]) : 1000;
	const char *fwd = getenv("AM_TEST_DNS");
	int rc = 1;

	if (fwd == NULL) {
		fprintf(stderr, "spf_run: AM_TEST_DNS is not set\n");
		return 77;
	}
	opt.mode = DNS_MODE_FORWARD;
	opt.forward = fwd;
	if (dns_init(&opt, err, sizeof err) != 0) {
		fprintf(stderr, "spf_run: dns_init: %s\n", err);
		return 1;
	}
	while (fgets(line, sizeof line, stdin) != NULL) {
		char *f[4] = {0};
		char *p = line;
		struct spf_request rq = {0};
		struct dns_set *set;
		struct spf_check *chk;
		struct timespec dl;
		const struct spf_outcome *o;
		char why[200], exp[SPF_EXP_MAX];
		double t0;

		line[strcspn(line, "\n")] = '\0';
		for (int i = 0; i < 4; i++) {
			f[i] = p;
			p = p != NULL ? strchr(p, '\t') : NULL;
			if (p != NULL)
				*p++ = '\0';
		}
		if (f[3] == NULL) {
			fprintf(stderr, "spf_run: bad line\n");
			goto out;
		}
		if (inet_pton(AF_INET, f[1], &rq.addr.v4) == 1) {
			rq.family = AF_INET;
		} else if (inet_pton(AF_INET6, f[1], &rq.addr.v6) == 1) {
			rq.family = AF_INET6;
		} else {
			fprintf(stderr, "spf_run: bad address %s\n", f[1]);
			goto out;
		}
		rq.helo = f[2];
		rq.sender = f[3];
		rq.receiver = "receiver.test";
		set = dns_set_new(f[0]);
		chk = set != NULL ? spf_check_new(set, &rq) : NULL;
		if (chk == NULL) {
			fprintf(stderr, "spf_run: out of memory\n");
			dns_set_free(set);
			goto out;
		}
		t0 = now_ms();
		dns_deadline(&dl, timeout_ms);
		if (spf_run(chk, &dl) != 0) {
			fprintf(stderr, "spf_run: spf_run failed\n");
			spf_check_free(chk);
			dns_set_free(set);
			goto out;
		}
		o = spf_outcome(chk);
		snprintf(why, sizeof why, "%s", o->why);
		snprintf(exp, sizeof exp, "%s", o->exp);
		clean(why);
		clean(exp);
		printf("%s\t%s\t%s\t%s\t%s\t%u\t%.0f\n", f[0],
		       am_result_str(o->result), o->exp_default ? "D" : "E",
		       exp, why, o->lookups, now_ms() - t0);
		fflush(stdout);
		spf_check_free(chk);
		dns_set_free(set);
	}
	rc = 0;
out:
	dns_shutdown();
	return rc;
}
