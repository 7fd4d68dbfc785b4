"""Session.stream: events in order, commits, early stop cancels, errors."""
import threading
import time

import numpy as np
import pytest

import didcl


def test_events_in_order(session):
    want = session.generate("Hello world", length=32, seed=4, revise=0.25)[0]
    evs = list(session.stream("Hello world", length=32, seed=4, revise=0.25))
    kinds = [e.kind for e in evs]
    assert kinds[0] == "stage_start" and evs[0].stage == 1
    assert kinds[-1] == "sample_done"
    # stage 1: the 8 blocks of 4 in order, then its end; then the revision
    s1 = [e for e in evs if e.stage == 1 and e.kind == "block_done"]
    assert [e.start for e in s1] == list(range(0, 32, 4)) and all(e.len == 4 for e in s1)
    i_done1 = kinds.index("stage_done")
    assert evs[i_done1].stage == 1 and all(e.stage == 1 for e in evs[:i_done1])
    rev = evs[i_done1 + 1]
    assert rev.kind == "stage_start" and rev.stage == 2 and rev.remasked == 7
    assert len(rev.positions) == 7 and (rev.positions > 4).all()
    assert np.array_equal(np.nonzero(want.trace.remasked)[0], rev.positions)
    mask_id = session.config["mask_token_id"]
    assert (rev.tokens[rev.positions] == mask_id).all()
    assert [e.kind for e in evs if e.stage == 2] == ["stage_start", "block_done",
                                                     "stage_done", "sample_done"]
    # the pieces of stage 1 are the draft's generated text
    draft = b"".join(e.piece for e in s1)
    tok = session.tokenizer
    assert draft == tok.decode_bytes(want.trace.draft[5:])
    r = evs[-1].result
    assert r.text == want.text and np.array_equal(r.trace.confidence, want.trace.confidence)


def test_commits_and_samples(session):
    evs = list(session.stream("Hello", length=32, seed=2, samples=2, commits=True))
    commits = [e for e in evs if e.kind == "commit"]
    assert commits and {e.sample for e in commits} == {0, 1}
    for s in (0, 1):
        nfe = [e.nfe for e in commits if e.sample == s]
        assert nfe == sorted(nfe) and nfe[-1] == 31 - commits[0].n_prompt
    done = [e for e in evs if e.kind == "sample_done"]
    assert sorted(e.sample for e in done) == [0, 1]
    assert all(e.result is not None for e in done)


def test_early_stop_cancels(session):
    before = threading.active_count()
    n = 0
    t0 = time.time()
    for ev in session.stream("Hello", length=32, seed=1, revise=0.25, buffer=1):
        n += 1
        if ev.kind == "block_done":
            break
    assert n <= 3
    # the worker is gone and the session is free again
    for _ in range(100):
        if threading.active_count() <= before:
            break
        time.sleep(0.05)
    assert threading.active_count() <= before
    assert session.generate("Hello", length=32, seed=1).text.startswith("Hello")
    assert time.time() - t0 < 60


def test_busy_while_streaming(session):
    g = session.stream("Hello", length=32, seed=1)
    next(g)
    with pytest.raises(didcl.Error, match="busy"):
        session.generate("Hello", length=32)
    with pytest.raises(didcl.Error, match="running"):
        session.close()
    g.close()
    assert session.generate("Hello", length=32, seed=1).text.startswith("Hello")


def test_stream_errors(session):
    with pytest.raises(didcl.Error) as e:
        list(session.stream("Hello", length=32, block=5))
    assert "block 5" in e.value.message
    with pytest.raises(didcl.Error) as e:
        list(session.stream("Hello", length=32, revise=0.25, remask="nosuchplugin"))
    assert e.value.status == didcl.Status.ERR_PLUGIN
