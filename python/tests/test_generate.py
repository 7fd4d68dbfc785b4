"""Session.generate: equal to the CLI, the result's fields, errors, cancellation."""
import numpy as np
import pytest

import didcl

from conftest import cli_generate


@pytest.mark.parametrize("seed,prompt,remask", [
    (1, "Hello world", None), (5, "Hello world", "lowconf"), (6, "Once upon a time", "random"),
    (7, "The river", "span:len=2"), (8, "", None)])
def test_equals_cli(session, cli, model_dir, seed, prompt, remask):
    args = ["--length", "32", "--seed", str(seed), "--revise", "0.25"]
    if prompt:
        args += ["--prompt", prompt]
    if remask:
        args += ["--remask", remask]
    want = cli_generate(cli, model_dir, *args)
    r = session.generate(prompt or None, length=32, seed=seed, revise=0.25, remask=remask)
    assert r[0].text_bytes + b"\n" == want


def test_equals_cli_options(session, cli, model_dir):
    want = cli_generate(cli, model_dir, "--length", "32", "--seed", "3", "--steps", "2",
                        "--revise", "0.5@8", "--revise", "0.25", "--top-p", "0.8",
                        "--temperature", "0.7", "--prompt", "Hello world")
    r = session.generate("Hello world", length=32, seed=3, steps=2,
                         revise=[(0.5, 8), 0.25], top_p=0.8, temperature=0.7)
    assert r.text.encode() + b"\n" == want
    assert [s.block for s in r[0].stages] == [4, 8, 32]


def test_result_fields(session):
    res = session.generate("Hello world", length=32, seed=1, revise=0.25, samples=2)
    assert len(res) == 2 and res.generated > 0 and res.seconds >= 0
    assert [s.stage for s in res.stages] == [1, 2]
    for i, r in enumerate(res):
        assert r.index == i and r.seed == 1 and r.n_prompt == 4
        assert r.text.startswith("Hello world")
        assert r.ids.dtype == np.int32 and list(r.ids[:4]) == [39, 508, 78, 953]
        assert np.array_equal(r.tokens[1:], r.ids) and len(r.tokens) == 32
        t = r.trace
        assert len(t) == 32 and t.confidence.dtype == np.float32
        for a in (t.confidence, t.entropy, t.margin, t.stage, t.step, t.block, t.draft,
                  t.remasked, t.locked, t.token, t.nfe):
            assert a.shape == (32,)
        assert t.locked[:5].all() and not t.locked[5:].any()
        assert (t.stage[:5] == 0).all() and set(t.stage[5:]) <= {1, 2}
        assert ((t.confidence >= 0) & (t.confidence <= 1)).all()
        s1, s2 = r.stages
        assert s1.nfe == 27 and s1.store_kv == 7 and s2.remasked == 7 and s2.gamma == 0.25
        assert t.remasked.sum() == s2.remasked and not t.remasked[t.locked].any()
        assert (t.stage[t.remasked] == 2).all()
        # the revision changed remasked positions only
        assert np.array_equal(t.draft[~t.remasked], r.tokens[~t.remasked])
        assert np.array_equal(t.token, r.tokens)
        assert set(t.as_dict()) >= {"confidence", "entropy", "margin", "remasked"}
    assert not np.array_equal(res[0].tokens, res[1].tokens)
    with pytest.raises(didcl.Error):
        res.text  # two samples


def test_prompt_ids_and_no_revision(session):
    a = session.generate("Hello world", length=32, seed=2)
    b = session.generate([39, 508, 78, 953], length=32, seed=2)
    assert a.text == b.text and len(a[0].stages) == 1
    assert not a[0].trace.remasked.any()


def test_deterministic(session):
    a = session.generate("Hello", length=32, seed=11, revise=0.3)
    b = session.generate("Hello", length=32, seed=11, revise=0.3)
    c = session.generate("Hello", length=32, seed=12, revise=0.3)
    assert a.text == b.text != c.text
    assert np.array_equal(a[0].trace.confidence, b[0].trace.confidence)


def test_option_errors(session):
    with pytest.raises(didcl.Error) as e:
        session.generate("x", length=32, block=5)
    assert e.value.status == didcl.Status.ERR_INVALID_ARG
    assert "block 5" in e.value.message and "32" in e.value.message
    with pytest.raises(didcl.Error) as e:
        session.generate("x", length=32, revise=1.5)
    assert "1.5" in e.value.message
    with pytest.raises(didcl.Error) as e:
        session.generate("x", length=32, revise=0.25, remask="nosuchplugin")
    assert e.value.status == didcl.Status.ERR_PLUGIN and "nosuchplugin" in e.value.message
    with pytest.raises(didcl.Error) as e:
        session.check("x", length=32, block=5)
    assert "block 5" in e.value.message
    with pytest.raises(TypeError):
        session.check("x", lenght=32)
    assert session.check("x", length=32)["block"] == 4
    # the session still works
    assert session.generate("x", length=32, seed=1).text.startswith("x")


def test_on_event_cancels(session):
    seen = []

    def stop_at_second_block(ev):
        seen.append(ev.kind)
        return seen.count("block_done") == 2

    with pytest.raises(didcl.Error) as e:
        session.generate("Hello", length=32, seed=1, on_event=stop_at_second_block)
    assert e.value.status == didcl.Status.ERR_CANCELLED
    assert seen.count("block_done") == 2 and "sample_done" not in seen

    def boom(ev):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        session.generate("Hello", length=32, seed=1, on_event=boom)
    assert session.generate("Hello", length=32, seed=1).text.startswith("Hello")


def test_session_properties(session, model_dir):
    assert session.model_dir.rstrip("/") == model_dir.rstrip("/")
    cfg = session.config
    assert cfg["arch"] == "bd3lm" and cfg["context_length"] == 32 and cfg["block_size"] == 4
    assert session.device.name
    assert session.tokenizer.encode("Hello world") == [39, 508, 78, 953]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_stops_a_run(session):
    import os
    import signal
    import threading
    import time
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals need the main thread")
    session.generate("Hi", length=32)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.time()
    with pytest.raises(KeyboardInterrupt):
        timer.start()
        for i in range(100):
            session.generate("Hi", length=32, revise=0.5, seed=i)
    assert time.time() - t0 < 30
    assert session.generate("Hi", length=32, seed=1).text.startswith("Hi")


def test_revise_reuse(session, cli, model_dir):
    """K/V reuse: the CLI's --revise-reuse, 1 = the exact revision, negative refused."""
    want = cli_generate(cli, model_dir, "--length", "32", "--seed", "4", "--revise", "0.5",
                        "--revise-reuse", "4")
    r = session.generate(length=32, seed=4, revise=0.5, revise_reuse=4)
    assert r[0].text_bytes + b"\n" == want
    exact = session.generate(length=32, seed=4, revise=0.5)
    assert session.generate(length=32, seed=4, revise=0.5, revise_reuse=1).text == exact.text
    assert session.check(length=32, revise=0.5, revise_reuse=8)["revise_reuse"] == 8
    with pytest.raises(didcl.Error) as e:
        session.generate(length=32, revise=0.5, revise_reuse=-1)
    assert "revise reuse -1" in e.value.message
