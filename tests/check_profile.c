/* SPDX-License-Identifier: ISC */
/* Isolation profiles through the public API: every key and every error class with its exact
 * message here; text layout, hostile input and round trips in check_profile_text.c; accessors,
 * digest, files and domain checks in check_profile_api.c. */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

#include <sodium.h>
#include <vmsec.h>

#include "check_profile.h"

/* ---- every key --------------------------------------------------------------------------- */

const struct key_case keys[] = {
    {"name", "web-small_1.0", "web-small_1.0"},
    {"vcpus", "4", "4"},
    {"iothreads", "2", "2"},
    {"vcpu.0.pin", "2", "2"},
    {"vcpu.8191.pin", "0-3,^1", "0,2-3"},
    {"emulator.pin", "5,0-1", "0-1,5"},
    {"iothread.1.pin", "8192-8191,0", NULL}, /* reversed range: checked as an error below */
    {"iothread.8192.pin", "7", "7"},
    {"cpu.shares", "262144", "262144"},
    {"cpu.vcpu_period", "1000", "1000"},
    {"cpu.vcpu_quota", "-1", "-1"},
    {"cpu.emulator_period", "1000000", "1000000"},
    {"cpu.emulator_quota", "17592186044415", "17592186044415"},
    {"cpu.iothread_period", "100000", "100000"},
    {"cpu.iothread_quota", "1000", "1000"},
    {"cpu.global_period", "50000", "50000"},
    {"cpu.global_quota", "200000", "200000"},
    {"numa.mode", "interleave", "interleave"},
    {"numa.nodeset", "0-1", "0-1"},
    {"memory.hard_limit", "4096M", "4G"},
    {"memory.soft_limit", "unlimited", "unlimited"},
    {"memory.swap_hard_limit", "1048576", "1M"},
    {"memory.locked", "true", "yes"},
    {"memory.hugepages.size", "1GiB", "1G"},
    {"memory.hugepages.nodeset", "0", "0"},
    {"memory.nosharepages", "off", "no"},
    {"blkio.weight", "10", "10"},
    {"blkio.device.3.path", "/dev/disk/by-id/wwn-0x5000", "/dev/disk/by-id/wwn-0x5000"},
    {"blkio.device.3.weight", "1000", "1000"},
    {"blkio.device.3.read_bytes_sec", "104857600", "100M"},
    {"blkio.device.3.write_bytes_sec", "1000", "1000"},
    {"blkio.device.3.read_iops_sec", "5000", "5000"},
    {"blkio.device.3.write_iops_sec", "9223372036854775807", "9223372036854775807"},
};
const size_t nkeys = LEN(keys);

START_TEST(every_key_parses_and_reads_back_canonically)
{
    char text[256], buf[256];
    for (size_t i = 0; i < LEN(keys); i++) {
        vmsec_profile *p;
        if (!keys[i].canonical)
            continue;
        /* Devices need their path and a setting, NUMA mode and nodeset go together. */
        snprintf(text, sizeof(text), "%s = %s\n%s%s%s", keys[i].key, keys[i].value,
                 strncmp(keys[i].key, "blkio.device.3.", 15) ? "" :
                 strcmp(keys[i].key, "blkio.device.3.path") ? "blkio.device.3.path = /dev/x\n" : "blkio.device.3.weight = 50\n",
                 !strcmp(keys[i].key, "numa.mode") ? "numa.nodeset = 0\n" :
                 !strcmp(keys[i].key, "numa.nodeset") ? "numa.mode = strict\n" : "",
                 !strcmp(keys[i].key, "memory.hugepages.nodeset") ? "memory.hugepages.size = 2M\n" :
                 !strcmp(keys[i].key, "memory.locked") ? "memory.hard_limit = 1G\n" : "");
        p = parse_ok(text);
        ck_assert_int_eq(vmsec_profile_get(p, keys[i].key, buf, sizeof(buf)), 1);
        ck_assert_str_eq(buf, keys[i].canonical);
        vmsec_profile_free(p);
    }
}
END_TEST

