/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec.h
 * @brief Umbrella header: includes every public vmsec module.
 */
#ifndef VMSEC_H
#define VMSEC_H

#include <vmsec/common.h>
#include <vmsec/errors.h>
#include <vmsec/version.h>
#include <vmsec/keys.h>
#include <vmsec/report.h>
#include <vmsec/hostcheck.h>
#include <vmsec/domain.h>
#include <vmsec/profile.h>
#include <vmsec/transport.h>
#include <vmsec/channel.h>
#include <vmsec/session.h>
#include <vmsec/policy.h>
#include <vmsec/relay.h>
#include <vmsec/planner.h>

#endif /* VMSEC_H */
