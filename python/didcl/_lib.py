"""ctypes view of libdidcl: finding the library, the C structs and the prototypes.

Private: the public API is in didcl/__init__.py. Struct layouts mirror include/didcl.h
and include/didcl/remask.h field for field (tests/test_layout.py compares them with the
C compiler's offsets when tests/python_layout is built).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float,
                    c_int, c_int32, c_int64, c_size_t, c_uint32, c_uint64,
                    c_void_p)
from typing import List, Optional, Tuple

MAX_REVISIONS = 8
MAX_BATCH = 64
REMASK_ABI_VERSION = 1
REMASK_LOCKED = 0x1

# ---- structs -------------------------------------------------------------------------


class DeviceInfo(Structure):
    _fields_ = [
        ("platform_index", c_uint32), ("device_index", c_uint32), ("kind", c_int),
        ("name", c_char * 256), ("vendor", c_char * 128), ("platform", c_char * 128),
        ("platform_version", c_char * 128), ("version", c_char * 128),
        ("driver", c_char * 128), ("c_version", c_char * 64),
        ("compute_units", c_uint32), ("global_mem", c_uint64), ("max_alloc", c_uint64),
        ("local_mem", c_uint64), ("max_work_group", c_uint64),
        ("fp16", c_int), ("fp64", c_int), ("subgroups", c_int),
    ]


class ModelConfig(Structure):
    _fields_ = [
        ("arch", c_int), ("n_layers", c_uint32), ("hidden", c_uint32),
        ("n_heads", c_uint32), ("head_dim", c_uint32), ("mlp_dim", c_uint32),
        ("cond_dim", c_uint32), ("vocab_size", c_uint32), ("context_length", c_uint32),
        ("block_size", c_uint32), ("time_conditioning", c_int),
        ("sampling_eps_min", c_double), ("sampling_eps_max", c_double),
        ("eps_from_checkpoint", c_int), ("norm_eps", c_double),
        ("mask_token_id", c_int32), ("bos_token_id", c_int32), ("eos_token_id", c_int32),
    ]


class ModelOptions(Structure):
    _fields_ = [("half_weights", c_int), ("max_tokens", c_uint32), ("max_batch", c_uint32)]


class ScoreOptions(Structure):
    _fields_ = [("block", c_uint32), ("samples", c_uint32), ("seed", c_uint64),
                ("t", c_double), ("eps", c_double)]


class ScoreResult(Structure):
    _fields_ = [("nll", c_double), ("se", c_double), ("ppl", c_double),
                ("tokens", c_uint32), ("samples", c_uint32), ("windows", c_uint32)]


class Revision(Structure):
    _fields_ = [("gamma", c_double), ("block", c_int32)]


class GenOptions(Structure):
    _fields_ = [
        ("seed", c_uint64), ("length", c_int32), ("block", c_int32), ("mode", c_int),
        ("steps", c_int32), ("threshold", c_double), ("temperature", c_double),
        ("top_p", c_double), ("use_kv_cache", c_int), ("var_length", c_int),
        ("reject_low_entropy", c_int), ("reject_scope", c_int),
        ("reject_window", c_int32), ("reject_min_entropy", c_double),
        ("reject_max_tries", c_int32), ("n_revisions", c_int32),
        ("revisions", Revision * MAX_REVISIONS), ("revise_mode", c_int),
        ("revise_steps", c_int32), ("revise_threshold", c_double),
        ("revise_reuse", c_int32),
    ]


class StageStats(Structure):
    _fields_ = [
        ("stage", c_int32), ("block", c_int32), ("gamma", c_double),
        ("remasked", c_int32), ("committed", c_int32), ("nfe", c_int32),
        ("store_kv", c_int32), ("tries", c_int32), ("flops", c_double),
        ("seconds", c_double),
    ]


TIME_KINDS = 5  # DIDCL_TIME_KINDS


class Profile(Structure):
    _fields_ = [("enabled", c_int), ("seconds", c_double * TIME_KINDS),
                ("commands", c_uint64 * TIME_KINDS)]


class SessionParams(Structure):
    _fields_ = [("model", c_char_p), ("tokenizer", c_char_p), ("device", c_char_p),
                ("plugin_path", c_char_p), ("half_weights", c_int), ("max_batch", c_uint32),
                ("profile", c_int)]


class Request(Structure):
    _fields_ = [
        ("prompt", c_char_p), ("prompt_len", c_size_t), ("prompt_ids", POINTER(c_int32)),
        ("n_prompt_ids", c_size_t), ("options", GenOptions), ("remask", c_char_p),
        ("samples", c_uint32), ("flags", c_uint32),
    ]


class RemaskPosition(Structure):
    _fields_ = [
        ("token", c_int32), ("confidence", c_float), ("entropy", c_float),
        ("margin", c_float), ("step", c_int32), ("block", c_int32), ("stage", c_int32),
        ("nfe", c_int32), ("flags", c_uint32),
    ]


class Sample(Structure):
    _fields_ = [
        ("request", c_uint32), ("index", c_uint32), ("options", GenOptions),
        ("remask", c_char * 64), ("n", c_int32), ("tokens", POINTER(c_int32)),
        ("n_prompt", c_int32), ("ids", POINTER(c_int32)), ("n_ids", c_int32),
        ("text", c_void_p), ("text_len", c_size_t), ("trace", POINTER(RemaskPosition)),
        ("draft", POINTER(c_int32)), ("remasked", POINTER(c_uint32)),
        ("n_stages", c_int32), ("stages", StageStats * (1 + MAX_REVISIONS)),
        ("low_entropy", c_int), ("batch", c_uint32),
    ]


class Results(Structure):
    _fields_ = [
        ("n", c_size_t), ("samples", POINTER(Sample)), ("n_stages", c_int32),
        ("totals", StageStats * (1 + MAX_REVISIONS)), ("generated", c_int64),
        ("seconds", c_double), ("load_seconds", c_double), ("batch", c_uint32),
        ("status", c_int), ("error", c_char_p),
        ("compile_seconds", c_double), ("profile", Profile),
    ]


class Event(Structure):
    _fields_ = [
        ("kind", c_int), ("request", c_uint32), ("sample", c_uint32), ("stage", c_uint32),
        ("attempt", c_int32), ("n", c_int32), ("start", c_int32), ("len", c_int32),
        ("remasked", c_int32), ("nfe", c_int32), ("n_prompt", c_int32),
        ("seq", POINTER(c_int32)), ("trace", POINTER(RemaskPosition)),
        ("remasked_by", POINTER(c_uint32)), ("result", POINTER(Sample)),
    ]


class RemaskInput(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("positions", POINTER(RemaskPosition)), ("n", c_uint32),
        ("n_unlocked", c_uint32), ("count", c_uint32), ("count_flexible", c_uint32),
        ("stage", c_uint32), ("block_size", c_uint32), ("sample", c_uint32),
    ]


LOG_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p)
UNIFORM_FN = CFUNCTYPE(c_double, c_void_p)


class RemaskHost(Structure):
    _fields_ = [("struct_size", c_uint32), ("handle", c_void_p), ("log", LOG_FN),
                ("uniform", UNIFORM_FN)]


CREATE_FN = CFUNCTYPE(c_int, c_char_p, POINTER(RemaskHost), POINTER(c_void_p), c_void_p,
                      c_size_t)
SELECT_FN = CFUNCTYPE(c_int, c_void_p, POINTER(RemaskInput), POINTER(c_uint32),
                      POINTER(c_uint32), c_void_p, c_size_t)
DESTROY_FN = CFUNCTYPE(None, c_void_p)


class RemaskPlugin(Structure):
    _fields_ = [
        ("abi_version", c_uint32), ("struct_size", c_uint32), ("name", c_char_p),
        ("description", c_char_p), ("version", c_char_p), ("create", CREATE_FN),
        ("select", SELECT_FN), ("destroy", DESTROY_FN),
    ]


EVENT_FN = CFUNCTYPE(c_int, POINTER(Event), c_void_p)

# Every struct above by its C name, for the layout test.
C_NAMES = {
    "didcl_device_info": DeviceInfo, "didcl_model_config": ModelConfig,
    "didcl_model_options": ModelOptions, "didcl_score_options": ScoreOptions,
    "didcl_score_result": ScoreResult, "didcl_revision": Revision,
    "didcl_gen_options": GenOptions, "didcl_stage_stats": StageStats,
    "didcl_session_params": SessionParams, "didcl_request": Request,
    "didcl_remask_position": RemaskPosition, "didcl_sample": Sample,
    "didcl_results": Results, "didcl_profile": Profile, "didcl_event": Event, "didcl_remask_input": RemaskInput,
    "didcl_remask_host": RemaskHost, "didcl_remask_plugin": RemaskPlugin,
}

# ---- finding the library ---------------------------------------------------------------

_SONAMES = ("libdidcl.so.0", "libdidcl.so") if sys.platform != "darwin" else (
    "libdidcl.0.dylib", "libdidcl.dylib")


class LibraryNotFound(OSError):
    """libdidcl could not be loaded; the message lists every place tried and why."""


def _build_tree_candidates() -> List[str]:
    """The build tree when this package runs from a source tree built in place:
    python/didcl/ -> ../../.libs/libdidcl.so."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.exists(os.path.join(top, "configure.ac")):
        return []  # an installed package: no source tree around it
    return [os.path.join(top, ".libs", name) for name in _SONAMES]


