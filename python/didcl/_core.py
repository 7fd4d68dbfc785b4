"""Errors, devices, the tokenizer, sessions, results and scoring over libdidcl."""
from __future__ import annotations

import ctypes
import enum
import os
import queue
import sys
import threading
import weakref
from ctypes import POINTER, byref, c_int32, c_size_t, c_void_p
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union)

import numpy as np

from . import _lib

# ---- errors --------------------------------------------------------------------------


class Status(enum.IntEnum):
    """didcl_status values (include/didcl.h)."""
    OK = 0
    ERR_INVALID_ARG = -1
    ERR_NO_MEMORY = -2
    ERR_IO = -3
    ERR_FORMAT = -4
    ERR_UNSUPPORTED = -5
    ERR_NOT_FOUND = -6
    ERR_NO_PLATFORM = -7
    ERR_NO_DEVICE = -8
    ERR_BUILD = -9
    ERR_OPENCL = -10
    ERR_CLBLAST = -11
    ERR_PLUGIN = -12
    ERR_SHAPE = -13
    ERR_ENCODING = -14
    ERR_CANCELLED = -15


class Error(Exception):
    """A libdidcl call failed.

    Attributes:
        status: the didcl_status (a Status when known, else the raw int; None for an
            error of the binding itself, e.g. a session used while busy).
        message: the library's one-line message (didcl_last_error or the session's).
    """

    def __init__(self, message: str, status: Optional[int] = None):
        self.message = message
        try:
            self.status: Optional[int] = Status(status) if status is not None else None
        except ValueError:
            self.status = status
        super().__init__(message)

    @property
    def status_name(self) -> str:
        """The C constant's name, e.g. "DIDCL_ERR_PLUGIN" ("" for the binding's own)."""
        if self.status is None:
            return ""
        return _lib.lib().didcl_status_str(int(self.status)).decode()

    def __str__(self) -> str:
        return f"{self.message} [{self.status_name}]" if self.status is not None else self.message


def _enc(s: Optional[Union[str, bytes, os.PathLike]]) -> Optional[bytes]:
    if s is None:
        return None
    if isinstance(s, os.PathLike):
        s = os.fspath(s)
    return s if isinstance(s, bytes) else s.encode()


def _check(status: int, message: Optional[Callable[[], bytes]] = None) -> None:
    if status != 0:
        raw = message() if message else _lib.lib().didcl_last_error()
        raise Error((raw or b"").decode(errors="replace"), status)


def version() -> str:
    """The version string of the loaded libdidcl, e.g. "0.1.0"."""
    return _lib.lib().didcl_version().decode()


def library_path() -> str:
    """The libdidcl file this package loaded (see the package docstring for the order)."""
    return _lib.path()


# Native handles alive, by kind: for leak tests and curiosity.
_live: Dict[str, int] = {"session": 0, "tokenizer": 0, "scorer": 0}
_live_lock = threading.Lock()


def _count(kind: str, d: int) -> None:
    with _live_lock:
        _live[kind] += d


def live_handles() -> Dict[str, int]:
    """How many native sessions, tokenizers and scorers this process holds open."""
    with _live_lock:
        return dict(_live)


# ---- devices -------------------------------------------------------------------------

_KINDS = {0: "other", 1: "cpu", 2: "gpu", 3: "accelerator"}


@dataclass(frozen=True)
class Device:
    """One OpenCL device (didcl_device_info). `selector` ("P:D") opens it."""
    platform_index: int
    device_index: int
    kind: str
    name: str
    vendor: str
    platform: str
    platform_version: str
    version: str
    driver: str
    c_version: str
    compute_units: int
    global_mem: int
    max_alloc: int
    local_mem: int
    max_work_group: int
    fp16: bool
    fp64: bool
    subgroups: bool

    @property
    def selector(self) -> str:
        return f"{self.platform_index}:{self.device_index}"

    @classmethod
    def _from(cls, d: _lib.DeviceInfo) -> "Device":
        s = lambda b: bytes(b).split(b"\0", 1)[0].decode(errors="replace")  # noqa: E731
        return cls(d.platform_index, d.device_index, _KINDS.get(d.kind, "other"), s(d.name),
                   s(d.vendor), s(d.platform), s(d.platform_version), s(d.version),
                   s(d.driver), s(d.c_version), d.compute_units, d.global_mem, d.max_alloc,
                   d.local_mem, d.max_work_group, bool(d.fp16), bool(d.fp64),
                   bool(d.subgroups))


def devices() -> List[Device]:
    """Every OpenCL device of every platform ([] when no platform is installed)."""
    L = _lib.lib()
    out = POINTER(_lib.DeviceInfo)()
    n = c_size_t()
    st = L.didcl_devices_list(byref(out), byref(n))
    if st == Status.ERR_NO_PLATFORM:
        return []
    _check(st)
    try:
        return [Device._from(out[i]) for i in range(n.value)]
    finally:
        _lib.free(ctypes.cast(out, c_void_p))


