"""Detector state as JSON, so drift detectors survive a restart of the feedback service.

A detector is its class name and its attributes, encoded by type: numbers, strings, lists, tuples, deques (with
their length bound), dicts, numpy arrays (raw bytes, dtype and shape), the numpy random generator (its bit
generator state), `Direction` and the `Window` dataclass. Only the detector classes, enums and dataclasses named
here can be rebuilt: a state is data, never code, whoever wrote it.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections import deque
from enum import Enum
from typing import Any

import numpy as np

from services.feedback.drift import Direction, PageHinkley, SpikeDetector, Window
from services.feedback.embedding_drift import EmbeddingDrift

Detector = PageHinkley | SpikeDetector | EmbeddingDrift

_DETECTORS: dict[str, type[Any]] = {cls.__name__: cls for cls in (PageHinkley, SpikeDetector, EmbeddingDrift)}
_ENUMS: dict[str, type[Enum]] = {"Direction": Direction}
_DATACLASSES: dict[str, type[Any]] = {"Window": Window}


def _encode(value: Any) -> Any:  # noqa: PLR0911 - one branch per supported type
    if isinstance(value, Enum):  # before str: Direction is a str enum
        name = type(value).__name__
        if name not in _ENUMS:
            raise TypeError(f"cannot save enum {name}")
        return {"$enum": name, "value": value.value}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"$ndarray": base64.b64encode(data.tobytes()).decode(), "dtype": data.dtype.str, "shape": data.shape}
    if isinstance(value, np.generic):
        return _encode(value.item())
    if isinstance(value, np.random.Generator):
        return {"$rng": type(value.bit_generator).__name__, "state": value.bit_generator.state}
    if isinstance(value, deque):
        return {"$deque": [_encode(v) for v in value], "maxlen": value.maxlen}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"$dict": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and type(value).__name__ in _DATACLASSES:
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$dataclass": type(value).__name__, "fields": fields}
    raise TypeError(f"cannot save a {type(value).__name__} in detector state")


def _decode(value: Any) -> Any:  # noqa: PLR0911 - one branch per supported type
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$enum" in value:
        return _ENUMS[value["$enum"]](value["value"])
    if "$float" in value:
        return float(value["$float"])
    if "$ndarray" in value:
        raw = base64.b64decode(value["$ndarray"])
        return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    if "$rng" in value:
        if value["$rng"] != "PCG64":
            raise ValueError(f"unknown bit generator {value['$rng']!r}")
        generator = np.random.Generator(np.random.PCG64())
        generator.bit_generator.state = value["state"]
        return generator
    if "$deque" in value:
        return deque((_decode(v) for v in value["$deque"]), maxlen=value["maxlen"])
    if "$tuple" in value:
        return tuple(_decode(v) for v in value["$tuple"])
    if "$dict" in value:
        return {_decode(k): _decode(v) for k, v in value["$dict"]}
    if "$dataclass" in value:
        return _DATACLASSES[value["$dataclass"]](**{k: _decode(v) for k, v in value["fields"].items()})
    raise ValueError(f"unknown state entry with keys {sorted(value)}")


def save_detector(detector: Detector) -> dict[str, Any]:
    """The detector's complete state as JSON-ready data."""
    name = type(detector).__name__
    if name not in _DETECTORS:
        raise TypeError(f"cannot save a {name}")
    return {"class": name, "attributes": {k: _encode(v) for k, v in vars(detector).items()}}


def load_detector(state: dict[str, Any]) -> Detector:
    """The detector `save_detector` described, continuing where it stopped.

    Raises:
        ValueError: the state names a class or entry this module does not rebuild.
    """
    cls = _DETECTORS.get(state.get("class", ""))
    if cls is None:
        raise ValueError(f"unknown detector class {state.get('class')!r}")
    detector: Detector = object.__new__(cls)
    try:
        detector.__dict__.update({k: _decode(v) for k, v in state["attributes"].items()})
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed {cls.__name__} state: {exc}") from exc
    return detector
