"""Session.score / Scorer against `didcl score`."""
import json
import subprocess

import pytest

import didcl

TEXT = "Hello world, this is a short text to score."


@pytest.mark.parametrize("args,kw", [
    (["--samples", "4", "--seed", "1"], dict(samples=4, seed=1)),
    (["--t", "0.5"], dict(t=0.5, samples=1)),
    (["--bos", "--samples", "2", "--block", "2"], dict(bos=True, samples=2, block=2)),
])
def test_equals_cli(session, cli, model_dir, args, kw):
    r = subprocess.run([cli, "score", "--model", model_dir, "--json", *args], input=TEXT.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    want = json.loads(r.stdout)
    got = session.score(TEXT, **kw)
    assert got.tokens == want["tokens"] and got.samples == want["samples"]
    assert got.nll == pytest.approx(want["nll"], rel=1e-8, abs=1e-9)
    assert got.se == pytest.approx(want["se"], rel=1e-6, abs=1e-9)


def test_scorer_standalone_and_errors(model_dir):
    with didcl.Scorer(model_dir) as sc:
        a = sc.score(TEXT, samples=2, seed=3)
        b = sc.score(sc.tokenizer.encode(TEXT), samples=2, seed=3)
        assert a == b and a.ppl > 1
        with pytest.raises(didcl.Error) as e:
            sc.score([1, 2, 99999])
        assert "99999" in e.value.message
        with pytest.raises(didcl.Error):
            sc.score("")
    with pytest.raises(didcl.Error, match="closed"):
        sc.score(TEXT)