# ---- tokenizer -----------------------------------------------------------------------


class Tokenizer:
    """A GPT-2-style byte-level BPE tokenizer (didcl_tokenizer_*).

    path: a tokenizer.json, or a directory holding tokenizer.json, vocab.json +
    merges.txt, or encoder.json + vocab.bpe. Free with close() or a `with` block (the
    garbage collector frees it too).
    """

    def __init__(self, path: Union[str, os.PathLike]):
        L = _lib.lib()
        h = c_void_p()
        _check(L.didcl_tokenizer_load(_enc(path), byref(h)))
        self._h: Optional[int] = h.value
        self._owner: Any = None
        _count("tokenizer", 1)
        self._fin = weakref.finalize(self, Tokenizer._free, h.value)

    @staticmethod
    def _free(h: int) -> None:
        _lib.lib().didcl_tokenizer_free(h)
        _count("tokenizer", -1)

    @classmethod
    def _borrowed(cls, h: int, owner: Any) -> "Tokenizer":
        t = cls.__new__(cls)
        t._h, t._owner, t._fin = h, owner, None
        return t

    def close(self) -> None:
        """Free the tokenizer (a session's own tokenizer is freed with its session)."""
        if self._fin is not None:
            self._fin()
        self._h = None

    def __enter__(self) -> "Tokenizer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _handle(self) -> int:
        if self._h is None or (self._owner is not None and self._owner._h is None):
            raise Error("didcl: the tokenizer is closed")
        return self._h

    @property
    def source(self) -> str:
        """The file(s) it was loaded from."""
        return _lib.lib().didcl_tokenizer_source(self._handle()).decode()

    @property
    def vocab_size(self) -> int:
        """Number of ids (largest id + 1), added tokens included."""
        return int(_lib.lib().didcl_tokenizer_vocab_size(self._handle()))

    def encode(self, text: Union[str, bytes], special: bool = True) -> List[int]:
        """Ids of UTF-8 text; special tokens written in the text (e.g. <|endoftext|>)
        become their ids unless special=False."""
        L = _lib.lib()
        b = text.encode() if isinstance(text, str) else bytes(text)
        ids = POINTER(c_int32)()
        n = c_size_t()
        _check(L.didcl_tokenizer_encode(self._handle(), b, len(b), 0 if special else 1,
                                        byref(ids), byref(n)))
        try:
            return ids[:n.value] if n.value else []
        finally:
            if ids:
                _lib.free(ctypes.cast(ids, c_void_p))

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The exact bytes the ids stand for (maybe not valid UTF-8)."""
        L = _lib.lib()
        arr = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).astype(np.int32))
        text = c_void_p()
        n = c_size_t()
        _check(L.didcl_tokenizer_decode(self._handle(),
                                        arr.ctypes.data_as(POINTER(c_int32)), arr.size,
                                        byref(text), byref(n)))
        try:
            return ctypes.string_at(text, n.value) if n.value else b""
        finally:
            _lib.free(text)

    def decode(self, ids: Sequence[int], errors: str = "replace") -> str:
        """The text of ids (invalid UTF-8 handled by `errors`, as bytes.decode)."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def token(self, id: int) -> Optional[str]:
        """The token string of id as the file writes it ("Ġthe"), or None."""
        r = _lib.lib().didcl_tokenizer_token(self._handle(), id)
        return r.decode() if r is not None else None

    def token_bytes(self, id: int) -> Optional[bytes]:
        """The bytes id stands for, or None."""
        n = c_size_t()
        p = _lib.lib().didcl_tokenizer_token_bytes(self._handle(), id, byref(n))
        return ctypes.string_at(p, n.value) if p else None

    def token_id(self, token: str) -> Optional[int]:
        """The id of a token string in the file's form, or None."""
        r = _lib.lib().didcl_tokenizer_token_id(self._handle(), token.encode())
        return r if r >= 0 else None

    def special_id(self, content: str) -> int:
        """The id of a special token, e.g. "<|endoftext|>" (Error when absent)."""
        i = c_int32()
        _check(_lib.lib().didcl_tokenizer_special_id(self._handle(), content.encode(),
                                                     byref(i)))
        return i.value


# ---- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class StageStats:
    """What one stage cost and did (stage 1: the draft; 2..: revisions)."""
    stage: int
    block: int
    gamma: float
    remasked: int
    committed: int
    nfe: int
    store_kv: int
    tries: int
    flops: float
    seconds: float

    @classmethod
    def _from(cls, s: _lib.StageStats) -> "StageStats":
        return cls(s.stage, s.block, s.gamma, s.remasked, s.committed, s.nfe, s.store_kv,
                   s.tries, s.flops, s.seconds)


