"""Fixtures of the didcl Python tests: the package from this source tree, libdidcl from
$DIDCL_LIBRARY or the build tree, a tiny random BD3-LM written by check_generate.

Environment (tests/python.sh sets it under `make check`): DIDCL_LIBRARY (the library),
DIDCL (the CLI), MKGEN (tests/check_generate), DIDCL_LAYOUT (tests/python_layout).
Without them the build tree around python/ is tried (an in-tree build).
"""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))  # the package of this tree, not an installed one

import didcl  # noqa: E402


def build_file(env: str, rel: str) -> str:
    """$env, else TOP/rel (an in-tree build), else ""."""
    p = os.environ.get(env) or os.path.join(TOP, rel)
    return p if os.path.exists(p) else ""


@pytest.fixture(scope="session")
def device_ok():
    if not didcl.devices():
        pytest.skip("no OpenCL device")


@pytest.fixture(scope="session")
def cli():
    p = build_file("DIDCL", "didcl")
    if not p:
        pytest.skip("no didcl CLI (set DIDCL)")
    return p


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, device_ok):
    """The 32-token random BD3-LM (vocabulary 8192, block 4) with the project tokenizer."""
    mk = build_file("MKGEN", "tests/check_generate")
    if not mk:
        pytest.skip("no tests/check_generate to write the tiny model (set MKGEN)")
    d = tmp_path_factory.mktemp("model")
    subprocess.run([mk, "--write-model", str(d)], check=True, stdout=subprocess.DEVNULL)
    return str(d)


@pytest.fixture(scope="module")
def session(model_dir):
    with didcl.Session(model_dir) as s:
        yield s


def cli_generate(cli, model, *args):
    """stdout bytes of `didcl generate --model M --quiet ARGS`."""
    r = subprocess.run([cli, "generate", "--model", model, "--quiet", *args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout
