/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/profile.h
 * @brief Isolation profiles: a hand-writable text format for CPU pinning, NUMA, memory and block
 *        I/O limits of a libvirt domain, with a parser, setters/getters, a canonical serialiser
 *        and a digest.
 *
 * A profile is a set of optional settings. A setting that is unset means "leave the domain as it
 * is"; a profile never implies a default for something it does not mention. The text format is
 * documented in `doc/profile-format.md`, for example:
 * @code
 * # 2 vCPUs pinned to dedicated cores, locked memory on 2 MiB huge pages
 * name = web-small
 * vcpus = 2
 * vcpu.0.pin = 2
 * vcpu.1.pin = 3
 * emulator.pin = 0-1
 * numa.mode = strict
 * numa.nodeset = 0
 * memory.hard_limit = 4G
 * memory.locked = yes
 * memory.hugepages.size = 2M
 * memory.nosharepages = yes
 * @endcode
 *
 * Sizes are in bytes and accept the binary suffixes K, M, G, T, P, E (and KiB ... EiB), all
 * powers of 1024. CPU and NUMA node sets use the libvirt list syntax `0-3,8,^2`.
 *
 * Errors name the source and line: vmsec_error_last() reads for instance
 * `profile web.conf:12: unknown key 'cpu.pinn'`. When a text has several errors, all of them are
 * reported, one per line, the first line being the first error in the text.
 *
 * Getters return 1 when the setting is set (and write its value), 0 when it is unset (and leave
 * the output untouched), or a negative @ref vmsec_error code.
 *
 * A profile object is not thread-safe for concurrent modification; concurrent reads are fine.
 */
#ifndef VMSEC_PROFILE_H
#define VMSEC_PROFILE_H

#include <vmsec/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief An isolation profile. Opaque; create with vmsec_profile_new() or a parse function. */
typedef struct vmsec_profile vmsec_profile;

/** @brief Value of a memory limit that means "unlimited" (libvirt's `unlimited`). */
#define VMSEC_PROFILE_UNLIMITED UINT64_MAX
/** @brief CPU bandwidth quota that means "no limit" (libvirt and cgroups: -1). */
#define VMSEC_PROFILE_QUOTA_UNLIMITED (-1)
/** @brief Buffer size (including the NUL) that always holds a digest: `sha256:` and 64 hex digits. */
#define VMSEC_PROFILE_DIGEST_MAX 72
/** @brief Buffer size (including the NUL) that always holds a CPU or node set in canonical text. */
#define VMSEC_PROFILE_CPUSET_TEXT_MAX 20480
/** @brief Number of CPUs (and NUMA nodes) a set can name: CPUs 0 .. VMSEC_PROFILE_MAX_CPUS-1. */
#define VMSEC_PROFILE_MAX_CPUS 8192
/** @brief Longest profile name in bytes (excluding the NUL). */
#define VMSEC_PROFILE_NAME_MAX 64
/** @brief Largest profile text accepted by the parsers, in bytes. */
#define VMSEC_PROFILE_TEXT_LIMIT (1024 * 1024)

/** @brief Which CPU bandwidth (period/quota) pair a setting is about; values are stable. */
typedef enum vmsec_cpu_scope {
    VMSEC_CPU_SCOPE_VCPU = 0,     /**< Each vCPU thread: `cpu.vcpu_period`/`cpu.vcpu_quota`. */
    VMSEC_CPU_SCOPE_EMULATOR = 1, /**< Emulator threads: `cpu.emulator_period`/`_quota`. */
    VMSEC_CPU_SCOPE_IOTHREAD = 2, /**< Each I/O thread: `cpu.iothread_period`/`_quota`. */
    VMSEC_CPU_SCOPE_GLOBAL = 3    /**< The whole domain: `cpu.global_period`/`_quota`. */
} vmsec_cpu_scope;

