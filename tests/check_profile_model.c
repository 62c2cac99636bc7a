/* SPDX-License-Identifier: ISC */
/* The internal profile model that the domain code reads directly: set flags, source lines,
 * values in model units, sorted pins, device lookups, message formats. */
#include <stdint.h>
#include <sys/stat.h>

#include <vmsec.h>

#include "isolation/profile_internal.h"

#include "testutil.h"

static struct vmsec_profile *parse(const char *text)
{
    vmsec_profile *p = NULL;
    ck_assert_msg(vmsec_profile_parse(&p, text, strlen(text), "m.conf") == 0, "%s", vmsec_error_last());
    return p;
}

static const char *fmt(const vmsec_cpuset *s)
{
    static char buf[VMSEC_CPUSET_TEXT_MAX];
    vmsec__cpuset_format(s, buf, sizeof(buf));
    return buf;
}

START_TEST(fields_carry_values_and_lines)
{
    struct vmsec_profile *p = parse("# header\n"
                                    "name = m\n"                            /* 2 */
                                    "vcpu.3.pin = 4-5\n"                    /* 3 */
                                    "vcpu.1.pin = 2\n"                      /* 4 */
                                    "iothread.7.pin = 0\n"                  /* 5 */
                                    "cpu.global_quota = -1\n"               /* 6 */
                                    "memory.hard_limit = 2G\n"              /* 7 */
                                    "memory.swap_hard_limit = unlimited\n"  /* 8 */
                                    "memory.hugepages.size = default\n"     /* 9 */
                                    "numa.mode = interleave\n"              /* 10 */
                                    "numa.nodeset = 0-1\n"                  /* 11 */
                                    "blkio.device.4.path = /dev/b\n"        /* 12 */
                                    "blkio.device.4.read_bytes_sec = 1M\n"  /* 13 */
                                    "blkio.device.2.path = /dev/a\n"        /* 14 */
                                    "blkio.device.2.weight = 100\n"         /* 15 */
                                    "memory.nosharepages = no\n");          /* 16 */
    const struct vmsec__blkio_device *d;
    ck_assert_str_eq(p->source, "m.conf");
    ck_assert(p->name.set);
    ck_assert_uint_eq(p->name.line, 2);
    ck_assert_str_eq(p->name.value, "m");
    /* pins sorted by id whatever the order of the text */
    ck_assert_uint_eq(p->n_vcpu_pins, 2);
    ck_assert_uint_eq(p->vcpu_pins[0].id, 1);
    ck_assert_uint_eq(p->vcpu_pins[0].line, 4);
    ck_assert_str_eq(fmt(&p->vcpu_pins[0].cpus), "2");
    ck_assert_uint_eq(p->vcpu_pins[1].id, 3);
    ck_assert_uint_eq(p->vcpu_pins[1].line, 3);
    ck_assert_ptr_eq(vmsec__profile_vcpu_pin(p, 3), &p->vcpu_pins[1]);
    ck_assert_ptr_null(vmsec__profile_vcpu_pin(p, 2));
    ck_assert_uint_eq(vmsec__profile_iothread_pin(p, 7)->line, 5);
    ck_assert(!p->emulator_pin.set);
    /* CPU bandwidth by scope */
    ck_assert(p->cpu_quota[VMSEC_CPU_SCOPE_GLOBAL].set);
    ck_assert_int_eq(p->cpu_quota[VMSEC_CPU_SCOPE_GLOBAL].value, -1);
    ck_assert_uint_eq(p->cpu_quota[VMSEC_CPU_SCOPE_GLOBAL].line, 6);
    ck_assert(!p->cpu_quota[VMSEC_CPU_SCOPE_VCPU].set);
    ck_assert(!p->cpu_period[VMSEC_CPU_SCOPE_GLOBAL].set);
    /* memory in bytes, unlimited and default as documented sentinels */
    ck_assert_uint_eq(p->memory_limit[VMSEC_MEMORY_HARD_LIMIT].value, 2ull << 30);
    ck_assert_uint_eq(p->memory_limit[VMSEC_MEMORY_HARD_LIMIT].line, 7);
    ck_assert_uint_eq(p->memory_limit[VMSEC_MEMORY_SWAP_HARD_LIMIT].value, VMSEC_PROFILE_UNLIMITED);
    ck_assert(!p->memory_limit[VMSEC_MEMORY_SOFT_LIMIT].set);
    ck_assert_uint_eq(p->hugepage_size.value, VMSEC__HUGEPAGE_DEFAULT);
    ck_assert(!p->memory_locked.set);
    ck_assert(p->nosharepages.set);
    ck_assert(!p->nosharepages.value);
    ck_assert_uint_eq(p->nosharepages.line, 16);
    ck_assert_uint_eq(p->numa_mode.value, VMSEC_NUMA_INTERLEAVE);
    ck_assert_str_eq(vmsec__numa_mode_names[p->numa_mode.value], "interleave");
    ck_assert_str_eq(fmt(&p->numa_nodeset.value), "0-1");
    /* devices: labels kept, looked up by path, listed in path order */
    ck_assert_uint_eq(p->n_blkio_devices, 2);
    d = vmsec__profile_blkio_device(p, "/dev/b");
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(d->label, 4);
    ck_assert_uint_eq(d->path_line, 12);
    ck_assert(d->field[VMSEC_BLKIO_READ_BYTES_SEC].set);
    ck_assert_uint_eq(d->field[VMSEC_BLKIO_READ_BYTES_SEC].value, 1u << 20);
    ck_assert_uint_eq(d->field[VMSEC_BLKIO_READ_BYTES_SEC].line, 13);
    ck_assert(!d->field[VMSEC_BLKIO_WEIGHT].set);
    ck_assert_str_eq(vmsec__profile_device_sorted(p, 0)->path, "/dev/a");
    ck_assert_str_eq(vmsec__profile_device_sorted(p, 1)->path, "/dev/b");
    ck_assert_ptr_null(vmsec__profile_device_sorted(p, 2));
    ck_assert_ptr_null(vmsec__profile_blkio_device(p, "/dev/c"));
    ck_assert(!vmsec__profile_is_empty(p));
    vmsec_profile_free(p);
}
END_TEST

