/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/planner.h
 * @brief CPU placement planner: dedicated, SMT-safe, NUMA-aware pinning across domains.
 *
 * Hand-written pin lists do not scale and invite mistakes that let two VMs share the hyper-threads
 * of one physical core, across which L1TF and MDS leak data. The planner turns an *intent* ("4
 * dedicated vCPUs, never sharing a core with another domain, on one NUMA node") into a concrete
 * placement (one host CPU per vCPU, a CPU set for the emulator threads), planned against the
 * host topology and the CPUs every other domain already holds.
 *
 * Three objects:
 * - a topology (@ref vmsec_topology), its CPUs, their cores (SMT siblings), sockets and NUMA nodes, read from
 *   libvirt's capabilities XML, from a libvirt connection, from a small text form, or built CPU
 *   by CPU;
 * - a planner (@ref vmsec_planner), holding a topology, the host's reserved CPUs and the CPUs held by each domain
 *   (recorded by vmsec_planner_hold(), by vmsec_planner_load_libvirt() from the pins of every
 *   domain on a connection, or by vmsec_planner_place());
 * - a placement (@ref vmsec_placement), the answer to one request.
 *
 * Placement rules (deterministic: the same topology, holdings and request always give the same
 * placement):
 * - Cores are ordered by NUMA node id, then by their lowest CPU id; nodes by id. Within a core,
 *   CPUs are taken in ascending id order, and vCPU i gets the i-th CPU taken.
 * - With #VMSEC_NUMA_FIT_NODE the placement uses the lowest node with enough room. With
 *   #VMSEC_NUMA_FIT_SPREAD it still uses the lowest node with enough room if there is one, and
 *   otherwise fills nodes in ascending order.
 * - A domain that already holds CPUs is planned as if it held none, but its previous cores are
 *   tried first (and its previous node first), so a request that still fits keeps its placement.
 * - #VMSEC_THREAD_ISOLATE takes whole cores that nobody holds, reserves or blocks, packs the
 *   domain's vCPUs onto their sibling threads, and blocks the threads it leaves unused, so no other
 *   domain ever runs on those cores. A dedicated emulator CPU comes from such a leftover thread
 *   when there is one, otherwise from one more whole core.
 * - #VMSEC_THREAD_REQUIRE places vCPUs on sibling threads of whole free SMT cores (cores with at
 *   least two online threads); an odd count leaves the last core's other thread free (it takes the
 *   dedicated emulator CPU, if any; otherwise other domains may use it). Refused when the host has
 *   no SMT core.
 * - #VMSEC_THREAD_PREFER first takes whole free cores while at least a core's worth of vCPUs
 *   remains, then single free CPUs, from cores already partly used by other (non-isolated)
 *   domains first.
 * - Offline CPUs and the host's reserved CPUs are never used. A core with a reserved CPU is never
 *   "whole free".
 *
 * When a request cannot fit, the call fails with #VMSEC_EHOST and vmsec_error_last() names the
 * shortfall, e.g. `cannot place domain 'db': needs 6 CPUs on whole free cores of one NUMA node (6
 * vCPUs, thread policy isolate); node 0 has 4 (2 cores), node 1 has 2 (1 core)`.
 *
 * Planners and placements are not thread-safe; use one per thread or lock around them.
 * Topologies are immutable once given to a planner (the planner keeps its own copy).
 */
#ifndef VMSEC_PLANNER_H
#define VMSEC_PLANNER_H

#include <vmsec/common.h>
#include <vmsec/profile.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief A host CPU topology. Opaque. */
typedef struct vmsec_topology vmsec_topology;
/** @brief A placement planner: topology, reserved CPUs and per-domain holdings. Opaque. */
typedef struct vmsec_planner vmsec_planner;
/** @brief The placement planned for one domain. Opaque. */
typedef struct vmsec_placement vmsec_placement;
/** @brief The result of an SMT-sharing audit. Opaque. */
typedef struct vmsec_smt_audit vmsec_smt_audit;

