/* SPDX-License-Identifier: ISC */
/* Noise protocol names (section 8) and handshake patterns (sections 7 and 9), table-driven. */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "common/internal.h"
#include "channel/noise.h"
#include "channel/noise_crypto.h"
#include "channel/noise_pattern.h"

#define MAX_MSGS NOISE_PATTERN_MAX_MSGS

/* Patterns in the notation of sections 7.4 (one-way), 7.5 (interactive) and 7.6 (deferred), so
 * each row can be checked against the specification by eye. Messages alternate initiator,
 * responder, initiator...; pre is the static key a party has made known beforehand. */
struct pattern_def {
    const char *name;
    const char *pre_i, *pre_r;
    const char *msgs[MAX_MSGS + 1];
};

static const struct pattern_def patterns[] = {
    {"N", "", "s", {"e, es"}},
    {"K", "s", "s", {"e, es, ss"}},
    {"X", "", "s", {"e, es, s, ss"}},
    {"NN", "", "", {"e", "e, ee"}},
    {"NK", "", "s", {"e, es", "e, ee"}},
    {"NX", "", "", {"e", "e, ee, s, es"}},
    {"XN", "", "", {"e", "e, ee", "s, se"}},
    {"XK", "", "s", {"e, es", "e, ee", "s, se"}},
    {"XX", "", "", {"e", "e, ee, s, es", "s, se"}},
    {"KN", "s", "", {"e", "e, ee, se"}},
    {"KK", "s", "s", {"e, es, ss", "e, ee, se"}},
    {"KX", "s", "", {"e", "e, ee, se, s, es"}},
    {"IN", "", "", {"e, s", "e, ee, se"}},
    {"IK", "", "s", {"e, es, s, ss", "e, ee, se"}},
    {"IX", "", "", {"e, s", "e, ee, se, s, es"}},
    {"NK1", "", "s", {"e", "e, ee, es"}},
    {"NX1", "", "", {"e", "e, ee, s", "es"}},
    {"X1N", "", "", {"e", "e, ee", "s", "se"}},
    {"X1K", "", "s", {"e, es", "e, ee", "s", "se"}},
    {"XK1", "", "s", {"e", "e, ee, es", "s, se"}},
    {"X1K1", "", "s", {"e", "e, ee, es", "s", "se"}},
    {"X1X", "", "", {"e", "e, ee, s, es", "s", "se"}},
    {"XX1", "", "", {"e", "e, ee, s", "es, s, se"}},
    {"X1X1", "", "", {"e", "e, ee, s", "es, s", "se"}},
    {"K1N", "s", "", {"e", "e, ee", "se"}},
    {"K1K", "s", "s", {"e, es", "e, ee", "se"}},
    {"KK1", "s", "s", {"e", "e, ee, se, es"}},
    {"K1K1", "s", "s", {"e", "e, ee, es", "se"}},
    {"K1X", "s", "", {"e", "e, ee, s, es", "se"}},
    {"KX1", "s", "", {"e", "e, ee, se, s", "es"}},
    {"K1X1", "s", "", {"e", "e, ee, s", "se, es"}},
    {"I1N", "", "", {"e, s", "e, ee", "se"}},
    {"I1K", "", "s", {"e, es, s", "e, ee", "se"}},
    {"IK1", "", "s", {"e, s", "e, ee, se, es"}},
    {"I1K1", "", "s", {"e, s", "e, ee, es", "se"}},
    {"I1X", "", "", {"e, s", "e, ee, s, es", "se"}},
    {"IX1", "", "", {"e, s", "e, ee, se, s", "es"}},
    {"I1X1", "", "", {"e, s", "e, ee, s", "se, es"}},
};

/* ---- protocol names (section 8) ------------------------------------------------------------ */

static const struct pattern_def *pattern_find(const char *name)
{
    size_t i;
    for (i = 0; i < VMSEC_ARRAY_LEN(patterns); i++)
        if (strcmp(patterns[i].name, name) == 0)
            return &patterns[i];
    return NULL;
}

