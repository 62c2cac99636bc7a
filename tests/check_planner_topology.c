/* SPDX-License-Identifier: ISC */
/* check_planner cases on host topologies: the text form and its errors, the builder API, NUMA
 * capabilities XML and the libvirt test driver. */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "check_planner.h"

/* ---- topology ---------------------------------------------------------------------------------- */

START_TEST(topology_text_round_trip)
{
    static const char text[] = "# two cores\n"
                               "cpu 0 node 0 socket 0 core 0\n"
                               "\n"
                               "  cpu 2 node 0 socket 0 core 0\n"
                               "cpu 1 socket 0 core 1 node 0\n"
                               "cpu 3 node 0 socket 0 die 0 core 1 offline\n";
    vmsec_topology *t, *t2;
    char buf[512], buf2[512], sib[64];
    size_t need;
    unsigned int cpus, cores, nodes;
    ck_assert_int_eq(vmsec_topology_parse(&t, text, strlen(text), "t"), 0);
    ck_assert_int_eq(vmsec_topology_to_text(t, NULL, 0, &need), 0);
    ck_assert_int_eq(vmsec_topology_to_text(t, buf, need - 1, NULL), VMSEC_ETOOBIG);
    ck_assert_int_eq(vmsec_topology_to_text(t, buf, sizeof(buf), NULL), 0);
    ck_assert_uint_eq(strlen(buf) + 1, need);
    ck_assert_str_eq(buf, "cpu 0 node 0 socket 0 die 0 core 0\n"
                          "cpu 1 node 0 socket 0 die 0 core 1\n"
                          "cpu 2 node 0 socket 0 die 0 core 0\n"
                          "cpu 3 node 0 socket 0 die 0 core 1 offline\n");
    ck_assert_int_eq(vmsec_topology_parse(&t2, buf, strlen(buf), "t2"), 0);
    ck_assert_int_eq(vmsec_topology_to_text(t2, buf2, sizeof(buf2), NULL), 0);
    ck_assert_str_eq(buf, buf2);
    ck_assert_int_eq(vmsec_topology_counts(t, &cpus, &cores, &nodes), 0);
    ck_assert_uint_eq(cpus, 3);
    ck_assert_uint_eq(cores, 2);
    ck_assert_uint_eq(nodes, 1);
    ck_assert_int_eq(vmsec_topology_siblings(t, 1, sib, sizeof(sib)), 0);
    ck_assert_str_eq(sib, "1,3");
    ck_assert_int_eq(vmsec_topology_siblings(t, 7, sib, sizeof(sib)), VMSEC_ENOTFOUND);
    vmsec_topology_free(t);
    vmsec_topology_free(t2);
}
END_TEST

static void parse_fails(const char *text, const char *msg)
{
    vmsec_topology *t = (vmsec_topology *)1;
    ck_assert_int_eq(vmsec_topology_parse(&t, text, strlen(text), "h.topo"), VMSEC_EFORMAT);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(vmsec_error_last(), msg);
}

START_TEST(topology_text_errors)
{
    parse_fails("cpu 0 node 0 socket 0 core 0\ncpu 0 node 0 socket 0 core 1\n", "topology h.topo:2: CPU 0 listed twice");
    parse_fails("cpu 0 node 0 socket 0\n", "topology h.topo:1: cpu 0: missing 'core'");
    parse_fails("node 0 cpu 1\n", "topology h.topo:1: expected cpu, found 'node'");
    parse_fails("cpu 1 node x socket 0 core 0\n", "topology h.topo:1: node needs a number from 0 to 8191");
    parse_fails("cpu 9000 node 0 socket 0 core 0\n", "topology h.topo:1: cpu needs a number from 0 to 8191");
    parse_fails("cpu 1 node 0 node 0\n", "topology h.topo:1: 'node' given twice");
    parse_fails("cpu 1 node 0 socket 0 core 0 threads 2\n",
                "topology h.topo:1: expected node, socket, die, core or offline, found 'threads'");
}
END_TEST

