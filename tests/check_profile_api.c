/* SPDX-License-Identifier: ISC */
/* check_profile cases on the accessors (getters, setters, bad values, small buffers, blkio devices,
 * dup), consistency before serialising, the digest, domain checks, and files. */
#include <sodium.h>

#include "check_profile.h"

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
    for (size_t i = 0; i < nkeys; i++)
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
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: unknown key 'cpu.sharez' (did you mean 'cpu.shares'?)");
    ck_assert_int_eq(vmsec_profile_set(p, "emulator", "5"), VMSEC_ENOTFOUND); /* too far from any key */
    ck_assert_str_eq(vmsec_error_last(), "profile <api>: unknown key 'emulator'");
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

void profile_add_api_tests(TCase *tc)
{
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
}