static unsigned pattern_nmsgs(const struct pattern_def *def)
{
    unsigned n = 0;
    while (n < MAX_MSGS && def->msgs[n])
        n++;
    return n;
}

static int parse_modifier(noise_protocol *out, const struct pattern_def *def, const char *mod)
{
    unsigned pos = 0;
    const char *p;

    if (*mod == '\0')
        return vmsec__error(VMSEC_EFORMAT, "protocol name '%s': empty pattern modifier", out->name);
    if (strncmp(mod, "psk", 3) != 0) {
        for (p = mod; *p; p++)
            if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9'))
                return vmsec__error(VMSEC_EFORMAT, "protocol name '%s': malformed pattern modifier '%s'",
                                    out->name, mod);
        return vmsec__error(VMSEC_EUNSUPPORTED, "protocol name '%s': unsupported pattern modifier '%s'",
                            out->name, mod);
    }
    p = mod + 3;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
        return vmsec__error(VMSEC_EFORMAT, "protocol name '%s': malformed modifier '%s' (want psk<N>)",
                            out->name, mod);
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || pos > 100)
            return vmsec__error(VMSEC_EFORMAT, "protocol name '%s': malformed modifier '%s' (want psk<N>)",
                                out->name, mod);
        pos = pos * 10 + (unsigned)(*p - '0');
    }
    if (pos > pattern_nmsgs(def))
        return vmsec__error(VMSEC_EFORMAT,
                            "protocol name '%s': modifier '%s' is past the last of the %u messages of "
                            "pattern %s", out->name, mod, pattern_nmsgs(def), def->name);
    if (out->psk_mask & (1u << pos))
        return vmsec__error(VMSEC_EFORMAT, "protocol name '%s': modifier '%s' appears twice", out->name, mod);
    out->psk_mask |= 1u << pos;
    return 0;
}

static int parse_pattern(noise_protocol *out, char *field)
{
    const struct pattern_def *def;
    char *mods = field, *next;
    int rc;

    while ((*mods >= 'A' && *mods <= 'Z') || (*mods >= '0' && *mods <= '9'))
        mods++;
    if (mods == field || (size_t)(mods - field) >= sizeof(out->pattern))
        return vmsec__error(VMSEC_EFORMAT, "protocol name '%s': malformed handshake pattern '%s'", out->name,
                            field);
    memcpy(out->pattern, field, (size_t)(mods - field));
    out->pattern[mods - field] = '\0';
    if (!(def = pattern_find(out->pattern)))
        return vmsec__error(VMSEC_EUNSUPPORTED, "protocol name '%s': unsupported handshake pattern '%s'",
                            out->name, out->pattern);
    if (*mods == '\0')
        return 0;
    for (; mods; mods = next) {
        if ((next = strchr(mods, '+')))
            *next++ = '\0';
        if ((rc = parse_modifier(out, def, mods)) < 0)
            return rc;
    }
    return 0;
}

