/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/report.h
 * @brief Per-setting reports of host checks, profile applies and verifications.
 *
 * A report is an ordered list of entries, one per setting or per host fact. Each entry has a
 * status (see @ref vmsec_status) and up to five text fields (see @ref vmsec_report_field_id): the
 * setting's name (`vcpu.0.pin`, `memory.hard_limit`, `host.memlock`...), the expected value, the
 * actual value, where the actual value was read (`libvirt`, or `kernel <file>`), and a detail
 * sentence. Reports are plain data: read them entry by entry, or format them as an aligned text
 * table or as JSON.
 */
#ifndef VMSEC_REPORT_H
#define VMSEC_REPORT_H

#include <vmsec/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief A report. Opaque; free with vmsec_report_free(). */
typedef struct vmsec_report vmsec_report;

/** @brief Status of one report entry; values are stable. */
typedef enum vmsec_status {
    VMSEC_STATUS_OK = 0,          /**< Verified: the actual value matches the profile. */
    VMSEC_STATUS_DRIFT = 1,       /**< Verified: the actual value differs from the profile. */
    VMSEC_STATUS_UNCHECKED = 2,   /**< Cannot be checked here; the detail says why. */
    VMSEC_STATUS_APPLIED = 3,     /**< Apply: the setting was changed (or already had the value). */
    VMSEC_STATUS_NEXT_BOOT = 4,   /**< Apply: written to the configuration; takes effect at next boot. */
    VMSEC_STATUS_FAILED = 5,      /**< Apply: this step failed; the detail says why. */
    VMSEC_STATUS_RESTORED = 6,    /**< Apply: changed, then restored to its previous value. */
    VMSEC_STATUS_NOT_RESTORED = 7,/**< Apply: changed, and restoring the previous value failed. */
    VMSEC_STATUS_PROBLEM = 8      /**< Host check: the host cannot enforce this setting. */
} vmsec_status;

/** @brief Text fields of a report entry; values are stable. */
typedef enum vmsec_report_field_id {
    VMSEC_REPORT_SETTING = 0,  /**< Setting or fact name, e.g. `vcpu.1.pin`. */
    VMSEC_REPORT_EXPECTED = 1, /**< Value the profile asks for. */
    VMSEC_REPORT_ACTUAL = 2,   /**< Value found (or previous value, for apply). */
    VMSEC_REPORT_SOURCE = 3,   /**< Where the actual value comes from: `libvirt` or `kernel <path>`. */
    VMSEC_REPORT_DETAIL = 4    /**< Explanation, e.g. why it cannot be checked. */
} vmsec_report_field_id;

/** @brief Output formats of vmsec_report_format(). */
typedef enum vmsec_report_format_kind {
    VMSEC_REPORT_TEXT = 0, /**< Aligned table with a header line, one line per entry. */
    VMSEC_REPORT_JSON = 1  /**< `{"entries":[{"setting":...,"status":...},...],"summary":{...}}`, one
                                entry per line; bytes of a field that are not UTF-8 are written as
                                U+FFFD, one per maximal invalid subsequence. */
} vmsec_report_format_kind;

/**
 * @brief Number of entries.
 * @param r A report (NULL counts as empty).
 * @return The number of entries.
 */
VMSEC_EXPORT size_t vmsec_report_count(const vmsec_report *r);

/**
 * @brief Status of one entry.
 * @param r A report.
 * @param index Entry index, below vmsec_report_count().
 * @return A @ref vmsec_status value (>= 0), or #VMSEC_EINVAL if @p r is NULL or @p index out of range.
 */
VMSEC_EXPORT int vmsec_report_status(const vmsec_report *r, size_t index);

/**
 * @brief One text field of an entry.
 * @param r A report.
 * @param index Entry index, below vmsec_report_count().
 * @param field A @ref vmsec_report_field_id value.
 * @return The text (empty string when the entry has none), valid until the report is freed;
 *         NULL if @p r is NULL or @p index or @p field is out of range.
 */
VMSEC_EXPORT const char *vmsec_report_field(const vmsec_report *r, size_t index, int field);

/**
 * @brief Number of entries with a given status.
 * @param r A report (NULL counts as empty).
 * @param status A @ref vmsec_status value.
 * @return The number of matching entries.
 */
VMSEC_EXPORT size_t vmsec_report_count_status(const vmsec_report *r, int status);

/**
 * @brief Short lowercase name of a status (`ok`, `drift`, `unchecked`, `applied`, `next-boot`,
 *        `failed`, `restored`, `not-restored`, `problem`).
 * @param status A @ref vmsec_status value.
 * @return A static string; "unknown" for values this version does not know.
 */
VMSEC_EXPORT const char *vmsec_status_name(int status);

/**
 * @brief Formats a report as text or JSON.
 * @param r A report.
 * @param kind A @ref vmsec_report_format_kind value.
 * @param out Receives a NUL-terminated string; free it with vmsec_report_string_free().
 * @return 0; #VMSEC_EINVAL for a NULL argument or unknown @p kind; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_report_format(const vmsec_report *r, int kind, char **out);

/**
 * @brief Frees a string returned by vmsec_report_format().
 * @param s The string, or NULL.
 */
VMSEC_EXPORT void vmsec_report_string_free(char *s);

/**
 * @brief Frees a report.
 * @param r The report, or NULL.
 */
VMSEC_EXPORT void vmsec_report_free(vmsec_report *r);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_REPORT_H */
