"""Every posenas exception survives pickling (what Ray does to a worker's error) with its message and fields."""

from __future__ import annotations

import inspect
import pickle

import pytest

from posenas import errors
from posenas.errors import ConfigError, DataFormatError, PosenasError, UnknownNameError

EXAMPLES = {
    PosenasError: PosenasError("--workers must be >= 1, got 0"),
    DataFormatError: DataFormatError("a01_s01_e01_skeleton3D.txt", "expected 4 numbers per row", line=6, field="x"),
    UnknownNameError: UnknownNameError("search method", "bogus", ["random", "enas"]),
    ConfigError: ConfigError("LifterConfig", "filter_widths", "must be odd and >= 1, got (3, 4)"),
}


def test_every_exception_class_has_an_example():
    classes = {c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, BaseException) and c.__module__ == errors.__name__}
    assert classes == set(EXAMPLES)


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_pickle_round_trip_keeps_message_and_fields(cls):
    original = EXAMPLES[cls]
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is cls
    assert str(copy) == str(original)
    assert vars(copy) == vars(original)


@pytest.mark.ray
def test_errors_cross_ray_as_themselves(ray_local):
    @ray_local.remote
    def fail(name: str):
        raise EXAMPLES[getattr(errors, name)]

    for cls, original in EXAMPLES.items():
        with pytest.raises(cls) as info:
            ray_local.get(fail.remote(cls.__name__))
        assert str(original) in str(info.value)
        cause = getattr(info.value, "cause", info.value)
        assert type(cause) is cls and vars(cause) == vars(original)