START_TEST(topology_siblings_on_two_nodes_refused)
{
    static const char text[] = "cpu 0 node 0 socket 0 core 0\ncpu 1 node 1 socket 0 core 0\n";
    vmsec_topology *t;
    vmsec_planner *p = (vmsec_planner *)1;
    ck_assert_int_eq(vmsec_topology_parse(&t, text, strlen(text), NULL), 0);
    ck_assert_int_eq(vmsec_planner_new(&p, t), VMSEC_EFORMAT);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(vmsec_error_last(), "topology: CPUs 0 and 1 are threads of one core but on nodes 0 and 1");
    vmsec_topology_free(t);
}
END_TEST

START_TEST(topology_api_build)
{
    vmsec_topology *t;
    vmsec_planner *p;
    ck_assert_int_eq(vmsec_topology_new(&t), 0);
    ck_assert_int_eq(vmsec_topology_add_cpu(t, 0, 0, 0, 0, 0, 1), 0);
    ck_assert_int_eq(vmsec_topology_add_cpu(t, 1, 0, 0, 0, 0, 1), 0);
    ck_assert_int_eq(vmsec_topology_add_cpu(t, 1, 0, 0, 0, 1, 1), VMSEC_EEXIST);
    ck_assert_int_eq(vmsec_topology_add_cpu(t, 8192, 0, 0, 0, 1, 1), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_planner_new(&p, t), 0);
    vmsec_topology_free(t); /* the planner keeps its own copy */
    ck_assert_str_eq(req(p, "a", 2, REQ, SHARE, NODE, true), "v=0,1 e=0-1 b=");
    vmsec_planner_free(p);

    ck_assert_int_eq(vmsec_topology_new(&t), 0);
    ck_assert_int_eq(vmsec_topology_add_cpu(t, 0, 0, 0, 0, 0, 0), 0);
    ck_assert_int_eq(vmsec_planner_new(&p, t), VMSEC_EHOST);
    vmsec_topology_free(t);
}
END_TEST

/* A 2-node host with SMT-2 on node 0, an offline CPU (no ids, as libvirt lists it), and a
 * sibling list that disagrees with core ids (siblings win). */
static const char caps_xml[] =
    "<capabilities><host><cpu><arch>x86_64</arch></cpu><topology><cells num='2'>"
    "<cell id='0'><memory unit='KiB'>1024</memory><cpus num='4'>"
    "<cpu id='0' socket_id='0' die_id='0' core_id='0' siblings='0,2'/>"
    "<cpu id='1' socket_id='0' die_id='0' core_id='1' siblings='1,3'/>"
    "<cpu id='2' socket_id='0' die_id='0' core_id='0' siblings='0,2'/>"
    "<cpu id='3' socket_id='0' die_id='0' core_id='7' siblings='1,3'/>"
    "</cpus></cell>"
    "<cell id='1'><cpus num='2'>"
    "<cpu id='4' socket_id='1' die_id='0' core_id='0' siblings='4'/>"
    "<cpu id='5'/>"
    "</cpus></cell></cells></topology></host></capabilities>";

