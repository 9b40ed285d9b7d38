/* SPDX-License-Identifier: BSD-2-Clause */
/* test_dkimv_pubkey - dkimv's d2i_PUBKEY_bio gives libcrypto's keys */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/*
 * dkimv.c defines d2i_PUBKEY_bio (linked in from the am library, so this
 * executable's definition is the one every caller gets, as in the
 * daemon). Each case: a DER SubjectPublicKeyInfo, the key type the call
 * must return, and that the key equals the one encoded.
 */
enum kind { K_RSA, K_RSA_PSS, K_ED25519, K_EC, K_GARBAGE, K_TRUNCATED };

static const struct {
	const char *name;
	enum kind kind;
	int want_id;         /* EVP_PKEY_*, or 0: NULL wanted */
	size_t trailing;     /* junk bytes after the DER, left unread */
	bool fast;           /* decoded by d2i_RSA_PUBKEY: a legacy key */
} cases[] = {
	{"rsa 1024", K_RSA, EVP_PKEY_RSA, 0, true},
	{"rsa with trailing bytes", K_RSA, EVP_PKEY_RSA, 7, true},
	{"rsa-pss keeps its type", K_RSA_PSS, EVP_PKEY_RSA_PSS, 0, false},
	{"ed25519 (fallback)", K_ED25519, EVP_PKEY_ED25519, 0, false},
	{"ec p-256 (fallback)", K_EC, EVP_PKEY_EC, 0, false},
	{"garbage", K_GARBAGE, 0, 0, false},
	{"truncated rsa", K_TRUNCATED, 0, 0, false},
};

static EVP_PKEY *
keygen(enum kind k)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;

	switch (k) {
	case K_RSA:
	case K_TRUNCATED:
		ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
		break;
	case K_RSA_PSS:
		ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA_PSS, NULL);
		break;
	case K_ED25519:
		ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
		break;
	case K_EC:
		ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
		break;
	case K_GARBAGE:
		return NULL;
	}
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	if (k == K_RSA || k == K_RSA_PSS || k == K_TRUNCATED) {
		int rc = EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 1024);

		assert_int_equal(rc, 1);
	}
	if (k == K_EC) {
		int nid = NID_X9_62_prime256v1;

		assert_int_equal(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx,
									 nid),
				 1);
	}
	assert_int_equal(EVP_PKEY_keygen(ctx, &pk), 1);
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

static void
test_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned char der[4096], *p = der;
		EVP_PKEY *orig = keygen(cases[i].kind), *got, *out = NULL;
		size_t len;
		BIO *b;

		if (orig != NULL) {
			int n = i2d_PUBKEY(orig, NULL);

			assert_true(n > 0 && (size_t)n + 16 <= sizeof der);
			assert_int_equal(i2d_PUBKEY(orig, &p), n);
			len = (size_t)n;
		} else {
			memcpy(der, "\x30\x03\x02\x01\x05not a key", 12);
			len = 12;
		}
		if (cases[i].kind == K_TRUNCATED)
			len /= 2;
		memset(der + len, 'x', cases[i].trailing);
		b = BIO_new_mem_buf(der, (int)(len + cases[i].trailing));
		assert_non_null(b);
		got = d2i_PUBKEY_bio(b, &out);
		if (cases[i].want_id == 0) {
			if (got != NULL)
				fail_msg("case %s: a key from bad input",
					 cases[i].name);
		} else {
			if (got == NULL)
				fail_msg("case %s: no key", cases[i].name);
			assert_ptr_equal(got, out);
			/*
			 * libcrypto's decoder makes provider keys; the fast
			 * path a legacy RSA key (no provider until used).
			 */
			if ((EVP_PKEY_get0_provider(got) == NULL) !=
			    cases[i].fast)
				fail_msg("case %s: fast path %s", cases[i].name,
					 cases[i].fast ? "not taken"
						       : "taken");
			if (EVP_PKEY_get_id(got) != cases[i].want_id)
				fail_msg("case %s: type %d, want %d",
					 cases[i].name, EVP_PKEY_get_id(got),
					 cases[i].want_id);
			if (EVP_PKEY_eq(got, orig) != 1)
				fail_msg("case %s: not the encoded key",
					 cases[i].name);
			/* the DER is consumed, what follows it is not */
			if ((size_t)BIO_pending(b) != cases[i].trailing)
				fail_msg("case %s: %d bytes left, want %zu",
					 cases[i].name, (int)BIO_pending(b),
					 cases[i].trailing);
		}
		EVP_PKEY_free(got);
		EVP_PKEY_free(orig);
		BIO_free(b);
	}
}

/* A key from the fast path signs and verifies like libcrypto's own. */
static void
test_rsa_verify(void **state)
{
	unsigned char der[2048], *p = der, sig[512], msg[] = "message";
	size_t siglen = sizeof sig;
	EVP_PKEY *orig = keygen(K_RSA), *got;
	EVP_MD_CTX *md;
	BIO *b;
	int n;

	(void)state;
	n = i2d_PUBKEY(orig, &p);
	assert_true(n > 0);
	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL,
					    orig), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen, msg, sizeof msg), 1);
	EVP_MD_CTX_free(md);
	b = BIO_new_mem_buf(der, n);
	got = d2i_PUBKEY_bio(b, NULL);
	assert_non_null(got);
	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
					      got), 1);
	assert_int_equal(EVP_DigestVerify(md, sig, siglen, msg, sizeof msg), 1);
	EVP_MD_CTX_free(md);
	md = EVP_MD_CTX_new();
	msg[0] ^= 1;
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
					      got), 1);
	assert_int_not_equal(EVP_DigestVerify(md, sig, siglen, msg,
					      sizeof msg), 1);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(got);
	EVP_PKEY_free(orig);
	BIO_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_rsa_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
