"""Remask strategies written in Python, registered in-process with didcl_remask_register."""
from __future__ import annotations

import atexit
import ctypes
import itertools
import threading
from ctypes import byref, sizeof
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _lib
from ._core import _POS_DTYPE, Error, Status, _array, _check


@dataclass
class Positions:
    """The draft a strategy chooses from, one entry per position in sequence order (BOS
    at 0, then the prompt, then generated tokens).

    Arrays: token, confidence (the token's probability when committed), entropy (nats),
    margin (top-1 minus top-2), step (inside its block), block, stage (that committed it:
    0 prompt/BOS, 1 draft, 2.. revisions), nfe, locked (prompt/BOS: never select them).
    Also: n_unlocked, count_flexible (any number in [1, n_unlocked] may be returned),
    sample (index in a batch), options (the spec's NAME:k=v,... as a dict) and uniform()
    (a reproducible uniform [0, 1) draw from the run's generator).
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
    n_unlocked: int
    count_flexible: bool
    sample: int
    options: Dict[str, str]
    _host: Any = None

    def __len__(self) -> int:
        return len(self.token)

    def uniform(self) -> float:
        """A uniform double in [0, 1) from the host's counter-based generator (seeded by
        the run's seed): strategies drawing only from here are reproducible."""
        if not self._host:
            raise Error("didcl: no host generator in this call")
        h = self._host.contents
        return float(h.uniform(h.handle))


# fn(positions, count, stage, block_size) -> indices (or a boolean mask of len(positions))
Strategy = Callable[[Positions, int, int, int], Union[Sequence[int], np.ndarray]]

_registry: Dict[str, Dict[str, Any]] = {}
_states: Dict[int, Any] = {}
_state_ids = itertools.count(1)
_lock = threading.Lock()
_tls = threading.local()


def _errors_begin() -> None:
    _tls.errors = []


def _errors_end() -> Optional[BaseException]:
    errs: List[BaseException] = getattr(_tls, "errors", [])
    _tls.errors = []
    return errs[0] if errs else None


def _put_err(err: int, size: int, msg: str) -> None:
    if not err or size == 0:
        return
    b = msg.encode(errors="replace")[:size - 1] + b"\0"
    ctypes.memmove(err, b, len(b))


def _parse_options(s: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for part in s.split(","):
        if not part:
            continue
        k, eq, v = part.partition("=")
        if not eq or not k:
            raise ValueError(f"option '{part}': expected key=value")
        out[k] = v
    return out


def _indices(r: Any, n: int, name: str) -> np.ndarray:
    a = np.asarray(r)
    if a.dtype == np.bool_:
        if a.shape != (n,):
            raise ValueError(f"returned a boolean mask of shape {a.shape}, expected ({n},)")
        return np.ascontiguousarray(np.nonzero(a)[0], dtype=np.uint32)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise ValueError(f"returned an array of shape {a.shape}, expected indices (1-D)")
    if a.size and a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.floor(a)):
            a = a.astype(np.int64)
        else:
            raise ValueError(f"returned {a.dtype} values, expected integer indices")
    if a.size > n:
        raise ValueError(f"returned {a.size} indices for {n} positions")
    if a.size and (a.min() < 0 or a.max() >= 2**32):
        bad = int(a.min() if a.min() < 0 else a.max())
        raise ValueError(f"index {bad} outside 0..{n - 1}")
    return np.ascontiguousarray(a, dtype=np.uint32)


