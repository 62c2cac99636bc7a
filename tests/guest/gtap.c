/* SPDX-License-Identifier: ISC */
/* The TAP counters of a guest program (gtap.h), defined once so that all its files number their
 * results in one sequence and its plan counts them all. */
#include "gtap.h"

unsigned gt_n;
unsigned gt_failed;
