"""The tolerant tree comparison used for committed files (tests/approx_tree.py)."""

import math

import pytest

from tests.approx_tree import assert_trees_close, differences


def test_floats_within_tolerance_are_equal_and_beyond_are_listed_with_their_path():
    committed = {"a": [1.0, {"p": 0.0}], "b": "x", "n": 3}
    assert not list(differences(committed, {"a": [1.0 + 1e-8, {"p": 5e-9}], "b": "x", "n": 3}))
    found = list(differences(committed, {"a": [1.001, {"p": 1e-7}], "b": "x", "n": 3}))
    assert [f.split(":")[0] for f in found] == ["/a[0]", "/a[1]/p"]


def test_everything_but_floats_is_exact():
    base = {"s": "0.88 [0.64, 1.21]", "k": 6, "ok": True, "none": None, "l": [1, 2]}
    for key, other in (("s", "0.88 [0.64, 1.22]"), ("k", 7), ("ok", False), ("none", 0.0),
                       ("l", [1, 2, 3])):
        assert list(differences(base, base | {key: other})), key
    assert list(differences({"a": 1}, {"b": 1})) == ["/a: missing from the fresh computation",
                                                      "/b: not in the committed file"]
    assert list(differences({"ok": True}, {"ok": 1.0}))  # a bool is not a number here
    assert not list(differences({"k": 2}, {"k": 2.0}))  # 2 and 2.0 are the same number
    assert not list(differences([math.nan, math.inf], [math.nan, math.inf]))
    assert list(differences([math.inf], [-math.inf]))


def test_failure_names_the_first_paths_and_the_count():
    committed = {"x": [float(i) for i in range(30)]}
    fresh = {"x": [i + 0.5 for i in range(30)]}
    with pytest.raises(AssertionError) as err:
        assert_trees_close(committed, fresh, hint="regenerate", show=3)
    text = str(err.value)
    assert text.startswith("30 difference(s) beyond rtol=1e-06, atol=1e-08")
    assert "/x[0]: 0.0 committed, 0.5 computed" in text and "/x[2]" in text and "/x[3]" not in text
    assert "... and 27 more" in text and text.endswith("regenerate")