/** @brief How a domain may share physical cores; values are stable. */
typedef enum vmsec_thread_policy {
    VMSEC_THREAD_ISOLATE = 0, /**< Whole cores, unused siblings blocked: never shares a core. */
    VMSEC_THREAD_PREFER = 1,  /**< Pack siblings of whole free cores, fall back to any free CPU. */
    VMSEC_THREAD_REQUIRE = 2  /**< vCPUs on sibling threads of whole free SMT cores. */
} vmsec_thread_policy;

/** @brief Where emulator threads run; values are stable. */
typedef enum vmsec_emulator_policy {
    VMSEC_EMULATOR_SHARE = 0,    /**< On the set of the domain's vCPU CPUs. */
    VMSEC_EMULATOR_DEDICATED = 1 /**< On one more CPU of their own. */
} vmsec_emulator_policy;

/** @brief NUMA fit; values are stable. */
typedef enum vmsec_numa_fit {
    VMSEC_NUMA_FIT_NODE = 0,  /**< Every CPU of the domain on one NUMA node. */
    VMSEC_NUMA_FIT_SPREAD = 1 /**< One node when one has room, else several (ascending). */
} vmsec_numa_fit;

/** @brief Flag for vmsec_planner_hold(): the domain's cores are its alone (siblings blocked). */
#define VMSEC_HOLD_ISOLATE 0x1u

/** @brief Flag for vmsec_planner_load_libvirt(): record loaded domains without blocking the free
 *  siblings of their cores (by default every pinned domain is assumed to want its cores alone). */
#define VMSEC_LOAD_SHARED 0x1u

/** @brief Current version of @ref vmsec_plan_request. */
#define VMSEC_PLAN_REQUEST_VERSION 1u

/** @brief A placement request (the intent). Initialise with #VMSEC_PLAN_REQUEST_INIT or
 *  vmsec_plan_request_init(), then set the fields. */
typedef struct vmsec_plan_request {
    unsigned int version;      /**< #VMSEC_PLAN_REQUEST_VERSION. */
    unsigned int vcpus;        /**< Number of vCPUs, 1 .. #VMSEC_PROFILE_MAX_CPUS. */
    int thread_policy;         /**< A @ref vmsec_thread_policy (default isolate). */
    int emulator;              /**< A @ref vmsec_emulator_policy (default share). */
    int numa_fit;              /**< A @ref vmsec_numa_fit (default node). */
    const char *reserved_cpus; /**< CPUs this request must not use besides the planner's
                                    reserved set (list syntax `0-1`), or NULL. */
} vmsec_plan_request;

/** @brief Static initialiser for a @ref vmsec_plan_request with 0 vCPUs (to be set), isolate,
 *  shared emulator, one NUMA node and nothing extra reserved. */
#define VMSEC_PLAN_REQUEST_INIT \
    { VMSEC_PLAN_REQUEST_VERSION, 0u, VMSEC_THREAD_ISOLATE, VMSEC_EMULATOR_SHARE, VMSEC_NUMA_FIT_NODE, NULL }

/**
 * @brief Initialises a request to the defaults of #VMSEC_PLAN_REQUEST_INIT.
 * @param req The request.
 * @param version #VMSEC_PLAN_REQUEST_VERSION (the version the caller was built with).
 * @return 0, or #VMSEC_EINVAL (NULL or an unknown version).
 */
VMSEC_EXPORT int vmsec_plan_request_init(vmsec_plan_request *req, unsigned int version);

/* ---- topology -------------------------------------------------------------------------------- */

/**
 * @brief Creates an empty topology, to be filled with vmsec_topology_add_cpu().
 * @param[out] out Receives the topology; free it with vmsec_topology_free().
 * @return 0, #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_topology_new(vmsec_topology **out);

/**
 * @brief Frees a topology.
 * @param t The topology, or NULL.
 */
VMSEC_EXPORT void vmsec_topology_free(vmsec_topology *t);

