#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Reads bench/results.jsonl (one run of every benchmark) and prints the ratios against the floors
set for vmsec, each marked met or missed. Run by bench/run.sh after the benchmarks."""
import json
import sys


def guest_ratios(rows):
    """Ratio rows for bench_vsock_guest (vsock inside the QEMU TCG test guest). No floors: the floors
    are for the host; emulation slows code unevenly, so only ratios within the guest mean anything."""
    def one(**kw):
        return next((r for r in rows if all(r.get(k) == v for k, v in kw.items())), None)

    out = ["### Ratios inside the test guest (vsock, QEMU TCG; no floors)", "",
           "| measurement (guest) | vmsec | reference | ratio |", "|---|---:|---:|---:|"]
    whole = one(bench="vsock_guest")
    if whole:
        why = f"skipped: {whole['skipped']}" if "skipped" in whole else f"FAILED: {whole.get('failed')}"
        return "\n".join(out + [f"| guest benchmark | {why} | | |"])
    for cid in ("vmsec-chachapoly-blake2b", "vmsec-chachapoly-sha256", "vmsec-aesgcm-blake2b", "vmsec-aesgcm-sha256"):
        cipher = "AESGCM" if "aesgcm" in cid else "ChaChaPoly"
        skipped = one(bench="vsock_guest_throughput", contender=cid, size=None)
        if skipped and "skipped" in skipped:
            out.append(f"| {cid} over guest vsock | skipped: {skipped['skipped']} | | |")
            continue
        t = one(bench="vsock_guest_throughput", contender=cid, size=65536)
        aead = one(bench="vsock_guest_aead", cipher=cipher, size=65536)
        raw = one(bench="vsock_guest_throughput", contender="raw", size=65536)
        raw64 = one(bench="vsock_guest_throughput", contender="raw", size=64)
        t64 = one(bench="vsock_guest_throughput", contender=cid, size=64)
        if t and aead:
            out.append(f"| 64 KiB throughput, {cid} vs in-guest single-core libsodium {cipher} | "
                       f"{t['mb_per_s']:.1f} MB/s | {aead['mb_per_s']:.1f} MB/s | "
                       f"{t['mb_per_s'] / aead['mb_per_s']:.2f} |")
        if t and raw:
            out.append(f"| 64 KiB throughput, {cid} vs raw vsock | {t['mb_per_s']:.1f} MB/s | "
                       f"{raw['mb_per_s']:.1f} MB/s | {t['mb_per_s'] / raw['mb_per_s']:.2f} |")
        if t64 and raw64:
            out.append(f"| 64 B messages/s, {cid} vs raw vsock | {t64['msgs_per_s']:.0f}/s | "
                       f"{raw64['msgs_per_s']:.0f}/s | {t64['msgs_per_s'] / raw64['msgs_per_s']:.2f} |")
    return "\n".join(out) if len(out) > 4 else ""


# X25519 operations per handshake, both sides together: (key pairs, DH). XX: each side makes an
# ephemeral key pair and computes ee, es/se and se/es; IK: each side also computes es and ss.
HANDSHAKE_X25519 = {"vmsec-xx": (2, 6), "vmsec-ik-first": (2, 8)}


def handshake_bound(rows, tls13):
    """Rows giving the least time a handshake could take on this machine if it did nothing but its
    X25519 operations, each at the fastest cost measured in this run by any library here (a key pair
    at the cost of a bare fixed-base comb, which no library turns into an X25519 key pair that fast).
    When this bound is over the handshake floor, no implementation on these libraries meets it."""
    x = [r for r in rows if r.get("bench") == "x25519"]
    dh = [r["median_us"] for r in x if r["op"] in ("sodium-dh", "evp-dh-kept")]
    kp = [r["median_us"] for r in x if r["op"] in ("sodium-base", "evp-keygen", "sodium-ed-base")]
    if not (dh and kp and tls13):
        return []
    out = []
    for cid, (pairs, dhs) in HANDSHAKE_X25519.items():
        bound = pairs * min(kp) + dhs * min(dh)
        r = bound / tls13["median_us"]
        out.append(f"| lower bound for {cid}: {pairs} key pairs at {min(kp):.1f} µs + {dhs} DH at {min(dh):.1f} µs, "
                   f"nothing else | {bound:.0f} µs | {tls13['median_us']:.0f} µs | {r:.2f} | <= 0.45 | "
                   f"{'reachable' if r <= 0.45 else 'out of reach with these libraries'} |")
    return out


def issue15_floors(rows, one):
    """The floors of issue 15 (a faster default build), each stated, measured in this run and marked
    met or NOT met: 64 KiB >= 1.3x TLS 1.3's best suite, handshake median (XX and IK first contact)
    <= 0.45x TLS 1.3 (moonshot 0.35x), heap per idle channel <= 1 KiB."""
    out = ["### Floors: a faster default build (issue 15)", "",
           "| floor | vmsec | reference | ratio | floor | |", "|---|---:|---:|---:|---:|---|"]

    def row(what, mine, ref, ratio, floor, ok, extra=""):
        out.append(f"| {what} | {mine} | {ref} | {ratio} | {floor} | {'met' if ok else 'NOT met'}{extra} |")

    tls = [r for r in rows if r.get("bench") == "throughput" and r.get("size") == 65536
           and r.get("contender", "").startswith("tls-")]
    best = max(tls, key=lambda r: r["mb_per_s"]) if tls else None
    for cid in ("vmsec-chachapoly-blake2b", "vmsec-chachapoly-sha256", "vmsec-aesgcm-blake2b", "vmsec-aesgcm-sha256"):
        t = one(bench="throughput", contender=cid, size=65536)
        if t and best:
            r = t["mb_per_s"] / best["mb_per_s"]
            row(f"64 KiB throughput, {cid} vs TLS 1.3's best suite ({best['contender']})",
                f"{t['mb_per_s']:.0f} MB/s", f"{best['mb_per_s']:.0f} MB/s", f"{r:.2f}", ">= 1.30", r >= 1.3)
    tls13 = one(bench="handshake", contender="tls13")
    for cid in ("vmsec-xx", "vmsec-ik-first"):
        h = one(bench="handshake", contender=cid)
        if tls13 and h:
            r = h["median_us"] / tls13["median_us"]
            row(f"handshake median, {cid} vs TLS 1.3", f"{h['median_us']:.0f} µs", f"{tls13['median_us']:.0f} µs",
                f"{r:.2f}", "<= 0.45", r <= 0.45, " (moonshot <= 0.35: " + ("met" if r <= 0.35 else "not met") + ")")
    out.extend(handshake_bound(rows, tls13))
    m = one(bench="memory")
    if m:
        row(f"heap per idle channel ({m['channels']} channels)", f"{m['heap_per_channel']:.0f} B", "1024 B",
            f"{m['heap_per_channel'] / 1024:.2f}", "<= 1.00", m["heap_per_channel"] <= 1024)
    if len(out) == 4:
        out.append("| (no measurements in this run) | | | | | |")
    return "\n".join(out)


def packing_floors(rows):
    """Issue 15, section 3 (message packing): small messages through vmsec channels against TLS 1.3
    with the same batching (both flush at the same messages, bench_vmsec.c), per suite, in
    messages per second; the other AEAD backend's rows too
    (bench_transport_other: -libsodium in a default build, -libcrypto in a libsodium-only one)."""
    def one(**kw):
        return next((r for r in rows if all(r.get(k) == v for k, v in kw.items())), None)

    out = ["### Message packing: ratios against the floors", "",
           "| measurement | vmsec | TLS 1.3 batched | ratio | floor | |", "|---|---:|---:|---:|---:|---|"]
    for suite, tls in (("chachapoly", "tls-chacha-batch"), ("aesgcm", "tls-aesgcm-batch")):
        for size, label in ((64, "64 B"), (1024, "1 KiB")):
            t = one(bench="throughput", contender=tls, size=size)
            for backend in ("", "-libsodium", "-libcrypto"):
                for h in ("blake2b", "sha256"):
                    cid = f"vmsec-{suite}-{h}{backend}"
                    v = one(bench="throughput", contender=cid, size=size)
                    if not (v and t):
                        continue
                    r = v["msgs_per_s"] / t["msgs_per_s"]
                    out.append(f"| {label} messages/s, {cid} vs {tls} | {v['msgs_per_s']:.0f}/s | "
                               f"{t['msgs_per_s']:.0f}/s | {r:.2f} | >= 1.00 | {'met' if r >= 1.0 else 'MISSED'} |")
    return "\n".join(out) if len(out) > 4 else ""


def vmsecd_goals(one, rows_of):
    """vmsecd's goals (issue 17): a started domain's profile applied and verified within 100 ms
    (median), and the periodic verify's cost for 1,000 domains and the resync time, stated."""
    lat, cost, resync = one(bench="vmsecd_event_to_enforced"), one(bench="vmsecd_verify"), one(bench="vmsecd_resync")
    if not (lat or cost or resync):
        return ""
    out = ["### vmsecd: goals", "", "| measurement | value | goal | |", "|---|---:|---:|---|"]
    if lat and "skipped" in lat:
        out.append(f"| domain started to profile applied and verified | skipped: {lat['skipped']} | <= 100 ms | |")
    elif lat:
        med = lat["median_ms_after_start_returned"]
        out.append(f"| domain started to profile applied and verified (median of {lat['cycles']}, QEMU TCG) | "
                   f"{med:.0f} ms | <= 100 ms | {'met' if med <= 100 else 'MISSED'} |")
        out.append(f"| of which the verify, applied record to verified record (median) | "
                   f"{lat['median_ms_applied_to_verified']:.0f} ms | (no goal) | |")
    if cost:
        out.append(f"| periodic verify of {cost['domains']} domains, CPU-s per minute at --interval 60 (test driver) | "
                   f"{cost['cpu_s_per_min_interval_60']:.2f} | (stated) | |")
    for r in rows_of(bench="vmsecd_resync"):
        restart = f", {r['ms_from_restart']:.0f} ms from the libvirtd restart" if "ms_from_restart" in r else ""
        out.append(f"| resync of {r['domains']} domains after a (re)connect ({r['driver']} driver{restart}) | "
                   f"{r['ms']:.0f} ms | (stated) | |")
    return "\n".join(out)


