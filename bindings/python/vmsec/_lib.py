# SPDX-License-Identifier: ISC
"""Loading libvmsec and declaring every C prototype in one table.

Every function whose C return type is ``int`` status goes through :func:`_check`, which turns a
negative ``VMSEC_E*`` code into the matching :class:`vmsec.Error` subclass carrying
``vmsec_error_last()``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

from . import errors

#: SONAME major of the shared object these bindings load (libvmsec.so.1).
ABI_MAJOR = 1
#: Library API major version (vmsec_version_major()) these bindings were written for.
API_MAJOR = 0
#: Environment variable naming the shared object to load instead of the system's.
LIBRARY_ENV = "VMSEC_LIBRARY"

c_int, c_uint, c_size_t, c_char_p, c_void_p = (
    ctypes.c_int, ctypes.c_uint, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p)
c_uint8_p = ctypes.POINTER(ctypes.c_uint8)
c_void_pp = ctypes.POINTER(ctypes.c_void_p)
c_uint_p = ctypes.POINTER(ctypes.c_uint)
c_size_t_p = ctypes.POINTER(ctypes.c_size_t)
c_char_pp = ctypes.POINTER(ctypes.c_char_p)
c_int_p = ctypes.POINTER(ctypes.c_int)
c_uint32, c_uint64, c_int64 = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64
c_uint32_p = ctypes.POINTER(ctypes.c_uint32)
c_uint64_p = ctypes.POINTER(ctypes.c_uint64)
c_int64_p = ctypes.POINTER(ctypes.c_int64)
STATUS = "status"  # marker: int return value that is 0 or a negative error code

# name: (restype, argtypes)
PROTOTYPES: dict[str, tuple[object, list[object]]] = {
    # common, errors, version
    "vmsec_init": (STATUS, []),
    "vmsec_strerror": (c_char_p, [c_int]),
    "vmsec_error_last": (c_char_p, []),
    "vmsec_error_last_code": (c_int, []),
    "vmsec_error_clear": (None, []),
    "vmsec_version_string": (c_char_p, []),
    "vmsec_version_major": (c_int, []),
    "vmsec_version_minor": (c_int, []),
    "vmsec_version_patch": (c_int, []),
    # keys
    "vmsec_key_bytes": (c_size_t, []),
    "vmsec_pubkey_text_max": (c_size_t, []),
    "vmsec_fingerprint_max": (c_size_t, []),
    "vmsec_keypair_generate": (STATUS, [c_void_pp]),
    "vmsec_keypair_from_secret": (STATUS, [c_void_pp, c_char_p, c_size_t]),
    "vmsec_keypair_save": (STATUS, [c_void_p, c_char_p, c_uint]),
    "vmsec_keypair_load": (STATUS, [c_void_pp, c_char_p]),
    "vmsec_keypair_from_text": (STATUS, [c_void_pp, c_char_p, c_size_t]),
    "vmsec_keypair_to_text": (STATUS, [c_void_p, c_void_p, c_size_t]),
    "vmsec_keypair_public": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_keypair_free": (None, [c_void_p]),
    "vmsec_pubkey_to_text": (STATUS, [c_char_p, c_char_p, c_size_t]),
    "vmsec_pubkey_from_text": (STATUS, [c_char_p, c_size_t, c_char_p]),
    "vmsec_pubkey_load_file": (STATUS, [c_char_p, c_size_t, c_char_p]),
    "vmsec_pubkey_fingerprint": (STATUS, [c_char_p, c_char_p, c_size_t]),
    "vmsec_pubkey_validate": (STATUS, [c_char_p, c_size_t]),
    # policy
    "vmsec_policy_name_max": (c_size_t, []),
    "vmsec_policy_service_max": (c_size_t, []),
    "vmsec_policy_line_max": (c_size_t, []),
    "vmsec_policy_load_file": (STATUS, [c_void_pp, c_char_p]),
    "vmsec_policy_load_string": (STATUS, [c_void_pp, c_char_p, c_size_t, c_char_p]),
    "vmsec_policy_free": (None, [c_void_p]),
    "vmsec_policy_check": (STATUS, [c_void_p, c_char_p, c_char_p, ctypes.POINTER(c_char_p), c_char_p,
                                    ctypes.POINTER(c_char_p), ctypes.POINTER(c_uint)]),
    "vmsec_policy_service_port": (STATUS, [c_void_p, c_char_p, ctypes.POINTER(ctypes.c_uint32)]),
    "vmsec_policy_name": (c_char_p, [c_void_p]),
    "vmsec_policy_rule_count": (c_size_t, [c_void_p]),
    # relay (callbacks are passed as ctypes.CFUNCTYPE objects cast to c_void_p)
    "vmsec_relay_protocol_version": (c_uint, []),
    "vmsec_relay_default_port": (ctypes.c_uint32, []),
    "vmsec_relay_new": (STATUS, [c_void_pp]),
    "vmsec_relay_free": (None, [c_void_p]),
    "vmsec_relay_set_policy": (STATUS, [c_void_p, c_void_p]),
    "vmsec_relay_load_policy": (STATUS, [c_void_p, c_char_p]),
    "vmsec_relay_set_limit": (STATUS, [c_void_p, c_int, c_uint]),
    "vmsec_relay_set_identify": (STATUS, [c_void_p, c_void_p, c_void_p]),
    "vmsec_relay_set_connect": (STATUS, [c_void_p, c_void_p, c_void_p]),
    "vmsec_relay_use_libvirt": (STATUS, [c_void_p, c_char_p]),
    "vmsec_relay_set_directory_resync": (STATUS, [c_void_p, c_uint]),
    "vmsec_relay_set_audit_fd": (STATUS, [c_void_p, c_int]),
    "vmsec_relay_set_audit_file": (STATUS, [c_void_p, c_char_p]),
    "vmsec_relay_set_audit_syslog": (STATUS, [c_void_p, c_int]),
    "vmsec_relay_set_audit_callback": (STATUS, [c_void_p, c_void_p, c_void_p]),
    "vmsec_relay_listen_vsock": (STATUS, [c_void_p, ctypes.c_uint32]),
    "vmsec_relay_listen_unix": (STATUS, [c_void_p, c_char_p, c_char_p]),
    "vmsec_relay_set_keypair": (STATUS, [c_void_p, c_void_p]),
    "vmsec_relay_add_peer": (STATUS, [c_void_p, c_char_p, c_char_p, c_char_p, c_size_t]),
    "vmsec_relay_load_peers": (STATUS, [c_void_p, c_char_p]),
    "vmsec_relay_reload_peers": (STATUS, [c_void_p, c_char_p]),
    "vmsec_relay_listen_link": (STATUS, [c_void_p, c_char_p]),
    "vmsec_relay_run": (STATUS, [c_void_p]),
    "vmsec_relay_dispatch": (STATUS, [c_void_p, c_int]),
    "vmsec_relay_fd": (STATUS, [c_void_p]),
    "vmsec_relay_next_timeout_ms": (c_int, [c_void_p]),
    "vmsec_relay_snapshot_json": (STATUS, [c_void_p, c_void_pp]),
    "vmsec_relay_snapshot_free": (None, [c_void_p]),
    "vmsec_relay_interrupt": (STATUS, [c_void_p]),
    "vmsec_relay_shutdown": (STATUS, [c_void_p, c_int]),
    "vmsec_relay_stat": (STATUS, [c_void_p, c_int, ctypes.POINTER(ctypes.c_uint64)]),
    "vmsec_relay_request": (STATUS, [c_int, c_char_p, c_char_p, c_int]),
    "vmsec_relay_origin_read": (STATUS, [c_int, c_int, c_char_p, c_size_t, ctypes.POINTER(ctypes.c_uint32),
                                         c_char_p, c_size_t]),
    "vmsec_peermap_new": (STATUS, [c_void_pp]),
    "vmsec_peermap_free": (None, [c_void_p]),
    "vmsec_peermap_add": (STATUS, [c_void_p, c_char_p, c_char_p, c_size_t]),
    "vmsec_peermap_load_file": (STATUS, [c_void_p, c_char_p]),
    "vmsec_peermap_check": (STATUS, [c_void_p, c_char_p, c_char_p, c_size_t]),
    # planner (include/vmsec/planner.h)
    "vmsec_plan_request_init": (STATUS, [c_void_p, c_uint]),
    "vmsec_topology_new": (STATUS, [c_void_pp]),
    "vmsec_topology_free": (None, [c_void_p]),
    "vmsec_topology_add_cpu": (STATUS, [c_void_p, c_uint, c_uint, c_uint, c_uint, c_uint, c_int]),
    "vmsec_topology_parse": (STATUS, [c_void_pp, c_char_p, c_size_t, c_char_p]),
    "vmsec_topology_from_capabilities": (STATUS, [c_void_pp, c_char_p, c_size_t]),
    "vmsec_topology_from_libvirt": (STATUS, [c_void_pp, c_char_p]),
    "vmsec_topology_to_text": (STATUS, [c_void_p, c_char_p, c_size_t, c_size_t_p]),
    "vmsec_topology_counts": (STATUS, [c_void_p, c_uint_p, c_uint_p, c_uint_p]),
    "vmsec_topology_siblings": (STATUS, [c_void_p, c_uint, c_char_p, c_size_t]),
    "vmsec_planner_new": (STATUS, [c_void_pp, c_void_p]),
    "vmsec_planner_free": (None, [c_void_p]),
    "vmsec_planner_reserve": (STATUS, [c_void_p, c_char_p]),
    "vmsec_planner_hold": (STATUS, [c_void_p, c_char_p, c_char_p, c_uint]),
    "vmsec_planner_release": (STATUS, [c_void_p, c_char_p]),
    "vmsec_planner_held": (STATUS, [c_void_p, c_char_p, c_char_p, c_size_t]),
    "vmsec_planner_free_cpus": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_planner_load_libvirt": (STATUS, [c_void_p, c_char_p, c_uint]),
    "vmsec_planner_plan": (STATUS, [c_void_p, c_char_p, c_void_p, c_void_pp]),
    "vmsec_planner_place": (STATUS, [c_void_p, c_char_p, c_void_p, c_void_pp]),
    "vmsec_planner_place_profile": (STATUS, [c_void_p, c_char_p, c_void_p, c_void_pp, c_void_pp]),
    "vmsec_planner_audit": (STATUS, [c_void_p, c_void_pp]),
    "vmsec_placement_free": (None, [c_void_p]),
    "vmsec_placement_vcpu_count": (STATUS, [c_void_p, c_uint_p]),
    "vmsec_placement_vcpu_cpu": (STATUS, [c_void_p, c_uint, c_uint_p]),
    "vmsec_placement_cpuset": (STATUS, [c_void_p, c_int, c_char_p, c_size_t]),
    "vmsec_placement_to_text": (STATUS, [c_void_p, c_char_p, c_size_t, c_size_t_p]),
    "vmsec_placement_to_profile": (STATUS, [c_void_p, c_void_p, c_void_pp]),
    "vmsec_smt_audit_free": (None, [c_void_p]),
    "vmsec_smt_audit_count": (STATUS, [c_void_p, c_size_t_p]),
    "vmsec_smt_audit_get": (STATUS, [c_void_p, c_size_t, c_char_pp, c_char_pp, c_uint_p]),
    "vmsec_smt_audit_to_text": (STATUS, [c_void_p, c_char_p, c_size_t, c_size_t_p]),
    # profile (include/vmsec/profile.h); getters return 1 set / 0 unset, so they are STATUS too
    "vmsec_profile_digest_max": (c_size_t, []),
    "vmsec_profile_cpuset_text_max": (c_size_t, []),
    "vmsec_profile_max_cpus": (c_size_t, []),
    "vmsec_profile_name_max": (c_size_t, []),
    "vmsec_profile_new": (STATUS, [c_void_pp]),
    "vmsec_profile_free": (None, [c_void_p]),
    "vmsec_profile_dup": (STATUS, [c_void_p, c_void_pp]),
    "vmsec_profile_parse": (STATUS, [c_void_pp, c_char_p, c_size_t, c_char_p]),
    "vmsec_profile_load_file": (STATUS, [c_void_pp, c_char_p]),
    "vmsec_profile_validate": (STATUS, [c_void_p]),
    "vmsec_profile_check_domain": (STATUS, [c_void_p, c_uint, c_uint_p, c_size_t]),
    "vmsec_profile_to_text": (STATUS, [c_void_p, c_char_p, c_size_t, c_size_t_p]),
    "vmsec_profile_save_file": (STATUS, [c_void_p, c_char_p]),
    "vmsec_profile_digest": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_profile_equal": (STATUS, [c_void_p, c_void_p]),
    "vmsec_profile_set": (STATUS, [c_void_p, c_char_p, c_char_p]),
    "vmsec_profile_get": (STATUS, [c_void_p, c_char_p, c_char_p, c_size_t]),
    "vmsec_profile_unset": (STATUS, [c_void_p, c_char_p]),
    "vmsec_profile_set_name": (STATUS, [c_void_p, c_char_p]),
    "vmsec_profile_get_name": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_profile_set_vcpus": (STATUS, [c_void_p, c_uint]),
    "vmsec_profile_get_vcpus": (STATUS, [c_void_p, c_uint_p]),
    "vmsec_profile_set_iothreads": (STATUS, [c_void_p, c_uint]),
    "vmsec_profile_get_iothreads": (STATUS, [c_void_p, c_uint_p]),
    "vmsec_profile_set_vcpu_pin": (STATUS, [c_void_p, c_uint, c_char_p]),
    "vmsec_profile_get_vcpu_pin": (STATUS, [c_void_p, c_uint, c_char_p, c_size_t]),
    "vmsec_profile_set_emulator_pin": (STATUS, [c_void_p, c_char_p]),
    "vmsec_profile_get_emulator_pin": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_profile_set_iothread_pin": (STATUS, [c_void_p, c_uint, c_char_p]),
    "vmsec_profile_get_iothread_pin": (STATUS, [c_void_p, c_uint, c_char_p, c_size_t]),
    "vmsec_profile_set_cpu_shares": (STATUS, [c_void_p, c_uint64]),
    "vmsec_profile_get_cpu_shares": (STATUS, [c_void_p, c_uint64_p]),
    "vmsec_profile_set_cpu_period": (STATUS, [c_void_p, c_int, c_uint64]),
    "vmsec_profile_get_cpu_period": (STATUS, [c_void_p, c_int, c_uint64_p]),
    "vmsec_profile_set_cpu_quota": (STATUS, [c_void_p, c_int, c_int64]),
    "vmsec_profile_get_cpu_quota": (STATUS, [c_void_p, c_int, c_int64_p]),
    "vmsec_profile_set_numa_mode": (STATUS, [c_void_p, c_int]),
    "vmsec_profile_get_numa_mode": (STATUS, [c_void_p, c_int_p]),
    "vmsec_profile_set_numa_nodeset": (STATUS, [c_void_p, c_char_p]),
    "vmsec_profile_get_numa_nodeset": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_profile_set_memory_limit": (STATUS, [c_void_p, c_int, c_uint64]),
    "vmsec_profile_get_memory_limit": (STATUS, [c_void_p, c_int, c_uint64_p]),
    "vmsec_profile_set_memory_locked": (STATUS, [c_void_p, c_int]),
    "vmsec_profile_get_memory_locked": (STATUS, [c_void_p, c_int_p]),
    "vmsec_profile_set_hugepage_size": (STATUS, [c_void_p, c_uint64]),
    "vmsec_profile_get_hugepage_size": (STATUS, [c_void_p, c_uint64_p]),
    "vmsec_profile_set_hugepage_nodeset": (STATUS, [c_void_p, c_char_p]),
    "vmsec_profile_get_hugepage_nodeset": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_profile_set_nosharepages": (STATUS, [c_void_p, c_int]),
    "vmsec_profile_get_nosharepages": (STATUS, [c_void_p, c_int_p]),
    "vmsec_profile_set_blkio_weight": (STATUS, [c_void_p, c_uint]),
    "vmsec_profile_get_blkio_weight": (STATUS, [c_void_p, c_uint_p]),
    "vmsec_profile_set_blkio_device": (STATUS, [c_void_p, c_char_p, c_int, c_uint64]),
    "vmsec_profile_unset_blkio_device": (STATUS, [c_void_p, c_char_p, c_int]),
    "vmsec_profile_get_blkio_device": (STATUS, [c_void_p, c_char_p, c_int, c_uint64_p]),
    "vmsec_profile_blkio_device_count": (STATUS, [c_void_p, c_size_t_p]),
    "vmsec_profile_blkio_device_path": (STATUS, [c_void_p, c_size_t, c_char_p, c_size_t]),
    # channel (include/vmsec/channel.h); callbacks are ctypes.CFUNCTYPE objects cast to c_void_p
    "vmsec_channel_default_max_message": (c_size_t, []),
    "vmsec_channel_max_message_limit": (c_size_t, []),
    "vmsec_handshake_hash_max": (c_size_t, []),
    "vmsec_record_payload_max": (c_size_t, []),
    "vmsec_psk_bytes": (c_size_t, []),
    "vmsec_channel_config_new": (STATUS, [c_void_pp]),
    "vmsec_channel_config_free": (None, [c_void_p]),
    "vmsec_channel_config_set_keypair": (STATUS, [c_void_p, c_void_p]),
    "vmsec_channel_config_set_protocol": (STATUS, [c_void_p, c_char_p]),
    "vmsec_channel_config_set_pattern": (STATUS, [c_void_p, c_char_p]),
    "vmsec_channel_config_set_suite": (STATUS, [c_void_p, c_char_p]),
    "vmsec_channel_config_get_protocol": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_channel_config_add_trusted_peer": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_channel_config_set_peer_key": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_channel_config_set_verify": (STATUS, [c_void_p, c_void_p, c_void_p]),
    "vmsec_channel_config_set_allow_any_peer": (STATUS, [c_void_p, c_int]),
    "vmsec_channel_config_set_psk": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_channel_config_set_prologue": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_channel_config_set_max_message": (STATUS, [c_void_p, c_size_t]),
    "vmsec_channel_config_set_rekey_interval": (STATUS, [c_void_p, c_uint64]),
    "vmsec_channel_config_set_handshake_timeout": (STATUS, [c_void_p, c_uint]),
    "vmsec_channel_config_set_protocol_version": (STATUS, [c_void_p, c_uint]),
    "vmsec_channel_config_set_keepalive": (STATUS, [c_void_p, c_uint, c_uint]),
    "vmsec_channel_config_set_rekey_time": (STATUS, [c_void_p, c_uint]),
    "vmsec_engine_new": (STATUS, [c_void_pp, c_void_p, c_int]),
    "vmsec_engine_free": (None, [c_void_p]),
    "vmsec_engine_feed": (STATUS, [c_void_p, c_char_p, c_size_t, c_size_t_p]),
    "vmsec_engine_input_space": (STATUS, [c_void_p, ctypes.POINTER(c_uint8_p), c_size_t_p]),
    "vmsec_engine_input_commit": (STATUS, [c_void_p, c_size_t]),
    "vmsec_engine_input_eof": (STATUS, [c_void_p]),
    "vmsec_engine_output": (STATUS, [c_void_p, ctypes.POINTER(c_uint8_p), c_size_t_p]),
    "vmsec_engine_output_consume": (STATUS, [c_void_p, c_size_t]),
    "vmsec_engine_output_pending": (c_size_t, [c_void_p]),
    "vmsec_engine_send": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_engine_send_more": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_engine_flush": (STATUS, [c_void_p]),
    "vmsec_engine_recv": (STATUS, [c_void_p, c_char_p, c_size_t, c_size_t_p]),
    "vmsec_engine_close": (STATUS, [c_void_p]),
    "vmsec_engine_state": (STATUS, [c_void_p]),
    "vmsec_engine_peer_key": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_engine_handshake_hash": (STATUS, [c_void_p, c_char_p, c_size_t, c_size_t_p]),
    "vmsec_engine_tick": (STATUS, [c_void_p, ctypes.c_uint64]),
    "vmsec_engine_next_deadline": (STATUS, [c_void_p, c_uint64_p]),
    "vmsec_channel_new": (STATUS, [c_void_pp, c_void_p, c_int, c_int, c_uint]),
    "vmsec_channel_free": (None, [c_void_p]),
    "vmsec_channel_set_nonblocking": (STATUS, [c_void_p, c_int]),
    "vmsec_channel_handshake": (STATUS, [c_void_p]),
    "vmsec_channel_send": (STATUS, [c_void_p, c_char_p, c_size_t, c_uint]),
    "vmsec_channel_flush": (STATUS, [c_void_p]),
    "vmsec_channel_recv": (STATUS, [c_void_p, c_char_p, c_size_t, c_size_t_p]),
    "vmsec_channel_close": (STATUS, [c_void_p]),
    "vmsec_channel_poll_events": (ctypes.c_short, [c_void_p]),
    "vmsec_channel_next_timeout_ms": (c_int, [c_void_p]),
    "vmsec_channel_tick": (STATUS, [c_void_p]),
    "vmsec_channel_fd": (STATUS, [c_void_p]),
    "vmsec_channel_state": (STATUS, [c_void_p]),
    "vmsec_channel_peer_key": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_channel_handshake_hash": (STATUS, [c_void_p, c_char_p, c_size_t, c_size_t_p]),
    "vmsec_channel_peer_cid": (STATUS, [c_void_p, c_uint32_p]),
    "vmsec_channel_connect": (STATUS, [c_void_pp, c_void_p, c_char_p]),
    "vmsec_channel_accept": (STATUS, [c_void_pp, c_void_p, c_void_p]),
    # transport (include/vmsec/transport.h)
    "vmsec_address_max": (c_size_t, []),
    "vmsec_address_validate": (STATUS, [c_char_p]),
    "vmsec_transport_connect": (STATUS, [c_char_p, c_uint, c_int_p]),
    # sessions (vmsec/session.h); options are a vmsec_session_options structure passed by pointer
    "vmsec_session_id_bytes": (c_size_t, []),
    "vmsec_session_options_init": (STATUS, [c_void_p, c_uint]),
    "vmsec_session_connect": (STATUS, [c_void_pp, c_void_p, c_char_p, c_void_p]),
    "vmsec_session_listener_new": (STATUS, [c_void_pp, c_void_p, c_void_p, c_void_p]),
    "vmsec_session_listener_free": (None, [c_void_p]),
    "vmsec_session_listener_accept": (STATUS, [c_void_p, c_void_pp]),
    "vmsec_session_listener_fd": (c_int, [c_void_p]),
    "vmsec_session_listener_next_timeout_ms": (c_int, [c_void_p]),
    "vmsec_session_listener_pending_max": (c_size_t, []),
    "vmsec_session_listener_set_nonblocking": (STATUS, [c_void_p, c_int]),
    "vmsec_session_free": (None, [c_void_p]),
    "vmsec_session_set_nonblocking": (STATUS, [c_void_p, c_int]),
    "vmsec_session_send": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_session_recv": (STATUS, [c_void_p, c_char_p, c_size_t, c_size_t_p]),
    "vmsec_session_close": (STATUS, [c_void_p]),
    "vmsec_session_fd": (c_int, [c_void_p]),
    "vmsec_session_poll_events": (ctypes.c_short, [c_void_p]),
    "vmsec_session_next_timeout_ms": (c_int, [c_void_p]),
    "vmsec_session_tick": (STATUS, [c_void_p]),
    "vmsec_session_id": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_session_links": (c_uint64, [c_void_p]),
    "vmsec_listener_new": (STATUS, [c_void_pp, c_char_p]),
    "vmsec_listener_free": (None, [c_void_p]),
    "vmsec_listener_fd": (c_int, [c_void_p]),
    "vmsec_listener_address": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "vmsec_listener_set_cid_filter": (STATUS, [c_void_p, c_uint32_p, c_size_t]),
    "vmsec_listener_accept": (STATUS, [c_void_p, c_int_p, c_char_p, c_size_t, c_uint32_p]),
    # report, host check, domain (include/vmsec/report.h, hostcheck.h, domain.h); returned strings
    # are c_void_p so that they can be given back to their free functions
    "vmsec_report_count": (c_size_t, [c_void_p]),
    "vmsec_report_status": (STATUS, [c_void_p, c_size_t]),
    "vmsec_report_field": (c_char_p, [c_void_p, c_size_t, c_int]),
    "vmsec_report_count_status": (c_size_t, [c_void_p, c_int]),
    "vmsec_status_name": (c_char_p, [c_int]),
    "vmsec_report_format": (STATUS, [c_void_p, c_int, c_void_pp]),
    "vmsec_report_string_free": (None, [c_void_p]),
    "vmsec_report_free": (None, [c_void_p]),
    "vmsec_host_check": (STATUS, [c_char_p, c_void_p, c_uint, c_void_pp]),
    "vmsec_domain_open": (STATUS, [c_char_p, c_char_p, c_void_pp]),
    "vmsec_domain_wrap": (STATUS, [c_void_p, c_void_pp]),
    "vmsec_domain_free": (None, [c_void_p]),
    "vmsec_domain_render": (STATUS, [c_void_p, c_char_p, c_void_pp]),
    "vmsec_domain_xml_free": (None, [c_void_p]),
    "vmsec_domain_get_xml": (STATUS, [c_void_p, c_uint, c_void_pp]),
    "vmsec_domain_host_check": (STATUS, [c_void_p, c_void_p, c_uint, c_void_pp]),
    "vmsec_domain_apply": (STATUS, [c_void_p, c_void_p, c_uint, c_void_pp]),
    "vmsec_domain_verify": (STATUS, [c_void_p, c_void_p, c_uint, c_void_pp]),
    "vmsec_domain_get_applied": (STATUS, [c_void_p, c_uint, c_void_pp, c_char_p, c_size_t]),
}


def _load() -> ctypes.CDLL:
    path = os.environ.get(LIBRARY_ENV)
    candidates = [path] if path else [ctypes.util.find_library("vmsec"), f"libvmsec.so.{ABI_MAJOR}"]
    last_error: OSError | None = None
    for name in candidates:
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError as exc:  # try the next candidate
            last_error = exc
    raise ImportError(f"cannot load libvmsec.so.{ABI_MAJOR}"
                      f"{' from ' + path if path else ''}: {last_error}")


lib = _load()


#: An exception a callback could not raise through C (KeyboardInterrupt, SystemExit...), kept per
#: thread until the C call that ran the callback returns.
_deferred = threading.local()


def defer_exception(exc: BaseException) -> None:
    """Keeps ``exc`` to be raised when the C call running the current callback returns."""
    _deferred.exc = exc


def _check(result: int, func, args):  # noqa: ANN001 - ctypes errcheck signature
    exc = getattr(_deferred, "exc", None)
    if exc is not None:
        _deferred.exc = None
        raise exc
    if result < 0:
        message = lib.vmsec_error_last().decode("utf-8", "replace")
        raise errors.from_code(result, message or lib.vmsec_strerror(result).decode())
    return result


def _declare() -> None:
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError as exc:
            raise ImportError(f"libvmsec lacks {name}: the loaded library is older than these bindings") from exc
        fn.argtypes = argtypes
        if restype is STATUS:
            fn.restype = c_int
            fn.errcheck = _check
        else:
            fn.restype = restype


_declare()

if lib.vmsec_version_major() != API_MAJOR:
    raise ImportError(f"libvmsec {lib.vmsec_version_string().decode()} has major version "
                      f"{lib.vmsec_version_major()}; these bindings need {API_MAJOR}.x")
if lib.vmsec_init() != 0:  # pragma: no cover - errcheck raises first
    raise ImportError("libvmsec could not be initialised")