/**
 * @brief Adds one CPU. CPUs with the same @p socket, @p die and @p core are SMT siblings.
 * @param t The topology.
 * @param cpu CPU id, 0 .. #VMSEC_PROFILE_MAX_CPUS-1, not yet added.
 * @param node NUMA node id, 0 .. #VMSEC_PROFILE_MAX_CPUS-1.
 * @param socket Socket (package) id.
 * @param die Die id within the socket (0 if the host has one die per socket).
 * @param core Core id within the die.
 * @param online 1 if the CPU is online, 0 if offline (never used, but its core is still known).
 * @return 0; #VMSEC_EEXIST if @p cpu was added before; #VMSEC_EFORMAT if siblings of one core
 *         are given different nodes; #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_topology_add_cpu(vmsec_topology *t, unsigned int cpu, unsigned int node, unsigned int socket,
                                        unsigned int die, unsigned int core, int online);

/**
 * @brief Parses the text form of a topology.
 *
 * One CPU per line, `cpu <id> node <n> socket <s> [die <d>] core <c> [offline]`; blank lines
 * and lines starting with `#` are ignored. vmsec_topology_to_text() writes this form.
 * @code
 * # 2 cores, SMT-2, one node
 * cpu 0 node 0 socket 0 core 0
 * cpu 1 node 0 socket 0 core 1
 * cpu 2 node 0 socket 0 core 0
 * cpu 3 node 0 socket 0 core 1 offline
 * @endcode
 *
 * @param[out] out Receives the topology; NULL on failure.
 * @param text The text (need not be NUL-terminated).
 * @param len Its length.
 * @param name Name used in messages (`topology <name>:<line>: ...`), or NULL for `<string>`.
 * @return 0; #VMSEC_EFORMAT naming the line; #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_topology_parse(vmsec_topology **out, const char *text, size_t len, const char *name);

/**
 * @brief Reads the topology from libvirt capabilities XML (`virsh capabilities`).
 *
 * Uses `<host><topology><cells><cell id><cpus><cpu id socket_id die_id core_id siblings>`.
 * CPUs listed without `socket_id` (libvirt's form for offline CPUs) are recorded offline, in a
 * core of their own. When `siblings` names CPUs that do not share socket, die and core ids, the
 * sibling list wins (they are put in one core).
 *
 * @param[out] out Receives the topology; NULL on failure.
 * @param xml The XML (need not be NUL-terminated).
 * @param len Its length.
 * @return 0; #VMSEC_EFORMAT (not XML, no host topology, bad attribute); #VMSEC_EINVAL;
 *         #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_topology_from_capabilities(vmsec_topology **out, const char *xml, size_t len);

/**
 * @brief Reads the host topology through a libvirt connection (virConnectGetCapabilities).
 * @param[out] out Receives the topology; NULL on failure.
 * @param uri libvirt URI such as `qemu:///system` or `test:///default`, or NULL for libvirt's
 *        default (`LIBVIRT_DEFAULT_URI`, then the configured default). Opened read-only.
 * @return 0; #VMSEC_ELIBVIRT; #VMSEC_EFORMAT; #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_topology_from_libvirt(vmsec_topology **out, const char *uri);

/**
 * @brief Writes the text form (see vmsec_topology_parse()), CPUs in ascending id order.
 * @param t The topology.
 * @param buf Destination, or NULL to learn the size.
 * @param size Size of @p buf.
 * @param[out] needed If not NULL, receives the text length plus 1.
 * @return 0; #VMSEC_ETOOBIG if @p size is too small (nothing written); #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_topology_to_text(const vmsec_topology *t, char *buf, size_t size, size_t *needed);

/**
 * @brief Counts what the topology holds.
 * @param t The topology.
 * @param[out] online_cpus If not NULL, receives the number of online CPUs.
 * @param[out] cores If not NULL, receives the number of physical cores.
 * @param[out] nodes If not NULL, receives the number of NUMA nodes.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_topology_counts(const vmsec_topology *t, unsigned int *online_cpus, unsigned int *cores,
                                       unsigned int *nodes);

/**
 * @brief Writes the SMT siblings of a CPU (its core's CPUs, itself included) as a CPU list.
 * @param t The topology.
 * @param cpu The CPU id.
 * @param buf Destination (#VMSEC_PROFILE_CPUSET_TEXT_MAX bytes always suffice).
 * @param size Size of @p buf.
 * @return 0; #VMSEC_ENOTFOUND if the topology has no such CPU; #VMSEC_ETOOBIG; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_topology_siblings(const vmsec_topology *t, unsigned int cpu, char *buf, size_t size);

/* ---- planner --------------------------------------------------------------------------------- */