/** @brief NUMA memory policy; the values equal libvirt's virDomainNumatuneMemMode. */
typedef enum vmsec_numa_mode {
    VMSEC_NUMA_STRICT = 0,      /**< `strict`: allocate only from the nodeset, fail otherwise. */
    VMSEC_NUMA_PREFERRED = 1,   /**< `preferred`: prefer the (single) node, fall back elsewhere. */
    VMSEC_NUMA_INTERLEAVE = 2,  /**< `interleave`: round-robin over the nodeset. */
    VMSEC_NUMA_RESTRICTIVE = 3  /**< `restrictive`: cgroup cpuset.mems only, no mbind policy. */
} vmsec_numa_mode;

/** @brief Which memory limit a setting is about; values are stable. */
typedef enum vmsec_memory_limit {
    VMSEC_MEMORY_HARD_LIMIT = 0,     /**< `memory.hard_limit` (memtune hard_limit). */
    VMSEC_MEMORY_SOFT_LIMIT = 1,     /**< `memory.soft_limit` (memtune soft_limit). */
    VMSEC_MEMORY_SWAP_HARD_LIMIT = 2 /**< `memory.swap_hard_limit` (memtune swap_hard_limit). */
} vmsec_memory_limit;

/** @brief A per-device block I/O setting (`blkio.device.N.<field>`); values are stable. */
typedef enum vmsec_blkio_field {
    VMSEC_BLKIO_WEIGHT = 0,          /**< `weight`: relative weight 10..1000. */
    VMSEC_BLKIO_READ_BYTES_SEC = 1,  /**< `read_bytes_sec`: read throttle, bytes per second. */
    VMSEC_BLKIO_WRITE_BYTES_SEC = 2, /**< `write_bytes_sec`: write throttle, bytes per second. */
    VMSEC_BLKIO_READ_IOPS_SEC = 3,   /**< `read_iops_sec`: read throttle, operations per second. */
    VMSEC_BLKIO_WRITE_IOPS_SEC = 4   /**< `write_iops_sec`: write throttle, operations per second. */
} vmsec_blkio_field;

/** @brief Digest buffer size, for bindings. @return #VMSEC_PROFILE_DIGEST_MAX. */
VMSEC_EXPORT size_t vmsec_profile_digest_max(void);
/** @brief CPU set text buffer size, for bindings. @return #VMSEC_PROFILE_CPUSET_TEXT_MAX. */
VMSEC_EXPORT size_t vmsec_profile_cpuset_text_max(void);
/** @brief Number of CPUs a set can name, for bindings. @return #VMSEC_PROFILE_MAX_CPUS. */
VMSEC_EXPORT size_t vmsec_profile_max_cpus(void);
/** @brief Longest profile name, for bindings. @return #VMSEC_PROFILE_NAME_MAX. */
VMSEC_EXPORT size_t vmsec_profile_name_max(void);

/**
 * @brief Creates an empty profile (every setting unset).
 * @param[out] out Receives the profile; free it with vmsec_profile_free().
 * @return 0, #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_profile_new(vmsec_profile **out);

/**
 * @brief Frees a profile.
 * @param p The profile, or NULL (then nothing happens).
 */
VMSEC_EXPORT void vmsec_profile_free(vmsec_profile *p);