START_TEST(api_settings_have_line_zero)
{
    struct vmsec_profile *p = parse("cpu.shares = 100\n");
    ck_assert_uint_eq(p->cpu_shares.line, 1);
    ck_assert_int_eq(vmsec_profile_set_cpu_shares(p, 200), 0);
    ck_assert_uint_eq(p->cpu_shares.line, 0);
    ck_assert_uint_eq(p->cpu_shares.value, 200);
    ck_assert_int_eq(vmsec_profile_set_cpu_shares(p, 0), 0);
    ck_assert(vmsec__profile_is_empty(p));
    vmsec_profile_free(p);
}
END_TEST

START_TEST(error_helper_formats)
{
    struct vmsec_profile *p = parse("vcpu.5.pin = 1\n");
    ck_assert_int_eq(vmsec__profile_error(VMSEC_EHOST, p, vmsec__profile_vcpu_pin(p, 5)->line, "vcpu.5.pin",
                                          "host has only %d CPUs", 1), VMSEC_EHOST);
    ck_assert_str_eq(vmsec_error_last(), "profile m.conf:1: vcpu.5.pin: host has only 1 CPUs");
    ck_assert_int_eq(vmsec_error_last_code(), VMSEC_EHOST);
    vmsec__profile_error(VMSEC_EDRIFT, p, 0, NULL, "drift");
    ck_assert_str_eq(vmsec_error_last(), "profile m.conf: drift");
    vmsec__profile_error(VMSEC_EDRIFT, NULL, 3, "cpu.shares", "x");
    ck_assert_str_eq(vmsec_error_last(), "profile <api>:3: cpu.shares: x");
    ck_assert_int_eq(vmsec__profile_check_domain(p, 2, NULL, 0), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile m.conf:1: vcpu.5.pin: domain has only 2 vCPUs");
    ck_assert_int_eq(vmsec__profile_validate(p), 0);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(name_tables_match_the_enums)
{
    ck_assert_str_eq(vmsec__cpu_scope_names[VMSEC_CPU_SCOPE_VCPU], "vcpu");
    ck_assert_str_eq(vmsec__cpu_scope_names[VMSEC_CPU_SCOPE_EMULATOR], "emulator");
    ck_assert_str_eq(vmsec__cpu_scope_names[VMSEC_CPU_SCOPE_IOTHREAD], "iothread");
    ck_assert_str_eq(vmsec__cpu_scope_names[VMSEC_CPU_SCOPE_GLOBAL], "global");
    ck_assert_str_eq(vmsec__numa_mode_names[VMSEC_NUMA_STRICT], "strict");
    ck_assert_str_eq(vmsec__numa_mode_names[VMSEC_NUMA_PREFERRED], "preferred");
    ck_assert_str_eq(vmsec__numa_mode_names[VMSEC_NUMA_RESTRICTIVE], "restrictive");
    ck_assert_str_eq(vmsec__memory_limit_keys[VMSEC_MEMORY_SWAP_HARD_LIMIT], "memory.swap_hard_limit");
    ck_assert_str_eq(vmsec__blkio_field_names[VMSEC_BLKIO_WRITE_IOPS_SEC], "write_iops_sec");
    ck_assert_str_eq(vmsec__blkio_field_names[VMSEC_BLKIO_WEIGHT], "weight");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("profile_model");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, fields_carry_values_and_lines);
    tcase_add_test(tc, api_settings_have_line_zero);
    tcase_add_test(tc, error_helper_formats);
    tcase_add_test(tc, name_tables_match_the_enums);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
