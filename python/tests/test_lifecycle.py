"""Sessions, tokenizers and scorers free their native handles: close(), `with`, GC."""
import gc
import os

import pytest

import didcl


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_context_manager_and_close(model_dir):
    base = didcl.live_handles()["session"]
    with didcl.Session(model_dir) as s:
        assert didcl.live_handles()["session"] == base + 1
        tok = s.tokenizer
        assert s.generate("Hi", length=32, seed=1).text.startswith("Hi")
    assert s.closed and didcl.live_handles()["session"] == base
    with pytest.raises(didcl.Error, match="closed"):
        s.generate("Hi", length=32)
    with pytest.raises(didcl.Error, match="closed"):
        tok.encode("Hi")  # the session's tokenizer went with it
    s.close()  # idempotent


def test_garbage_collector_frees(model_dir):
    base = didcl.live_handles()
    s = didcl.Session(model_dir)
    s.generate("Hi", length=32, seed=1)
    s.score("Hello world", samples=1)
    assert didcl.live_handles()["scorer"] == base["scorer"] + 1
    del s
    gc.collect()
    assert didcl.live_handles() == base


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="no /proc")
def test_no_leak_over_100_sessions(model_dir):
    base = didcl.live_handles()["session"]

    def cycle(i):
        if i % 2:
            with didcl.Session(model_dir) as s:
                if i % 10 == 1:
                    s.generate("Hi", length=32, seed=i, revise=0.25)
        else:
            s = didcl.Session(model_dir)  # freed by the garbage collector
            del s

    for i in range(20):  # warm-up: allocator pools, kernel caches
        cycle(i)
    gc.collect()
    before = rss_kib()
    for i in range(100):
        cycle(i)
    gc.collect()
    grown = rss_kib() - before
    assert didcl.live_handles()["session"] == base
    assert grown < 20 * 1024, f"RSS grew by {grown} KiB over 100 sessions"