def _make(name: str, fn: Strategy) -> Dict[str, Any]:
    def create(options: Optional[bytes], host: Any, state: Any, err: int, size: int) -> int:
        try:
            opts = _parse_options((options or b"").decode())
            with _lock:
                sid = next(_state_ids)
                _states[sid] = (host, opts)
            state[0] = sid
            return 0
        except BaseException as e:  # noqa: BLE001 — reported through err
            _put_err(err, size, f"{type(e).__name__}: {e}")
            return 1

    def destroy(state: Optional[int]) -> None:
        with _lock:
            _states.pop(state or 0, None)

    def select(state: Optional[int], inp: Any, out: Any, n_out: Any, err: int,
               size: int) -> int:
        try:
            x = inp.contents
            n = x.n
            pos = _array(x.positions, n, _POS_DTYPE)
            host, opts = _states.get(state or 0, (None, {}))
            p = Positions(pos["token"].copy(), pos["confidence"].copy(),
                          pos["entropy"].copy(), pos["margin"].copy(), pos["step"].copy(),
                          pos["block"].copy(), pos["stage"].copy(), pos["nfe"].copy(),
                          (pos["flags"] & _lib.REMASK_LOCKED) != 0, x.n_unlocked,
                          bool(x.count_flexible), x.sample, dict(opts), host)
            a = _indices(fn(p, int(x.count), int(x.stage), int(x.block_size)), n, name)
            if a.size:
                ctypes.memmove(out, a.ctypes.data, a.size * 4)
            n_out[0] = int(a.size)
            return 0
        except BaseException as e:  # noqa: BLE001 — reported through err, re-raised
            errs = getattr(_tls, "errors", None)
            if errs is not None:
                errs.append(e)
            _put_err(err, size, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
            return 1

    keep: Dict[str, Any] = {
        "fn": fn, "name": name.encode(),
        "create": _lib.CREATE_FN(create), "select": _lib.SELECT_FN(select),
        "destroy": _lib.DESTROY_FN(destroy),
    }
    return keep


def register_remask(name: str, fn: Optional[Strategy] = None, *, description: str = "",
                    version: str = "1.0", replace: bool = False) -> Any:
    """Register a Python remask strategy under `name` (lowercase letters, digits, '-',
    '_'), usable as generate(remask="name") or "name:k=v,..." in every session of this
    process.

    fn(positions, count, stage, block_size) receives a Positions (numpy arrays per
    position: confidence, entropy, margin, step, block, stage, locked, token, ...), how
    many positions to select, the stage about to run (2 for the first revision) and its
    block size, and returns `count` distinct indices of unlocked positions (any integer
    sequence or array, or a boolean mask). The library checks every selection: a wrong
    count, duplicates, locked or out-of-range positions, or an exception inside fn fail
    that generate call with Error (status ERR_PLUGIN, the reason in the message; an
    exception raised by fn is chained as __cause__).

    Without fn, returns a decorator. replace=True first unregisters a strategy this
    process registered under the same name. A plugin file of the same name on the
    plugin search path wins over a registered strategy.
    """
    if fn is None:
        return lambda f: register_remask(name, f, description=description, version=version,
                                         replace=replace)
    L = _lib.lib()
    if not hasattr(L, "didcl_remask_register"):
        raise Error(f"didcl: this libdidcl ({_lib.path()}) has no didcl_remask_register; "
                    "Python strategies need a newer library", Status.ERR_UNSUPPORTED)
    if not callable(fn):
        raise TypeError("register_remask: fn must be callable")
    if replace and name in _registry:
        unregister_remask(name)
    keep = _make(name, fn)
    keep["description"] = (description or (fn.__doc__ or "").strip().split("\n")[0]
                           or f"Python strategy {getattr(fn, '__qualname__', name)}").encode()
    keep["version"] = version.encode()
    desc = _lib.RemaskPlugin(_lib.REMASK_ABI_VERSION, sizeof(_lib.RemaskPlugin), keep["name"],
                             keep["description"], keep["version"], keep["create"],
                             keep["select"], keep["destroy"])
    keep["desc"] = desc
    with _lock:
        _check(L.didcl_remask_register(byref(desc)))
        _registry[name] = keep
    return fn


def unregister_remask(name: str) -> None:
    """Remove a strategy registered with register_remask (Error if there is none)."""
    L = _lib.lib()
    if not hasattr(L, "didcl_remask_unregister"):
        raise Error("didcl: this libdidcl has no didcl_remask_unregister",
                    Status.ERR_UNSUPPORTED)
    with _lock:
        _check(L.didcl_remask_unregister(name.encode()))
        _registry.pop(name, None)  # only now may the descriptor go


def registered_remasks() -> List[str]:
    """Names registered from Python in this process."""
    with _lock:
        return list(_registry)


@atexit.register
def _unregister_all() -> None:
    for name in list(_registry):
        try:
            unregister_remask(name)
        except Exception:  # noqa: BLE001 — best effort at exit
            pass