_POS_DTYPE = np.dtype({
    "names": [f for f, _ in _lib.RemaskPosition._fields_],
    "formats": ["<i4", "<f4", "<f4", "<f4", "<i4", "<i4", "<i4", "<i4", "<u4"],
    "offsets": [getattr(_lib.RemaskPosition, f).offset for f, _ in _lib.RemaskPosition._fields_],
    "itemsize": ctypes.sizeof(_lib.RemaskPosition),
})


def _array(ptr: Any, n: int, dtype: Any) -> np.ndarray:
    """A copy of n elements of dtype at a ctypes pointer (empty for NULL or n == 0)."""
    dt = np.dtype(dtype)
    if n <= 0 or not ptr:
        return np.zeros(0, dtype=dt)
    addr = ctypes.cast(ptr, c_void_p).value
    return np.frombuffer(ctypes.string_at(addr, n * dt.itemsize), dtype=dt).copy()


@dataclass(frozen=True)
class Trace:
    """Per-position record of a sample (arrays of the sample's length, BOS at 0).

    token, confidence (probability of the token when committed), entropy (nats), margin
    (top-1 minus top-2), step (inside its block), block (index at that stage's size),
    stage (0 prompt/BOS, 1 draft, 2.. revisions), nfe (index of the committing forward),
    locked (prompt or BOS), draft (the token after stage 1), remasked (set back to MASK
    by any revision) and remasked_by (bit k-2: by stage k).
    """
    token: np.ndarray
    confidence: np.ndarray
    entropy: np.ndarray
    margin: np.ndarray
    step: np.ndarray
    block: np.ndarray
    stage: np.ndarray
    nfe: np.ndarray
    locked: np.ndarray
    draft: np.ndarray
    remasked: np.ndarray
    remasked_by: np.ndarray

    @classmethod
    def _from(cls, pos: np.ndarray, draft: np.ndarray, remasked_by: np.ndarray) -> "Trace":
        return cls(pos["token"].copy(), pos["confidence"].copy(), pos["entropy"].copy(),
                   pos["margin"].copy(), pos["step"].copy(), pos["block"].copy(),
                   pos["stage"].copy(), pos["nfe"].copy(),
                   (pos["flags"] & _lib.REMASK_LOCKED) != 0, draft, remasked_by != 0,
                   remasked_by)

    def __len__(self) -> int:
        return len(self.token)

    def as_dict(self) -> Dict[str, np.ndarray]:
        """The arrays by name (e.g. for pandas.DataFrame)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Result:
    """One finished sample.

    text: the decoded text, prompt included (text_bytes: the exact bytes). ids: the
    text's ids (tokens after BOS, less a final end-of-text of a var_length run). tokens:
    the whole sequence, BOS first. stages: one StageStats per stage. trace: the
    per-position Trace.
    """
    text: str
    text_bytes: bytes
    ids: np.ndarray
    tokens: np.ndarray
    n_prompt: int
    request: int
    index: int
    seed: int
    remask: str
    stages: List[StageStats]
    trace: Trace
    low_entropy: bool
    batch: int

    @property
    def nfe(self) -> int:
        """Committing forwards over all stages."""
        return sum(s.nfe for s in self.stages)

    @classmethod
    def _from(cls, x: _lib.Sample) -> "Result":
        n = x.n
        tb = ctypes.string_at(x.text, x.text_len) if x.text_len else b""
        pos = _array(x.trace, n, _POS_DTYPE)
        return cls(
            text=tb.decode("utf-8", errors="replace"), text_bytes=tb,
            ids=_array(x.ids, x.n_ids, np.int32), tokens=_array(x.tokens, n, np.int32),
            n_prompt=x.n_prompt, request=x.request, index=x.index, seed=x.options.seed,
            remask=bytes(x.remask).split(b"\0", 1)[0].decode(errors="replace"),
            stages=[StageStats._from(x.stages[k]) for k in range(x.n_stages)],
            trace=Trace._from(pos, _array(x.draft, n, np.int32),
                              _array(x.remasked, n, np.uint32)),
            low_entropy=bool(x.low_entropy), batch=x.batch)


class Results(list):
    """The samples of one generate call (a list of Result, request then sample order)
    with the call's totals: stages (per stage, summed over samples), generated (tokens),
    seconds (wall time less load and compile), load_seconds (building the device model),
    compile_seconds (kernels compiled or loaded before stage 1) and batch (largest
    lockstep batch)."""
    stages: List[StageStats]
    generated: int
    seconds: float
    load_seconds: float
    compile_seconds: float
    batch: int

    @property
    def text(self) -> str:
        """The text of the only sample (Error when there are several)."""
        if len(self) != 1:
            raise Error(f"didcl: {len(self)} samples; take results[i].text")
        return self[0].text

    @classmethod
    def _from(cls, r: _lib.Results) -> "Results":
        out = cls(Result._from(r.samples[i]) for i in range(r.n))
        out.stages = [StageStats._from(r.totals[k]) for k in range(r.n_stages)]
        out.generated, out.seconds = r.generated, r.seconds
        out.load_seconds, out.batch = r.load_seconds, r.batch
        out.compile_seconds = r.compile_seconds
        return out


_EVENT_KINDS = ("stage_start", "commit", "block_done", "stage_done", "sample_done")


@dataclass(frozen=True)
class Event:
    """What happened during a generate call (didcl_event), copied out of the callback.

    kind: "stage_start" (stage 1: a draft attempt starts; a revision: its `positions`
    were just set back to MASK), "commit" (a forward committed positions of the block
    [start, start+len)), "block_done" (that block has no mask left; `piece` holds the
    bytes of its generated tokens), "stage_done" and "sample_done" (`result` holds it).
    tokens: the sequence now (masked positions hold the mask id). confidence: at
    "stage_done", every position's snapshot confidence as that stage left it (stage 1:
    the draft's, before a revision overwrites the remasked ones).
    """
    kind: str
    request: int
    sample: int
    stage: int
    attempt: int
    n: int
    start: int
    len: int
    remasked: int
    nfe: int
    n_prompt: int
    tokens: np.ndarray
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    piece: bytes = b""
    confidence: Optional[np.ndarray] = None
    result: Optional[Result] = None


# ---- requests ------------------------------------------------------------------------

_MODES = {"first-hitting": 0, "first_hitting": 0, "steps": 1, "threshold": 2}

Revise = Union[None, float, Tuple[float, int], Sequence[Union[float, Tuple[float, int]]]]


def _revisions(revise: Revise) -> List[Tuple[float, int]]:
    if revise is None:
        return []
    if isinstance(revise, (int, float)):
        return [(float(revise), 0)]
    if (isinstance(revise, tuple) and len(revise) == 2
            and isinstance(revise[1], int) and not isinstance(revise[0], tuple)):
        return [(float(revise[0]), int(revise[1]))]
    out = []
    for r in revise:
        if isinstance(r, (int, float)):
            out.append((float(r), 0))
        else:
            g, b = r
            out.append((float(g), int(b)))
    return out


class _Req:
    """A didcl_request with the Python objects it points to kept alive."""

    def __init__(self, prompt: Union[None, str, bytes, Sequence[int]], *, length: Optional[int],
                 seed: int, revise: Revise, remask: Optional[str], samples: int,
                 top_p: Optional[float], temperature: Optional[float], block: Optional[int],
                 steps: Optional[int], threshold: Optional[float], revise_steps: Optional[int],
                 revise_threshold: Optional[float], revise_reuse: int, kv_cache: bool,
                 var_length: bool, reject_low_entropy: bool, sequential: bool,
                 special: bool):
        L = _lib.lib()
        r = L.didcl_request_default()
        self._keep: List[Any] = []
        if isinstance(prompt, str):
            prompt = prompt.encode()
        if isinstance(prompt, (bytes, bytearray)):
            b = bytes(prompt)
            self._keep.append(b)
            r.prompt, r.prompt_len = b, len(b)
        elif prompt is not None:
            ids = np.ascontiguousarray(np.asarray(prompt, dtype=np.int64).astype(np.int32))
            self._keep.append(ids)
            r.prompt_ids = ids.ctypes.data_as(POINTER(c_int32))
            r.n_prompt_ids = ids.size
        o = r.options
        o.seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        if length is not None:
            o.length = int(length)
        else:
            o.length = 0
        if block is not None:
            o.block = int(block)
        else:
            o.block = 0
        if steps is not None and threshold is not None:
            raise Error("didcl: steps and threshold exclude each other",
                        Status.ERR_INVALID_ARG)
        if steps is not None:
            o.mode, o.steps = 1, int(steps)
        elif threshold is not None:
            o.mode, o.threshold = 2, float(threshold)
        if revise_steps is not None and revise_threshold is not None:
            raise Error("didcl: revise_steps and revise_threshold exclude each other",
                        Status.ERR_INVALID_ARG)
        if revise_steps is not None:
            o.revise_mode, o.revise_steps = 1, int(revise_steps)
        elif revise_threshold is not None:
            o.revise_mode, o.revise_threshold = 2, float(revise_threshold)
        o.revise_reuse = int(revise_reuse)
        if top_p is not None:
            o.top_p = float(top_p)
        if temperature is not None:
            o.temperature = float(temperature)
        o.use_kv_cache = 1 if kv_cache else 0
        o.var_length = 1 if var_length else 0
        o.reject_low_entropy = 1 if reject_low_entropy else 0
        revs = _revisions(revise)
        if len(revs) > _lib.MAX_REVISIONS:
            raise Error(f"didcl: {len(revs)} revision stages, at most {_lib.MAX_REVISIONS}",
                        Status.ERR_INVALID_ARG)
        o.n_revisions = len(revs)
        for i, (g, b) in enumerate(revs):
            o.revisions[i].gamma, o.revisions[i].block = g, b
        if remask is not None:
            rb = remask.encode()
            self._keep.append(rb)
            r.remask = rb
        if samples < 1:
            raise Error(f"didcl: samples {samples}, expected at least 1", Status.ERR_INVALID_ARG)
        r.samples = int(samples)
        r.flags = (1 if sequential else 0) | (0 if special else 2)
        self.c = r


# ---- sessions ------------------------------------------------------------------------


class Session:
    """A model, its tokenizer and an OpenCL device, ready to generate (didcl_session_*).

    model: a BD3-LM checkpoint directory (None: the default model). device: "P:D" or a
    name substring (None: $DIDCL_DEVICE, else the first GPU, else the first device).
    half: large matrices as IEEE half on the device. tokenizer: a tokenizer.json or
    directory when the model has none. plugin_path: ':'-separated directories searched
    first for remask plugins. max_batch: samples drafted in lockstep.

    Use it in a `with` block or call close(); the garbage collector frees it too. A
    session runs one call at a time: a call while another (e.g. a live stream()) is
    running raises Error.
    """

    def __init__(self, model: Optional[Union[str, os.PathLike]] = None,
                 device: Optional[str] = None, half: bool = False,
                 tokenizer: Optional[Union[str, os.PathLike]] = None,
                 plugin_path: Optional[Union[str, os.PathLike]] = None,
                 max_batch: Optional[int] = None):
        L = _lib.lib()
        p = L.didcl_session_default_params()
        keep = [_enc(model), _enc(tokenizer), _enc(device), _enc(plugin_path)]
        p.model, p.tokenizer, p.device, p.plugin_path = keep
        p.half_weights = 1 if half else 0
        if max_batch is not None:
            p.max_batch = int(max_batch)
        h = c_void_p()
        _check(L.didcl_session_open(byref(p), byref(h)))
        self._h: Optional[int] = h.value
        self._busy = threading.Lock()
        self._scorer: Optional[Scorer] = None
        self._device_sel = device
        self._half = half
        _count("session", 1)
        self._fin = weakref.finalize(self, Session._free, h.value)

    @staticmethod
    def _free(h: int) -> None:
        _lib.lib().didcl_session_free(h)
        _count("session", -1)

    def close(self) -> None:
        """Free the session, its device model and its scorer (idempotent)."""
        if not self._busy.acquire(blocking=False):
            raise Error("didcl: close() while a call of this session is running "
                        "(finish or close the stream first)")
        try:
            if self._scorer is not None:
                self._scorer.close()
                self._scorer = None
            self._fin()
            self._h = None
        finally:
            self._busy.release()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._h is None

    def _handle(self) -> int:
        if self._h is None:
            raise Error("didcl: the session is closed")
        return self._h

    def _enter(self) -> int:
        h = self._handle()
        if not self._busy.acquire(blocking=False):
            raise Error("didcl: the session is busy (a call or stream of it is running; "
                        "a session runs one call at a time)")
        return h

    def _fail(self, st: int) -> Error:
        msg = _lib.lib().didcl_session_error(self._h) or b""
        return Error(msg.decode(errors="replace"), st)

    @property
    def model_dir(self) -> str:
        """The checkpoint directory."""
        return _lib.lib().didcl_session_model_dir(self._handle()).decode()

    @property
    def config(self) -> Dict[str, Any]:
        """The model's config (didcl_model_config) as a dict."""
        c = _lib.lib().didcl_session_config(self._handle()).contents
        d = {f: getattr(c, f) for f, _ in _lib.ModelConfig._fields_}
        d["arch"] = {1: "bd3lm", 2: "gpt2"}.get(d["arch"], d["arch"])
        return d

    @property
    def device(self) -> Device:
        """The OpenCL device the session runs on."""
        return Device._from(_lib.lib().didcl_session_device(self._handle()).contents)

    @property
    def tokenizer(self) -> Tokenizer:
        """The session's tokenizer (owned by the session)."""
        return Tokenizer._borrowed(_lib.lib().didcl_session_tokenizer(self._handle()), self)

    def check(self, prompt: Union[None, str, bytes, Sequence[int]] = None, **options: Any
              ) -> Dict[str, Any]:
        """Validate a request as generate() would, without generating; returns the
        resolved options (defaults applied). Raises Error naming the bad field."""
        req = self._request(prompt, options)
        h = self._enter()
        try:
            o = _lib.GenOptions()
            st = _lib.lib().didcl_session_check(h, byref(req.c), byref(o))
            if st:
                raise self._fail(st)
        finally:
            self._busy.release()
        d = {f: getattr(o, f) for f, _ in _lib.GenOptions._fields_ if f != "revisions"}
        d["revisions"] = [(o.revisions[i].gamma, o.revisions[i].block)
                          for i in range(o.n_revisions)]
        return d

    @staticmethod
    def _request(prompt: Any, kw: Dict[str, Any]) -> _Req:
        defaults: Dict[str, Any] = dict(
            length=None, seed=0, revise=None, remask=None, samples=1, top_p=None,
            temperature=None, block=None, steps=None, threshold=None, revise_steps=None,
            revise_threshold=None, revise_reuse=0, kv_cache=True, var_length=False,
            reject_low_entropy=False, sequential=False, special=True)
        bad = set(kw) - set(defaults)
        if bad:
            raise TypeError(f"unexpected option(s): {', '.join(sorted(bad))}; "
                            f"expected {', '.join(defaults)}")
        defaults.update(kw)
        return _Req(prompt, **defaults)

    def _run(self, req: _Req, on_event: Optional[Callable[[Event], Any]],
             commits: bool, tok: Optional[Tokenizer]) -> Results:
        """didcl_session_generate with a callback that turns C events into Event objects
        for on_event (nonzero/True return or an exception cancels), and lets Ctrl-C
        cancel the run. The caller holds self._busy."""
        L = _lib.lib()
        pending: List[BaseException] = []
        asked = [False]
        from . import _remask
        _remask._errors_begin()

        def cb(evp: Any, user: Any) -> int:
            try:
                if on_event is None:
                    return 0
                ev = evp.contents
                if ev.kind == 1 and not commits:
                    return 0
                if on_event(_event(ev, tok)):
                    asked[0] = True
                    return 1
                return 0
            except BaseException as e:  # noqa: BLE001 — re-raised after the call
                pending.append(e)
                return 1

        cfn = _lib.EVENT_FN(cb)
        out = POINTER(_lib.Results)()
        _swallowed.list = []
        try:
            st = L.didcl_session_generate(self._h, byref(req.c), 1, cfn, None, byref(out))
        finally:
            swallowed, _swallowed.list = _swallowed.list, None
        plugin_exc = _remask._errors_end()
        if st:
            err = self._fail(st)
            if st == Status.ERR_CANCELLED and not pending and not asked[0]:
                # ctypes swallowed an exception raised on entry to cb (a signal handler's
                # KeyboardInterrupt) and the run stopped: hand it on
                raise (swallowed[0] if swallowed else KeyboardInterrupt()) from err
            if pending:
                if isinstance(pending[0], _Cancel):
                    raise err
                raise pending[0]
            if plugin_exc is not None:
                if not isinstance(plugin_exc, Exception):  # Ctrl-C inside a strategy
                    raise plugin_exc
                raise err from plugin_exc
            raise err
        try:
            return Results._from(out.contents)
        finally:
            L.didcl_results_free(out)

    def generate(self, prompt: Union[None, str, bytes, Sequence[int]] = None, *,
                 length: Optional[int] = None, seed: int = 0, revise: Revise = None,
                 remask: Optional[str] = None, samples: int = 1,
                 top_p: Optional[float] = None, temperature: Optional[float] = None,
                 block: Optional[int] = None, steps: Optional[int] = None,
                 threshold: Optional[float] = None, revise_steps: Optional[int] = None,
                 revise_threshold: Optional[float] = None, revise_reuse: int = 0,
                 kv_cache: bool = True,
                 var_length: bool = False, reject_low_entropy: bool = False,
                 sequential: bool = False, special: bool = True,
                 on_event: Optional[Callable[[Event], Any]] = None,
                 commits: bool = False) -> Results:
        """Generate text: a BD3 draft, then one DiD revision stage per `revise` entry.

        prompt: text (str/bytes) or ids placed after BOS (None: no prompt).
        length: total tokens incl. BOS and prompt (None: the model's length).
        seed: the same seed gives the same text on every device (and as `didcl generate
        --seed`). revise: a fraction (0.25), a (fraction, block) pair, or a list of them:
        remask that fraction of the generated tokens and regenerate it (block 0: the
        whole sequence). remask: strategy spec NAME[:k=v,...] or a .so path, incl. one
        registered with register_remask (None: "lowconf"). samples: samples to draw
        (sample i uses RNG stream i). top_p (0.9), temperature (1.0; 0 greedy), block
        (stage-1 block size; None: the model's), steps or threshold (commit rule of the
        draft; default first-hitting), revise_steps / revise_threshold (of revisions),
        revise_reuse (N > 0: approximate global revisions, an exact forward every N and
        K/V reused between; 0 exact),
        kv_cache, var_length, reject_low_entropy, sequential (no lockstep batches),
        special (special tokens written in the prompt count as such).
        on_event: called with each Event (commit events only when commits=True); a true
        return value or an exception cancels the run (the exception is re-raised).

        Returns a Results list of Result. Raises Error with the library's message.
        """
        kw = dict(length=length, seed=seed, revise=revise, remask=remask, samples=samples,
                  top_p=top_p, temperature=temperature, block=block, steps=steps,
                  threshold=threshold, revise_steps=revise_steps,
                  revise_threshold=revise_threshold, revise_reuse=revise_reuse,
                  kv_cache=kv_cache,
                  var_length=var_length, reject_low_entropy=reject_low_entropy,
                  sequential=sequential, special=special)
        req = self._request(prompt, kw)
        self._enter()
        try:
            return self._run(req, on_event, commits, self.tokenizer if on_event else None)
        finally:
            self._busy.release()

    def stream(self, prompt: Union[None, str, bytes, Sequence[int]] = None, *,
               commits: bool = False, buffer: int = 64, **options: Any) -> Iterator[Event]:
        """Generate as generate() does, yielding Events as they happen: stage starts
        (a revision's remasked `positions`), finished blocks (with their `piece` of
        bytes), finished stages and finished samples (`result`); commit events too with
        commits=True. The run goes on in a worker thread, at most `buffer` events ahead
        of the consumer. Leaving the loop early (break, an exception, close() of the
        generator) cancels the run. Raises Error when the run fails."""
        req = self._request(prompt, options)
        self._enter()
        q: "queue.Queue[Tuple[str, Any]]" = queue.Queue(maxsize=max(1, buffer))
        stop = threading.Event()
        tok = self.tokenizer

        def on_event(ev: Event) -> bool:
            while not stop.is_set():
                try:
                    q.put(("event", ev), timeout=0.05)
                    return False
                except queue.Full:
                    pass
            raise _Cancel()

        def work() -> None:
            try:
                self._run(req, on_event, commits, tok)
                item: Tuple[str, Any] = ("done", None)
            except BaseException as e:  # noqa: BLE001 — handed to the consumer
                item = ("error", e)
            while True:
                try:
                    q.put(item, timeout=0.05)
                    return
                except queue.Full:
                    if stop.is_set():
                        return

        t = threading.Thread(target=work, name="didcl-stream", daemon=True)
        started = False
        try:
            t.start()
            started = True
            while True:
                kind, x = q.get()
                if kind == "event":
                    yield x
                elif kind == "error":
                    if isinstance(x, Error) and x.status == Status.ERR_CANCELLED \
                            and stop.is_set():
                        return
                    raise x
                else:
                    return
        finally:
            stop.set()
            if started:
                while t.is_alive():
                    try:
                        q.get(timeout=0.05)
                    except queue.Empty:
                        pass
                t.join()
            self._busy.release()

    def score(self, text: Union[str, bytes, Sequence[int]], *, samples: int = 16,
              seed: int = 0, block: Optional[int] = None, t: Optional[float] = None,
              eps: Optional[float] = None, bos: bool = False) -> "ScoreResult":
        """NELBO per token of a text under the session's model, as `didcl score`: see
        Scorer.score. The first call opens a second copy of the model for scoring (the
        session API does not lend its device model out); close() frees it."""
        self._handle()
        if self._scorer is None:
            self._scorer = Scorer(self.model_dir, device=self._device_sel, half=self._half,
                                  tokenizer=self.tokenizer)
        return self._scorer.score(text, samples=samples, seed=seed, block=block, t=t,
                                  eps=eps, bos=bos)


