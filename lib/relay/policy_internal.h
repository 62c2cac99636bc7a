/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: helpers shared by the policy and the relay (name syntax, wildcard match). */
#ifndef VMSEC_POLICY_INTERNAL_H
#define VMSEC_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Characters allowed in domain, service, group and tag names: [A-Za-z0-9._+:-]. */
bool vmsec__policy_name_char(unsigned char c);
/* True for a non-empty name of at most max bytes made of vmsec__policy_name_char() characters. */
bool vmsec__policy_valid_name(const char *s, size_t max);
/* A remote name, `HOST/DOMAIN`: a domain of another host reached through the relay linked as HOST
 * (doc/RELAY.md, "Federation"); both parts valid names, at most max bytes in all. */
bool vmsec__policy_valid_remote(const char *s, size_t max);
/* A name a request may target or an origin header may name: local or remote. */
bool vmsec__policy_valid_target(const char *s, size_t max);
/* The host side's namespace: "host" and "host:NAME" name the relay's unix-socket callers, never a
 * domain (doc/policy-format.md, "The host side"). */
bool vmsec__policy_host_name(const char *name);
/* Shell-style match of '*' and '?' in linear-times-linear worst case. */
bool vmsec__policy_glob(const char *pattern, const char *s);

#endif
