/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/policy.h
 * @brief Relay policy: which domain may reach which service of which other domain.
 *
 * A policy is a list of rules `allow|deny SERVICE from SOURCE to TARGET`; the first rule that
 * matches decides, and a request that no rule matches is denied. Sources and targets are domain
 * names, shell-style wildcards (`*`, `?`), `@group` (defined by a `group` line) or `tag:NAME`
 * (domains carrying that tag in their libvirt metadata). The format is described in
 * doc/policy-format.md. A policy is immutable once loaded, so one object can be shared by
 * threads.
 */
#ifndef VMSEC_POLICY_H
#define VMSEC_POLICY_H

#include <vmsec/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Longest domain name accepted in a policy or on the relay wire (bytes, without NUL). */
#define VMSEC_POLICY_NAME_MAX 255
/** @brief Longest service name accepted in a policy or on the relay wire (bytes, without NUL). */
#define VMSEC_POLICY_SERVICE_MAX 64
/** @brief Longest line accepted in a policy file (bytes, without the newline). */
#define VMSEC_POLICY_LINE_MAX 4096

/** @brief Longest domain name, for bindings. @return #VMSEC_POLICY_NAME_MAX. */
VMSEC_EXPORT size_t vmsec_policy_name_max(void);
/** @brief Longest service name, for bindings. @return #VMSEC_POLICY_SERVICE_MAX. */
VMSEC_EXPORT size_t vmsec_policy_service_max(void);
/** @brief Longest policy line, for bindings. @return #VMSEC_POLICY_LINE_MAX. */
VMSEC_EXPORT size_t vmsec_policy_line_max(void);

/** @brief A parsed, immutable relay policy. Opaque. */
typedef struct vmsec_policy vmsec_policy;

/**
 * @brief Parses a policy file.
 *
 * Nothing is returned unless the whole file parses: on any error the message from
 * vmsec_error_last() has the form `FILE:LINE: reason`, and a caller that runs a relay must treat
 * the failure as "deny everything". The file is read whole with one open(); a file whose last line
 * has no terminating newline is refused as truncated (#VMSEC_EFORMAT), so replace a policy by
 * writing the new file beside it and rename()ing it over the old one.
 *
 * Since 1.1 the file is trusted only if nobody else could have written it, as ssh's StrictModes:
 * it must be owned by the effective user or root and not writable by group or others, and its
 * folder must be owned by the effective user or root and not writable by group or others unless
 * sticky (as /tmp). Otherwise #VMSEC_EPERM, naming the fix.
 *
 * @param out  Receives the policy; set to NULL on failure.
 * @param path File to read (at most 16 MiB).
 * @return 0, #VMSEC_EINVAL for NULL arguments, #VMSEC_EIO / #VMSEC_ENOTFOUND if the file cannot be
 *         read, #VMSEC_EPERM if another user could have written it, #VMSEC_EFORMAT for a syntax
 *         or semantic error, #VMSEC_ETOOBIG for an oversized file or line, #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_policy_load_file(vmsec_policy **out, const char *path);

/**
 * @brief Parses a policy held in memory.
 * @param out  Receives the policy; set to NULL on failure.
 * @param text Policy text (need not be NUL-terminated; an embedded NUL byte is an error).
 * @param len  Length of @p text in bytes.
 * @param name Name used in error messages and decisions in place of a file name (NULL: "policy").
 * @return As vmsec_policy_load_file().
 */
VMSEC_EXPORT int vmsec_policy_load_string(vmsec_policy **out, const char *text, size_t len, const char *name);

/** @brief Frees a policy. Accepts NULL. @param p The policy. */
VMSEC_EXPORT void vmsec_policy_free(vmsec_policy *p);

/**
 * @brief Decides whether @p source may reach @p service on @p target.
 *
 * @param p           The policy; NULL denies everything (a policy that failed to load).
 * @param service     Requested service name.
 * @param source      Calling domain name.
 * @param source_tags NULL-terminated array of the caller's metadata tags, or NULL for none.
 * @param target      Target domain name.
 * @param target_tags NULL-terminated array of the target's metadata tags, or NULL for none.
 * @param line        If not NULL, receives the line of the deciding rule, 0 for the default deny.
 * @return 0 if allowed; #VMSEC_EDENIED if denied (by a rule or by default); #VMSEC_EINVAL for
 *         NULL names.
 */
VMSEC_EXPORT int vmsec_policy_check(const vmsec_policy *p, const char *service, const char *source,
                                    const char *const *source_tags, const char *target,
                                    const char *const *target_tags, unsigned int *line);

/**
 * @brief Looks up the vsock port a service listens on (`service NAME port N` lines).
 * @param p       The policy.
 * @param service Service name.
 * @param port    Receives the port.
 * @return 0, #VMSEC_ENOTFOUND if the policy does not name the service, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_policy_service_port(const vmsec_policy *p, const char *service, uint32_t *port);

/**
 * @brief Returns the name given at load time (the file path or the @p name argument).
 * @param p The policy, or NULL.
 * @return A string owned by the policy, never NULL ("(none)" for NULL).
 */
VMSEC_EXPORT const char *vmsec_policy_name(const vmsec_policy *p);

/**
 * @brief Returns the number of rules.
 * @param p The policy, or NULL (0 rules).
 * @return The number of `allow` and `deny` lines.
 */
VMSEC_EXPORT size_t vmsec_policy_rule_count(const vmsec_policy *p);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_POLICY_H */