/**
 * @brief Copies a profile, including the source name and line numbers of its settings.
 * @param p The profile to copy.
 * @param[out] out Receives the copy; free it with vmsec_profile_free().
 * @return 0, #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_profile_dup(const vmsec_profile *p, vmsec_profile **out);

/**
 * @brief Parses a profile from memory.
 *
 * The text is validated completely (syntax, values, duplicates, contradictions between settings)
 * before anything is returned; on failure @p *out is NULL and vmsec_error_last() lists every
 * error found, each as `profile <name>:<line>: <reason>`.
 *
 * @param[out] out Receives the profile; set to NULL on failure.
 * @param text The text; need not be NUL-terminated; a NUL byte inside is an error.
 * @param len Length of @p text in bytes, at most #VMSEC_PROFILE_TEXT_LIMIT.
 * @param name Name used in error messages (for instance the file it came from), or NULL for
 *        `<string>`.
 * @return 0; #VMSEC_EFORMAT for invalid text; #VMSEC_ETOOBIG if @p len is over the limit;
 *         #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_profile_parse(vmsec_profile **out, const char *text, size_t len, const char *name);

/**
 * @brief Reads and parses a profile file; errors name @p path and the line.
 * @param[out] out Receives the profile; set to NULL on failure.
 * @param path The file (a regular file of at most #VMSEC_PROFILE_TEXT_LIMIT bytes).
 * @return As vmsec_profile_parse(), plus #VMSEC_ENOTFOUND, #VMSEC_EPERM or #VMSEC_EIO when the
 *         file cannot be read.
 */
VMSEC_EXPORT int vmsec_profile_load_file(vmsec_profile **out, const char *path);

/**
 * @brief Checks the settings against each other (what the parser checks after the last line).
 *
 * Setters check each value alone; a profile built with setters can still contradict itself
 * (for instance memory.locked without memory.hard_limit). vmsec_profile_to_text() and
 * vmsec_profile_digest() refuse such a profile; this function says why, listing every problem.
 *
 * @param p The profile.
 * @return 0 if consistent, #VMSEC_EFORMAT otherwise, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_validate(const vmsec_profile *p);

/**
 * @brief Checks a profile against the shape of a domain.
 *
 * Rejects pinning of vCPUs the domain does not have (`profile web.conf:7: vcpu.5.pin: domain has
 * only 2 vCPUs`), pinning of I/O threads it does not have, and a `vcpus` or `iothreads`
 * expectation that differs from the domain.
 *
 * @param p The profile.
 * @param nvcpus Number of vCPUs of the domain (maximum vCPUs, as libvirt's `<vcpu>`).
 * @param iothread_ids The domain's I/O thread ids (may be NULL when @p n_iothreads is 0).
 * @param n_iothreads Number of entries in @p iothread_ids.
 * @return 0; #VMSEC_EFORMAT with every mismatch in vmsec_error_last(); #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_check_domain(const vmsec_profile *p, unsigned int nvcpus,
                                            const unsigned int *iothread_ids, size_t n_iothreads);

/**
 * @brief Serialises a profile to its canonical text.
 *
 * The canonical text lists every set key once, in a fixed order, with canonical values
 * (`4G`, `0-3,8`, `yes`), so equal profiles give identical text and parsing the text gives an
 * equal profile. Block devices are listed in path order and renumbered from 0.
 *
 * @param p The profile; it must pass vmsec_profile_validate().
 * @param buf Destination, or NULL to learn the size only.
 * @param size Size of @p buf in bytes.
 * @param[out] needed If not NULL, receives the text length plus 1 (for the NUL).
 * @return 0; #VMSEC_ETOOBIG if @p size is smaller than needed (nothing is written);
 *         #VMSEC_EFORMAT if the profile is inconsistent; #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_profile_to_text(const vmsec_profile *p, char *buf, size_t size, size_t *needed);

/**
 * @brief Writes the canonical text to a file, atomically (temporary file, fsync, rename).
 * @param p The profile; it must pass vmsec_profile_validate().
 * @param path Destination file; replaced if it exists. Mode 0644.
 * @return 0; #VMSEC_EFORMAT; #VMSEC_EIO, #VMSEC_EPERM or #VMSEC_ENOTFOUND from the file system;
 *         #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_profile_save_file(const vmsec_profile *p, const char *path);

/**
 * @brief Computes the profile digest: `sha256:` and the SHA-256 of the canonical text in hex.
 *
 * Stable across releases for the same settings and changed by any change of a setting; the
 * name is part of the text and thus of the digest. Meant for recording in domain metadata.
 *
 * @param p The profile; it must pass vmsec_profile_validate().
 * @param buf Destination of at least #VMSEC_PROFILE_DIGEST_MAX bytes.
 * @param size Size of @p buf.
 * @return 0; #VMSEC_ETOOBIG; #VMSEC_EFORMAT; #VMSEC_EINVAL; #VMSEC_ENOMEM; #VMSEC_ECRYPTO.
 */
