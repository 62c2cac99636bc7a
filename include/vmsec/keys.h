/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/keys.h
 * @brief X25519 static keypairs: generation, private key files, public key text and fingerprints.
 *
 * A private key lives in guarded memory (libsodium `sodium_malloc`: guard pages, locked where the
 * host allows it, read-only while stored, wiped when freed) and never appears in error messages.
 *
 * Private key file format (one line, ASCII):
 * @code
 * vmsec-private-key-v1 x25519 <base64 of the 32-byte secret, 44 characters>\n
 * @endcode
 * Public key text form (stable; for config files and command lines):
 * @code
 * x25519:<base64 of the 32-byte public key, 44 characters>
 * @endcode
 *
 * **One key, one encoding.** X25519 ignores bit 255 of a public key and reads the rest modulo
 * p = 2^255 - 19, so a key has second byte strings that work exactly like it: the canonical one
 * with bit 255 set, and for u-coordinates 0 to 18 also p to p + 18. A peer presenting one would
 * authenticate with the same private key under another identity (another fingerprint, another
 * entry in a deny-list). The library refuses such keys wherever a public key enters: text, files,
 * fingerprints, channel configuration, the handshake and the relay's peer map; it never
 * normalises them. vmsec_pubkey_validate() is the test. Keys the library derives from a private
 * key are always canonical.
 */
#ifndef VMSEC_KEYS_H
#define VMSEC_KEYS_H

#include <vmsec/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Size in bytes of an X25519 public or private key. */
#define VMSEC_KEY_BYTES 32
/** @brief Buffer size (including the NUL) that always holds a public key's text form. */
#define VMSEC_PUBKEY_TEXT_MAX 56
/** @brief Buffer size (including the NUL) that always holds a fingerprint. */
#define VMSEC_FINGERPRINT_MAX 24

/** @brief Flag for vmsec_keypair_save(): replace an existing file instead of refusing. */
#define VMSEC_KEY_SAVE_OVERWRITE 0x1u

/** @brief An X25519 static keypair; the secret half is held in guarded memory. Opaque. */
typedef struct vmsec_keypair vmsec_keypair;

/** @brief Size of a key, for bindings. @return #VMSEC_KEY_BYTES. */
VMSEC_EXPORT size_t vmsec_key_bytes(void);
/** @brief Size of a public key text buffer, for bindings. @return #VMSEC_PUBKEY_TEXT_MAX. */
VMSEC_EXPORT size_t vmsec_pubkey_text_max(void);
/** @brief Size of a fingerprint buffer, for bindings. @return #VMSEC_FINGERPRINT_MAX. */
VMSEC_EXPORT size_t vmsec_fingerprint_max(void);

/**
 * @brief Generates a new random keypair.
 * @param[out] out Receives the keypair; free it with vmsec_keypair_free().
 * @return 0, #VMSEC_EINVAL, #VMSEC_ENOMEM or #VMSEC_ECRYPTO.
 */
VMSEC_EXPORT int vmsec_keypair_generate(vmsec_keypair **out);

/**
 * @brief Builds a keypair from a 32-byte X25519 secret (the public half is derived).
 * @param[out] out Receives the keypair; free it with vmsec_keypair_free().
 * @param secret The secret key, #VMSEC_KEY_BYTES bytes; the caller should wipe its copy.
 * @param secret_len Must be #VMSEC_KEY_BYTES.
 * @return 0, #VMSEC_EINVAL, #VMSEC_ENOMEM or #VMSEC_ECRYPTO.
 */
VMSEC_EXPORT int vmsec_keypair_from_secret(vmsec_keypair **out, const uint8_t *secret, size_t secret_len);