def session_rows(rows):
    """Sessions (issue 18, bench_session): throughput and 64 B message rate against a plain channel
    measured in the same run (floor 0.90 of the channel), the time from a cut to the first message
    after it (backoff at its minimum), and the heap of an idle session beside an idle channel's."""
    def one(**kw):
        return next((r for r in rows if all(r.get(k) == v for k, v in kw.items())), None)

    out = ["### Sessions: ratios against a plain channel (issue 18)", "",
           "| measurement | session | channel | ratio, median (range) | floor | |", "|---|---:|---:|---:|---:|---|"]
    t = one(bench="session", what="throughput")
    if t:
        r = t["ratio"]
        out.append(f"| 64 KiB throughput, session vs plain channel ({t['tries']} tries) | {t['session_mb_per_s']:.0f} MB/s | "
                   f"{t['channel_mb_per_s']:.0f} MB/s | {r:.2f} ({t['ratio_min']:.2f}-{t['ratio_max']:.2f}) | "
                   f">= 0.90 | {'met' if r >= 0.9 else 'MISSED'} |")
    m = one(bench="session", what="rate")
    if m:
        r = m["ratio"]
        out.append(f"| 64 B messages/s, session vs plain channel ({m['tries']} tries) | {m['session_msgs_per_s']:.0f}/s | "
                   f"{m['channel_msgs_per_s']:.0f}/s | {r:.2f} ({m['ratio_min']:.2f}-{m['ratio_max']:.2f}) | "
                   f">= 0.90 | {'met' if r >= 0.9 else 'MISSED'} |")
    c = one(bench="session", what="resume")
    if c:
        out.append(f"| cut to first message after it, median / p99 of {c['cuts']} (backoff 1 ms) | "
                   f"{c['median_ms']:.2f} / {c['p99_ms']:.2f} ms | | | (no floor) | |")
    h = one(bench="session", what="memory")
    if h:
        out.append(f"| heap per idle session ({h['sessions']}), its channel included | {h['heap_per_session']:.0f} B | "
                   f"{h['heap_per_channel']:.0f} B | {h['heap_per_session'] / h['heap_per_channel']:.2f} | "
                   f"(no floor) | |")
    return "\n".join(out) if len(out) > 4 else ""