VMSEC_EXPORT int vmsec_profile_digest(const vmsec_profile *p, char *buf, size_t size);

/**
 * @brief Compares two profiles setting by setting (values only: source names and lines are
 *        ignored; block devices are matched by path).
 * @param a A profile.
 * @param b A profile.
 * @return 1 if equal, 0 if not, #VMSEC_EINVAL if either is NULL.
 */
VMSEC_EXPORT int vmsec_profile_equal(const vmsec_profile *a, const vmsec_profile *b);

/**
 * @brief Sets any setting by its text key and value, exactly as a line `key = value` would.
 *
 * Replaces a previous value. Device keys `blkio.device.N.*` address the device whose label in
 * the text was N (see vmsec_profile_set_blkio_device() for access by path).
 *
 * @param p The profile.
 * @param key A key such as `cpu.shares` or `vcpu.3.pin`.
 * @param value Its value such as `1024` or `0-3,^2`.
 * @return 0; #VMSEC_ENOTFOUND for an unknown key (or a number out of range in it, such as
 *         `vcpu.9000.pin`); #VMSEC_EFORMAT for a bad value (the message says why); #VMSEC_EINVAL;
 *         #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_profile_set(vmsec_profile *p, const char *key, const char *value);

/**
 * @brief Reads any setting by its text key, as canonical text.
 * @param p The profile.
 * @param key A key such as `memory.hard_limit`.
 * @param buf Destination for the canonical value (`4G`).
 * @param size Size of @p buf.
 * @return 1 if set, 0 if unset; #VMSEC_ENOTFOUND for an unknown key; #VMSEC_ETOOBIG;
 *         #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get(const vmsec_profile *p, const char *key, char *buf, size_t size);

/**
 * @brief Unsets any setting by its text key (unsetting an unset setting is not an error).
 * @param p The profile.
 * @param key A key such as `vcpu.3.pin`.
 * @return 0; #VMSEC_ENOTFOUND for an unknown key; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_unset(vmsec_profile *p, const char *key);

/**
 * @brief Sets the profile name (`name`): 1 to #VMSEC_PROFILE_NAME_MAX characters from
 *        `A-Z a-z 0-9 . _ -`, not starting with `.` or `-`.
 * @param p The profile.
 * @param name The name, or NULL to unset it.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_name(vmsec_profile *p, const char *name);

/**
 * @brief Reads the profile name.
 * @param p The profile.
 * @param buf Destination of at least #VMSEC_PROFILE_NAME_MAX + 1 bytes.
 * @param size Size of @p buf.
 * @return 1 if set, 0 if unset, #VMSEC_ETOOBIG or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_name(const vmsec_profile *p, char *buf, size_t size);

/**
 * @brief Sets the expected number of vCPUs (`vcpus`, 1..#VMSEC_PROFILE_MAX_CPUS); 0 unsets.
 * @param p The profile.
 * @param n The count, or 0.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_vcpus(vmsec_profile *p, unsigned int n);

/**
 * @brief Reads the expected number of vCPUs.
 * @param p The profile.
 * @param[out] n Receives the count when set.
 * @return 1 if set, 0 if unset, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_vcpus(const vmsec_profile *p, unsigned int *n);

/**
 * @brief Sets the expected number of I/O threads (`iothreads`, 1..#VMSEC_PROFILE_MAX_CPUS); 0 unsets.
 * @param p The profile.
 * @param n The count, or 0.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_iothreads(vmsec_profile *p, unsigned int n);

/**
 * @brief Reads the expected number of I/O threads.
 * @param p The profile.
 * @param[out] n Receives the count when set.
 * @return 1 if set, 0 if unset, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_iothreads(const vmsec_profile *p, unsigned int *n);

/**
 * @brief Pins one vCPU (`vcpu.N.pin`) to a CPU set such as `2-3,^3`.
 * @param p The profile.
 * @param vcpu The vCPU number, 0 .. #VMSEC_PROFILE_MAX_CPUS-1.
 * @param cpuset The set, or NULL to unset the pin.
 * @return 0, #VMSEC_EFORMAT (bad or empty set) or #VMSEC_EINVAL (also for a vCPU out of range).
 */
