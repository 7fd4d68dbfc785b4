"""didcl from Python: block-diffusion LM generation (BD3-LM + the Diffusion-in-Diffusion
sampler) over libdidcl through ctypes, and remask strategies written in Python.

    import didcl
    with didcl.Session("models/default") as s:
        r = s.generate("The old lighthouse keeper", length=64, seed=7, revise=0.25)[0]
        print(r.text, r.trace.confidence, r.trace.remasked)

Finding libdidcl (first that loads): $DIDCL_LIBRARY (the library file, or a directory
holding it or its .libs/; nothing else is tried when it is set), the build tree this
package sits in (python/../.libs/), then the system loader (libdidcl.so.0 through
ld.so's paths and LD_LIBRARY_PATH, ctypes.util.find_library, /usr/local/lib). When none
loads, importing still works and the first call raises LibraryNotFound naming every
place looked at.
"""
from ._core import (Device, Error, Event, Result, Results, Scorer, ScoreResult, Session,
                    StageStats, Status, Tokenizer, Trace, default_model_dir, devices,
                    library_path, live_handles, version)
from ._lib import LibraryNotFound
from ._remask import Positions, register_remask, registered_remasks, unregister_remask

__version__ = "0.1.0"

__all__ = [
    "Device", "Error", "Event", "LibraryNotFound", "Positions", "Result", "Results",
    "Scorer", "ScoreResult", "Session", "StageStats", "Status", "Tokenizer", "Trace",
    "default_model_dir", "devices", "library_path", "live_handles", "register_remask",
    "registered_remasks", "unregister_remask", "version",
]