/**
 * @brief Creates a planner for a topology (copied: the caller may free @p t afterwards).
 * @param[out] out Receives the planner; free it with vmsec_planner_free().
 * @param t The topology; it must have at least one online CPU.
 * @return 0; #VMSEC_EHOST if no CPU is online; #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_planner_new(vmsec_planner **out, const vmsec_topology *t);

/**
 * @brief Frees a planner.
 * @param p The planner, or NULL.
 */
VMSEC_EXPORT void vmsec_planner_free(vmsec_planner *p);

/**
 * @brief Sets the CPUs reserved for the host (never given to a domain), replacing the previous set.
 * @param p The planner.
 * @param cpus A CPU list such as `0-1,128-129`, or NULL or "" for none. CPUs the topology does
 *        not have are an error.
 * @return 0; #VMSEC_EFORMAT; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_planner_reserve(vmsec_planner *p, const char *cpus);

/**
 * @brief Records CPUs already held by a domain (added to what it holds so far).
 * @param p The planner.
 * @param domain The domain name (any non-empty string).
 * @param cpus The CPUs it runs on (vCPU, emulator and I/O thread pins together).
 * @param flags 0, or #VMSEC_HOLD_ISOLATE to block the other threads of its cores.
 * @return 0; #VMSEC_EFORMAT (bad list, CPU not in the topology); #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_planner_hold(vmsec_planner *p, const char *domain, const char *cpus, unsigned int flags);

/**
 * @brief Forgets what a domain holds, freeing its CPUs (and the siblings it blocked).
 * @param p The planner.
 * @param domain The domain name.
 * @return 0; #VMSEC_ENOTFOUND if it holds nothing; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_planner_release(vmsec_planner *p, const char *domain);

/**
 * @brief Writes the CPUs a domain holds (used, not blocked) as a CPU list.
 * @param p The planner.
 * @param domain The domain name.
 * @param buf Destination (#VMSEC_PROFILE_CPUSET_TEXT_MAX bytes always suffice).
 * @param size Size of @p buf.
 * @return 1 if the domain holds CPUs, 0 if not (buf gets ""); #VMSEC_ETOOBIG; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_planner_held(const vmsec_planner *p, const char *domain, char *buf, size_t size);

/**
 * @brief Writes the CPUs free for any domain (online, not reserved, not held, not blocked).
 * @param p The planner.
 * @param buf Destination (#VMSEC_PROFILE_CPUSET_TEXT_MAX bytes always suffice).
 * @param size Size of @p buf.
 * @return 0; #VMSEC_ETOOBIG; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_planner_free_cpus(const vmsec_planner *p, char *buf, size_t size);

/**
 * @brief Records the pins of every domain defined or running on a libvirt connection.
 *
 * For each domain, the union of the CPU sets of its `<vcpu cpuset>`, `<vcpupin>`,
 * `<emulatorpin>` and `<iothreadpin>` elements, in both the live and the persistent definition,
 * replaces what the planner held for that name. Domains with no pin at all float over every CPU
 * and cannot be planned around; they are skipped (confine them with host-level CPU sets).
 * @param p The planner.
 * @param uri libvirt URI, or NULL for libvirt's default; opened read-only.
 * @param flags 0 (each loaded domain blocks the free siblings of its cores) or #VMSEC_LOAD_SHARED.
 * @return 0; #VMSEC_ELIBVIRT; #VMSEC_EFORMAT (a pin names a CPU the topology does not have);
 *         #VMSEC_EINVAL; #VMSEC_ENOMEM. On failure the planner is unchanged.
 */