def _try(path: str, tried: List[Tuple[str, str]]) -> Optional[ctypes.CDLL]:
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        tried.append((path, str(e).split(": ", 1)[-1] if path in str(e) else str(e)))
        return None


def find_library() -> Tuple[ctypes.CDLL, str]:
    """Load libdidcl: $DIDCL_LIBRARY (a file, or a directory holding the library or its
    .libs/) if set, and then nothing else; otherwise the build tree next to this package's
    source, then the system loader (libdidcl.so.0 through the loader's paths and
    LD_LIBRARY_PATH, ctypes.util.find_library("didcl"), /usr/local/lib)."""
    tried: List[Tuple[str, str]] = []
    env = os.environ.get("DIDCL_LIBRARY")
    if env:
        paths = [env]
        if os.path.isdir(env):
            paths = [os.path.join(env, d, n) for d in ("", ".libs") for n in _SONAMES]
            paths = [p for p in paths if os.path.exists(p)] or [os.path.join(env, _SONAMES[1])]
        for p in paths:
            lib = _try(p, tried)
            if lib is not None:
                return lib, p
        where = "; ".join(f"{p}: {why}" for p, why in tried)
        raise LibraryNotFound(f"didcl: cannot load libdidcl from DIDCL_LIBRARY={env} ({where})")
    for p in _build_tree_candidates():
        if os.path.exists(p):
            lib = _try(p, tried)
            if lib is not None:
                return lib, p
        else:
            tried.append((p, "no such file (build tree)"))
    for name in _SONAMES:
        lib = _try(name, tried)
        if lib is not None:
            return lib, name
    found = ctypes.util.find_library("didcl")
    if found:
        lib = _try(found, tried)
        if lib is not None:
            return lib, found
    else:
        tried.append(('find_library("didcl")', "not found"))
    for d in ("/usr/local/lib", os.path.join(sys.prefix, "lib")):
        p = os.path.join(d, _SONAMES[0])
        if os.path.exists(p):
            lib = _try(p, tried)
            if lib is not None:
                return lib, p
        else:
            tried.append((p, "no such file"))
    where = "\n  ".join(f"{p}: {why}" for p, why in tried)
    raise LibraryNotFound(
        "didcl: cannot find libdidcl. Build it (./configure && make) or install it "
        "(make install), or set DIDCL_LIBRARY to the library file or its directory. "
        f"Looked at:\n  {where}")