def relay_rows(rows):
    """The relay (issue 16, bench_relay): relayed and two linked relays against direct, as the median
    of the per-try ratios with their range (floor 0.80 and goal 0.90 for a vmsec channel through one
    relay), and the time until a request is accepted through one relay and through two (a new link)."""
    def one(**kw):
        return next((r for r in rows if all(r.get(k) == v for k, v in kw.items())), None)

    out = ["### Relay: ratios against direct (issue 16)", "",
           "| measurement | through the relay(s) | direct | ratio, median (range) | floor | |", "|---|---:|---:|---:|---:|---|"]
    for payload in ("vmsec", "raw"):
        d = one(bench="relay", payload=payload, path="direct")
        for path, label in (("relayed", "one relay"), ("two-relays", "two linked relays")):
            r = one(bench="relay", payload=payload, path=path)
            if not (d and r and "ratio_median" in r):
                continue
            med = r["ratio_median"]
            if payload == "vmsec" and path == "relayed":
                floor = ">= 0.80 (goal 0.90)"
                verdict = ("met, goal met" if med >= 0.9 else "met, goal not met") if med >= 0.8 else "MISSED"
            else:
                floor, verdict = "(no floor)", ""
            out.append(f"| {payload} throughput, {label} vs direct ({r['tries']} tries) | {r['throughput_mbps']:.0f} MB/s | "
                       f"{d['throughput_mbps']:.0f} MB/s | {med:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) | "
                       f"{floor} | {verdict} |")
    one_relay, two = one(bench="relay_setup", path="relayed"), one(bench="relay_setup", path="two-relays")
    if one_relay and two:
        out.append(f"| request accepted, median of {two['requests']} (two relays: a new link, TCP + Noise IK) | "
                   f"{two['median_us']:.0f} µs | {one_relay['median_us']:.0f} µs (one relay) | "
                   f"{two['median_us'] / one_relay['median_us']:.2f} | (no floor) | |")
    return "\n".join(out) if len(out) > 4 else ""


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]

    def pick(**kw):
        return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]

    def one(**kw):
        found = pick(**kw)
        return found[0] if found else None

    out = ["### Ratios against the floors", "",
           "| measurement | vmsec | reference | ratio | floor | |", "|---|---:|---:|---:|---:|---|"]

    def row(what, mine, ref, ratio, floor, ok):
        out.append(f"| {what} | {mine} | {ref} | {ratio:.2f} | {floor} | {'met' if ok else 'MISSED'} |")

    # bench_transport_other measures the backend configure did not choose: its ids name it.
    default_is_libcrypto = any(r.get("contender", "").endswith("-libsodium") for r in rows)
    impl, other_impl = ("OpenSSL", "libsodium") if default_is_libcrypto else ("libsodium", "OpenSSL")
    other_suffix = "-libsodium" if default_is_libcrypto else "-libcrypto"
    names = {"OpenSSL": "OpenSSL libcrypto", "libsodium": "libsodium"}

    for cipher, ids in (("ChaChaPoly", ("vmsec-chachapoly-blake2b", "vmsec-chachapoly-sha256")),
                        ("AESGCM", ("vmsec-aesgcm-blake2b", "vmsec-aesgcm-sha256"))):
        aead = one(bench="aead", cipher=cipher, impl=impl, size=65536)
        for cid in ids:
            t = one(bench="throughput", contender=cid, size=65536)
            if aead and t:
                r = t["mb_per_s"] / aead["mb_per_s"]
                row(f"64 KiB throughput, {cid} vs single-core {names[impl]} {cipher}",
                    f"{t['mb_per_s']:.0f} MB/s", f"{aead['mb_per_s']:.0f} MB/s", r, ">= 0.90", r >= 0.90)
            raw = one(bench="throughput", contender="raw", size=65536)
            if aead and t and raw:
                # Each thread encrypts (or decrypts) every byte and also moves it through the socket;
                # the raw row measures the second part alone, so a pipeline of the two cannot beat
                # 1 / (1/AEAD + 1/raw).
                ceiling = 1 / (1 / aead["mb_per_s"] + 1 / raw["mb_per_s"])
                out.append(f"| 64 KiB throughput, {cid} vs the ceiling 1/(1/AEAD + 1/raw socket) | "
                           f"{t['mb_per_s']:.0f} MB/s | {ceiling:.0f} MB/s | {t['mb_per_s'] / ceiling:.2f} | "
                           f"(no floor; the ceiling is {ceiling / aead['mb_per_s']:.2f} of the AEAD rate) | |")
    for cid, tls in (("vmsec-chachapoly-blake2b", "tls-chacha"), ("vmsec-aesgcm-blake2b", "tls-aesgcm")):
        v, t = one(bench="throughput", contender=cid, size=64), one(bench="throughput", contender=tls, size=64)
        if v and t:
            r = v["msgs_per_s"] / t["msgs_per_s"]
            row(f"64 B messages/s, {cid} (batched) vs {tls} (one write per message)",
                f"{v['msgs_per_s']:.0f}/s", f"{t['msgs_per_s']:.0f}/s", r, ">= 2.00", r >= 2.0)
        tb = one(bench="throughput", contender=tls + "-batch", size=64)
        if v and tb:
            r = v["msgs_per_s"] / tb["msgs_per_s"]
            out.append(f"| 64 B messages/s, {cid} vs {tls}-batch (TLS with the same batching) | "
                       f"{v['msgs_per_s']:.0f}/s | {tb['msgs_per_s']:.0f}/s | {r:.2f} | (no floor) | |")
    tls = one(bench="handshake", contender="tls13")
    for cid in ("vmsec-xx", "vmsec-ik", "vmsec-ik-first"):
        h = one(bench="handshake", contender=cid)
        if tls and h:
            r = h["median_us"] / tls["median_us"]
            row(f"handshake median, {cid} vs TLS 1.3", f"{h['median_us']:.0f} µs", f"{tls['median_us']:.0f} µs",
                r, "<= 0.50", r <= 0.5)
    # The other AEAD backend (bench_transport_other): against its own library's single-core rate.
    for cipher, ids in (("ChaChaPoly", ("vmsec-chachapoly-blake2b", "vmsec-chachapoly-sha256")),
                        ("AESGCM", ("vmsec-aesgcm-blake2b", "vmsec-aesgcm-sha256"))):
        ref = one(bench="aead", cipher=cipher, impl=other_impl, size=65536)
        for cid in (i + other_suffix for i in ids):
            t = one(bench="throughput", contender=cid, size=65536)
            if ref and t:
                r = t["mb_per_s"] / ref["mb_per_s"]
                out.append(f"| 64 KiB throughput, {cid} vs single-core {names[other_impl]} {cipher} | "
                           f"{t['mb_per_s']:.0f} MB/s | {ref['mb_per_s']:.0f} MB/s | {r:.2f} | (no floor) | |")
    # the heap per idle channel has its floor in issue15_floors' table
    print("\n".join(out))
    print()
    print(issue15_floors(rows, one) + "\n")
    packing = packing_floors(rows)
    if packing:
        print(packing + "\n")
    sessions = session_rows(rows)
    if sessions:
        print(sessions + "\n")
    relay = relay_rows(rows)
    if relay:
        print(relay + "\n")
    guest = guest_ratios(rows)
    if guest:
        print(guest + "\n")
    daemon = vmsecd_goals(one, pick)
    if daemon:
        print(daemon + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
