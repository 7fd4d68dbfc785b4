"""Remask strategies written in Python (register_remask over didcl_remask_register)."""
import numpy as np
import pytest

import didcl
from didcl import _lib

pytestmark = pytest.mark.skipif(
    not _lib.has("didcl_remask_register"),
    reason="this libdidcl has no didcl_remask_register")


def lowconf_py(pos, count, stage, block_size):
    """lowconf in Python: lowest confidence first, ties to the lower index, NaN as 0."""
    key = np.nan_to_num(pos.confidence.astype(np.float64), nan=0.0)
    key[pos.locked] = np.inf
    return np.argsort(key, kind="stable")[:count]


@pytest.fixture(scope="module", autouse=True)
def strategies():
    didcl.register_remask("py-lowconf", lowconf_py, replace=True)
    yield
    for name in didcl.registered_remasks():
        didcl.unregister_remask(name)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mirror_of_lowconf(session, seed):
    kw = dict(length=32, seed=seed, revise=[(0.25, 0), (0.5, 8)], samples=2)
    a = session.generate("Hello world", remask="lowconf", **kw)
    b = session.generate("Hello world", remask="py-lowconf", **kw)
    assert [r.text for r in a] == [r.text for r in b]
    for x, y in zip(a, b):
        assert np.array_equal(x.trace.remasked_by, y.trace.remasked_by)
    assert b[0].remask == "py-lowconf"


def test_equals_cli_with_lowconf(session, cli, model_dir):
    from conftest import cli_generate
    want = cli_generate(cli, model_dir, "--length", "32", "--seed", "9", "--revise", "0.25",
                        "--prompt", "The river")
    r = session.generate("The river", length=32, seed=9, revise=0.25, remask="py-lowconf")
    assert r[0].text_bytes + b"\n" == want


def test_inputs_and_mask_form(session):
    calls = []

    def highest_entropy(pos, count, stage, block_size):
        calls.append((len(pos), count, stage, block_size, pos.n_unlocked, pos.sample,
                      pos.locked.copy(), pos.stage.copy(), pos.options))
        key = np.where(pos.locked, -np.inf, pos.entropy)
        mask = np.zeros(len(pos), bool)
        mask[np.argsort(-key, kind="stable")[:count]] = True
        return mask

    didcl.register_remask("py-entropy", highest_entropy)
    r = session.generate("Hello world", length=32, seed=3, revise=[0.25, (0.5, 8)],
                         remask="py-entropy:foo=bar,x=1")[0]
    (n, count, stage, bs, unl, sample, locked, st, opts), c2 = calls[0], calls[1]
    assert (n, count, stage, bs, unl, sample) == (32, 7, 2, 32, 27, 0)
    assert locked[:5].all() and not locked[5:].any() and (st[5:] == 1).all()
    assert opts == {"foo": "bar", "x": "1"}
    assert c2[1:4] == (14, 3, 8)
    assert r.stages[1].remasked == 7 and r.stages[2].remasked == 14


def test_uniform_is_reproducible(session):
    def rand(pos, count, stage, block_size):
        free = np.nonzero(~pos.locked)[0]
        order = sorted(free, key=lambda i: pos.uniform())
        return order[:count]

    didcl.register_remask("py-rand", rand)
    a = session.generate("Hi", length=32, seed=5, revise=0.5, remask="py-rand")[0]
    b = session.generate("Hi", length=32, seed=5, revise=0.5, remask="py-rand")[0]
    c = session.generate("Hi", length=32, seed=6, revise=0.5, remask="py-rand")[0]
    assert np.array_equal(a.trace.remasked, b.trace.remasked)
    assert a.text == b.text
    assert c.trace.remasked.sum() == a.trace.remasked.sum()


def first_unlocked(pos, k):
    return list(np.nonzero(~pos.locked)[0][:k])


BAD = {
    "py-short": (lambda p, c, s, b: first_unlocked(p, c - 1), ["selected 6", "expected 7"]),
    "py-long": (lambda p, c, s, b: first_unlocked(p, c + 1), ["selected 8", "expected 7"]),
    "py-dup": (lambda p, c, s, b: [int(first_unlocked(p, 1)[0])] * c, ["twice"]),
    "py-locked": (lambda p, c, s, b: [0] + first_unlocked(p, c - 1), ["locked"]),
    "py-range": (lambda p, c, s, b: first_unlocked(p, c - 1) + [999], ["999"]),
    "py-negative": (lambda p, c, s, b: first_unlocked(p, c - 1) + [-1], ["-1"]),
    "py-raise": (lambda p, c, s, b: 1 / 0, ["ZeroDivisionError", "division by zero"]),
    "py-float": (lambda p, c, s, b: [0.5] * c, ["float"]),
    "py-none": (lambda p, c, s, b: None, ["expected"]),
    "py-2d": (lambda p, c, s, b: np.zeros((2, 2), int), ["shape"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_strategies_are_refused(session, name):
    fn, words = BAD[name]
    didcl.register_remask(name, fn)
    with pytest.raises(didcl.Error) as e:
        session.generate("Hello world", length=32, seed=1, revise=0.25, remask=name)
    assert e.value.status == didcl.Status.ERR_PLUGIN, e.value
    msg = e.value.message
    assert name in msg or "sample 0" in msg, msg
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)
    if name == "py-raise":
        assert isinstance(e.value.__cause__, ZeroDivisionError)
    # no damage: the session goes on
    assert session.generate("Hello", length=32, seed=1, revise=0.25,
                            remask="py-lowconf").text.startswith("Hello")


def test_streaming_with_a_python_strategy(session):
    evs = list(session.stream("Hello", length=32, seed=1, revise=0.25, remask="py-lowconf"))
    assert evs[-1].kind == "sample_done"
    didcl.register_remask("py-raise2", lambda p, c, s, b: [][1])
    with pytest.raises(didcl.Error) as e:
        list(session.stream("Hello", length=32, seed=1, revise=0.25, remask="py-raise2"))
    assert "IndexError" in e.value.message


def test_registration_rules(session):
    with pytest.raises(didcl.Error) as e:
        didcl.register_remask("Bad Name!", lowconf_py)
    assert e.value.status == didcl.Status.ERR_PLUGIN and "Bad Name!" in e.value.message
    with pytest.raises(didcl.Error) as e:
        didcl.register_remask("py-lowconf", lowconf_py)  # taken
    assert "py-lowconf" in e.value.message
    with pytest.raises(didcl.Error):
        didcl.register_remask("lowconf", lowconf_py)  # built in
    with pytest.raises(TypeError):
        didcl.register_remask("py-x", 42)

    @didcl.register_remask("py-deco", description="decorated")
    def deco(pos, count, stage, block_size):
        return lowconf_py(pos, count, stage, block_size)

    assert "py-deco" in didcl.registered_remasks()
    assert session.generate("Hi", length=32, seed=1, revise=0.25, remask="py-deco")[0] \
        .remask == "py-deco"
    didcl.unregister_remask("py-deco")
    assert "py-deco" not in didcl.registered_remasks()
    with pytest.raises(didcl.Error) as e:
        session.generate("Hi", length=32, seed=1, revise=0.25, remask="py-deco")
    assert e.value.status == didcl.Status.ERR_PLUGIN and "py-deco" in e.value.message
    with pytest.raises(didcl.Error):
        didcl.unregister_remask("py-deco")