VMSEC_EXPORT int vmsec_profile_set_vcpu_pin(vmsec_profile *p, unsigned int vcpu, const char *cpuset);

/**
 * @brief Reads the pin of one vCPU as canonical text.
 * @param p The profile.
 * @param vcpu The vCPU number, 0 .. #VMSEC_PROFILE_MAX_CPUS-1.
 * @param buf Destination (#VMSEC_PROFILE_CPUSET_TEXT_MAX bytes always suffice).
 * @param size Size of @p buf.
 * @return 1 if set, 0 if unset, #VMSEC_ETOOBIG or #VMSEC_EINVAL (also for a vCPU out of range).
 */
VMSEC_EXPORT int vmsec_profile_get_vcpu_pin(const vmsec_profile *p, unsigned int vcpu, char *buf, size_t size);

/**
 * @brief Pins the emulator threads (`emulator.pin`).
 * @param p The profile.
 * @param cpuset The set, or NULL to unset.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_emulator_pin(vmsec_profile *p, const char *cpuset);

/**
 * @brief Reads the emulator pin as canonical text.
 * @param p The profile.
 * @param buf Destination.
 * @param size Size of @p buf.
 * @return 1 if set, 0 if unset, #VMSEC_ETOOBIG or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_emulator_pin(const vmsec_profile *p, char *buf, size_t size);

/**
 * @brief Pins one I/O thread (`iothread.N.pin`, N being the libvirt iothread id, 1..#VMSEC_PROFILE_MAX_CPUS).
 * @param p The profile.
 * @param id The iothread id.
 * @param cpuset The set, or NULL to unset.
 * @return 0, #VMSEC_EFORMAT, or #VMSEC_EINVAL (also for an id out of range).
 */
VMSEC_EXPORT int vmsec_profile_set_iothread_pin(vmsec_profile *p, unsigned int id, const char *cpuset);

/**
 * @brief Reads the pin of one I/O thread as canonical text.
 * @param p The profile.
 * @param id The iothread id, 1 .. #VMSEC_PROFILE_MAX_CPUS.
 * @param buf Destination.
 * @param size Size of @p buf.
 * @return 1 if set, 0 if unset, #VMSEC_ETOOBIG or #VMSEC_EINVAL (also for an id out of range).
 */
VMSEC_EXPORT int vmsec_profile_get_iothread_pin(const vmsec_profile *p, unsigned int id, char *buf, size_t size);

