"""HMAC-SHA256 of a whole column at a time, in C, for the loader's pseudonyms.

DuckDB's sha256 has no hardware acceleration and an HMAC takes two of them per value: on a million-row Storm
extract's two personal columns that was 2.5 s of CPU, half the load. native/hmac_sha256.c loops over a column
(an Arrow array, handed over by DuckDB as a vectorised function) calling OpenSSL's SHA-256, which uses the CPU's SHA
extensions: about 0.12 s for a million values.

The C file is compiled on first use with the machine's C compiler into <CSPWH_HOME>/native (or found prebuilt
beside its source, as the Docker image has it), loaded against the libcrypto Python's hashlib already uses, and
checked against Python's hmac before it is trusted. Where any of that fails, `register` says so and landed_file.py
keeps its SQL macro, which gives the same values (tests/integration/test_raw_load.py holds the two to each other
and to Python's hmac).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import hmac
import logging
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from cspwh import settings
from cspwh.ingest import pseudonymise

log = logging.getLogger(__name__)

SOURCE = Path(__file__).parent / "native" / "hmac_sha256.c"
HEX_CHARS = 64
PSEUDONYM_CHARS = 32  # a pseudonym is the first half of the hex HMAC (pseudonymise.py)
# A pyarrow Array (or ChunkedArray). pyarrow ships no type information, and DuckDB evaluates a function's
# annotations when it registers it, so they must name nothing that is imported only for the type checker.
ArrowArray = Any


def _library_name() -> str:
    tag = hashlib.sha256(SOURCE.read_bytes() + f"{sys.platform}-{platform.machine()}".encode()).hexdigest()[:12]
    return f"hmac_sha256-{tag}.so"


def build(folder: Path) -> Path:
    """Compile the C file into `folder` (atomically, so concurrent tasks never load half a file)."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise OSError("no C compiler (cc or gcc) on PATH")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / _library_name()
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    done = subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(partial), str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode:
        partial.unlink(missing_ok=True)
        raise OSError(f"{compiler} failed: {done.stderr.strip()[:500]}")
    os.replace(partial, target)
    return target


def _libcrypto() -> str | None:
    """The libcrypto this Python's hashlib is linked against (so both hash with the same OpenSSL)."""
    import _hashlib  # noqa: F401  (loads libcrypto into the process)

    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and "/libcrypto" in fields[5]:
                    return fields[5].strip()
    except OSError:
        pass
    return ctypes.util.find_library("crypto")


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled library, loaded and checked against Python's hmac; None (with the reason logged) if unusable."""
    try:
        crypto = _libcrypto()
        if not crypto:
            raise OSError("no libcrypto found")
        ctypes.CDLL(crypto, mode=os.RTLD_NOW | os.RTLD_GLOBAL)  # the C file's SHA256_* symbols resolve here
        path = SOURCE.with_name(_library_name())
        if not path.exists():
            path = settings.home() / "native" / _library_name()
            if not path.exists():
                path = build(path.parent)
        lib = ctypes.CDLL(str(path))
        lib.hmac_sha256_state_size.restype = ctypes.c_size_t
        lib.hmac_sha256_init.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.hmac_sha256_hex.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int,
            ctypes.c_void_p,
        ]
        lib.pseudonym_ascii_hex.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        key, values = b"self-test key", [b"", b"J Smith", "Zo\u00eb".encode(), b"x" * 200]
        expected = [hmac.new(key, v, hashlib.sha256).hexdigest() for v in values]
        if Hasher(lib, pseudonymise.pads(key)).hex_of(values) != expected:
            raise OSError("the compiled HMAC disagrees with Python's hmac")
        return lib
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("HMAC pseudonyms fall back to DuckDB's SQL sha256 (slower): %s", exc)
        return None