# ---- prototypes ----------------------------------------------------------------------

_PROTOS = {
    "didcl_version": (c_char_p, []),
    "didcl_status_str": (c_char_p, [c_int]),
    "didcl_last_error": (c_char_p, []),
    "didcl_devices_list": (c_int, [POINTER(POINTER(DeviceInfo)), POINTER(c_size_t)]),
    "didcl_runtime_init": (c_int, [c_char_p, POINTER(c_void_p)]),
    "didcl_runtime_free": (None, [c_void_p]),
    "didcl_runtime_device": (POINTER(DeviceInfo), [c_void_p]),
    "didcl_model_files_open": (c_int, [c_char_p, POINTER(c_void_p)]),
    "didcl_model_files_free": (None, [c_void_p]),
    "didcl_model_files_config": (POINTER(ModelConfig), [c_void_p]),
    "didcl_model_open": (c_int, [c_void_p, c_void_p, POINTER(ModelOptions),
                                 POINTER(c_void_p)]),
    "didcl_model_free": (None, [c_void_p]),
    "didcl_score": (c_int, [c_void_p, POINTER(c_int32), c_uint32, POINTER(ScoreOptions),
                            POINTER(ScoreResult)]),
    "didcl_tokenizer_load": (c_int, [c_char_p, POINTER(c_void_p)]),
    "didcl_tokenizer_free": (None, [c_void_p]),
    "didcl_tokenizer_source": (c_char_p, [c_void_p]),
    "didcl_tokenizer_vocab_size": (c_uint32, [c_void_p]),
    "didcl_tokenizer_token": (c_char_p, [c_void_p, c_int32]),
    "didcl_tokenizer_token_bytes": (c_void_p, [c_void_p, c_int32, POINTER(c_size_t)]),
    "didcl_tokenizer_token_id": (c_int32, [c_void_p, c_char_p]),
    "didcl_tokenizer_special_id": (c_int, [c_void_p, c_char_p, POINTER(c_int32)]),
    "didcl_tokenizer_encode": (c_int, [c_void_p, c_char_p, c_size_t, c_uint32,
                                       POINTER(POINTER(c_int32)), POINTER(c_size_t)]),
    "didcl_tokenizer_decode": (c_int, [c_void_p, POINTER(c_int32), c_size_t,
                                       POINTER(c_void_p), POINTER(c_size_t)]),
    "didcl_gen_options_default": (GenOptions, []),
    "didcl_session_default_params": (SessionParams, []),
    "didcl_default_model_dir": (c_int, [c_char_p, c_size_t]),
    "didcl_session_open": (c_int, [POINTER(SessionParams), POINTER(c_void_p)]),
    "didcl_session_free": (None, [c_void_p]),
    "didcl_session_error": (c_char_p, [c_void_p]),
    "didcl_session_model_dir": (c_char_p, [c_void_p]),
    "didcl_session_config": (POINTER(ModelConfig), [c_void_p]),
    "didcl_session_tokenizer": (c_void_p, [c_void_p]),
    "didcl_session_device": (POINTER(DeviceInfo), [c_void_p]),
    "didcl_request_default": (Request, []),
    "didcl_session_check": (c_int, [c_void_p, POINTER(Request), POINTER(GenOptions)]),
    "didcl_session_generate": (c_int, [c_void_p, POINTER(Request), c_size_t, EVENT_FN,
                                       c_void_p, POINTER(POINTER(Results))]),
    "didcl_results_free": (None, [POINTER(Results)]),
    # in-process remask plugins (newer libraries)
    "didcl_remask_register": (c_int, [POINTER(RemaskPlugin)]),
    "didcl_remask_unregister": (c_int, [c_char_p]),
}

