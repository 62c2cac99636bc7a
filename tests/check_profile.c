/* Isolation profiles through the public API: every key, every error class with its exact
 * message, canonical round trips (including randomly built profiles), accessors, digest, files,
 * domain checks and hostile input. */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

#include <sodium.h>
#include <vmsec.h>

#include "testutil.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static char dir[512];

static void setup(void)
{
    vt_tmpdir(dir, sizeof(dir));
}

static void teardown(void)
{
    vt_rmtree(dir);
}

static const char *srcdir(void)
{
    const char *s = getenv("top_srcdir");
    return s && *s ? s : ".";
}

static vmsec_profile *parse_ok(const char *text)
{
    vmsec_profile *p = NULL;
    int r = vmsec_profile_parse(&p, text, strlen(text), "t.conf");
    ck_assert_msg(r == 0, "parse failed (%d): %s\n--- text:\n%s", r, vmsec_error_last(), text);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Parses text that must fail with VMSEC_EFORMAT and returns the whole message. */
static const char *parse_fail(const char *text, size_t len)
{
    vmsec_profile *p = (vmsec_profile *)1;
    int r = vmsec_profile_parse(&p, text, len, "t.conf");
    ck_assert_msg(r == VMSEC_EFORMAT, "expected EFORMAT, got %d for:\n%.200s", r, text);
    ck_assert_ptr_null(p);
    return vmsec_error_last();
}

static char *to_text(const vmsec_profile *p)
{
    size_t need = 0;
    char *buf;
    ck_assert_msg(vmsec_profile_to_text(p, NULL, 0, &need) == 0, "%s", vmsec_error_last());
    ck_assert_ptr_nonnull(buf = malloc(need));
    ck_assert_int_eq(vmsec_profile_to_text(p, buf, need, NULL), 0);
    ck_assert_uint_eq(strlen(buf) + 1, need);
    return buf;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    static char buf[65536];
    size_t n;
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* ---- every key --------------------------------------------------------------------------- */

static const struct { const char *key, *value, *canonical; } keys[] = {
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
    {"\n\nCPU.shares = 2\n", "profile t.conf:3: unknown key 'CPU.shares'"},
    {"vcpu.01.pin = 1\n", "profile t.conf:1: unknown key 'vcpu.01.pin'"},
    {"vcpu.x.pin = 1\n", "profile t.conf:1: unknown key 'vcpu.x.pin'"},
    {"vcpu.0.pinned = 1\n", "profile t.conf:1: unknown key 'vcpu.0.pinned'"},
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
    /* Value errors stop the cross checks, which would report consequences of bad lines. */
    ck_assert_str_eq(msg, "profile t.conf:2: cpu.shares: 1 is out of range 2..262144\n"
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

/* ---- layout tolerance -------------------------------------------------------------------- */

START_TEST(crlf_blanks_comments_tabs_and_missing_final_newline)
{
    const char *a = "# comment\r\n\r\n  \t\r\n\tcpu.shares\t=\t512  \r\n   # indented comment with UTF-8: \xc3\xa9\r\n"
                    "name=web\r\nvcpu.0.pin = 1 \t";
    vmsec_profile *p = parse_ok(a), *q = parse_ok("name = web\nvcpu.0.pin = 1\ncpu.shares = 512\n");
    char buf[32];
    ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
    ck_assert_int_eq(vmsec_profile_get(p, "vcpu.0.pin", buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "1");
    vmsec_profile_free(p);
    vmsec_profile_free(q);
    p = parse_ok("\xef\xbb\xbfname = web\r\n");
    ck_assert_int_eq(vmsec_profile_get_name(p, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "web");
    vmsec_profile_free(p);
    ck_assert_str_eq(parse_fail("name = web\n\xef\xbb\xbfvcpus = 1\n", 23), "profile t.conf:2: invalid byte 0xef at column 1");
    p = parse_ok("");
    q = parse_ok("\n\n# only comments\n");
    ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
    {
        char *t = to_text(p);
        ck_assert_str_eq(t, "");
        free(t);
    }
    vmsec_profile_free(p);
    vmsec_profile_free(q);
}
END_TEST

START_TEST(hostile_inputs_are_rejected_cleanly)
{
    char *big = malloc(VMSEC_PROFILE_TEXT_LIMIT + 2);
    vmsec_profile *p = (vmsec_profile *)1;
    const char *msg;
    ck_assert_ptr_nonnull(big);
    /* a line over 4096 bytes */
    memset(big, 'a', 5000);
    memcpy(big, "name = ", 7);
    msg = parse_fail(big, 5000);
    ck_assert_str_eq(msg, "profile t.conf:1: line longer than 4096 bytes");
    /* a long key still gets a bounded message */
    memset(big, 'a', 4000);
    memcpy(big + 3990, " = 1", 4);
    msg = parse_fail(big, 3994);
    ck_assert_uint_lt(strlen(msg), 200);
    ck_assert_int_eq(strncmp(msg, "profile t.conf:1: unknown key 'aaaa", 35), 0);
    /* NUL bytes */
    msg = parse_fail("name = a\0b\n", 11);
    ck_assert_str_eq(msg, "profile t.conf:1: NUL byte at column 9");
    msg = parse_fail("# c\0mment\nname = x\n", 19);
    ck_assert_str_eq(msg, "profile t.conf:1: NUL byte at column 4");
    /* too large */
    memset(big, '\n', VMSEC_PROFILE_TEXT_LIMIT + 1);
    ck_assert_int_eq(vmsec_profile_parse(&p, big, VMSEC_PROFILE_TEXT_LIMIT + 1, "t.conf"), VMSEC_ETOOBIG);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(vmsec_error_last(), "profile t.conf: text of 1048577 bytes is larger than the limit of 1048576 bytes");
    /* exactly at the limit is fine */
    ck_assert_int_eq(vmsec_profile_parse(&p, big, VMSEC_PROFILE_TEXT_LIMIT, "t.conf"), 0);
    vmsec_profile_free(p);
    /* binary garbage: never accepted half-way, never crashes */
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + (size_t)randombytes_uniform(2000);
        randombytes_buf(big, n);
        p = (vmsec_profile *)1;
        int r = vmsec_profile_parse(&p, big, n, "t.conf");
        if (r == 0) { /* possible only for text that happens to be blank or comments */
            char *t = to_text(p);
            ck_assert_str_eq(t, "");
            free(t);
            vmsec_profile_free(p);
        } else {
            ck_assert_int_eq(r, VMSEC_EFORMAT);
            ck_assert_ptr_null(p);
            ck_assert_int_eq(strncmp(vmsec_error_last(), "profile t.conf:", 15), 0);
        }
    }
    free(big);
}
END_TEST

START_TEST(thousands_of_pins_in_any_order)
{
    size_t cap = 8192 * 40, n = 0;
    char *text = malloc(cap), *t, buf[32];
    vmsec_profile *p = NULL, *q = NULL;
    ck_assert_ptr_nonnull(text);
    for (unsigned v = 8192; v-- > 0;) /* descending: the worst order for sorted insertion */
        n += (size_t)snprintf(text + n, cap - n, "vcpu.%u.pin = 0-8191,^%u\n", v, v);
    ck_assert_int_eq(vmsec_profile_parse(&p, text, n, "many"), 0);
    ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, 0, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "1-8191");
    ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, 4000, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "0-3999,4001-8191");
    t = to_text(p);
    ck_assert_int_eq(strncmp(t, "vcpu.0.pin = 1-8191\nvcpu.1.pin = 0,2-8191\n", 41), 0);
    ck_assert_int_eq(vmsec_profile_parse(&q, t, strlen(t), "canon"), 0);
    ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
    ck_assert_int_eq(vmsec_profile_check_domain(p, 8192, NULL, 0), 0);
    /* a duplicate far from its first occurrence is still found */
    n += (size_t)snprintf(text + n, cap - n, "vcpu.8191.pin = 1\n");
    ck_assert_str_eq(parse_fail(text, n), "profile t.conf:8193: duplicate key 'vcpu.8191.pin' (first set on line 1)");
    free(t);
    free(text);
    vmsec_profile_free(p);
    vmsec_profile_free(q);
}
END_TEST

START_TEST(mutated_texts_parse_or_fail_cleanly)
{
    char path[PATH_MAX];
    char *orig, *buf;
    size_t len;
    int accepted = 0;
    snprintf(path, sizeof(path), "%s/examples/profiles/full.conf", srcdir());
    orig = strdup(slurp(path));
    len = strlen(orig);
    buf = malloc(len + 1);
    for (int i = 0; i < 400; i++) {
        vmsec_profile *p = (vmsec_profile *)1, *q = NULL;
        int r;
        memcpy(buf, orig, len + 1);
        for (int k = 0, n = 1 + (int)randombytes_uniform(4); k < n; k++) {
            size_t at = randombytes_uniform((uint32_t)len);
            static const char pool[] = "0123456789-,^=#.\n\r\t xK";
            buf[at] = randombytes_uniform(4) ? pool[randombytes_uniform(sizeof(pool) - 1)] : (char)randombytes_random();
        }
        r = vmsec_profile_parse(&p, buf, len, "m.conf");
        if (r != 0) {
            ck_assert_int_eq(r, VMSEC_EFORMAT);
            ck_assert_ptr_null(p);
            ck_assert_int_eq(strncmp(vmsec_error_last(), "profile m.conf:", 15), 0);
            continue;
        }
        accepted++;
        {   /* whatever is accepted round-trips */
            char *t = to_text(p);
            ck_assert_msg(vmsec_profile_parse(&q, t, strlen(t), "canon") == 0, "%s", vmsec_error_last());
            ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
            free(t);
        }
        vmsec_profile_free(p);
        vmsec_profile_free(q);
    }
    ck_assert_int_gt(accepted, 0);
    free(buf);
    free(orig);
}
END_TEST

/* ---- round trips ------------------------------------------------------------------------- */

START_TEST(example_round_trip_is_canonical)
{
    char path[PATH_MAX];
    vmsec_profile *p = NULL, *q;
    char *t1, *t2;
    snprintf(path, sizeof(path), "%s/examples/profiles/full.conf", srcdir());
    ck_assert_int_eq(vmsec_profile_load_file(&p, path), 0);
    t1 = to_text(p);
    q = parse_ok(t1);
    ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
    t2 = to_text(q);
    ck_assert_str_eq(t1, t2);
    ck_assert_str_eq(t1,
                     "name = full-example\nvcpus = 4\niothreads = 2\n"
                     "vcpu.0.pin = 4\nvcpu.1.pin = 5\nvcpu.2.pin = 6\nvcpu.3.pin = 7\n"
                     "emulator.pin = 0-1,3\niothread.1.pin = 2\niothread.2.pin = 2-3\n"
                     "cpu.shares = 2048\n"
                     "cpu.vcpu_period = 100000\ncpu.vcpu_quota = 80000\n"
                     "cpu.emulator_period = 100000\ncpu.emulator_quota = 20000\n"
                     "cpu.iothread_period = 100000\ncpu.iothread_quota = -1\n"
                     "cpu.global_period = 100000\ncpu.global_quota = 350000\n"
                     "numa.mode = strict\nnuma.nodeset = 0\n"
                     "memory.hard_limit = 8G\nmemory.soft_limit = 6G\nmemory.swap_hard_limit = 8G\n"
                     "memory.locked = yes\nmemory.hugepages.size = 2M\nmemory.hugepages.nodeset = 0\n"
                     "memory.nosharepages = yes\nblkio.weight = 500\n"
                     "blkio.device.0.path = /dev/vdb\nblkio.device.0.weight = 800\n"
                     "blkio.device.0.read_bytes_sec = 200M\nblkio.device.0.write_bytes_sec = 100M\n"
                     "blkio.device.0.read_iops_sec = 20000\nblkio.device.0.write_iops_sec = 10000\n");
    free(t1);
    free(t2);
    vmsec_profile_free(p);
    vmsec_profile_free(q);
}
END_TEST

START_TEST(order_spelling_and_device_labels_do_not_matter)
{
    vmsec_profile *a = parse_ok("memory.hard_limit = 4096M\nvcpu.1.pin = 3,2\nvcpu.0.pin = 0-1\n"
                                "blkio.device.9.path = /dev/b\nblkio.device.9.weight = 100\n"
                                "blkio.device.2.path = /dev/a\nblkio.device.2.read_iops_sec = 7\nmemory.locked = on\n");
    vmsec_profile *b = parse_ok("blkio.device.0.path = /dev/a\nblkio.device.0.read_iops_sec = 7\n"
                                "blkio.device.1.path = /dev/b\nblkio.device.1.weight = 100\n"
                                "memory.locked = yes\nvcpu.0.pin = 0,1\nvcpu.1.pin = 2-3\nmemory.hard_limit = 4G\n");
    char da[VMSEC_PROFILE_DIGEST_MAX], db[VMSEC_PROFILE_DIGEST_MAX];
    char *ta = to_text(a), *tb = to_text(b);
    ck_assert_int_eq(vmsec_profile_equal(a, b), 1);
    ck_assert_str_eq(ta, tb);
    ck_assert_int_eq(vmsec_profile_digest(a, da, sizeof(da)), 0);
    ck_assert_int_eq(vmsec_profile_digest(b, db, sizeof(db)), 0);
    ck_assert_str_eq(da, db);
    free(ta);
    free(tb);
    vmsec_profile_free(a);
    vmsec_profile_free(b);
}
END_TEST

static uint32_t pick(uint32_t n)
{
    return randombytes_uniform(n);
}

/* Builds a random consistent profile through the typed setters. */
static vmsec_profile *random_profile(void)
{
    vmsec_profile *p = NULL;
    char set[64], name[32];
    ck_assert_int_eq(vmsec_profile_new(&p), 0);
    if (pick(2)) {
        snprintf(name, sizeof(name), "p-%u.x_%u", pick(1000), pick(10));
        ck_assert_int_eq(vmsec_profile_set_name(p, name), 0);
    }
    unsigned nv = 1 + pick(64);
    if (pick(2))
        ck_assert_int_eq(vmsec_profile_set_vcpus(p, nv), 0);
    for (unsigned i = 0, n = pick(6); i < n; i++) {
        unsigned lo = pick(8000);
        snprintf(set, sizeof(set), "%u-%u,%u,^%u", lo, lo + pick(100), pick(8192), lo);
        if (vmsec_profile_set_vcpu_pin(p, pick(nv), set) != 0) /* set may be empty after exclusion */
            ck_assert_int_eq(vmsec_error_last_code(), VMSEC_EFORMAT);
    }
    if (pick(2)) {
        snprintf(set, sizeof(set), "%u", pick(8192));
        ck_assert_int_eq(vmsec_profile_set_emulator_pin(p, set), 0);
    }
    if (pick(2))
        ck_assert_int_eq(vmsec_profile_set_iothreads(p, 1 + pick(8)), 0);
    for (unsigned i = 0, n = pick(3); i < n; i++) {
        snprintf(set, sizeof(set), "%u-%u", i, i + pick(4));
        ck_assert_int_eq(vmsec_profile_set_iothread_pin(p, 1 + pick(8192), set), 0);
    }
    if (pick(2))
        ck_assert_int_eq(vmsec_profile_set_cpu_shares(p, 2 + pick(262143)), 0);
    for (int s = 0; s < 4; s++) {
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_cpu_period(p, s, 1000 + pick(999001)), 0);
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_cpu_quota(p, s, pick(3) ? 1000 + (int64_t)pick(1u << 31) * 8191 : -1), 0);
    }
    if (pick(2)) {
        int mode = (int)pick(4);
        ck_assert_int_eq(vmsec_profile_set_numa_mode(p, mode), 0);
        snprintf(set, sizeof(set), mode == VMSEC_NUMA_PREFERRED ? "%u" : "0-%u", pick(4));
        ck_assert_int_eq(vmsec_profile_set_numa_nodeset(p, set), 0);
    }
    if (pick(2)) {
        uint64_t hard = (1 + (uint64_t)pick(1u << 30)) << (10 + pick(20));
        ck_assert_int_eq(vmsec_profile_set_memory_limit(p, VMSEC_MEMORY_HARD_LIMIT, hard), 0);
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_memory_limit(p, VMSEC_MEMORY_SOFT_LIMIT, (hard / 2048 + 1) * 1024), 0);
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_memory_limit(p, VMSEC_MEMORY_SWAP_HARD_LIMIT,
                                                            pick(2) ? VMSEC_PROFILE_UNLIMITED : hard), 0);
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_memory_locked(p, (int)pick(2)), 0);
    }
    if (pick(2)) {
        ck_assert_int_eq(vmsec_profile_set_hugepage_size(p, pick(4) ? 1ull << (16 + pick(19)) : VMSEC_PROFILE_UNLIMITED), 0);
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_hugepage_nodeset(p, pick(2) ? "0" : "0-1,3"), 0);
    }
    if (pick(2))
        ck_assert_int_eq(vmsec_profile_set_nosharepages(p, (int)pick(2)), 0);
    if (pick(2))
        ck_assert_int_eq(vmsec_profile_set_blkio_weight(p, 10 + pick(991)), 0);
    for (unsigned i = 0, n = pick(4); i < n; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/dev/vd%c", 'a' + (int)pick(26));
        for (int f = 0; f < 5; f++)
            if (pick(2) || f == 4)
                ck_assert_int_eq(vmsec_profile_set_blkio_device(p, path, f, f == 0 ? 10 + pick(991) :
                                                                f < 3 ? (1 + (uint64_t)pick(1u << 31)) << pick(30) :
                                                                1 + pick(1000000)), 0);
    }
    return p;
}

START_TEST(random_profiles_round_trip)
{
    for (int i = 0; i < 300; i++) {
        vmsec_profile *p = random_profile(), *q = NULL, *d = NULL;
        char *t1 = to_text(p), *t2;
        char d1[VMSEC_PROFILE_DIGEST_MAX], d2[VMSEC_PROFILE_DIGEST_MAX];
        ck_assert_msg(vmsec_profile_parse(&q, t1, strlen(t1), "rt") == 0, "%s\n%s", vmsec_error_last(), t1);
        ck_assert_msg(vmsec_profile_equal(p, q) == 1, "not equal after round trip:\n%s", t1);
        t2 = to_text(q);
        ck_assert_str_eq(t1, t2);
        ck_assert_int_eq(vmsec_profile_digest(p, d1, sizeof(d1)), 0);
        ck_assert_int_eq(vmsec_profile_digest(q, d2, sizeof(d2)), 0);
        ck_assert_str_eq(d1, d2);
        ck_assert_int_eq(vmsec_profile_dup(q, &d), 0);
        ck_assert_int_eq(vmsec_profile_equal(p, d), 1);
        free(t1);
        free(t2);
        vmsec_profile_free(p);
        vmsec_profile_free(q);
        vmsec_profile_free(d);
    }
}
END_TEST