VMSEC_EXPORT int vmsec_planner_load_libvirt(vmsec_planner *p, const char *uri, unsigned int flags);

/**
 * @brief Plans a placement for a domain without recording it.
 *
 * A domain that already holds CPUs is planned as if it held none, preferring its current cores.
 * @param p The planner (unchanged on return).
 * @param domain The domain name.
 * @param req The request.
 * @param[out] out Receives the placement; free it with vmsec_placement_free().
 * @return 0; #VMSEC_EHOST with the shortfall in vmsec_error_last(); #VMSEC_EFORMAT (bad
 *         reserved_cpus); #VMSEC_EINVAL (bad request); #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_planner_plan(vmsec_planner *p, const char *domain, const vmsec_plan_request *req,
                                    vmsec_placement **out);

/**
 * @brief Plans a placement and records it as the domain's holding (replacing what it held).
 * @param p The planner; unchanged on failure.
 * @param domain The domain name.
 * @param req The request.
 * @param[out] out If not NULL, receives the placement; free it with vmsec_placement_free().
 * @return As vmsec_planner_plan().
 */
VMSEC_EXPORT int vmsec_planner_place(vmsec_planner *p, const char *domain, const vmsec_plan_request *req,
                                     vmsec_placement **out);

/**
 * @brief Plans (and records) the placement for a profile that states intent, and returns the
 *        concrete profile to apply.
 *
 * The request comes from the profile keys `vcpus`, `cpu.placement = dedicated`,
 * `cpu.thread_policy`, `cpu.emulator`, `numa.fit` and `host.reserved_cpus` (see
 * `doc/profile-format.md`); the concrete profile is made by vmsec_placement_to_profile().
 * @param p The planner; unchanged on failure.
 * @param domain The domain name.
 * @param intent The profile; it must set `cpu.placement = dedicated` and `vcpus`.
 * @param[out] concrete Receives the concrete profile; free it with vmsec_profile_free().
 * @param[out] placement If not NULL, receives the placement.
 * @return As vmsec_planner_plan(); #VMSEC_EFORMAT if the profile states no intent or is invalid.
 */
VMSEC_EXPORT int vmsec_planner_place_profile(vmsec_planner *p, const char *domain, const vmsec_profile *intent,
                                             vmsec_profile **concrete, vmsec_placement **placement);

/**
 * @brief Reports every pair of domains whose CPUs share a physical core (SMT siblings).
 * @param p The planner.
 * @param[out] out Receives the audit; free it with vmsec_smt_audit_free().
 * @return 0; #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_planner_audit(const vmsec_planner *p, vmsec_smt_audit **out);

/* ---- placement -------------------------------------------------------------------------------- */

/**
 * @brief Frees a placement.
 * @param pl The placement, or NULL.
 */
VMSEC_EXPORT void vmsec_placement_free(vmsec_placement *pl);

/**
 * @brief Number of vCPUs placed.
 * @param pl The placement.
 * @param[out] n Receives the count.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_placement_vcpu_count(const vmsec_placement *pl, unsigned int *n);

/**
 * @brief The host CPU of one vCPU.
 * @param pl The placement.
 * @param vcpu The vCPU number, 0 .. count-1.
 * @param[out] cpu Receives the host CPU id.
 * @return 0; #VMSEC_ENOTFOUND if @p vcpu is out of range; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_placement_vcpu_cpu(const vmsec_placement *pl, unsigned int vcpu, unsigned int *cpu);

/** @brief Which CPU set of a placement vmsec_placement_cpuset() writes; values are stable. */
typedef enum vmsec_placement_set {
    VMSEC_PLACEMENT_EMULATOR = 0, /**< The emulator threads' CPUs. */
    VMSEC_PLACEMENT_USED = 1,     /**< Every CPU the domain runs on (vCPUs and emulator). */
    VMSEC_PLACEMENT_BLOCKED = 2,  /**< Sibling threads kept free for the domain's isolation. */
    VMSEC_PLACEMENT_NODES = 3     /**< The NUMA nodes of the used CPUs. */
} vmsec_placement_set;

