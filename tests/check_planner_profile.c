/* SPDX-License-Identifier: ISC */
/* check_planner cases on profiles: a placement written into a profile, the intent keys (parse,
 * serialise, contradictions), placing a profile end to end, and the domain API's refusal of
 * unplanned intent. */
#include "check_planner.h"

/* ---- profiles ---------------------------------------------------------------------------------- */

static vmsec_profile *profile_of(const char *text)
{
    vmsec_profile *pr;
    ck_assert_msg(vmsec_profile_parse(&pr, text, strlen(text), "intent.conf") == 0, "%s", vmsec_error_last());
    return pr;
}

static const char *profile_text(const vmsec_profile *pr)
{
    static char out[4096];
    ck_assert_int_eq(vmsec_profile_to_text(pr, out, sizeof(out), NULL), 0);
    return out;
}

START_TEST(placement_to_profile)
{
    vmsec_planner *p = mk_smt(2, 4, 2, 1);
    vmsec_plan_request r = VMSEC_PLAN_REQUEST_INIT;
    vmsec_placement *pl;
    vmsec_profile *in, *out = (vmsec_profile *)1;
    r.vcpus = 2;
    r.emulator = DED;
    ck_assert_int_eq(vmsec_planner_place(p, "web", &r, &pl), 0);
    in = profile_of("name = web\nmemory.hard_limit = 1G\nmemory.locked = yes\n");
    ck_assert_int_eq(vmsec_placement_to_profile(pl, in, &out), 0);
    ck_assert_str_eq(profile_text(out), "name = web\nvcpus = 2\nvcpu.0.pin = 0\nvcpu.1.pin = 8\nemulator.pin = 1\n"
                                        "numa.mode = strict\nnuma.nodeset = 0\nmemory.hard_limit = 1G\n"
                                        "memory.locked = yes\n");
    vmsec_profile_free(out);
    vmsec_profile_free(in);
    /* a profile that pins CPUs itself or disagrees on vcpus is refused */
    in = profile_of("vcpus = 2\nvcpu.1.pin = 5\n");
    ck_assert_int_eq(vmsec_placement_to_profile(pl, in, &out), VMSEC_EFORMAT);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(vmsec_error_last(), "placement: the profile pins vCPU 1 itself (vcpu.1.pin = 5)");
    vmsec_profile_free(in);
    in = profile_of("vcpus = 3\n");
    ck_assert_int_eq(vmsec_placement_to_profile(pl, in, &out), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "placement: the profile has vcpus = 3 but the placement has 2 vCPUs");
    vmsec_profile_free(in);
    /* numa settings of the profile are kept as they are */
    in = profile_of("numa.mode = interleave\nnuma.nodeset = 0-1\n");
    ck_assert_int_eq(vmsec_placement_to_profile(pl, in, &out), 0);
    ck_assert_str_eq(profile_text(out), "vcpus = 2\nvcpu.0.pin = 0\nvcpu.1.pin = 8\nemulator.pin = 1\n"
                                        "numa.mode = interleave\nnuma.nodeset = 0-1\n");
    vmsec_profile_free(out);
    vmsec_profile_free(in);
    vmsec_placement_free(pl);
    vmsec_planner_free(p);
}
END_TEST

START_TEST(place_profile_without_intent_refused)
{
    vmsec_planner *p = mk_smt(1, 2, 2, 1);
    vmsec_profile *in = profile_of("vcpus = 2\n"), *out = (vmsec_profile *)1;
    ck_assert_int_eq(vmsec_planner_place_profile(p, "a", in, &out, NULL), VMSEC_EFORMAT);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(vmsec_error_last(), "profile: states no placement intent (cpu.placement = dedicated)");
    vmsec_profile_free(in);
    vmsec_planner_free(p);
}
END_TEST

/* ---- profile keys for intent --------------------------------------------------------------- */

static const char intent_text[] = "name = web\n"
                                  "host.reserved_cpus = 0\n"
                                  "numa.fit = node\n"
                                  "cpu.emulator = dedicated\n"
                                  "cpu.thread_policy = isolate\n"
                                  "cpu.placement = dedicated\n"
                                  "vcpus = 3\n"
                                  "memory.hard_limit = 2G\n";