static int parse_algorithms(noise_protocol *out, const char *dh, const char *cipher, const char *hash)
{
    if (strcmp(dh, "25519") != 0)
        return vmsec__error(VMSEC_EUNSUPPORTED, "protocol name '%s': unsupported DH function '%s' (only 25519)",
                            out->name, dh);
    if (strcmp(cipher, "ChaChaPoly") == 0) {
        if (!noise_aead_available(NOISE_CIPHER_CHACHAPOLY)) /* libcrypto without it (e.g. FIPS-only) */
            return vmsec__error(VMSEC_EUNSUPPORTED, "protocol name '%s': cipher ChaChaPoly "
                                "(ChaCha20-Poly1305) is not available from OpenSSL libcrypto here", out->name);
        out->cipher = NOISE_CIPHER_CHACHAPOLY;
    } else if (strcmp(cipher, "AESGCM") == 0) {
        if (!noise_aead_available(NOISE_CIPHER_AESGCM))
#ifdef NOISE_AEAD_EVP
            return vmsec__error(VMSEC_EUNSUPPORTED, "protocol name '%s': cipher AESGCM (AES-256-GCM) is not "
                                "available from OpenSSL libcrypto here; use ChaChaPoly", out->name);
#else
            return vmsec__error(VMSEC_EUNSUPPORTED,
                                "protocol name '%s': cipher AESGCM needs hardware AES-GCM (AES-NI and "
                                "PCLMUL), which this CPU lacks; use ChaChaPoly", out->name);
#endif
        out->cipher = NOISE_CIPHER_AESGCM;
    } else {
        return vmsec__error(VMSEC_EUNSUPPORTED,
                            "protocol name '%s': unsupported cipher '%s' (ChaChaPoly or AESGCM)", out->name,
                            cipher);
    }
    if (strcmp(hash, "SHA256") == 0)
        out->hash = NOISE_HASH_SHA256;
    else if (strcmp(hash, "SHA512") == 0)
        out->hash = NOISE_HASH_SHA512;
    else if (strcmp(hash, "BLAKE2b") == 0)
        out->hash = NOISE_HASH_BLAKE2B;
    else
        return vmsec__error(VMSEC_EUNSUPPORTED,
                            "protocol name '%s': unsupported hash '%s' (SHA256, SHA512 or BLAKE2b)", out->name,
                            hash);
    return 0;
}

int noise_protocol_parse(noise_protocol *out, const char *name)
{
    static const char *const part_names[] = {"prefix", "handshake pattern", "DH function", "cipher", "hash"};
    char buf[NOISE_MAX_NAME], *fields[5], *p;
    size_t len, i, n = 0;
    int rc;

    if (!out || !name)
        return vmsec__error(VMSEC_EINVAL, "noise_protocol_parse: %s is NULL", out ? "name" : "out");
    memset(out, 0, sizeof(*out));
    if ((rc = vmsec__ensure_init()) < 0)
        return rc;
    len = strnlen(name, NOISE_MAX_NAME);
    if (len >= NOISE_MAX_NAME)
        return vmsec__error(VMSEC_EFORMAT, "Noise protocol name is longer than %d bytes", NOISE_MAX_NAME - 1);
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (!(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_' &&
            c != '+')
            return vmsec__error(VMSEC_EFORMAT, "Noise protocol name: invalid character 0x%02x at offset %zu",
                                (unsigned)(unsigned char)c, i);
    }
    memcpy(out->name, name, len + 1);
    memcpy(buf, name, len + 1);

    for (p = buf; n < VMSEC_ARRAY_LEN(fields); n++) {
        fields[n] = p;
        if (!(p = strchr(p, '_')))
            break;
        *p++ = '\0';
    }
    if (n != 4 || p)
        return vmsec__error(VMSEC_EFORMAT,
                            "protocol name '%s' is not of the form Noise_<pattern>_<dh>_<cipher>_<hash>", name);
    for (i = 0; i < VMSEC_ARRAY_LEN(fields); i++)
        if (fields[i][0] == '\0')
            return vmsec__error(VMSEC_EFORMAT, "protocol name '%s': empty %s", name, part_names[i]);
    if (strcmp(fields[0], "Noise") != 0)
        return vmsec__error(VMSEC_EFORMAT, "protocol name '%s' does not start with 'Noise_'", name);
    if ((rc = parse_pattern(out, fields[1])) < 0 || (rc = parse_algorithms(out, fields[2], fields[3], fields[4])) < 0) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    return 0;
}

/* ---- patterns -------------------------------------------------------------------------------- */

static int token_parse(const char *word, size_t len)
{
    static const char *const names[] = {"e", "s", "ee", "es", "se", "ss", "psk"};
    size_t i;
    for (i = 0; i < VMSEC_ARRAY_LEN(names); i++)
        if (strlen(names[i]) == len && memcmp(names[i], word, len) == 0)
            return (int)i + NOISE_TOK_E;
    return -1;
}

static int compile_append(noise_pattern *c, unsigned msg, int tok)
{
    if (tok < 0 || c->ntok[msg] == NOISE_PATTERN_MAX_TOKENS)
        return vmsec__error(VMSEC_EINTERNAL, "Noise pattern table: bad message %u", msg + 1);
    c->tok[msg][c->ntok[msg]++] = (uint8_t)tok;
    return 0;
}