/**
 * @brief Writes one CPU (or node) set of a placement as a list such as `4-5,132`.
 * @param pl The placement.
 * @param which A @ref vmsec_placement_set.
 * @param buf Destination (#VMSEC_PROFILE_CPUSET_TEXT_MAX bytes always suffice).
 * @param size Size of @p buf.
 * @return 0; #VMSEC_ETOOBIG; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_placement_cpuset(const vmsec_placement *pl, int which, char *buf, size_t size);

/**
 * @brief Writes the placement as profile lines (`vcpu.0.pin = 4`, ..., `emulator.pin = 4-5`).
 * @param pl The placement.
 * @param buf Destination, or NULL to learn the size.
 * @param size Size of @p buf.
 * @param[out] needed If not NULL, receives the text length plus 1.
 * @return 0; #VMSEC_ETOOBIG (nothing written); #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_placement_to_text(const vmsec_placement *pl, char *buf, size_t size, size_t *needed);

/**
 * @brief Turns a profile stating intent into a concrete profile for a placement.
 *
 * The copy of @p intent loses the intent keys (`cpu.placement`, `cpu.thread_policy`,
 * `cpu.emulator`, `numa.fit`, `host.reserved_cpus`) and gains `vcpus`, one `vcpu.N.pin` per
 * vCPU and `emulator.pin`. When the placement lies on one NUMA node and the profile sets neither
 * `numa.mode` nor `numa.nodeset`, it also gains `numa.mode = strict` and `numa.nodeset = <node>`
 * so memory stays local to the CPUs.
 * @param pl The placement.
 * @param intent The profile (may also be one without intent keys).
 * @param[out] out Receives the concrete profile; free it with vmsec_profile_free().
 * @return 0; #VMSEC_EFORMAT if the profile pins CPUs itself or its `vcpus` differs from the
 *         placement; #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_placement_to_profile(const vmsec_placement *pl, const vmsec_profile *intent,
                                            vmsec_profile **out);

/* ---- SMT audit ------------------------------------------------------------------------------- */

/**
 * @brief Frees an audit.
 * @param a The audit, or NULL.
 */
VMSEC_EXPORT void vmsec_smt_audit_free(vmsec_smt_audit *a);

/**
 * @brief Number of findings (domain pairs sharing one core; one finding per pair and core).
 * @param a The audit.
 * @param[out] n Receives the count.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_smt_audit_count(const vmsec_smt_audit *a, size_t *n);

/**
 * @brief One finding. Findings are ordered by core (as the planner orders cores), then by the
 *        names of the domains; @p domain_a sorts before @p domain_b.
 * @param a The audit.
 * @param index 0 .. count-1.
 * @param[out] domain_a Receives one domain's name (valid until the audit is freed).
 * @param[out] domain_b Receives the other domain's name.
 * @param[out] core_cpu Receives the core's lowest CPU id, which names the core.
 * @return 0; #VMSEC_ENOTFOUND if @p index is out of range; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_smt_audit_get(const vmsec_smt_audit *a, size_t index, const char **domain_a,
                                     const char **domain_b, unsigned int *core_cpu);

/**
 * @brief Writes the findings as text, one line each:
 *        `domains 'a' and 'b' share core 3 (node 0, socket 0, CPUs 3,131)`.
 * @param a The audit.
 * @param buf Destination, or NULL to learn the size.
 * @param size Size of @p buf.
 * @param[out] needed If not NULL, receives the text length plus 1.
 * @return 0; #VMSEC_ETOOBIG (nothing written); #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_smt_audit_to_text(const vmsec_smt_audit *a, char *buf, size_t size, size_t *needed);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_PLANNER_H */
