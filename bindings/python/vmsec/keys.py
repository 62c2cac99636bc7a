# SPDX-License-Identifier: ISC
"""X25519 static keypairs and public keys."""
from __future__ import annotations

import ctypes
import os
from typing import Union

from ._lib import lib

KEY_BYTES: int = lib.vmsec_key_bytes()
_TEXT_MAX: int = lib.vmsec_pubkey_text_max()
_FP_MAX: int = lib.vmsec_fingerprint_max()
_OVERWRITE = 0x1
#: VMSEC_PRIVKEY_TEXT_MAX: the key file line, its newline and a NUL.
_PRIVKEY_TEXT_MAX = 74

PathLike = Union[str, "os.PathLike[str]"]


class PublicKey:
    """An X25519 public key. Equal keys compare equal; ``str()`` is the stable text form.

    Only the canonical encoding of a key is accepted (see :meth:`validate`), so one key has one
    ``PublicKey``, one text form and one fingerprint.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEY_BYTES:
            raise ValueError(f"a public key is {KEY_BYTES} bytes, got {len(raw)}")
        self.validate(raw)
        self._raw = bytes(raw)

    @staticmethod
    def validate(raw: bytes) -> None:
        """Raises :class:`vmsec.FormatError`, saying why, unless ``raw`` is a canonical X25519 key.

        Canonical: bit 255 clear and the u-coordinate below 2^255-19. X25519 ignores bit 255 and
        reduces the rest, so any other encoding would be a second name for a key.
        """
        raw = bytes(raw)
        lib.vmsec_pubkey_validate(raw, len(raw))

    @classmethod
    def from_text(cls, text: str) -> "PublicKey":
        """Parses the text form (``x25519:`` + base64); raises :class:`vmsec.FormatError`, also for
        a key that is not canonical."""
        buf = ctypes.create_string_buffer(KEY_BYTES)
        lib.vmsec_pubkey_from_text(buf, KEY_BYTES, text.encode())
        return cls(buf.raw)

    @classmethod
    def load(cls, path: PathLike) -> "PublicKey":
        """Reads a ``.pub`` file."""
        buf = ctypes.create_string_buffer(KEY_BYTES)
        lib.vmsec_pubkey_load_file(buf, KEY_BYTES, os.fsencode(path))
        return cls(buf.raw)

    @property
    def raw(self) -> bytes:
        """The 32 key bytes."""
        return self._raw

    @property
    def text(self) -> str:
        """The stable text form, e.g. ``x25519:hSDwCYkw...``."""
        buf = ctypes.create_string_buffer(_TEXT_MAX)
        lib.vmsec_pubkey_to_text(self._raw, buf, _TEXT_MAX)
        return buf.value.decode()

    @property
    def fingerprint(self) -> str:
        """A short fingerprint for humans, e.g. ``3f2a-91c0-7d4e-b815``."""
        buf = ctypes.create_string_buffer(_FP_MAX)
        lib.vmsec_pubkey_fingerprint(self._raw, buf, _FP_MAX)
        return buf.value.decode()

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<vmsec.PublicKey {self.fingerprint} {self.text}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)


class Keypair:
    """An X25519 static keypair whose secret stays in the library's guarded memory.

    Use as a context manager, or call :meth:`close`, to wipe the secret deterministically.
    """

    def __init__(self, handle: ctypes.c_void_p) -> None:
        self._handle = handle

    @classmethod
    def generate(cls) -> "Keypair":
        """Creates a new random keypair."""
        handle = ctypes.c_void_p()
        lib.vmsec_keypair_generate(ctypes.byref(handle))
        return cls(handle)

    @classmethod
    def from_secret(cls, secret: bytes) -> "Keypair":
        """Builds a keypair from a 32-byte secret."""
        handle = ctypes.c_void_p()
        lib.vmsec_keypair_from_secret(ctypes.byref(handle), bytes(secret), len(secret))
        return cls(handle)

    @classmethod
    def load(cls, path: PathLike) -> "Keypair":
        """Loads a private key file; refuses unsafe modes, truncation and bad formats."""
        handle = ctypes.c_void_p()
        lib.vmsec_keypair_load(ctypes.byref(handle), os.fsencode(path))
        return cls(handle)

    @classmethod
    def from_text(cls, text: Union[str, bytes]) -> "Keypair":
        """Builds a keypair from a private key file's text (what :meth:`private_text` returns)."""
        raw = text.encode() if isinstance(text, str) else bytes(text)
        handle = ctypes.c_void_p()
        lib.vmsec_keypair_from_text(ctypes.byref(handle), raw, len(raw))
        return cls(handle)

    def private_text(self) -> bytes:
        """The private key in the key file's text form: the secret itself, handle with care. It is
        returned as bytes; the library's scratch buffer is wiped."""
        buf = ctypes.create_string_buffer(_PRIVKEY_TEXT_MAX)
        try:
            lib.vmsec_keypair_to_text(self.handle, buf, _PRIVKEY_TEXT_MAX)
            return buf.value
        finally:
            ctypes.memset(buf, 0, _PRIVKEY_TEXT_MAX)

    @property
    def handle(self) -> ctypes.c_void_p:
        """The underlying ``vmsec_keypair *`` (for other bindings); raises if closed."""
        if not self._handle:
            raise ValueError("keypair is closed")
        return self._handle

    def save(self, path: PathLike, overwrite: bool = False) -> None:
        """Writes the private key atomically with mode 0600."""
        lib.vmsec_keypair_save(self.handle, os.fsencode(path), _OVERWRITE if overwrite else 0)

    @property
    def public_key(self) -> PublicKey:
        """The public half."""
        buf = ctypes.create_string_buffer(KEY_BYTES)
        lib.vmsec_keypair_public(self.handle, buf, KEY_BYTES)
        return PublicKey(buf.raw)

    def __repr__(self) -> str:
        """Names the public half only (its fingerprint): never the secret."""
        if not self._handle:
            return "<vmsec.Keypair closed>"
        return f"<vmsec.Keypair public {self.public_key.fingerprint}>"

    def close(self) -> None:
        """Wipes and frees the secret; idempotent."""
        if self._handle:
            lib.vmsec_keypair_free(self._handle)
            self._handle = ctypes.c_void_p()

    def __enter__(self) -> "Keypair":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
