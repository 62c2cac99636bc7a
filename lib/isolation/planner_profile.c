/* SPDX-License-Identifier: ISC */
/* Planner and profiles: the request a profile states as intent, and the concrete profile (pins)
 * a placement turns it into. Intent keys are read through the profile's key API, so this file
 * depends only on the profile format, not on the model's layout. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "isolation/planner_internal.h"
#include "isolation/profile_internal.h"
#include "vmsec/profile.h"

static const char *const intent_keys[] = {"cpu.placement", "cpu.thread_policy", "cpu.emulator", "numa.fit",
                                          "host.reserved_cpus"};

/* Reads a key's value; 1 if set, 0 if unset or unknown to this profile format. */
static int get(const vmsec_profile *p, const char *key, char *buf, size_t size)
{
    int rc = vmsec_profile_get(p, key, buf, size);
    return rc == VMSEC_ENOTFOUND ? 0 : rc;
}

static int pick(const char *key, const char *v, const char *const *names, int count, int *out)
{
    for (int i = 0; i < count; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return vmsec__error(VMSEC_EFORMAT, "profile: %s: unknown value '%s'", key, v);
}

/* The request a profile states, into req (reserved text into res). 1 if the profile states
 * intent (`cpu.placement = dedicated`), 0 if not. */
static int request_of(const vmsec_profile *prof, vmsec_plan_request *req, char *res, size_t ressize)
{
    static const char *const policies[] = {"isolate", "prefer", "require"};
    static const char *const emulators[] = {"share", "dedicated"};
    static const char *const fits[] = {"node", "spread"};
    char v[64];
    unsigned int n;
    int rc;
    vmsec_plan_request_init(req, VMSEC_PLAN_REQUEST_VERSION);
    if ((rc = get(prof, "cpu.placement", v, sizeof(v))) <= 0)
        return rc;
    if (strcmp(v, "dedicated") != 0)
        return vmsec__error(VMSEC_EFORMAT, "profile: cpu.placement: unknown value '%s'", v);
    if ((rc = vmsec_profile_get_vcpus(prof, &n)) < 0)
        return rc;
    if (rc == 0)
        return vmsec__error(VMSEC_EFORMAT, "profile: cpu.placement = dedicated needs vcpus");
    req->vcpus = n;
    if ((rc = get(prof, "cpu.thread_policy", v, sizeof(v))) < 0 ||
        (rc > 0 && (rc = pick("cpu.thread_policy", v, policies, 3, &req->thread_policy)) < 0))
        return rc;
    if ((rc = get(prof, "cpu.emulator", v, sizeof(v))) < 0 ||
        (rc > 0 && (rc = pick("cpu.emulator", v, emulators, 2, &req->emulator)) < 0))
        return rc;
    if ((rc = get(prof, "numa.fit", v, sizeof(v))) < 0 || (rc > 0 && (rc = pick("numa.fit", v, fits, 2, &req->numa_fit)) < 0))
        return rc;
    if ((rc = get(prof, "host.reserved_cpus", res, ressize)) < 0)
        return rc;
    req->reserved_cpus = rc > 0 ? res : NULL;
    return 1;
}

int vmsec_placement_to_profile(const vmsec_placement *pl, const vmsec_profile *intent, vmsec_profile **out)
{
    vmsec_profile *c = NULL;
    char *set;
    unsigned int n;
    int rc;
    if (!pl || !intent || !out)
        return vmsec__error(VMSEC_EINVAL, "placement: NULL argument");
    *out = NULL;
    set = malloc(VMSEC_CPUSET_TEXT_MAX);
    if (!set)
        return vmsec__error(VMSEC_ENOMEM, "placement: out of memory");
    if (vmsec_profile_get_vcpus(intent, &n) == 1 && n != pl->nvcpus) {
        rc = vmsec__error(VMSEC_EFORMAT, "placement: the profile has vcpus = %u but the placement has %u vCPUs", n, pl->nvcpus);
        goto out;
    }
    if (vmsec_profile_get(intent, "emulator.pin", set, VMSEC_CPUSET_TEXT_MAX) == 1) {
        rc = vmsec__error(VMSEC_EFORMAT, "placement: the profile pins the emulator itself (emulator.pin = %s)", set);
        goto out;
    }
    if (intent->n_vcpu_pins) {
        unsigned int i = intent->vcpu_pins[0].id;
        vmsec__cpuset_format(&intent->vcpu_pins[0].cpus, set, VMSEC_CPUSET_TEXT_MAX);
        rc = vmsec__error(VMSEC_EFORMAT, "placement: the profile pins vCPU %u itself (vcpu.%u.pin = %s)", i, i, set);
        goto out;
    }
    if ((rc = vmsec_profile_dup(intent, &c)) < 0)
        goto out;
    for (size_t k = 0; k < VMSEC_ARRAY_LEN(intent_keys); k++)
        if ((rc = vmsec_profile_unset(c, intent_keys[k])) < 0 && rc != VMSEC_ENOTFOUND)
            goto out;
    if ((rc = vmsec_profile_set_vcpus(c, pl->nvcpus)) < 0)
        goto out;
    for (unsigned int i = 0; i < pl->nvcpus; i++) {
        snprintf(set, VMSEC_CPUSET_TEXT_MAX, "%u", pl->vcpu[i]);
        if ((rc = vmsec_profile_set_vcpu_pin(c, i, set)) < 0)
            goto out;
    }
    vmsec__cpuset_format(&pl->emulator, set, VMSEC_CPUSET_TEXT_MAX);
    if ((rc = vmsec_profile_set_emulator_pin(c, set)) < 0)
        goto out;
    if (vmsec__cpuset_count(&pl->nodes) == 1 && vmsec_profile_get(intent, "numa.mode", set, VMSEC_CPUSET_TEXT_MAX) == 0 &&
        vmsec_profile_get(intent, "numa.nodeset", set, VMSEC_CPUSET_TEXT_MAX) == 0) {
        vmsec__cpuset_format(&pl->nodes, set, VMSEC_CPUSET_TEXT_MAX);
        if ((rc = vmsec_profile_set(c, "numa.mode", "strict")) < 0 || (rc = vmsec_profile_set(c, "numa.nodeset", set)) < 0)
            goto out;
    }
    rc = vmsec_profile_validate(c);
out:
    free(set);
    if (rc < 0)
        vmsec_profile_free(c);
    else
        *out = c;
    return rc;
}

int vmsec__profile_refuse_intent(const struct vmsec_profile *p)
{
    const struct vmsec__u64 *placement = &p->intent[VMSEC__INTENT_PLACEMENT];
    if (!placement->set)
        return 0;
    return vmsec__profile_error(VMSEC_EFORMAT, p, placement->line, "cpu.placement",
                                "the profile states placement intent: plan it into pins first "
                                "(vmsec_planner_place_profile, or vmsec-profile apply -c URI)");
}

int vmsec_planner_place_profile(vmsec_planner *p, const char *domain, const vmsec_profile *intent,
                                vmsec_profile **concrete, vmsec_placement **placement)
{
    vmsec_plan_request req;
    vmsec_placement *pl = NULL;
    char *res;
    int rc;
    if (!p || !intent || !concrete)
        return vmsec__error(VMSEC_EINVAL, "planner: NULL argument");
    *concrete = NULL;
    if (placement)
        *placement = NULL;
    if ((rc = vmsec_profile_validate(intent)) < 0)
        return rc;
    res = malloc(VMSEC_CPUSET_TEXT_MAX);
    if (!res)
        return vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    rc = request_of(intent, &req, res, VMSEC_CPUSET_TEXT_MAX);
    if (rc == 0)
        rc = vmsec__error(VMSEC_EFORMAT, "profile: states no placement intent (cpu.placement = dedicated)");
    if (rc < 0)
        goto out;
    /* Plan, derive the concrete profile, and only then record the placement. */
    if ((rc = vmsec_planner_plan(p, domain, &req, &pl)) < 0 || (rc = vmsec_placement_to_profile(pl, intent, concrete)) < 0)
        goto out;
    vmsec_placement_free(pl);
    pl = NULL;
    if ((rc = vmsec_planner_place(p, domain, &req, placement ? &pl : NULL)) < 0) {
        vmsec_profile_free(*concrete);
        *concrete = NULL;
        goto out;
    }
    if (placement) {
        *placement = pl;
        pl = NULL;
    }
out:
    vmsec_placement_free(pl);
    free(res);
    return rc;
}