class Hasher:
    """HMAC-SHA256 under one key (given as its RFC 2104 inner and outer pads), a column at a time."""

    def __init__(self, lib: ctypes.CDLL, pads: tuple[bytes, bytes]):
        self.lib = lib
        self.state = ctypes.create_string_buffer(lib.hmac_sha256_state_size())
        lib.hmac_sha256_init(self.state, pads[0] + pads[1])

    def _run(self, data_address: int, offsets_address: int, n: int) -> bytearray:
        out = bytearray(HEX_CHARS * n or 1)
        target = (ctypes.c_char * len(out)).from_buffer(out)
        self.lib.hmac_sha256_hex(self.state, data_address, offsets_address, n, HEX_CHARS, ctypes.addressof(target))
        del target  # release the export, so the bytearray can be handed on
        return out

    def hex_of(self, values: list[bytes]) -> list[str]:
        """For a plain list (the self-test)."""
        data = b"".join(values)
        offsets = (ctypes.c_int32 * (len(values) + 1))()
        for i, v in enumerate(values):
            offsets[i + 1] = offsets[i] + len(v)
        buffer = ctypes.create_string_buffer(data or b"\0")
        out = self._run(ctypes.addressof(buffer), ctypes.addressof(offsets), len(values))
        return [out[i : i + HEX_CHARS].decode() for i in range(0, HEX_CHARS * len(values), HEX_CHARS)]

    @staticmethod
    def _strings(values: ArrowArray) -> ArrowArray:
        import pyarrow as pa

        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        return values if values.type == pa.string() else values.cast(pa.string())

    @staticmethod
    def _hex_array(n: int, width: int, out: bytearray, validity: Any, null_count: int) -> ArrowArray:
        import numpy as np
        import pyarrow as pa

        offsets = pa.py_buffer(np.arange(0, width * (n + 1), width, dtype=np.int32))
        return pa.Array.from_buffers(
            pa.string(), n, [validity if null_count else None, offsets, pa.py_buffer(out)], null_count=null_count
        )

    def arrow(self, values: ArrowArray) -> ArrowArray:
        """An Arrow string array of hex HMACs, null where the value is null."""
        values = self._strings(values)
        n = len(values)
        validity, offsets, data = values.buffers()
        out = self._run(data.address if data is not None and data.size else 0, offsets.address + 4 * values.offset, n)
        if values.null_count:
            validity = values.is_valid().buffers()[1]  # re-based at offset 0, like the output
        return self._hex_array(n, HEX_CHARS, out, validity, values.null_count)

    def ascii_pseudonyms(self, values: ArrowArray) -> ArrowArray:
        """Pseudonyms (32 hex characters) of the plain-ASCII values, normalised in C; null for a null value and for
        one with any other character, which the SQL path then normalises and hashes (landed_file.py)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        values = self._strings(values)
        n = len(values)
        _, offsets, data = values.buffers()
        out, done = bytearray(PSEUDONYM_CHARS * n or 1), np.zeros(max(n, 1), dtype=np.uint8)
        longest = int(pc.max(pc.binary_length(values)).as_py() or 0) if n else 0
        scratch = ctypes.create_string_buffer(longest + 1)
        target = (ctypes.c_char * len(out)).from_buffer(out)
        self.lib.pseudonym_ascii_hex(
            self.state,
            data.address if data is not None and data.size else 0,
            offsets.address + 4 * values.offset,
            n,
            PSEUDONYM_CHARS,
            ctypes.addressof(target),
            done.ctypes.data,
            scratch,
        )
        del target
        done = done[:n].astype(bool)
        if values.null_count:
            done &= values.is_valid().to_numpy(zero_copy_only=False)
        validity = pa.py_buffer(np.packbits(done, bitorder="little"))
        return self._hex_array(n, PSEUDONYM_CHARS, out, validity, int(n - done.sum()))


def create_arrow_function(
    con: duckdb.DuckDBPyConnection,
    name: str,
    function: Callable[[ArrowArray], ArrowArray],
    return_type: str,
    **options: Any,
) -> None:
    """A vectorised (Arrow) DuckDB function of one VARCHAR, without side effects."""
    # duckdb takes type (and null_handling) as strings at runtime in every version; its stubs want its enums, whose
    # module moved between versions (duckdb.functional, then duckdb.func)
    con.create_function(name, function, ["VARCHAR"], return_type, type="arrow", side_effects=False, **options)  # type: ignore[call-overload]


def register(con: duckdb.DuckDBPyConnection, pads: tuple[bytes, bytes]) -> bool:
    """Define `hmac_sha256(varchar) -> varchar` (hex) and `pseudonym_ascii(varchar) -> varchar` on a DuckDB
    connection; False when the C code is unusable."""
    lib = library()
    if lib is None:
        return False
    hasher = Hasher(lib, pads)
    create_arrow_function(con, "hmac_sha256", hasher.arrow, "VARCHAR")
    create_arrow_function(con, "pseudonym_ascii", hasher.ascii_pseudonyms, "VARCHAR", null_handling="special")
    return True