START_TEST(full_example_parses_with_every_setting)
{
    char path[PATH_MAX], buf[256];
    vmsec_profile *p = NULL;
    unsigned int u;
    uint64_t v;
    int64_t q;
    int m;
    size_t n;
    snprintf(path, sizeof(path), "%s/examples/profiles/full.conf", srcdir());
    ck_assert_msg(vmsec_profile_load_file(&p, path) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(vmsec_profile_get_name(p, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "full-example");
    ck_assert_int_eq(vmsec_profile_get_vcpus(p, &u), 1);
    ck_assert_uint_eq(u, 4);
    ck_assert_int_eq(vmsec_profile_get_iothreads(p, &u), 1);
    ck_assert_uint_eq(u, 2);
    for (unsigned i = 0; i < 4; i++) {
        char want[8];
        snprintf(want, sizeof(want), "%u", 4 + i);
        ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, i, buf, sizeof(buf)), 1);
        ck_assert_str_eq(buf, want);
    }
    ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, 4, buf, sizeof(buf)), 0);
    ck_assert_int_eq(vmsec_profile_get_emulator_pin(p, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "0-1,3");
    ck_assert_int_eq(vmsec_profile_get_iothread_pin(p, 2, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "2-3");
    ck_assert_int_eq(vmsec_profile_get_cpu_shares(p, &v), 1);
    ck_assert_uint_eq(v, 2048);
    ck_assert_int_eq(vmsec_profile_get_cpu_period(p, VMSEC_CPU_SCOPE_EMULATOR, &v), 1);
    ck_assert_uint_eq(v, 100000);
    ck_assert_int_eq(vmsec_profile_get_cpu_quota(p, VMSEC_CPU_SCOPE_VCPU, &q), 1);
    ck_assert_int_eq(q, 80000);
    ck_assert_int_eq(vmsec_profile_get_cpu_quota(p, VMSEC_CPU_SCOPE_IOTHREAD, &q), 1);
    ck_assert_int_eq(q, VMSEC_PROFILE_QUOTA_UNLIMITED);
    ck_assert_int_eq(vmsec_profile_get_cpu_quota(p, VMSEC_CPU_SCOPE_GLOBAL, &q), 1);
    ck_assert_int_eq(q, 350000);
    ck_assert_int_eq(vmsec_profile_get_numa_mode(p, &m), 1);
    ck_assert_int_eq(m, VMSEC_NUMA_STRICT);
    ck_assert_int_eq(vmsec_profile_get_numa_nodeset(p, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "0");
    ck_assert_int_eq(vmsec_profile_get_memory_limit(p, VMSEC_MEMORY_HARD_LIMIT, &v), 1);
    ck_assert_uint_eq(v, 8ull << 30);
    ck_assert_int_eq(vmsec_profile_get_memory_limit(p, VMSEC_MEMORY_SOFT_LIMIT, &v), 1);
    ck_assert_uint_eq(v, 6ull << 30);
    ck_assert_int_eq(vmsec_profile_get_memory_limit(p, VMSEC_MEMORY_SWAP_HARD_LIMIT, &v), 1);
    ck_assert_uint_eq(v, 8ull << 30);
    ck_assert_int_eq(vmsec_profile_get_memory_locked(p, &m), 1);
    ck_assert_int_eq(m, 1);
    ck_assert_int_eq(vmsec_profile_get_hugepage_size(p, &v), 1);
    ck_assert_uint_eq(v, 2ull << 20);
    ck_assert_int_eq(vmsec_profile_get_hugepage_nodeset(p, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "0");
    ck_assert_int_eq(vmsec_profile_get_nosharepages(p, &m), 1);
    ck_assert_int_eq(m, 1);
    ck_assert_int_eq(vmsec_profile_get_blkio_weight(p, &u), 1);
    ck_assert_uint_eq(u, 500);
    ck_assert_int_eq(vmsec_profile_blkio_device_count(p, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(vmsec_profile_blkio_device_path(p, 0, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/dev/vdb");
    ck_assert_int_eq(vmsec_profile_get_blkio_device(p, "/dev/vdb", VMSEC_BLKIO_WEIGHT, &v), 1);
    ck_assert_uint_eq(v, 800);
    ck_assert_int_eq(vmsec_profile_get_blkio_device(p, "/dev/vdb", VMSEC_BLKIO_READ_BYTES_SEC, &v), 1);
    ck_assert_uint_eq(v, 200ull << 20);
    ck_assert_int_eq(vmsec_profile_get_blkio_device(p, "/dev/vdb", VMSEC_BLKIO_WRITE_BYTES_SEC, &v), 1);
    ck_assert_uint_eq(v, 100ull << 20);
    ck_assert_int_eq(vmsec_profile_get_blkio_device(p, "/dev/vdb", VMSEC_BLKIO_READ_IOPS_SEC, &v), 1);
    ck_assert_uint_eq(v, 20000);
    ck_assert_int_eq(vmsec_profile_get_blkio_device(p, "/dev/vdb", VMSEC_BLKIO_WRITE_IOPS_SEC, &v), 1);
    ck_assert_uint_eq(v, 10000);
    ck_assert_int_eq(vmsec_profile_check_domain(p, 4, (const unsigned[]){1, 2}, 2), 0);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(small_example_parses)
{
    char path[PATH_MAX], buf[64];
    vmsec_profile *p = NULL;
    int locked;
    snprintf(path, sizeof(path), "%s/examples/profiles/pinned-small.conf", srcdir());
    ck_assert_msg(vmsec_profile_load_file(&p, path) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, 1, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "3");
    ck_assert_int_eq(vmsec_profile_get_memory_locked(p, &locked), 1);
    ck_assert_int_eq(locked, 1);
    ck_assert_int_eq(vmsec_profile_check_domain(p, 2, NULL, 0), 0);
    vmsec_profile_free(p);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------ */

static const struct { const char *text, *message; } errors[] = {
    /* syntax */
    {"cpu.pinn = 1\n", "profile t.conf:1: unknown key 'cpu.pinn'"},
    {"\n\nCPU.shares = 2\n", "profile t.conf:3: unknown key 'CPU.shares' (did you mean 'cpu.shares'?)"},
    {"vcpu.01.pin = 1\n", "profile t.conf:1: unknown key 'vcpu.01.pin' (did you mean 'vcpu.1.pin'?)"},
    {"vcpu.x.pin = 1\n", "profile t.conf:1: unknown key 'vcpu.x.pin' (did you mean 'vcpu.N.pin'?)"},
    {"vcpu.0.pinned = 1\n", "profile t.conf:1: unknown key 'vcpu.0.pinned' (did you mean 'vcpu.0.pin'?)"},
    {"memory.hardlimit = 4G\n", "profile t.conf:1: unknown key 'memory.hardlimit' (did you mean 'memory.hard_limit'?)"},
    {"blkio.device.3.read_byte_sec = 1M\n",
     "profile t.conf:1: unknown key 'blkio.device.3.read_byte_sec' (did you mean 'blkio.device.3.read_bytes_sec'?)"},
    {"numa.nodest = 0\n", "profile t.conf:1: unknown key 'numa.nodest' (did you mean 'numa.nodeset'?)"},
    {"iothread.2.ping = 1\n", "profile t.conf:1: unknown key 'iothread.2.ping' (did you mean 'iothread.2.pin'?)"},
    {"blkio.device.0.speed = 1\n", "profile t.conf:1: unknown key 'blkio.device.0.speed'"},
    {"vcpu.8192.pin = 1\n", "profile t.conf:1: vcpu.8192.pin: vCPU number 8192 is above the maximum 8191"},
    {"iothread.0.pin = 1\n", "profile t.conf:1: iothread.0.pin: iothread id 0 is out of range 1..8192"},
    {"blkio.device.256.weight = 100\n", "profile t.conf:1: blkio.device.256.weight: device number 256 is above the maximum 255"},
    {"cpu.shares 100\n", "profile t.conf:1: expected 'key = value', got 'cpu.shares 100'"},
    {" = 5\n", "profile t.conf:1: missing key before '='"},
    {"cpu.shares =\n", "profile t.conf:1: cpu.shares: missing value"},
    {"cpu.shares = 512 # low\n", "profile t.conf:1: cpu.shares: '#' in a value (comments must be on a line of their own)"},
    {"cpu.shares = 100\ncpu.shares = 200\n", "profile t.conf:2: duplicate key 'cpu.shares' (first set on line 1)"},
    {"vcpu.0.pin = 1\n# x\nvcpu.0.pin = 1\n", "profile t.conf:3: duplicate key 'vcpu.0.pin' (first set on line 1)"},
    {"cpu.shares = 1\ncpu.shares = 5\n", "profile t.conf:1: cpu.shares: 1 is out of range 2..262144\n"
                                         "profile t.conf:2: duplicate key 'cpu.shares' (first set on line 1)"},
    {"cpu.shares = 1\x01\n", "profile t.conf:1: invalid byte 0x01 at column 15"},
    {"name = caf\xc3\xa9\n", "profile t.conf:1: invalid byte 0xc3 at column 11"},
    {"a = b\rc = d\n", "profile t.conf:1: invalid byte 0x0d at column 6"},
    /* values */
    {"name = -web\n", "profile t.conf:1: name: '-web' is not a valid name (1 to 64 of A-Z a-z 0-9 . _ -, not starting with . or -)"},
    {"name = a b\n", "profile t.conf:1: name: 'a b' is not a valid name (1 to 64 of A-Z a-z 0-9 . _ -, not starting with . or -)"},
    {"vcpus = 0\n", "profile t.conf:1: vcpus: 0 is out of range 1..8192"},
    {"vcpus = -2\n", "profile t.conf:1: vcpus: '-2' is negative"},
    {"vcpu.0.pin = 8192\n", "profile t.conf:1: vcpu.0.pin: CPU 8192 is above the maximum 8191"},
    {"vcpu.0.pin = 3-1\n", "profile t.conf:1: vcpu.0.pin: range 3-1 is reversed"},
    {"emulator.pin = 0-1,^0-1\n", "profile t.conf:1: emulator.pin: CPU set is empty after exclusions"},
    {"iothread.1.pin = 8192-8191,0\n", "profile t.conf:1: iothread.1.pin: CPU 8192 is above the maximum 8191"},
    {"cpu.shares = 1\n", "profile t.conf:1: cpu.shares: 1 is out of range 2..262144"},
    {"cpu.shares = 262145\n", "profile t.conf:1: cpu.shares: 262145 is out of range 2..262144"},
    {"cpu.shares = 99999999999999999999\n", "profile t.conf:1: cpu.shares: '99999999999999999999' is too large"},
    {"cpu.shares = 1e3\n", "profile t.conf:1: cpu.shares: '1e3' is not a whole number"},
    {"cpu.vcpu_period = 999\n", "profile t.conf:1: cpu.vcpu_period: 999 is out of range 1000..1000000"},
    {"cpu.global_period = 1000001\n", "profile t.conf:1: cpu.global_period: 1000001 is out of range 1000..1000000"},
    {"cpu.emulator_quota = 999\n",
     "profile t.conf:1: cpu.emulator_quota: 999 is out of range (-1 for no limit, or 1000..17592186044415)"},
    {"cpu.iothread_quota = -2\n",
     "profile t.conf:1: cpu.iothread_quota: -2 is out of range (-1 for no limit, or 1000..17592186044415)"},
    {"cpu.global_quota = 17592186044416\n",
     "profile t.conf:1: cpu.global_quota: 17592186044416 is out of range (-1 for no limit, or 1000..17592186044415)"},
    {"numa.mode = loose\nnuma.nodeset = 0\n",
     "profile t.conf:1: numa.mode: 'loose' is not one of strict, preferred, interleave, restrictive"},
    {"numa.mode = strict\nnuma.nodeset = 9999\n", "profile t.conf:2: numa.nodeset: node 9999 is above the maximum 8191"},
    {"memory.hard_limit = 1.5G\n", "profile t.conf:1: memory.hard_limit: size '1.5G' is not a whole number"},
    {"memory.hard_limit = 4GB\n", "profile t.conf:1: memory.hard_limit: ambiguous unit in '4GB': use G or GiB (powers of 1024)"},
    {"memory.hard_limit = 4Q\n", "profile t.conf:1: memory.hard_limit: unknown unit in '4Q' (use K, M, G, T, P, E: powers of 1024)"},
    {"memory.hard_limit = -4G\n", "profile t.conf:1: memory.hard_limit: size '-4G' is negative"},
    {"memory.hard_limit = 16E\n", "profile t.conf:1: memory.hard_limit: size '16E' is too large"},
    {"memory.hard_limit = 8E\n", "profile t.conf:1: memory.hard_limit: 8E is above the maximum 9007199254740990K"},
    {"memory.soft_limit = 1000\n", "profile t.conf:1: memory.soft_limit: 1000 is not a multiple of 1024 (libvirt counts KiB)"},
    {"memory.swap_hard_limit = 0\n",
     "profile t.conf:1: memory.swap_hard_limit: 0 is not a limit (write 'unlimited', or leave the key out)"},
    {"memory.locked = maybe\n", "profile t.conf:1: memory.locked: 'maybe' is not yes or no"},
    {"memory.hugepages.size = 3M\n", "profile t.conf:1: memory.hugepages.size: 3M is not a power of two"},
    {"memory.hugepages.size = 4K\n", "profile t.conf:1: memory.hugepages.size: 4K is not a huge page size (64K..16G, or 'default')"},
    {"memory.hugepages.size = 32G\n",
     "profile t.conf:1: memory.hugepages.size: 32G is not a huge page size (64K..16G, or 'default')"},
    {"memory.nosharepages = 2\n", "profile t.conf:1: memory.nosharepages: '2' is not yes or no"},
    {"blkio.weight = 9\n", "profile t.conf:1: blkio.weight: 9 is out of range 10..1000"},
    {"blkio.weight = 1001\n", "profile t.conf:1: blkio.weight: 1001 is out of range 10..1000"},
    {"blkio.device.0.path = sda\nblkio.device.0.weight = 100\n",
     "profile t.conf:1: blkio.device.0.path: 'sda' is not an absolute path"},
    {"blkio.device.0.path = /dev/a b\n",
     "profile t.conf:1: blkio.device.0.path: path must not contain spaces, commas, '#' or control characters"},
    {"blkio.device.0.path = /dev/a\nblkio.device.0.read_iops_sec = 0\n",
     "profile t.conf:2: blkio.device.0.read_iops_sec: 0 is out of range 1..9223372036854775807"},
    {"blkio.device.0.path = /dev/a\nblkio.device.0.write_bytes_sec = 9E\n",
     "profile t.conf:2: blkio.device.0.write_bytes_sec: 10376293541461622784 is out of range 1..9223372036854775807"},
    {"blkio.device.0.path = /dev/a\nblkio.device.0.weight = 5\n",
     "profile t.conf:2: blkio.device.0.weight: 5 is out of range 10..1000"},
    /* contradictions */
    {"memory.locked = yes\n", "profile t.conf:1: memory.locked: locking memory requires memory.hard_limit"},
    {"memory.hard_limit = unlimited\nmemory.locked = yes\n",
     "profile t.conf:2: memory.locked: locking memory requires a finite memory.hard_limit"},
    {"memory.hard_limit = 4G\nmemory.soft_limit = 5G\n", "profile t.conf:2: memory.soft_limit: 5G is above memory.hard_limit 4G"},
    {"memory.hard_limit = 4G\nmemory.soft_limit = unlimited\n",
     "profile t.conf:2: memory.soft_limit: unlimited is above memory.hard_limit 4G"},
    {"memory.swap_hard_limit = 2G\nmemory.hard_limit = 4G\n",
     "profile t.conf:1: memory.swap_hard_limit: 2G is below memory.hard_limit 4G"},
    {"memory.hard_limit = unlimited\nmemory.swap_hard_limit = 8G\n",
     "profile t.conf:2: memory.swap_hard_limit: 8G is below memory.hard_limit unlimited"},
    {"memory.hugepages.nodeset = 0\n", "profile t.conf:1: memory.hugepages.nodeset: requires memory.hugepages.size"},
    {"numa.mode = strict\n", "profile t.conf:1: numa.mode: requires numa.nodeset"},
    {"numa.nodeset = 0\n", "profile t.conf:1: numa.nodeset: requires numa.mode"},
    {"numa.mode = preferred\nnuma.nodeset = 0-1\n",
     "profile t.conf:2: numa.nodeset: mode 'preferred' takes exactly one node, got 0-1"},
    {"vcpus = 2\nvcpu.2.pin = 1\n", "profile t.conf:2: vcpu.2.pin: profile declares only vcpus = 2"},
    {"blkio.device.4.weight = 100\n", "profile t.conf:1: blkio.device.4: missing blkio.device.4.path"},
    {"blkio.device.0.path = /dev/sda\n", "profile t.conf:1: blkio.device.0: sets nothing besides its path"},
    {"blkio.device.0.path = /dev/sda\nblkio.device.0.weight = 100\nblkio.device.1.path = /dev/sda\n"
     "blkio.device.1.weight = 200\n",
     "profile t.conf:3: blkio.device.1: /dev/sda is already used by blkio.device.0"},
};

START_TEST(every_error_class_has_its_exact_message)
{
    for (size_t i = 0; i < LEN(errors); i++) {
        const char *msg = parse_fail(errors[i].text, strlen(errors[i].text));
        ck_assert_msg(strcmp(msg, errors[i].message) == 0, "case %zu:\n got: %s\nwant: %s", i, msg, errors[i].message);
        ck_assert_int_eq(vmsec_error_last_code(), VMSEC_EFORMAT);
    }
}
END_TEST

START_TEST(all_errors_are_collected_in_line_order)
{
    const char *text = "memory.locked = yes\n"       /* 1: contradiction, found after the last line */
                       "cpu.shares = 1\n"            /* 2 */
                       "bogus = 1\n"                 /* 3 */
                       "vcpu.0.pin = 1\n"
                       "vcpu.0.pin = 2\n";           /* 5 */
    const char *msg = parse_fail(text, strlen(text));
    /* Line errors and cross-setting errors together, sorted by line. */
    ck_assert_str_eq(msg, "profile t.conf:1: memory.locked: locking memory requires memory.hard_limit\n"
                          "profile t.conf:2: cpu.shares: 1 is out of range 2..262144\n"
                          "profile t.conf:3: unknown key 'bogus'\n"
                          "profile t.conf:5: duplicate key 'vcpu.0.pin' (first set on line 4)");
    text = "numa.mode = strict\nmemory.hard_limit = 1G\nmemory.soft_limit = 2G\nmemory.locked = yes\n"
           "vcpus = 1\nvcpu.1.pin = 0\n";
    msg = parse_fail(text, strlen(text));
    ck_assert_str_eq(msg, "profile t.conf:1: numa.mode: requires numa.nodeset\n"
                          "profile t.conf:3: memory.soft_limit: 2G is above memory.hard_limit 1G\n"
                          "profile t.conf:6: vcpu.1.pin: profile declares only vcpus = 1");
}
END_TEST

START_TEST(line_and_cross_errors_are_reported_together)
{
    /* One bad line and one contradiction among the valid lines: both are reported. */
    const char *text = "cpu.shares = 1\n"
                       "numa.mode = strict\n";
    const char *msg = parse_fail(text, strlen(text));
    ck_assert_str_eq(msg, "profile t.conf:1: cpu.shares: 1 is out of range 2..262144\n"
                          "profile t.conf:2: numa.mode: requires numa.nodeset");
    /* A setting whose value was rejected is not also reported as missing. */
    text = "memory.locked = yes\nmemory.hard_limit = lots\nnuma.nodeset = 0\nnuma.mode = sometimes\n"
           "cpu.placement = shared\ncpu.thread_policy = isolate\nblkio.device.1.path = /dev/vda\n"
           "blkio.device.1.weight = 5\nblkio.device.2.path = dev\nblkio.device.2.weight = 100\n"
           "memory.soft_limit = 2G\nmemory.swap_hard_limit = 1G\nmemory.hard_limit = 4G\n";
    msg = parse_fail(text, strlen(text));
    ck_assert_ptr_null(strstr(msg, "requires"));
    ck_assert_ptr_null(strstr(msg, "missing"));
    ck_assert_ptr_null(strstr(msg, "sets nothing"));
    ck_assert_ptr_null(strstr(msg, "above"));
    ck_assert_ptr_nonnull(strstr(msg, "profile t.conf:13: duplicate key 'memory.hard_limit' (first set on line 2)"));
}
END_TEST

START_TEST(many_errors_are_summarised)
{
    char text[4000] = "";
    const char *msg, *last;
    int lines = 0;
    for (int i = 0; i < 100; i++)
        strcat(text, "x = 1\n");
    msg = parse_fail(text, strlen(text));
    ck_assert_int_eq(strncmp(msg, "profile t.conf:1: unknown key 'x'\nprofile t.conf:2: unknown key 'x'\n", 68), 0);
    for (const char *c = msg; *c; c++)
        lines += *c == '\n';
    last = strrchr(msg, '\n') + 1;
    ck_assert_int_ge(lines, 5);
    ck_assert_int_eq(strncmp(last, "(", 1), 0);
    ck_assert_ptr_nonnull(strstr(last, " more errors)"));
    ck_assert_uint_lt(strlen(msg), 1024);
}
END_TEST

START_TEST(string_source_name_defaults)
{
    vmsec_profile *p = NULL;
    ck_assert_int_eq(vmsec_profile_parse(&p, "x = 1", 5, NULL), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile <string>:1: unknown key 'x'");
    ck_assert_int_eq(vmsec_profile_parse(&p, "x = 1", 5, "web"), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile web:1: unknown key 'x'");
}
END_TEST


int main(void)
{
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("core");
    if (sodium_init() < 0)
        return 99;
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_key_parses_and_reads_back_canonically);
    tcase_add_test(tc, full_example_parses_with_every_setting);
    tcase_add_test(tc, small_example_parses);
    tcase_add_test(tc, every_error_class_has_its_exact_message);
    tcase_add_test(tc, all_errors_are_collected_in_line_order);
    tcase_add_test(tc, line_and_cross_errors_are_reported_together);
    tcase_add_test(tc, many_errors_are_summarised);
    tcase_add_test(tc, string_source_name_defaults);
    profile_add_text_tests(tc);
    profile_add_api_tests(tc);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