/* ---- accessors --------------------------------------------------------------------------- */

START_TEST(getters_report_unset)
{
    vmsec_profile *p = NULL;
    char buf[64] = "untouched";
    unsigned u = 77;
    uint64_t v = 77;
    int64_t q = 77;
    int m = 77;
    size_t n = 77;
    ck_assert_int_eq(vmsec_profile_new(&p), 0);
    ck_assert_int_eq(vmsec_profile_get_name(p, buf, sizeof(buf)), 0);
    ck_assert_int_eq(vmsec_profile_get_vcpus(p, &u), 0);
    ck_assert_int_eq(vmsec_profile_get_iothreads(p, &u), 0);
    ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, 0, buf, sizeof(buf)), 0);
    ck_assert_int_eq(vmsec_profile_get_emulator_pin(p, buf, sizeof(buf)), 0);
    ck_assert_int_eq(vmsec_profile_get_iothread_pin(p, 1, buf, sizeof(buf)), 0);
    ck_assert_int_eq(vmsec_profile_get_cpu_shares(p, &v), 0);
    for (int s = 0; s < 4; s++) {
        ck_assert_int_eq(vmsec_profile_get_cpu_period(p, s, &v), 0);
        ck_assert_int_eq(vmsec_profile_get_cpu_quota(p, s, &q), 0);
    }
    ck_assert_int_eq(vmsec_profile_get_numa_mode(p, &m), 0);
    ck_assert_int_eq(vmsec_profile_get_numa_nodeset(p, buf, sizeof(buf)), 0);
    for (int w = 0; w < 3; w++)
        ck_assert_int_eq(vmsec_profile_get_memory_limit(p, w, &v), 0);
    ck_assert_int_eq(vmsec_profile_get_memory_locked(p, &m), 0);
    ck_assert_int_eq(vmsec_profile_get_hugepage_size(p, &v), 0);
    ck_assert_int_eq(vmsec_profile_get_hugepage_nodeset(p, buf, sizeof(buf)), 0);
    ck_assert_int_eq(vmsec_profile_get_nosharepages(p, &m), 0);
    ck_assert_int_eq(vmsec_profile_get_blkio_weight(p, &u), 0);
    ck_assert_int_eq(vmsec_profile_get_blkio_device(p, "/dev/sda", VMSEC_BLKIO_WEIGHT, &v), 0);
    ck_assert_int_eq(vmsec_profile_blkio_device_count(p, &n), 0);
    ck_assert_uint_eq(n, 0);
    for (size_t i = 0; i < LEN(keys); i++)
        ck_assert_int_eq(vmsec_profile_get(p, keys[i].key, buf, sizeof(buf)), 0);
    /* outputs untouched */
    ck_assert_str_eq(buf, "untouched");
    ck_assert_uint_eq(u, 77);
    ck_assert_uint_eq(v, 77);
    ck_assert_int_eq(q, 77);
    ck_assert_int_eq(m, 77);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(setters_then_unset)
{
    vmsec_profile *p = NULL;
    char buf[64];
    uint64_t v;
    int m;
    ck_assert_int_eq(vmsec_profile_new(&p), 0);
    ck_assert_int_eq(vmsec_profile_set_memory_limit(p, VMSEC_MEMORY_HARD_LIMIT, 1ull << 30), 0);
    ck_assert_int_eq(vmsec_profile_get(p, "memory.hard_limit", buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "1G");
    ck_assert_int_eq(vmsec_profile_set_memory_limit(p, VMSEC_MEMORY_HARD_LIMIT, VMSEC_PROFILE_UNLIMITED), 0);
    ck_assert_int_eq(vmsec_profile_get(p, "memory.hard_limit", buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "unlimited");
    ck_assert_int_eq(vmsec_profile_get_memory_limit(p, VMSEC_MEMORY_HARD_LIMIT, &v), 1);
    ck_assert_uint_eq(v, VMSEC_PROFILE_UNLIMITED);
    ck_assert_int_eq(vmsec_profile_set_memory_limit(p, VMSEC_MEMORY_HARD_LIMIT, 0), 0);
    ck_assert_int_eq(vmsec_profile_get_memory_limit(p, VMSEC_MEMORY_HARD_LIMIT, &v), 0);
    ck_assert_int_eq(vmsec_profile_set_hugepage_size(p, VMSEC_PROFILE_UNLIMITED), 0);
    ck_assert_int_eq(vmsec_profile_get(p, "memory.hugepages.size", buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "default");
    ck_assert_int_eq(vmsec_profile_set_numa_mode(p, VMSEC_NUMA_RESTRICTIVE), 0);
    ck_assert_int_eq(vmsec_profile_get(p, "numa.mode", buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "restrictive");
    ck_assert_int_eq(vmsec_profile_set_numa_mode(p, -1), 0);
    ck_assert_int_eq(vmsec_profile_get_numa_mode(p, &m), 0);
    ck_assert_int_eq(vmsec_profile_set_vcpu_pin(p, 3, "1-2"), 0);
    ck_assert_int_eq(vmsec_profile_set_vcpu_pin(p, 3, "4"), 0); /* replaces */
    ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, 3, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "4");
    ck_assert_int_eq(vmsec_profile_unset(p, "vcpu.3.pin"), 0);
    ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, 3, buf, sizeof(buf)), 0);
    ck_assert_int_eq(vmsec_profile_unset(p, "vcpu.3.pin"), 0); /* unsetting twice is fine */
    ck_assert_int_eq(vmsec_profile_set(p, "cpu.global_quota", "-1"), 0);
    ck_assert_int_eq(vmsec_profile_set_cpu_quota(p, VMSEC_CPU_SCOPE_GLOBAL, 0), 0);
    ck_assert_int_eq(vmsec_profile_get(p, "cpu.global_quota", buf, sizeof(buf)), 0);
    ck_assert_int_eq(vmsec_profile_set_memory_locked(p, 0), 0);
    ck_assert_int_eq(vmsec_profile_get_memory_locked(p, &m), 1);
    ck_assert_int_eq(m, 0);
    ck_assert_int_eq(vmsec_profile_set_memory_locked(p, -1), 0);
    ck_assert_int_eq(vmsec_profile_get_memory_locked(p, &m), 0);
    ck_assert_int_eq(vmsec_profile_set_name(p, "n"), 0);
    ck_assert_int_eq(vmsec_profile_set_name(p, NULL), 0);
    ck_assert_int_eq(vmsec_profile_get_name(p, buf, sizeof(buf)), 0);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(setters_reject_bad_values_and_keep_the_old_one)
{
    vmsec_profile *p = NULL;
    char buf[64];
    uint64_t v;
    ck_assert_int_eq(vmsec_profile_new(&p), 0);
    ck_assert_int_eq(vmsec_profile_set_cpu_shares(p, 100), 0);
    ck_assert_int_eq(vmsec_profile_set_cpu_shares(p, 1), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: cpu.shares: 1 is out of range 2..262144");
    ck_assert_int_eq(vmsec_profile_get_cpu_shares(p, &v), 1);
    ck_assert_uint_eq(v, 100);
    ck_assert_int_eq(vmsec_profile_set_cpu_period(p, VMSEC_CPU_SCOPE_VCPU, 10), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: cpu.vcpu_period: 10 is out of range 1000..1000000");
    ck_assert_int_eq(vmsec_profile_set_cpu_period(p, 4, 1000), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_profile_set_cpu_quota(p, VMSEC_CPU_SCOPE_EMULATOR, -5), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_profile_set_vcpu_pin(p, 0, "0-"), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: vcpu.0.pin: expected a CPU number at the end");
    ck_assert_int_eq(vmsec_profile_set_vcpu_pin(p, 8192, "0"), VMSEC_EINVAL);
    ck_assert_str_eq(vmsec_error_last(), "vmsec_profile_set_vcpu_pin: vCPU 8192 is out of range 0..8191");
    ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, 8192, buf, sizeof(buf)), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_profile_set_iothread_pin(p, 0, "0"), VMSEC_EINVAL);
    ck_assert_str_eq(vmsec_error_last(), "vmsec_profile_set_iothread_pin: iothread id 0 is out of range 1..8192");
    ck_assert_int_eq(vmsec_profile_get_iothread_pin(p, 8193, buf, sizeof(buf)), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_profile_set(p, "vcpu.8192.pin", "0"), VMSEC_ENOTFOUND);
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: vcpu.8192.pin: vCPU number 8192 is above the maximum 8191");
    ck_assert_int_eq(vmsec_profile_set_memory_limit(p, VMSEC_MEMORY_SOFT_LIMIT, 1000), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: memory.soft_limit: 1000 is not a multiple of 1024 (libvirt counts KiB)");
    ck_assert_int_eq(vmsec_profile_set_memory_limit(p, 3, 1024), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_profile_set_hugepage_size(p, 3 << 20), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: memory.hugepages.size: 3M is not a power of two");
    ck_assert_int_eq(vmsec_profile_set_name(p, "a\nb = 1"), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_profile_set_numa_mode(p, 4), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_profile_set_memory_locked(p, 2), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_profile_set_vcpus(p, 8193), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_profile_set_blkio_weight(p, 5), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_profile_set_blkio_device(p, "relative", VMSEC_BLKIO_WEIGHT, 100), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: blkio.device.0.path: 'relative' is not an absolute path");
    ck_assert_int_eq(vmsec_profile_set_blkio_device(p, "/dev/sda\n", VMSEC_BLKIO_WEIGHT, 100), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_profile_set_blkio_device(p, "/dev/sda", VMSEC_BLKIO_WEIGHT, 5000), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_profile_set_blkio_device(p, "/dev/sda", 5, 1), VMSEC_EINVAL);
    /* a rejected device setting leaves no half-made device behind */
    ck_assert_int_eq(vmsec_profile_set_blkio_device(p, "/dev/sda", VMSEC_BLKIO_READ_IOPS_SEC, 0), VMSEC_EFORMAT);
    {
        size_t n = 9;
        ck_assert_int_eq(vmsec_profile_blkio_device_count(p, &n), 0);
        ck_assert_uint_eq(n, 0);
    }
    /* generic accessors */
    ck_assert_int_eq(vmsec_profile_set(p, "cpu.sharez", "5"), VMSEC_ENOTFOUND);
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: unknown key 'cpu.sharez'");
    ck_assert_int_eq(vmsec_profile_get(p, "nope", buf, sizeof(buf)), VMSEC_ENOTFOUND);
    ck_assert_int_eq(vmsec_profile_unset(p, "nope"), VMSEC_ENOTFOUND);
    ck_assert_int_eq(vmsec_profile_set(p, "cpu.shares", " 5"), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_profile_set(p, "cpu.shares", ""), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: cpu.shares: missing value");
    ck_assert_int_eq(vmsec_profile_get_cpu_shares(p, &v), 1);
    ck_assert_uint_eq(v, 100);
    /* NULLs */
    ck_assert_int_eq(vmsec_profile_set(NULL, "cpu.shares", "5"), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_profile_set(p, NULL, "5"), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_profile_get_cpu_shares(p, NULL), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_profile_new(NULL), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_profile_equal(p, NULL), VMSEC_EINVAL);
    vmsec_profile_free(NULL);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(small_buffers_are_refused)
{
    vmsec_profile *p = parse_ok("name = abcdef\nvcpu.0.pin = 0-3,5\n");
    char buf[4] = "xyz", digest[VMSEC_PROFILE_DIGEST_MAX];
    size_t need = 0;
    ck_assert_int_eq(vmsec_profile_get_name(p, buf, sizeof(buf)), VMSEC_ETOOBIG);
    ck_assert_str_eq(vmsec_error_last(), "vmsec_profile_get_name: value needs 7 bytes, buffer has 4");
    ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, 0, buf, sizeof(buf)), VMSEC_ETOOBIG);
    ck_assert_int_eq(vmsec_profile_to_text(p, buf, sizeof(buf), &need), VMSEC_ETOOBIG);
    ck_assert_uint_eq(need, strlen("name = abcdef\nvcpu.0.pin = 0-3,5\n") + 1);
    ck_assert_str_eq(buf, "xyz");
    ck_assert_int_eq(vmsec_profile_digest(p, digest, VMSEC_PROFILE_DIGEST_MAX - 1), VMSEC_ETOOBIG);
    ck_assert_uint_eq(vmsec_profile_digest_max(), VMSEC_PROFILE_DIGEST_MAX);
    ck_assert_uint_eq(vmsec_profile_cpuset_text_max(), VMSEC_PROFILE_CPUSET_TEXT_MAX);
    ck_assert_uint_eq(vmsec_profile_max_cpus(), 8192);
    ck_assert_uint_eq(vmsec_profile_name_max(), 64);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(blkio_devices_by_path)
{
    vmsec_profile *p = NULL, *q;
    char buf[64], *t;
    size_t n;
    uint64_t v;
    ck_assert_int_eq(vmsec_profile_new(&p), 0);
    ck_assert_int_eq(vmsec_profile_set_blkio_device(p, "/dev/vdc", VMSEC_BLKIO_WRITE_BYTES_SEC, 1ull << 20), 0);
    ck_assert_int_eq(vmsec_profile_set_blkio_device(p, "/dev/vda", VMSEC_BLKIO_WEIGHT, 300), 0);
    ck_assert_int_eq(vmsec_profile_set_blkio_device(p, "/dev/vda", VMSEC_BLKIO_READ_IOPS_SEC, 50), 0);
    ck_assert_int_eq(vmsec_profile_blkio_device_count(p, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(vmsec_profile_blkio_device_path(p, 0, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/dev/vda");
    ck_assert_int_eq(vmsec_profile_blkio_device_path(p, 1, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/dev/vdc");
    ck_assert_int_eq(vmsec_profile_blkio_device_path(p, 2, buf, sizeof(buf)), VMSEC_ENOTFOUND);
    t = to_text(p);
    ck_assert_str_eq(t, "blkio.device.0.path = /dev/vda\nblkio.device.0.weight = 300\n"
                        "blkio.device.0.read_iops_sec = 50\n"
                        "blkio.device.1.path = /dev/vdc\nblkio.device.1.write_bytes_sec = 1M\n");
    q = parse_ok(t);
    ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
    free(t);
    ck_assert_int_eq(vmsec_profile_unset_blkio_device(p, "/dev/vdc", VMSEC_BLKIO_WRITE_BYTES_SEC), 0);
    ck_assert_int_eq(vmsec_profile_blkio_device_count(p, &n), 0);
    ck_assert_uint_eq(n, 1); /* a device without settings is gone */
    ck_assert_int_eq(vmsec_profile_equal(p, q), 0);
    ck_assert_int_eq(vmsec_profile_unset_blkio_device(p, "/dev/vda", VMSEC_BLKIO_WEIGHT), 0);
    ck_assert_int_eq(vmsec_profile_get_blkio_device(p, "/dev/vda", VMSEC_BLKIO_WEIGHT, &v), 0);
    ck_assert_int_eq(vmsec_profile_get_blkio_device(p, "/dev/vda", VMSEC_BLKIO_READ_IOPS_SEC, &v), 1);
    ck_assert_uint_eq(v, 50);
    ck_assert_int_eq(vmsec_profile_unset_blkio_device(p, "/dev/none", VMSEC_BLKIO_WEIGHT), 0);
    vmsec_profile_free(p);
    vmsec_profile_free(q);
}
END_TEST

START_TEST(dup_is_deep)
{
    vmsec_profile *p = parse_ok("vcpu.0.pin = 1\nblkio.device.0.path = /dev/a\nblkio.device.0.weight = 100\n"), *c = NULL;
    ck_assert_int_eq(vmsec_profile_dup(p, &c), 0);
    ck_assert_int_eq(vmsec_profile_equal(p, c), 1);
    ck_assert_int_eq(vmsec_profile_set_vcpu_pin(c, 0, "2"), 0);
    ck_assert_int_eq(vmsec_profile_set_blkio_device(c, "/dev/a", VMSEC_BLKIO_WEIGHT, 200), 0);
    ck_assert_int_eq(vmsec_profile_equal(p, c), 0);
    vmsec_profile_free(p); /* the copy must not share memory with the original */
    ck_assert_int_eq(vmsec_profile_set_blkio_device(c, "/dev/a", VMSEC_BLKIO_WEIGHT, 300), 0);
    vmsec_profile_free(c);
}
END_TEST

/* ---- consistency, digest ----------------------------------------------------------------- */

START_TEST(inconsistent_profiles_are_not_serialised)
{
    vmsec_profile *p = NULL;
    char buf[256], d[VMSEC_PROFILE_DIGEST_MAX];
    ck_assert_int_eq(vmsec_profile_new(&p), 0);
    ck_assert_int_eq(vmsec_profile_set_memory_locked(p, 1), 0); /* fine on its own */
    ck_assert_int_eq(vmsec_profile_validate(p), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: memory.locked: locking memory requires memory.hard_limit");
    ck_assert_int_eq(vmsec_profile_to_text(p, buf, sizeof(buf), NULL), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_profile_digest(p, d, sizeof(d)), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_profile_set_memory_limit(p, VMSEC_MEMORY_HARD_LIMIT, 1ull << 30), 0);
    ck_assert_int_eq(vmsec_profile_validate(p), 0);
    ck_assert_int_eq(vmsec_profile_to_text(p, buf, sizeof(buf), NULL), 0);
    ck_assert_str_eq(buf, "memory.hard_limit = 1G\nmemory.locked = yes\n");
    /* a device with settings but whose path was removed through the generic API */
    ck_assert_int_eq(vmsec_profile_set(p, "blkio.device.5.weight", "100"), 0);
    ck_assert_int_eq(vmsec_profile_validate(p), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: blkio.device.5: missing blkio.device.5.path");
    vmsec_profile_free(p);
}
END_TEST

START_TEST(digest_is_stable_and_sensitive)
{
    const char *text = "name = web\nvcpu.0.pin = 2\nmemory.hard_limit = 4G\nmemory.locked = yes\n";
    vmsec_profile *p = parse_ok(text);
    char d[VMSEC_PROFILE_DIGEST_MAX], d2[VMSEC_PROFILE_DIGEST_MAX], want[VMSEC_PROFILE_DIGEST_MAX];
    unsigned char h[32];
    ck_assert_int_eq(vmsec_profile_digest(p, d, sizeof(d)), 0);
    /* the documented definition: SHA-256 of the canonical text */
    crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
    strcpy(want, "sha256:");
    sodium_bin2hex(want + 7, sizeof(want) - 7, h, sizeof(h));
    ck_assert_str_eq(d, want);
    /* and pinned, so the format cannot drift silently between releases */
    ck_assert_str_eq(d, "sha256:b0bb62f33f7c8b331a6dc90b69518f57d184df944e794cf27c0a6ca22e3d4ff9");
    /* every single change moves the digest */
    static const char *changes[][2] = {
        {"name", "web2"}, {"vcpu.0.pin", "3"}, {"memory.hard_limit", "5G"}, {"memory.locked", "no"},
        {"vcpu.1.pin", "2"}, {"cpu.shares", "1024"}, {"memory.nosharepages", "no"},
    };
    for (size_t i = 0; i < LEN(changes); i++) {
        vmsec_profile *c = NULL;
        ck_assert_int_eq(vmsec_profile_dup(p, &c), 0);
        ck_assert_int_eq(vmsec_profile_set(c, changes[i][0], changes[i][1]), 0);
        ck_assert_int_eq(vmsec_profile_digest(c, d2, sizeof(d2)), 0);
        ck_assert_str_ne(d, d2);
        vmsec_profile_free(c);
    }
    vmsec_profile_free(p);
}
END_TEST

/* ---- domain checks ----------------------------------------------------------------------- */

START_TEST(domain_shape_is_checked)
{
    vmsec_profile *p = parse_ok("vcpus = 4\nvcpu.0.pin = 1\nvcpu.3.pin = 2\niothread.2.pin = 0\n"
                                "cpu.iothread_quota = 5000\niothreads = 1\n");
    ck_assert_int_eq(vmsec_profile_check_domain(p, 4, (const unsigned[]){2}, 1), 0);
    ck_assert_int_eq(vmsec_profile_check_domain(p, 2, (const unsigned[]){1}, 1), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile t.conf:1: vcpus: profile expects 4 vCPUs, domain has 2\n"
                                         "profile t.conf:3: vcpu.3.pin: domain has only 2 vCPUs\n"
                                         "profile t.conf:4: iothread.2.pin: domain has no I/O thread 2");
    ck_assert_int_eq(vmsec_profile_check_domain(p, 4, NULL, 0), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile t.conf:4: iothread.2.pin: domain has no I/O thread 2\n"
                                         "profile t.conf:5: cpu.iothread_quota: domain has no I/O threads\n"
                                         "profile t.conf:6: iothreads: profile expects 1 I/O threads, domain has 0");
    ck_assert_int_eq(vmsec_profile_check_domain(p, 4, NULL, 1), VMSEC_EINVAL);
    vmsec_profile_free(p);
    p = parse_ok("vcpu.5.pin = 1\n");
    ck_assert_int_eq(vmsec_profile_check_domain(p, 1, NULL, 0), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "profile t.conf:1: vcpu.5.pin: domain has only 1 vCPU");
    vmsec_profile_free(p);
}
END_TEST

/* ---- files ------------------------------------------------------------------------------- */

START_TEST(files_load_and_save)
{
    char path[PATH_MAX], out[PATH_MAX];
    vmsec_profile *p = NULL, *q = NULL;
    struct stat st;
    snprintf(path, sizeof(path), "%s/in.conf", dir);
    snprintf(out, sizeof(out), "%s/out.conf", dir);
    vt_write_file(path, "cpu.shares = 100\nbad = 1\n", 25, 0644);
    ck_assert_int_eq(vmsec_profile_load_file(&p, path), VMSEC_EFORMAT);
    ck_assert_ptr_null(p);
    {
        char want[PATH_MAX + 64];
        snprintf(want, sizeof(want), "profile %s:2: unknown key 'bad'", path);
        ck_assert_str_eq(vmsec_error_last(), want);
    }
    vt_write_file(path, "cpu.shares = 100\r\nname = f\r\n", 28, 0644);
    ck_assert_int_eq(vmsec_profile_load_file(&p, path), 0);
    ck_assert_int_eq(vmsec_profile_save_file(p, out), 0);
    ck_assert_str_eq(slurp(out), "name = f\ncpu.shares = 100\n");
    ck_assert_int_eq(stat(out, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644);
    ck_assert_int_eq(vmsec_profile_load_file(&q, out), 0);
    ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
    vmsec_profile_free(q);
    /* replacing works, and no temporary file is left behind */
    ck_assert_int_eq(vmsec_profile_set_cpu_shares(p, 200), 0);
    ck_assert_int_eq(vmsec_profile_save_file(p, out), 0);
    ck_assert_str_eq(slurp(out), "name = f\ncpu.shares = 200\n");
    {
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 2", dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    snprintf(out, sizeof(out), "%s/missing/out.conf", dir);
    ck_assert_int_eq(vmsec_profile_save_file(p, out), VMSEC_ENOTFOUND);
    vmsec_profile_free(p);
    snprintf(path, sizeof(path), "%s/none.conf", dir);
    ck_assert_int_eq(vmsec_profile_load_file(&p, path), VMSEC_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "none.conf"));
    ck_assert_int_eq(vmsec_profile_load_file(&p, dir), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "not a regular file"));
    ck_assert_int_eq(vmsec_profile_load_file(&p, "/dev/null"), VMSEC_EINVAL);
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
    tcase_add_test(tc, many_errors_are_summarised);
    tcase_add_test(tc, string_source_name_defaults);
    tcase_add_test(tc, crlf_blanks_comments_tabs_and_missing_final_newline);
    tcase_add_test(tc, hostile_inputs_are_rejected_cleanly);
    tcase_add_test(tc, thousands_of_pins_in_any_order);
    tcase_add_test(tc, mutated_texts_parse_or_fail_cleanly);
    tcase_add_test(tc, example_round_trip_is_canonical);
    tcase_add_test(tc, order_spelling_and_device_labels_do_not_matter);
    tcase_add_test(tc, random_profiles_round_trip);
    tcase_add_test(tc, getters_report_unset);
    tcase_add_test(tc, setters_then_unset);
    tcase_add_test(tc, setters_reject_bad_values_and_keep_the_old_one);
    tcase_add_test(tc, small_buffers_are_refused);
    tcase_add_test(tc, blkio_devices_by_path);
    tcase_add_test(tc, dup_is_deep);
    tcase_add_test(tc, inconsistent_profiles_are_not_serialised);
    tcase_add_test(tc, digest_is_stable_and_sensitive);
    tcase_add_test(tc, domain_shape_is_checked);
    tcase_add_test(tc, files_load_and_save);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