# Newer than the session API: bound when present (has() tells).
_OPTIONAL = ("didcl_remask_register", "didcl_remask_unregister")

_lib: Optional[ctypes.CDLL] = None
_path: Optional[str] = None
_libc_free = None


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use), prototypes set."""
    global _lib, _path, _libc_free
    if _lib is None:
        l, p = find_library()
        missing = [n for n in _PROTOS if n not in _OPTIONAL and not hasattr(l, n)]
        if missing:
            raise LibraryNotFound(f"didcl: {p} is too old for this package: it lacks "
                                  f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        for name, (res, args) in _PROTOS.items():
            f = getattr(l, name, None)
            if f is None:
                continue  # an optional one absent: has() says so
            f.restype = res
            f.argtypes = args
        libc = ctypes.CDLL(None)
        _libc_free = libc.free
        _libc_free.restype = None
        _libc_free.argtypes = [c_void_p]
        _lib, _path = l, p
    return _lib


def path() -> str:
    lib()
    assert _path is not None
    return _path


def has(name: str) -> bool:
    return hasattr(lib(), name)


def free(ptr) -> None:
    """free() of the C library libdidcl allocates with."""
    lib()
    _libc_free(ptr)


__all__ = ["lib", "path", "has", "free", "find_library", "LibraryNotFound", "C_NAMES"]

