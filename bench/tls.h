/* SPDX-License-Identifier: ISC */
/* OpenSSL TLS 1.3 baseline for the benchmarks: X25519 key share, Ed25519 certificate (self-signed,
 * made at start-up and verified by the client), no session tickets. */
#ifndef VMSEC_BENCH_TLS_H
#define VMSEC_BENCH_TLS_H

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bench.h"

struct tls_env {
    SSL_CTX *server, *client;
};

static inline void tls_die(const char *what)
{
    ERR_print_errors_fp(stderr);
    bench_die(what);
}

/* ciphersuite: "TLS_AES_256_GCM_SHA384" or "TLS_CHACHA20_POLY1305_SHA256". */
static inline void tls_env_init(struct tls_env *env, const char *ciphersuite)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    X509 *cert = X509_new();
    X509_NAME *name;
    if (!key || !cert)
        tls_die("Ed25519 key");
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"bench.vmsec", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    if (!X509_sign(cert, key, NULL))
        tls_die("sign certificate");

    env->server = SSL_CTX_new(TLS_server_method());
    env->client = SSL_CTX_new(TLS_client_method());
    /* writable: OpenSSL's macro casts the list to char *, which clang's -Wcast-qual refuses for a literal */
    static char groups[] = "X25519";
    for (int i = 0; i < 2; i++) {
        SSL_CTX *c = i ? env->client : env->server;
        SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
        SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
        if (SSL_CTX_set_ciphersuites(c, ciphersuite) != 1 || SSL_CTX_set1_groups_list(c, groups) != 1)
            tls_die("TLS configuration");
        SSL_CTX_set_num_tickets(c, 0);
        SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    }
    if (SSL_CTX_use_certificate(env->server, cert) != 1 || SSL_CTX_use_PrivateKey(env->server, key) != 1)
        tls_die("server certificate");
    X509_STORE_add_cert(SSL_CTX_get_cert_store(env->client), cert);
    SSL_CTX_set_verify(env->client, SSL_VERIFY_PEER, NULL);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static inline void tls_env_free(struct tls_env *env)
{
    SSL_CTX_free(env->server);
    SSL_CTX_free(env->client);
}

#endif