START_TEST(topology_from_capabilities)
{
    vmsec_topology *t;
    vmsec_planner *p;
    unsigned int cpus, cores, nodes;
    char sib[64];
    ck_assert_int_eq(vmsec_topology_from_capabilities(&t, caps_xml, strlen(caps_xml)), 0);
    ck_assert_int_eq(vmsec_topology_counts(t, &cpus, &cores, &nodes), 0);
    ck_assert_uint_eq(cpus, 5);
    ck_assert_uint_eq(cores, 4); /* {0,2} {1,3} {4} {5 offline} */
    ck_assert_uint_eq(nodes, 2);
    ck_assert_int_eq(vmsec_topology_siblings(t, 3, sib, sizeof(sib)), 0);
    ck_assert_str_eq(sib, "1,3");
    ck_assert_int_eq(vmsec_planner_new(&p, t), 0);
    ck_assert_str_eq(freecpus(p), "0-4");
    ck_assert_str_eq(req(p, "a", 2, ISO, SHARE, NODE, true), "v=0,2 e=0,2 b=");
    ck_assert_str_eq(req(p, "b", 1, ISO, SHARE, NODE, true), "v=1 e=1 b=3");
    ck_assert_str_eq(req(p, "c", 1, ISO, SHARE, NODE, true), "v=4 e=4 b=");
    vmsec_planner_free(p);
    vmsec_topology_free(t);

    t = (vmsec_topology *)1;
    ck_assert_int_eq(vmsec_topology_from_capabilities(&t, "<capabilities><host/>", 21), VMSEC_EFORMAT);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(vmsec_topology_from_capabilities(&t, "<capabilities><host/></capabilities>", 36), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "capabilities: no <host><topology><cells> element");
}
END_TEST

START_TEST(topology_from_libvirt_test_driver)
{
    virConnectPtr conn;
    char *caps;
    vmsec_topology *a, *b;
    char ta[4096], tb[4096];
    unsigned int cpus, cores, nodes;
    ck_assert_int_eq(vmsec_topology_from_libvirt(&a, "test:///default"), 0);
    ck_assert_int_eq(vmsec_topology_counts(a, &cpus, &cores, &nodes), 0);
    ck_assert_uint_eq(cpus, 16);
    ck_assert_uint_eq(cores, 16); /* the test driver has no SMT */
    ck_assert_uint_eq(nodes, 2);
    /* The same as parsing the capabilities XML ourselves. */
    conn = virConnectOpenReadOnly("test:///default");
    ck_assert_ptr_nonnull(conn);
    caps = virConnectGetCapabilities(conn);
    ck_assert_ptr_nonnull(caps);
    ck_assert_int_eq(vmsec_topology_from_capabilities(&b, caps, strlen(caps)), 0);
    ck_assert_int_eq(vmsec_topology_to_text(a, ta, sizeof(ta), NULL), 0);
    ck_assert_int_eq(vmsec_topology_to_text(b, tb, sizeof(tb), NULL), 0);
    ck_assert_str_eq(ta, tb);
    ck_assert_ptr_nonnull(strstr(ta, "cpu 8 node 1 socket 1 die 0 core 0\n"));
    free(caps);
    virConnectClose(conn);
    vmsec_topology_free(a);
    vmsec_topology_free(b);
    ck_assert_int_eq(vmsec_topology_from_libvirt(&a, "nosuchdriver:///x"), VMSEC_ELIBVIRT);
    /* libvirt's own explanation differs with whether a daemon is running; vmsec's part does not. */
    ck_assert_msg(strncmp(vmsec_error_last(), "topology: cannot connect to nosuchdriver:///x: ",
                          strlen("topology: cannot connect to nosuchdriver:///x: ")) == 0,
                  "%s", vmsec_error_last());
    /* NULL: libvirt's default URI */
    setenv("LIBVIRT_DEFAULT_URI", "test:///default", 1);
    ck_assert_int_eq(vmsec_topology_from_libvirt(&a, NULL), 0);
    unsetenv("LIBVIRT_DEFAULT_URI");
    ck_assert_int_eq(vmsec_topology_counts(a, &cpus, NULL, NULL), 0);
    ck_assert_uint_eq(cpus, 16);
    vmsec_topology_free(a);
}
END_TEST

TCase *planner_topology_tcase(void)
{
    TCase *tc = tcase_create("topology");
    tcase_add_test(tc, topology_text_round_trip);
    tcase_add_test(tc, topology_text_errors);
    tcase_add_test(tc, topology_siblings_on_two_nodes_refused);
    tcase_add_test(tc, topology_api_build);
    tcase_add_test(tc, topology_from_capabilities);
    tcase_add_test(tc, topology_from_libvirt_test_driver);
    return tc;
}