_swallowed = threading.local()
_prev_unraisable = sys.unraisablehook


def _unraisable(u: Any) -> None:
    """ctypes reports an exception raised on entry to an event callback (before its try,
    i.e. a signal's KeyboardInterrupt) as unraisable: keep it for _run instead."""
    if getattr(u.object, "__qualname__", "").startswith("Session._run.") \
            and getattr(_swallowed, "list", None) is not None:
        _swallowed.list.append(u.exc_value)
        return
    _prev_unraisable(u)


sys.unraisablehook = _unraisable


class _Cancel(Exception):
    """Raised inside a stream's event callback when the consumer went away."""


def _event(ev: Any, tok: Optional[Tokenizer]) -> Event:
    n = ev.n
    seq = _array(ev.seq, n, np.int32)
    positions = np.zeros(0, np.int64)
    piece = b""
    result = None
    conf = None
    if ev.kind == 3:
        conf = _array(ev.trace, n, _POS_DTYPE)["confidence"].copy()
    if ev.kind == 0 and ev.stage >= 2 and ev.remasked_by:
        rb = _array(ev.remasked_by, n, np.uint32)
        positions = np.nonzero(rb & (1 << (ev.stage - 2)))[0]
    elif ev.kind == 2 and tok is not None:
        first = max(ev.start, ev.n_prompt + 1)
        parts = [tok.token_bytes(int(i)) or b"" for i in seq[first:ev.start + ev.len]]
        piece = b"".join(parts)
    elif ev.kind == 4 and ev.result:
        result = Result._from(ev.result.contents)
    return Event(_EVENT_KINDS[ev.kind] if 0 <= ev.kind < 5 else str(ev.kind), ev.request,
                 ev.sample, ev.stage, ev.attempt, n, ev.start, ev.len, ev.remasked, ev.nfe,
                 ev.n_prompt, seq, positions, piece, conf, result)


