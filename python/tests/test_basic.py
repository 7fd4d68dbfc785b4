"""Library loading, devices, the tokenizer, errors."""
import os
import subprocess
import sys

import numpy as np
import pytest

import didcl

from conftest import HERE, TOP


def test_version_and_path():
    assert didcl.version().count(".") == 2
    assert os.path.exists(didcl.library_path()) or "libdidcl" in didcl.library_path()


def test_devices():
    ds = didcl.devices()
    for d in ds:
        assert d.name and d.kind in ("cpu", "gpu", "accelerator", "other")
        assert d.selector == f"{d.platform_index}:{d.device_index}"
        assert d.global_mem > 0


def run_py(code, env):
    e = {k: v for k, v in os.environ.items() if k not in ("DIDCL_LIBRARY",)}
    e.update(env)
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, "-c", code], env=e, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def test_library_not_found_names_the_places(tmp_path):
    code = "import didcl\ntry:\n    didcl.version()\nexcept didcl.LibraryNotFound as e:\n" \
           "    print(e)\nelse:\n    print('LOADED')\n"
    # an explicit DIDCL_LIBRARY that does not load: named, and nothing else is tried
    r = run_py(code, {"PYTHONPATH": os.path.dirname(HERE),
                      "DIDCL_LIBRARY": str(tmp_path / "nope" / "libdidcl.so")})
    assert "DIDCL_LIBRARY=" in r.stdout and str(tmp_path / "nope") in r.stdout, r.stdout + r.stderr
    # a copy of the package outside any build tree: the build-tree path and the loader
    pkg = tmp_path / "src" / "python"
    pkg.mkdir(parents=True)
    (tmp_path / "src" / "configure.ac").write_text("")  # a source tree, never built
    import shutil
    shutil.copytree(os.path.join(os.path.dirname(HERE), "didcl"), pkg / "didcl")
    r = run_py(code, {"PYTHONPATH": str(pkg), "LD_LIBRARY_PATH": ""})
    if "LOADED" in r.stdout:
        pytest.skip("a libdidcl is installed system-wide")
    assert str(tmp_path / "src" / ".libs") in r.stdout, r.stdout + r.stderr
    assert "libdidcl.so.0" in r.stdout and "DIDCL_LIBRARY" in r.stdout


def test_library_from_directory(tmp_path):
    lib = didcl.library_path()
    if not os.path.isabs(lib):
        pytest.skip("library came from the system loader")
    d = os.path.dirname(lib)
    r = run_py("import didcl; print(didcl.library_path())",
               {"PYTHONPATH": os.path.dirname(HERE), "DIDCL_LIBRARY": d})
    assert r.returncode == 0 and r.stdout.strip().startswith(d), r.stdout + r.stderr


def test_tokenizer_roundtrip():
    tok_path = os.path.join(TOP, "models", "tokenizer.json")
    if not os.path.exists(tok_path):
        pytest.skip("no models/tokenizer.json")
    with didcl.Tokenizer(tok_path) as t:
        assert t.encode("Hello world") == [39, 508, 78, 953]
        assert t.decode([39, 508, 78, 953]) == "Hello world"
        assert t.decode(np.array([39, 508, 78], dtype=np.int64)) == "Hello"
        assert t.vocab_size == 8192
        assert b"".join(t.token_bytes(i) for i in (39, 508, 78, 953)) == b"Hello world"
        assert t.token_id(t.token(953)) == 953
        text = "naïve café — 日本 <|endoftext|>"
        assert t.decode(t.encode(text)) == text
        eot = t.special_id("<|endoftext|>")
        assert eot in t.encode("a<|endoftext|>")
        assert eot not in t.encode("a<|endoftext|>", special=False)
        with pytest.raises(didcl.Error) as e:
            t.decode([0, 99999])
        assert e.value.status == didcl.Status.ERR_INVALID_ARG and "99999" in e.value.message
        with pytest.raises(didcl.Error) as e:
            t.encode(b"\xff\xfe")
        assert e.value.status == didcl.Status.ERR_ENCODING
    with pytest.raises(didcl.Error) as e:
        t.encode("x")  # closed
    assert "closed" in str(e.value)


def test_errors_carry_the_message(tmp_path):
    with pytest.raises(didcl.Error) as e:
        didcl.Tokenizer(tmp_path / "missing.json")
    assert str(tmp_path / "missing.json") in e.value.message
    assert e.value.status is not None and e.value.status < 0
    assert e.value.status_name.startswith("DIDCL_ERR_")
    assert e.value.status_name in str(e.value)
    with pytest.raises(didcl.Error) as e:
        didcl.Session(tmp_path / "no-model")
    assert str(tmp_path / "no-model") in e.value.message


def test_library_without_the_api_is_refused():
    import ctypes.util
    libm = ctypes.util.find_library("m")
    if not libm:
        pytest.skip("no libm to stand in for an old library")
    r = run_py("import didcl\ntry:\n    didcl.version()\nexcept didcl.LibraryNotFound as e:\n"
               "    print(e)\n", {"PYTHONPATH": os.path.dirname(HERE), "DIDCL_LIBRARY": libm})
    assert "too old" in r.stdout and "didcl_version" in r.stdout, r.stdout + r.stderr
