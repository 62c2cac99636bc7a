#!/usr/bin/env python3
"""Reads bench/results.jsonl (one run of every benchmark) and prints the ratios against the floors
set for vmsec, each marked met or missed. Run by bench/run.sh after the benchmarks."""
import json
import sys


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

    for cipher, ids in (("ChaChaPoly", ("vmsec-chachapoly-blake2b", "vmsec-chachapoly-sha256")),
                        ("AESGCM", ("vmsec-aesgcm-blake2b", "vmsec-aesgcm-sha256"))):
        aead = one(bench="aead", cipher=cipher, impl="libsodium", size=65536)
        for cid in ids:
            t = one(bench="throughput", contender=cid, size=65536)
            if aead and t:
                r = t["mb_per_s"] / aead["mb_per_s"]
                row(f"64 KiB throughput, {cid} vs single-core libsodium {cipher}",
                    f"{t['mb_per_s']:.0f} MB/s", f"{aead['mb_per_s']:.0f} MB/s", r, ">= 0.90", r >= 0.90)
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
    for cid in ("vmsec-xx", "vmsec-ik"):
        h = one(bench="handshake", contender=cid)
        if tls and h:
            r = h["median_us"] / tls["median_us"]
            row(f"handshake median, {cid} vs TLS 1.3", f"{h['median_us']:.0f} µs", f"{tls['median_us']:.0f} µs",
                r, "<= 0.50", r <= 0.5)
    # The optional libcrypto AEAD backend (bench_transport_libcrypto): against the same reference as
    # the default (libsodium's single-core rate) and against libcrypto's own single-core rate.
    for cipher, ids in (("ChaChaPoly", ("vmsec-chachapoly-blake2b", "vmsec-chachapoly-sha256")),
                        ("AESGCM", ("vmsec-aesgcm-blake2b", "vmsec-aesgcm-sha256"))):
        sodium = one(bench="aead", cipher=cipher, impl="libsodium", size=65536)
        ossl = one(bench="aead", cipher=cipher, impl="OpenSSL", size=65536)
        for cid in (i + "-libcrypto" for i in ids):
            t = one(bench="throughput", contender=cid, size=65536)
            if sodium and t:
                r = t["mb_per_s"] / sodium["mb_per_s"]
                row(f"64 KiB throughput, {cid} vs single-core libsodium {cipher}",
                    f"{t['mb_per_s']:.0f} MB/s", f"{sodium['mb_per_s']:.0f} MB/s", r, ">= 0.90", r >= 0.90)
            if ossl and t:
                r = t["mb_per_s"] / ossl["mb_per_s"]
                out.append(f"| 64 KiB throughput, {cid} vs single-core OpenSSL libcrypto {cipher} | "
                           f"{t['mb_per_s']:.0f} MB/s | {ossl['mb_per_s']:.0f} MB/s | {r:.2f} | (no floor) | |")
    m = one(bench="memory")
    if m:
        out.append(f"| heap per idle channel ({m['channels']} channels) | {m['heap_per_channel']:.0f} B | 4096 B | "
                   f"{m['heap_per_channel'] / 4096:.2f} | <= 1.00 | {'met' if m['heap_per_channel'] <= 4096 else 'MISSED'} |")
    print("\n".join(out))
    print()


if __name__ == "__main__":
    main(sys.argv[1])
