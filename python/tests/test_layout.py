"""The ctypes structs of didcl/_lib.py against the C compiler's sizes and offsets
(tests/python_layout, built by `make check`, prints them)."""
import ctypes
import json
import subprocess

import pytest

from didcl import _lib

from conftest import build_file


def test_struct_layouts_match_the_headers():
    prog = build_file("DIDCL_LAYOUT", "tests/python_layout")
    if not prog:
        pytest.skip("tests/python_layout not built (make check builds it)")
    c = json.loads(subprocess.run([prog], check=True, stdout=subprocess.PIPE).stdout)
    assert set(c) == set(_lib.C_NAMES)
    for name, cls in _lib.C_NAMES.items():
        assert c[name]["size"] == ctypes.sizeof(cls), name
        for f, _ in cls._fields_:
            assert c[name]["fields"][f] == getattr(cls, f).offset, f"{name}.{f}"