# ---- scoring -------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreResult:
    """nll: nats per token (BD3-LM: the NELBO, mean over draws; GPT-2: the exact NLL);
    se: its standard error over draws; ppl: exp(nll) (BD3-LM: an upper bound); tokens;
    samples (draws); windows (forward windows per draw)."""
    nll: float
    se: float
    ppl: float
    tokens: int
    samples: int
    windows: int


class Scorer:
    """A model on a device for scoring (didcl_model_open + didcl_score): a BD3-LM's
    NELBO or a GPT-2's exact NLL, as `didcl score`.

    model: checkpoint directory; device, half: as Session; tokenizer: a Tokenizer or a
    path (None: the model directory's).
    """

    def __init__(self, model: Union[str, os.PathLike], device: Optional[str] = None,
                 half: bool = False, tokenizer: Union[None, str, os.PathLike, Tokenizer] = None):
        L = _lib.lib()
        self._model_dir = os.fspath(model)
        files, rt, m = c_void_p(), c_void_p(), c_void_p()
        self._h: Optional[int] = None
        self.tokenizer = tokenizer if isinstance(tokenizer, Tokenizer) else \
            Tokenizer(tokenizer if tokenizer is not None else model)
        try:
            _check(L.didcl_model_files_open(_enc(model), byref(files)))
            cfg = L.didcl_model_files_config(files).contents
            self._arch = cfg.arch
            self._bos = cfg.bos_token_id
            self._vocab = cfg.vocab_size
            self._block = cfg.block_size
            self._ctx = cfg.context_length
            _check(L.didcl_runtime_init(_enc(device), byref(rt)))
            mo = _lib.ModelOptions(1 if half else 0, cfg.context_length, 0)
            _check(L.didcl_model_open(rt, files, byref(mo), byref(m)))
        except BaseException:
            L.didcl_model_free(m)
            L.didcl_runtime_free(rt)
            L.didcl_model_files_free(files)
            raise
        L.didcl_model_files_free(files)
        self._h = m.value
        _count("scorer", 1)
        self._fin = weakref.finalize(self, Scorer._free, m.value, rt.value)

    @staticmethod
    def _free(m: int, rt: int) -> None:
        L = _lib.lib()
        L.didcl_model_free(m)
        L.didcl_runtime_free(rt)
        _count("scorer", -1)

    def close(self) -> None:
        """Free the device model (idempotent)."""
        if self._h is not None:
            self._fin()
            self._h = None

    def __enter__(self) -> "Scorer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def score(self, text: Union[str, bytes, Sequence[int]], *, samples: int = 16,
              seed: int = 0, block: Optional[int] = None, t: Optional[float] = None,
              eps: Optional[float] = None, bos: bool = False) -> ScoreResult:
        """Score text (or ids): BD3-LM, the NELBO per token over `samples` Monte-Carlo
        noise draws (seeded; `t` fixes every block's noise level, then one draw unless
        samples is given otherwise, `block` the block size, `eps` the lower bound of t);
        GPT-2, the exact NLL. bos: put the model's BOS before the text."""
        if self._h is None:
            raise Error("didcl: the scorer is closed")
        if isinstance(text, (str, bytes)):
            ids = self.tokenizer.encode(text)
        else:
            ids = [int(i) for i in text]
        if bos:
            ids = [self._bos] + list(ids)
        if not ids:
            raise Error("didcl: nothing to score (no tokens)", Status.ERR_INVALID_ARG)
        arr = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).astype(np.int32))
        if arr.min() < 0 or arr.max() >= self._vocab:
            raise Error(f"didcl: token id {int(arr.max() if arr.max() >= self._vocab else arr.min())}"
                        f" outside 0..{self._vocab - 1} (vocab of {self._model_dir})",
                        Status.ERR_INVALID_ARG)
        so = _lib.ScoreOptions(int(block or 0), int(samples), int(seed), float(t or 0.0),
                               float(eps or 0.0))
        res = _lib.ScoreResult()
        _check(_lib.lib().didcl_score(self._h, arr.ctypes.data_as(POINTER(c_int32)),
                                      arr.size, byref(so), byref(res)))
        return ScoreResult(res.nll, res.se, res.ppl, res.tokens, res.samples, res.windows)


def default_model_dir() -> str:
    """The default model's directory (the build tree's source models/default for a
    build-tree library, else the installed one); Error when neither exists."""
    buf = ctypes.create_string_buffer(4096)
    _check(_lib.lib().didcl_default_model_dir(buf, len(buf)))
    return buf.value.decode()