/**
 * @brief Sets the CPU shares (`cpu.shares`, 2..262144); 0 unsets.
 * @param p The profile.
 * @param shares The shares, or 0.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_cpu_shares(vmsec_profile *p, uint64_t shares);

/**
 * @brief Reads the CPU shares.
 * @param p The profile.
 * @param[out] shares Receives the value when set.
 * @return 1 if set, 0 if unset, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_cpu_shares(const vmsec_profile *p, uint64_t *shares);

/**
 * @brief Sets a CFS bandwidth period in microseconds (1000..1000000); 0 unsets.
 * @param p The profile.
 * @param scope Which period (a @ref vmsec_cpu_scope).
 * @param period_us The period, or 0.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_cpu_period(vmsec_profile *p, int scope, uint64_t period_us);

/**
 * @brief Reads a CFS bandwidth period.
 * @param p The profile.
 * @param scope Which period (a @ref vmsec_cpu_scope).
 * @param[out] period_us Receives the value when set.
 * @return 1 if set, 0 if unset, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_cpu_period(const vmsec_profile *p, int scope, uint64_t *period_us);

/**
 * @brief Sets a CFS bandwidth quota in microseconds: #VMSEC_PROFILE_QUOTA_UNLIMITED (-1) or
 *        1000..17592186044415; 0 unsets.
 * @param p The profile.
 * @param scope Which quota (a @ref vmsec_cpu_scope).
 * @param quota_us The quota, -1, or 0.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_cpu_quota(vmsec_profile *p, int scope, int64_t quota_us);

/**
 * @brief Reads a CFS bandwidth quota.
 * @param p The profile.
 * @param scope Which quota (a @ref vmsec_cpu_scope).
 * @param[out] quota_us Receives the value when set.
 * @return 1 if set, 0 if unset, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_cpu_quota(const vmsec_profile *p, int scope, int64_t *quota_us);

/**
 * @brief Sets the NUMA memory mode (`numa.mode`); a negative value unsets it.
 * @param p The profile.
 * @param mode A @ref vmsec_numa_mode, or -1.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_numa_mode(vmsec_profile *p, int mode);

/**
 * @brief Reads the NUMA memory mode.
 * @param p The profile.
 * @param[out] mode Receives a @ref vmsec_numa_mode when set.
 * @return 1 if set, 0 if unset, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_numa_mode(const vmsec_profile *p, int *mode);

/**
 * @brief Sets the NUMA nodeset (`numa.nodeset`), e.g. `0` or `0-1`.
 * @param p The profile.
 * @param nodeset The set, or NULL to unset.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_numa_nodeset(vmsec_profile *p, const char *nodeset);

/**
 * @brief Reads the NUMA nodeset as canonical text.
 * @param p The profile.
 * @param buf Destination.
 * @param size Size of @p buf.
 * @return 1 if set, 0 if unset, #VMSEC_ETOOBIG or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_numa_nodeset(const vmsec_profile *p, char *buf, size_t size);

/**
 * @brief Sets a memory limit in bytes (a multiple of 1024, at most 8 EiB - 1 KiB, or
 *        #VMSEC_PROFILE_UNLIMITED); 0 unsets.
 * @param p The profile.
 * @param which A @ref vmsec_memory_limit.
 * @param bytes The limit, #VMSEC_PROFILE_UNLIMITED, or 0.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_memory_limit(vmsec_profile *p, int which, uint64_t bytes);

/**
 * @brief Reads a memory limit.
 * @param p The profile.
 * @param which A @ref vmsec_memory_limit.
 * @param[out] bytes Receives the limit (or #VMSEC_PROFILE_UNLIMITED) when set.
 * @return 1 if set, 0 if unset, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_memory_limit(const vmsec_profile *p, int which, uint64_t *bytes);

/**
 * @brief Sets memory locking (`memory.locked`): 1 yes, 0 no, -1 unset. Locking requires a
 *        finite memory.hard_limit (checked by vmsec_profile_validate()).
 * @param p The profile.
 * @param locked 1, 0 or -1.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_memory_locked(vmsec_profile *p, int locked);

/**
 * @brief Reads memory locking.
 * @param p The profile.
 * @param[out] locked Receives 1 or 0 when set.
 * @return 1 if set, 0 if unset, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_memory_locked(const vmsec_profile *p, int *locked);

/**
 * @brief Sets the huge page size (`memory.hugepages.size`) in bytes: a power of two from 64 KiB
 *        to 16 GiB, or #VMSEC_PROFILE_UNLIMITED meaning the host's default huge page size
 *        (text value `default`); 0 unsets.
 * @param p The profile.
 * @param bytes The page size, #VMSEC_PROFILE_UNLIMITED for the default size, or 0.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_hugepage_size(vmsec_profile *p, uint64_t bytes);

/**
 * @brief Reads the huge page size.
 * @param p The profile.
 * @param[out] bytes Receives the size (#VMSEC_PROFILE_UNLIMITED for `default`) when set.
 * @return 1 if set, 0 if unset, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_hugepage_size(const vmsec_profile *p, uint64_t *bytes);

/**
 * @brief Restricts huge pages to guest NUMA nodes (`memory.hugepages.nodeset`).
 * @param p The profile.
 * @param nodeset The set, or NULL to unset.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_hugepage_nodeset(vmsec_profile *p, const char *nodeset);

/**
 * @brief Reads the huge page nodeset as canonical text.
 * @param p The profile.
 * @param buf Destination.
 * @param size Size of @p buf.
 * @return 1 if set, 0 if unset, #VMSEC_ETOOBIG or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_hugepage_nodeset(const vmsec_profile *p, char *buf, size_t size);

/**
 * @brief Sets whether page sharing (KSM) is disabled (`memory.nosharepages`): 1 yes, 0 no, -1 unset.
 * @param p The profile.
 * @param nosharepages 1, 0 or -1.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_nosharepages(vmsec_profile *p, int nosharepages);

/**
 * @brief Reads whether page sharing is disabled.
 * @param p The profile.
 * @param[out] nosharepages Receives 1 or 0 when set.
 * @return 1 if set, 0 if unset, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_nosharepages(const vmsec_profile *p, int *nosharepages);

/**
 * @brief Sets the domain's block I/O weight (`blkio.weight`, 10..1000); 0 unsets.
 * @param p The profile.
 * @param weight The weight, or 0.
 * @return 0, #VMSEC_EFORMAT or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_set_blkio_weight(vmsec_profile *p, unsigned int weight);

/**
 * @brief Reads the domain's block I/O weight.
 * @param p The profile.
 * @param[out] weight Receives the weight when set.
 * @return 1 if set, 0 if unset, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_blkio_weight(const vmsec_profile *p, unsigned int *weight);

/**
 * @brief Sets one per-device block I/O setting; the device is added if needed.
 *
 * Weights are 10..1000; throttles are 1..2^63-1 (bytes or operations per second).
 *
 * @param p The profile.
 * @param path The host block device, an absolute path such as `/dev/sdb` (no spaces, no `#`).
 * @param field A @ref vmsec_blkio_field.
 * @param value The value.
 * @return 0, #VMSEC_EFORMAT, #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_profile_set_blkio_device(vmsec_profile *p, const char *path, int field, uint64_t value);

/**
 * @brief Unsets one per-device setting; a device left without settings is removed.
 * @param p The profile.
 * @param path The device path.
 * @param field A @ref vmsec_blkio_field.
 * @return 0 (also when it was not set) or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_unset_blkio_device(vmsec_profile *p, const char *path, int field);

/**
 * @brief Reads one per-device setting.
 * @param p The profile.
 * @param path The device path.
 * @param field A @ref vmsec_blkio_field.
 * @param[out] value Receives the value when set.
 * @return 1 if set, 0 if unset (or no such device), #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_get_blkio_device(const vmsec_profile *p, const char *path, int field, uint64_t *value);

/**
 * @brief Number of block devices with per-device settings.
 * @param p The profile.
 * @param[out] count Receives the count.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_blkio_device_count(const vmsec_profile *p, size_t *count);

/**
 * @brief Path of the i-th block device, in path order.
 * @param p The profile.
 * @param index 0 .. count-1.
 * @param buf Destination.
 * @param size Size of @p buf.
 * @return 0, #VMSEC_ENOTFOUND if @p index is out of range, #VMSEC_ETOOBIG or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_profile_blkio_device_path(const vmsec_profile *p, size_t index, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_PROFILE_H */