/* Applies psk modifiers: psk0 goes first in message 1, pskN last in message N (section 9.2). Then
 * checks the validity rule of section 9.3: after a psk token a party sends encrypted data only once
 * it has sent an ephemeral key. */
int noise_pattern_compile(noise_pattern *c, const noise_protocol *proto)
{
    const struct pattern_def *def = pattern_find(proto->pattern);
    bool sent_e[2] = {false, false}, psk_seen = false, has_key = false;
    unsigned m, t;

    memset(c, 0, sizeof(*c));
    if (!def)
        return vmsec__error(VMSEC_EUNSUPPORTED, "unsupported handshake pattern '%s'", proto->pattern);
    c->nmsgs = pattern_nmsgs(def);
    if (proto->psk_mask >> (c->nmsgs + 1))
        return vmsec__error(VMSEC_EINVAL, "psk modifier past the last message of pattern %s", def->name);
    c->pre_s[0] = strcmp(def->pre_i, "s") == 0;
    c->pre_s[1] = strcmp(def->pre_r, "s") == 0;
    for (m = 0; m < c->nmsgs; m++) {
        const char *p = def->msgs[m];
        if (m == 0 && (proto->psk_mask & 1u) && compile_append(c, 0, NOISE_TOK_PSK) < 0)
            return VMSEC_EINTERNAL;
        while (*p) {
            size_t len = strcspn(p, ", ");
            if (len && compile_append(c, m, token_parse(p, len)) < 0)
                return VMSEC_EINTERNAL;
            p += len;
            p += strspn(p, ", ");
        }
        if ((proto->psk_mask & (1u << (m + 1))) && compile_append(c, m, NOISE_TOK_PSK) < 0)
            return VMSEC_EINTERNAL;
    }

    for (m = 0; m < c->nmsgs; m++) {
        unsigned sender = m % 2;
        for (t = 0; t < c->ntok[m]; t++) {
            switch (c->tok[m][t]) {
            case NOISE_TOK_E:
                sent_e[sender] = true;
                has_key = has_key || proto->psk_mask;
                break;
            case NOISE_TOK_S:
                if (has_key && psk_seen && !sent_e[sender])
                    return vmsec__error(VMSEC_EFORMAT, "pattern %s: psk modifier breaks the rule of "
                                        "section 9.3", proto->name);
                break;
            case NOISE_TOK_PSK:
                psk_seen = true;
                c->npsks++;
                has_key = true;
                break;
            default:
                has_key = true;
            }
        }
        if (psk_seen && !sent_e[sender])
            return vmsec__error(VMSEC_EFORMAT, "pattern %s: psk modifier breaks the rule of section 9.3",
                                proto->name);
    }
    return 0;
}


/* The peer's static key is proved by a DH with this side's fresh ephemeral: es (initiator e,
 * responder s) for the initiator, se for the responder; ee binds both ephemerals. A message mixes
 * every token of its own and earlier messages before its payload is encrypted. */
int noise_pattern_proof_msg(const noise_pattern *p, bool initiator)
{
    unsigned peer = initiator ? 1 : 0, m, t;
    uint8_t want = initiator ? NOISE_TOK_ES : NOISE_TOK_SE;
    bool peer_static = p->pre_s[peer], ee = false, dh;

    for (m = peer; m < p->nmsgs; m += 2)
        for (t = 0; t < p->ntok[m]; t++)
            peer_static = peer_static || p->tok[m][t] == NOISE_TOK_S;
    dh = !peer_static;
    for (m = 0; m < p->nmsgs; m++) {
        for (t = 0; t < p->ntok[m]; t++) {
            ee = ee || p->tok[m][t] == NOISE_TOK_EE;
            dh = dh || p->tok[m][t] == want;
        }
        if (m % 2 == peer && ee && dh)
            return (int)m;
    }
    return -1;
}