/**
 * @brief Saves the private key to @p path atomically with mode 0600.
 *
 * The key is written to a temporary file in the same directory, flushed to disk, and then linked
 * (or, with #VMSEC_KEY_SAVE_OVERWRITE, renamed) into place, so @p path either does not exist or
 * holds a complete key, even after a crash.
 *
 * @param kp The keypair.
 * @param path Destination file.
 * @param flags 0 or #VMSEC_KEY_SAVE_OVERWRITE.
 * @return 0; #VMSEC_EEXIST if @p path exists and overwriting was not asked; #VMSEC_EIO with the
 *         failing system call in vmsec_error_last(); #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_keypair_save(const vmsec_keypair *kp, const char *path, unsigned int flags);

/**
 * @brief Loads a private key file written by vmsec_keypair_save().
 *
 * Refuses files that are not regular files, are owned by another user than the effective one
 * (since 1.1, as ssh does), or are readable or writable by group or others (#VMSEC_EPERM), and
 * files that are truncated, too long or not in the documented format (#VMSEC_EFORMAT).
 *
 * @param[out] out Receives the keypair; free it with vmsec_keypair_free().
 * @param path The file.
 * @return 0, #VMSEC_EINVAL, #VMSEC_ENOTFOUND, #VMSEC_EPERM, #VMSEC_EFORMAT, #VMSEC_EIO or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_keypair_load(vmsec_keypair **out, const char *path);

/** @brief Buffer size for vmsec_keypair_to_text(): the key file's line, its newline and a NUL. */
#define VMSEC_PRIVKEY_TEXT_MAX 74

/**
 * @brief Builds a keypair from the text of a private key file; since 1.1.
 *
 * The text is what vmsec_keypair_save() writes and vmsec_keypair_to_text() returns:
 * `vmsec-private-key-v1 x25519 ` and 44 base64 characters, with or without the final newline.
 * It serves keys that arrive on a pipe (`vmsec-keygen --pubkey < key`). A public key text
 * (`x25519:...`) is refused with a message saying so.
 *
 * @param[out] out Receives the keypair; free it with vmsec_keypair_free().
 * @param text The text (not NUL-terminated); the caller should wipe its copy.
 * @param len Its length in bytes.
 * @return 0, #VMSEC_EINVAL, #VMSEC_EFORMAT or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_keypair_from_text(vmsec_keypair **out, const char *text, size_t len);

/**
 * @brief Writes the private key in the key file's text form; since 1.1.
 *
 * For tools that hand a key to a pipe (`vmsec-keygen -o -`). The text is the secret: write it
 * only where a key file would go, and wipe the buffer (sodium_memzero()) when done.
 *
 * @param kp The keypair.
 * @param[out] out Receives the line, its newline and a NUL.
 * @param cap Size of @p out; #VMSEC_PRIVKEY_TEXT_MAX suffices.
 * @return 0, #VMSEC_EINVAL or #VMSEC_ETOOBIG.
 */
VMSEC_EXPORT int vmsec_keypair_to_text(const vmsec_keypair *kp, char *out, size_t cap);

/**
 * @brief Copies the public key.
 * @param kp The keypair.
 * @param[out] pub Receives #VMSEC_KEY_BYTES bytes.
 * @param pub_len Size of @p pub; must be at least #VMSEC_KEY_BYTES.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_keypair_public(const vmsec_keypair *kp, uint8_t *pub, size_t pub_len);

/** @brief Wipes and frees a keypair. Accepts NULL. @param kp The keypair. */
VMSEC_EXPORT void vmsec_keypair_free(vmsec_keypair *kp);

/**
 * @brief Writes the stable text form of a public key (`x25519:` followed by base64).
 * @param pub The public key, #VMSEC_KEY_BYTES bytes.
 * @param[out] out Buffer for the NUL-terminated text.
 * @param out_len Size of @p out; #VMSEC_PUBKEY_TEXT_MAX always suffices.
 * @return 0, #VMSEC_EINVAL, or #VMSEC_ETOOBIG if @p out is too small.
 */
VMSEC_EXPORT int vmsec_pubkey_to_text(const uint8_t *pub, char *out, size_t out_len);

/**
 * @brief Parses a public key's text form.
 *
 * Leading and trailing white space is ignored; anything else that is not exactly the form written
 * by vmsec_pubkey_to_text() is refused, and so is a key that is not canonical
 * (vmsec_pubkey_validate()).
 *
 * @param[out] pub Receives #VMSEC_KEY_BYTES bytes.
 * @param pub_len Size of @p pub; must be at least #VMSEC_KEY_BYTES.
 * @param text The text.
 * @return 0, #VMSEC_EINVAL or #VMSEC_EFORMAT (with the reason in vmsec_error_last()).
 */
VMSEC_EXPORT int vmsec_pubkey_from_text(uint8_t *pub, size_t pub_len, const char *text);

/**
 * @brief Reads a public key file (a `.pub` file holding the text form on its first line).
 *
 * Empty lines and lines starting with `#` are ignored. The key is parsed by
 * vmsec_pubkey_from_text(), so a non-canonical key is refused; the message names `FILE:LINE`.
 *
 * Since 1.1 the file is trusted only if nobody else could have written it, as ssh's StrictModes:
 * it must be owned by the effective user or root and not writable by group or others, and its
 * folder must be owned by the effective user or root and not writable by group or others unless
 * sticky (as /tmp). Otherwise #VMSEC_EPERM, naming the fix.
 *
 * @param[out] pub Receives #VMSEC_KEY_BYTES bytes.
 * @param pub_len Size of @p pub; must be at least #VMSEC_KEY_BYTES.
 * @param path The file.
 * @return 0, #VMSEC_EINVAL, #VMSEC_ENOTFOUND, #VMSEC_EPERM, #VMSEC_EIO or #VMSEC_EFORMAT.
 */
VMSEC_EXPORT int vmsec_pubkey_load_file(uint8_t *pub, size_t pub_len, const char *path);

/**
 * @brief Writes a short fingerprint of a public key, e.g. `3f2a-91c0-7d4e-b815`.
 *
 * The fingerprint is the first 8 bytes of BLAKE2b-256 over a domain-separation label and the key,
 * in hexadecimal groups of four. It is for humans comparing keys, not a substitute for the key.
 * A non-canonical key (vmsec_pubkey_validate()) is refused: one key has one fingerprint.
 *
 * @param pub The public key, #VMSEC_KEY_BYTES bytes.
 * @param[out] out Buffer for the NUL-terminated text.
 * @param out_len Size of @p out; #VMSEC_FINGERPRINT_MAX always suffices.
 * @return 0, #VMSEC_EINVAL, #VMSEC_ETOOBIG or #VMSEC_EFORMAT (the key is not canonical).
 */
VMSEC_EXPORT int vmsec_pubkey_fingerprint(const uint8_t *pub, char *out, size_t out_len);

/**
 * @brief Checks that a public key is the canonical encoding of an X25519 public key.
 *
 * Canonical means bit 255 is clear and the little-endian u-coordinate is below 2^255 - 19. Any
 * other 32-byte string is a second encoding of a key that has a canonical one (X25519 ignores
 * bit 255 and reduces modulo 2^255 - 19), and is refused everywhere the library takes a key in.
 * Keys produced by vmsec_keypair_public() always pass. Available since VMSEC_1.1.
 *
 * @param pub The public key.
 * @param pub_len Its length; must be #VMSEC_KEY_BYTES.
 * @return 0 if @p pub is canonical; #VMSEC_EFORMAT if not, with the reason (bit 255 set, or the
 *         u-coordinate not below 2^255 - 19) in vmsec_error_last(); #VMSEC_EINVAL if @p pub is
 *         NULL or @p pub_len is not #VMSEC_KEY_BYTES.
 */
VMSEC_EXPORT int vmsec_pubkey_validate(const uint8_t *pub, size_t pub_len);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_KEYS_H */
