/* SPDX-License-Identifier: ISC */
/* Private to the profile implementation (profile*.c): keys and their values.
 * A "slot" is one resolved key (`vcpu.3.pin` -> kind VCPU_PIN, id 3); the parser, the generic
 * set/get/unset API and the serialiser all go through the same slot functions, so a value is
 * validated and formatted in exactly one place. */
#ifndef VMSEC_PROFILE_KEYS_H
#define VMSEC_PROFILE_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "isolation/profile_internal.h"

#define VMSEC__KEY_MAX 64u      /* longest key accepted */
#define VMSEC__LINE_MAX 4096u   /* longest line accepted, excluding the newline */
#define VMSEC__WHY_MAX 256u
#define VMSEC__PATH_MAX 1024u   /* longest blkio device path */
#define VMSEC__MAX_ERRORS 32u   /* errors kept for one message */

enum vmsec__kind {
    VMSEC__K_NAME,
    VMSEC__K_VCPUS,
    VMSEC__K_IOTHREADS,
    VMSEC__K_VCPU_PIN,
    VMSEC__K_EMULATOR_PIN,
    VMSEC__K_IOTHREAD_PIN,
    VMSEC__K_SHARES,
    VMSEC__K_PERIOD,
    VMSEC__K_QUOTA,
    VMSEC__K_NUMA_MODE,
    VMSEC__K_NUMA_NODESET,
    VMSEC__K_MEMLIMIT,
    VMSEC__K_LOCKED,
    VMSEC__K_HUGE_SIZE,
    VMSEC__K_HUGE_NODESET,
    VMSEC__K_NOSHARE,
    VMSEC__K_BLKIO_WEIGHT,
    VMSEC__K_DEV_PATH,
    VMSEC__K_DEV_FIELD,
    VMSEC__K_INTENT,       /* arg: enum vmsec__intent */
    VMSEC__K_HOST_RESERVED
};

struct vmsec__slot {
    enum vmsec__kind kind;
    int arg;         /* scope, memory limit or blkio field */
    unsigned int id; /* vCPU, iothread id or device label */
    char key[VMSEC__KEY_MAX + 1]; /* canonical spelling, for messages */
};

/* Collected errors of one operation, reported together sorted by line. */
struct vmsec__diag_entry {
    unsigned int line;
    char msg[VMSEC__WHY_MAX + VMSEC__KEY_MAX + 16];
};

struct vmsec__diag {
    const char *source;
    unsigned int count; /* errors found; only the first VMSEC__MAX_ERRORS are kept */
    struct vmsec__diag_entry e[VMSEC__MAX_ERRORS];
};

void vmsec__diag_init(struct vmsec__diag *d, const char *source);
void vmsec__diag_add(struct vmsec__diag *d, unsigned int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Records all collected errors as the thread's error (one per line, sorted by line), returns code. */
int vmsec__diag_report(struct vmsec__diag *d, int code);

/* Resolves a key. Returns 0; -1 for an unknown key; -2 for a known pattern with a bad number
 * (reason in why). */
int vmsec__slot_resolve(struct vmsec__slot *s, const char *key, size_t len, char *why, size_t whylen);
/* For an unknown key: the known key it most likely meant (a slip or two away, numbers kept, e.g.
 * "vcpu.3.pni" -> "vcpu.3.pin"), written to out; 1 when there is one, else 0. */
int vmsec__profile_key_suggest(const char *key, size_t len, char *out, size_t cap);
/* Whether the slot is set, and the line it came from. */
bool vmsec__slot_is_set(const struct vmsec_profile *p, const struct vmsec__slot *s, unsigned int *line);
/* Parses and stores a value (replacing any previous one). Returns 0, VMSEC_EFORMAT with a reason
 * in why (nothing changed), or VMSEC_ENOMEM. */
int vmsec__slot_set(struct vmsec_profile *p, const struct vmsec__slot *s, const char *value, size_t len,
                    unsigned int line, char *why, size_t whylen);
void vmsec__slot_unset(struct vmsec_profile *p, const struct vmsec__slot *s);
/* Formats a set value canonically; returns the length (>= size means truncated) or 0 if unset. */
size_t vmsec__slot_format(const struct vmsec_profile *p, const struct vmsec__slot *s, char *buf, size_t size);
/* Formats one device field (field -1: the path). */
size_t vmsec__device_format(const struct vmsec__blkio_device *d, int field, char *buf, size_t size);

/* Pin arrays: append without keeping order (the parser appends, then sorts once, so hostile
 * input in descending order stays linear), and sort by id. */
int vmsec__pin_append(struct vmsec__pin **pins, size_t *n, unsigned int id, const vmsec_cpuset *cpus,
                      unsigned int line);
void vmsec__pins_sort(struct vmsec__pin *pins, size_t n);
/* Inserts or replaces a pin, keeping the array sorted by id. */
int vmsec__pin_put(struct vmsec__pin **pins, size_t *n, unsigned int id, const vmsec_cpuset *cpus, unsigned int line);

/* Block devices by their label (the N of blkio.device.N.*): the device or NULL; add appends an
 * empty one, NULL when full or out of memory. */
struct vmsec__blkio_device *vmsec__device_by_label(const struct vmsec_profile *p, unsigned int label);
struct vmsec__blkio_device *vmsec__device_add(struct vmsec_profile *p, unsigned int label);

/* Keys of a text whose value was rejected: not set in the profile, yet present in the text, so a
 * second occurrence is still a duplicate and a cross check must not report them as missing.
 * Bounded; past the bound the text has more errors than one message shows anyway. */
struct vmsec__rejected {
    unsigned int n;
    struct {
        unsigned int line;
        char key[VMSEC__KEY_MAX + 1];
    } e[VMSEC__MAX_ERRORS];
};

/* Line of the rejected key (0: not rejected); rj may be NULL. */
unsigned int vmsec__rejected_line(const struct vmsec__rejected *rj, const char *key);

/* Cross-setting checks into d. rj (may be NULL) lists keys of the text whose value was rejected:
 * a check that needs one of them is skipped rather than reporting a consequence of the bad line. */
void vmsec__profile_check(const struct vmsec_profile *p, const struct vmsec__rejected *rj, struct vmsec__diag *d);

#endif
