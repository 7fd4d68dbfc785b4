"""examples/python/ run on the tiny model."""
import importlib.util
import os
import subprocess
import sys

import pytest

from didcl import _lib

from conftest import TOP

EX = os.path.join(TOP, "examples", "python")


def run(args, cwd):
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg",
               MPLCONFIGDIR=str(cwd), PYTHONPATH=pkg)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=300)


def test_confidence_plot(model_dir, tmp_path):
    out = tmp_path / "c.png"
    r = run([os.path.join(EX, "confidence_plot.py"), "--model", model_dir, "--length", "32",
             "--prompt", "Hello world", "--out", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Hello world") and "revision remasked 7 of 27" in r.stdout
    if importlib.util.find_spec("matplotlib"):
        assert out.stat().st_size > 1000
    else:
        assert "matplotlib is not installed" in r.stdout and not out.exists()


@pytest.mark.skipif(not _lib.has("didcl_remask_register"),
                    reason="this libdidcl has no didcl_remask_register")
def test_custom_strategy(model_dir, tmp_path):
    # the example generates 64 tokens, the tiny model holds 32: shorten its requests
    code = ("import runpy, didcl\n"
            "orig = didcl.Session.generate\n"
            "didcl.Session.generate = lambda self, *a, **k: orig(self, *a, **dict(k, length=32))\n"
            f"runpy.run_path({os.path.join(EX, 'custom_strategy.py')!r}, run_name='__main__')\n")
    r = run(["-c", code, model_dir, "Hello world"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("--- ") == 2 and "--- lowmargin: remasked [" in r.stdout
