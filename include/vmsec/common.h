/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/common.h
 * @brief Definitions shared by every vmsec module: export macro and library initialisation.
 */
#ifndef VMSEC_COMMON_H
#define VMSEC_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Marks a symbol as part of the public ABI.
 *
 * The library is compiled with `-fvisibility=hidden`; only declarations carrying this macro
 * (and listed in the version script) are exported from `libvmsec.so.1`.
 */
#if defined(__GNUC__) || defined(__clang__)
#define VMSEC_EXPORT __attribute__((visibility("default")))
#else
#define VMSEC_EXPORT
#endif

/**
 * @brief Initialises the library.
 *
 * Initialises libsodium and the library's internal state. Idempotent and safe to call from
 * several threads at once; every other function that needs it calls it implicitly, so calling it
 * explicitly is only needed to learn early whether the platform is usable.
 *
 * @return 0 on success, or a negative @ref vmsec_error code (#VMSEC_ECRYPTO if libsodium
 *         cannot be initialised).
 */
VMSEC_EXPORT int vmsec_init(void);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_COMMON_H */