START_TEST(intent_keys_parse_and_serialise)
{
    vmsec_profile *p = profile_of(intent_text), *q;
    char v[64];
    ck_assert_str_eq(profile_text(p), "name = web\nvcpus = 3\ncpu.placement = dedicated\ncpu.thread_policy = isolate\n"
                                      "cpu.emulator = dedicated\nnuma.fit = node\nhost.reserved_cpus = 0\n"
                                      "memory.hard_limit = 2G\n");
    q = profile_of(profile_text(p));
    ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
    ck_assert_int_eq(vmsec_profile_get(p, "cpu.thread_policy", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "isolate");
    ck_assert_int_eq(vmsec_profile_set(q, "cpu.thread_policy", "require"), 0);
    ck_assert_int_eq(vmsec_profile_equal(p, q), 0);
    ck_assert_int_eq(vmsec_profile_set(q, "numa.fit", "everywhere"), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile intent.conf: numa.fit: 'everywhere' is not one of node, spread");
    ck_assert_int_eq(vmsec_profile_unset(q, "host.reserved_cpus"), 0);
    ck_assert_int_eq(vmsec_profile_get(q, "host.reserved_cpus", v, sizeof(v)), 0);
    vmsec_profile_free(p);
    vmsec_profile_free(q);
}
END_TEST

static void intent_fails(const char *text, const char *msg)
{
    vmsec_profile *p = (vmsec_profile *)1;
    ck_assert_int_eq(vmsec_profile_parse(&p, text, strlen(text), "i.conf"), VMSEC_EFORMAT);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(vmsec_error_last(), msg);
}

START_TEST(intent_keys_refused_when_contradictory)
{
    intent_fails("vcpus = 2\ncpu.placement = dedicated\ncpu.thread_policy = sometimes\n",
                 "profile i.conf:3: cpu.thread_policy: 'sometimes' is not one of isolate, prefer, require");
    intent_fails("vcpus = 2\ncpu.placement = shared\n", "profile i.conf:2: cpu.placement: 'shared' is not one of dedicated");
    intent_fails("cpu.placement = dedicated\n",
                 "profile i.conf:1: cpu.placement: requires vcpus (the number of vCPUs to place)");
    intent_fails("vcpus = 2\ncpu.placement = dedicated\nvcpu.1.pin = 3\n",
                 "profile i.conf:3: vcpu.1.pin contradicts cpu.placement = dedicated (the planner chooses the pins)");
    intent_fails("vcpus = 2\nemulator.pin = 0\ncpu.placement = dedicated\n",
                 "profile i.conf:2: emulator.pin: contradicts cpu.placement = dedicated (the planner chooses the pins)");
    intent_fails("vcpus = 2\ncpu.emulator = share\nhost.reserved_cpus = 0-1\n",
                 "profile i.conf:2: cpu.emulator: requires cpu.placement = dedicated\n"
                 "profile i.conf:3: host.reserved_cpus: requires cpu.placement = dedicated");
}
END_TEST

START_TEST(place_profile_end_to_end)
{
    vmsec_planner *p = mk_smt(2, 4, 2, 1); /* node 0: cores {0,8} {1,9} {2,10} {3,11} */
    vmsec_profile *in = profile_of(intent_text), *out = NULL, *again;
    vmsec_placement *pl;
    char held[64];
    ck_assert_int_eq(vmsec_planner_place_profile(p, "web", in, &out, &pl), 0);
    /* CPU 0 is reserved by the profile: core 0 is not whole free */
    ck_assert_str_eq(view(pl), "v=1,9,2 e=10 b=");
    ck_assert_str_eq(profile_text(out), "name = web\nvcpus = 3\nvcpu.0.pin = 1\nvcpu.1.pin = 9\nvcpu.2.pin = 2\n"
                                        "emulator.pin = 10\nnuma.mode = strict\nnuma.nodeset = 0\n"
                                        "memory.hard_limit = 2G\n");
    ck_assert_int_eq(vmsec_planner_held(p, "web", held, sizeof(held)), 1);
    ck_assert_str_eq(held, "1-2,9-10");
    /* planning the same intent again keeps the pins */
    ck_assert_int_eq(vmsec_planner_place_profile(p, "web", in, &again, NULL), 0);
    ck_assert_int_eq(vmsec_profile_equal(out, again), 1);
    vmsec_profile_free(again);
    vmsec_profile_free(out);
    vmsec_placement_free(pl);
    vmsec_profile_free(in);
    /* a refusal records nothing and returns no profile */
    in = profile_of("vcpus = 9\ncpu.placement = dedicated\n");
    out = (vmsec_profile *)1;
    ck_assert_int_eq(vmsec_planner_place_profile(p, "big", in, &out, NULL), VMSEC_EHOST);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(vmsec_error_last(), "cannot place domain 'big': needs 9 CPUs on whole free cores of one NUMA node "
                                         "(9 vCPUs, thread policy isolate); node 0 has 4 (2 cores), node 1 has 8 (4 cores)");
    ck_assert_int_eq(vmsec_planner_held(p, "big", held, sizeof(held)), 0);
    vmsec_profile_free(in);
    /* spread over two nodes: no numa.nodeset is added */
    in = profile_of("vcpus = 10\ncpu.placement = dedicated\nnuma.fit = spread\ncpu.thread_policy = prefer\n");
    ck_assert_int_eq(vmsec_planner_place_profile(p, "wide", in, &out, NULL), 0);
    ck_assert_str_eq(profile_text(out), "vcpus = 10\nvcpu.0.pin = 0\nvcpu.1.pin = 8\nvcpu.2.pin = 3\nvcpu.3.pin = 11\n"
                                        "vcpu.4.pin = 4\nvcpu.5.pin = 12\nvcpu.6.pin = 5\nvcpu.7.pin = 13\n"
                                        "vcpu.8.pin = 6\nvcpu.9.pin = 14\nemulator.pin = 0,3-6,8,11-14\n");
    vmsec_profile_free(out);
    vmsec_profile_free(in);
    vmsec_planner_free(p);
}
END_TEST

/* Rendering, applying, verifying or host-checking an unplanned intent profile is refused: it would
 * otherwise go through without any pin. */
START_TEST(domain_api_refuses_unplanned_intent)
{
    static const char msg[] = "profile intent.conf:6: cpu.placement: the profile states placement intent: plan it "
                              "into pins first (vmsec_planner_place_profile, or vmsec-profile apply -c URI)";
    vmsec_profile *in = profile_of(intent_text);
    vmsec_domain *d;
    vmsec_report *r = NULL;
    char *out = NULL;
    ck_assert_int_eq(vmsec_domain_render(in, "<domain type='kvm'><name>x</name></domain>", &out), VMSEC_EFORMAT);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(vmsec_error_last(), msg);
    ck_assert_int_eq(vmsec_domain_open("test:///default", "test", &d), 0);
    ck_assert_int_eq(vmsec_domain_apply(d, in, VMSEC_AFFECT_LIVE, &r), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), msg);
    vmsec_report_free(r);
    r = NULL;
    ck_assert_int_eq(vmsec_domain_verify(d, in, 0, &r), VMSEC_EFORMAT);
    vmsec_report_free(r);
    r = NULL;
    ck_assert_int_eq(vmsec_host_check("test:///default", in, 0, &r), VMSEC_EFORMAT);
    vmsec_report_free(r);
    vmsec_domain_free(d);
    vmsec_profile_free(in);
}
END_TEST

TCase *planner_profile_tcase(void)
{
    TCase *tc = tcase_create("profile");
    tcase_add_test(tc, placement_to_profile);
    tcase_add_test(tc, place_profile_without_intent_refused);
    tcase_add_test(tc, intent_keys_parse_and_serialise);
    tcase_add_test(tc, intent_keys_refused_when_contradictory);
    tcase_add_test(tc, place_profile_end_to_end);
    tcase_add_test(tc, domain_api_refuses_unplanned_intent);
    return tc;
}
