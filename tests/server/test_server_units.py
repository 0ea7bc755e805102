"""In-process pieces of the server: progress rate limiting, message decoding, JSON conversion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from glot_blender.core.protocol import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR
from inference_server.errors import GlotError
from inference_server.jobs import ProgressThrottle
from inference_server.server import parse_analyze_params
from inference_server.wire import decode_message, jsonable


class StepClock:
    """A clock the test advances by hand (time is an input of the throttle)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ev(stage: str, done: int, total: int | None) -> dict:
    return {"job": "j", "stage": stage, "done": done, "total": total}


def test_throttle_keeps_first_and_last_of_each_stage() -> None:
    sent: list[dict] = []
    clock = StepClock()
    throttle = ProgressThrottle(sent.append, interval=0.1, clock=clock)
    for i in range(1, 101):  # 100 events in 0.5 s
        clock.now = i * 0.005
        throttle(ev("features", i, 100))
    assert sent[0]["done"] == 1 and sent[-1]["done"] == 100
    assert 5 <= len(sent) <= 7  # ~ one per 0.1 s, plus the last
    sent.clear()
    for i in range(1, 4):  # a stage with unknown total: its last event is held, then flushed
        clock.now += 0.001
        throttle(ev("detect", i, None))
    assert [e["done"] for e in sent] == [1]
    throttle(ev("track", 0, 5))
    assert [(e["stage"], e["done"]) for e in sent] == [("detect", 1), ("detect", 3), ("track", 0)]
    throttle.flush()
    assert len(sent) == 3  # nothing held twice


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"{", PARSE_ERROR),
        (b"null", INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":true,"method":"x"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","method":"x","params":"p"}', INVALID_PARAMS),
    ],
)
def test_decode_errors(line: bytes, code: int) -> None:
    with pytest.raises(GlotError) as err:
        decode_message(line)
    assert err.value.code == code


def test_decode_request_and_notification() -> None:
    req = decode_message(b'{"jsonrpc":"2.0","id":"a","method":"cancel","params":{"job":"j"}}')
    assert (req.method, req.id, req.params, req.is_notification) == (
        "cancel", "a", {"job": "j"}, False)
    note = decode_message(b'{"jsonrpc":"2.0","method":"cancel"}')
    assert note.is_notification and note.params == {}


def test_jsonable_converts_results() -> None:
    @dataclass
    class Result:
        path: Path
        tracks: list
        score: np.float32
        ids: np.ndarray

    out = jsonable(Result(Path("/x/y.npz"), [{"id": np.int64(3)}], np.float32(0.5),
                          np.arange(2)))
    assert out == {"path": "/x/y.npz", "tracks": [{"id": 3}], "score": 0.5, "ids": [0, 1]}
    assert jsonable(float("nan")) is None


def test_analyze_params_defaults_and_normalisation(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    parsed = parse_analyze_params({"video": str(video), "fov_deg": 60, "end": 50})
    assert parsed.video == video and parsed.output_dir is None
    assert parsed.options.fov_deg == 60.0 and parsed.options.end == 50
    assert parsed.options.backend == "auto" and parsed.options.min_track_len == 25
    assert parsed.options.video == video and parsed.options.output == Path("v.npz")
    cpu = parse_analyze_params({"video": str(video), "device": "cpu", "detector": "hog"})
    assert cpu.options.device == "cpu" and cpu.options.detector == "hog"


def test_analyze_params_are_refused_by_the_options_themselves(tmp_path: Path) -> None:
    """The server checks JSON types; AnalyzeOptions checks values, with the same error (and
    sentence) as the CLI and the pipeline get; resolve_device checks the device."""
    from inference_server.errors import InvalidRequestError
    from inference_server.options import AnalyzeOptions

    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    for bad, word in (({"stride": 0}, "stride"), ({"backend": "magic"}, "backend"),
                      ({"detector": "eyes"}, "detector"), ({"fov_deg": 500}, "fov_deg"),
                      ({"device": "cuda:7"}, "cuda:7"), ({"device": "tpu"}, "tpu")):
        with pytest.raises(InvalidRequestError, match=word) as err:
            parse_analyze_params({"video": str(video), **bad})
        assert err.value.code == INVALID_PARAMS and err.value.message.startswith("Invalid params")
        if "device" not in bad:
            with pytest.raises(InvalidRequestError) as direct:
                AnalyzeOptions(video=video, output=tmp_path / "o.npz", **bad)
            assert direct.value.message in err.value.message
    assert not any(p.suffix == ".npz" for p in tmp_path.iterdir())


def test_one_tuple_of_backend_and_detector_names() -> None:
    """core.protocol's tuples are what the CLI offers, what the pipeline loads and what the
    detector factory builds (the add-on's menus: tests/blender/test_ext_prefs.py)."""
    import argparse

    from glot_blender.core.protocol import BACKEND_NAMES, DETECTOR_NAMES
    from inference_server.cli_options import add_analysis_options
    from inference_server.detect import make_detector
    from inference_server.errors import GlotError
    from inference_server.pipeline import BACKEND_LOADERS

    parser = argparse.ArgumentParser()
    add_analysis_options(parser)
    choices = {a.dest: tuple(a.choices) for a in parser._actions if a.choices}
    assert choices["backend"] == BACKEND_NAMES and choices["detector"] == DETECTOR_NAMES
    assert set(BACKEND_LOADERS) | {"auto"} == set(BACKEND_NAMES)
    for name in DETECTOR_NAMES:  # every name is built, or refused for a missing file only
        try:
            make_detector(name)
        except GlotError as exc:
            assert "Unknown detector" not in exc.message, name
    with pytest.raises(GlotError, match="Unknown detector"):
        make_detector("eyes")


def test_one_error_vocabulary_on_both_sides() -> None:
    """Every code of core.protocol is a server error class and a typed client exception."""
    import inspect

    from glot_blender import server_errors as client
    from glot_blender.core import protocol
    from inference_server import errors

    codes = {v for k, v in vars(protocol).items() if k.isupper() and isinstance(v, int)
             and -32768 <= v <= -32000}
    server_codes = {cls.code for _n, cls in inspect.getmembers(errors, inspect.isclass)
                    if issubclass(cls, errors.GlotError)}
    assert server_codes <= codes and codes - server_codes == {protocol.INTERNAL_ERROR}
    typed = {code: type(client.ServerError.from_reply({"code": code, "message": "m"}))
             for code in codes}
    assert client.ServerError not in typed.values()
    assert len(set(typed.values())) == len(codes)
    busy = client.ServerError.from_reply(errors.ServerBusyError("busy").to_rpc())
    assert isinstance(busy, client.ServerBusyError) and busy.message == "busy"
    odd = client.ServerError.from_reply({"code": -1, "message": "x", "data": {"a": 1}})
    assert type(odd) is client.ServerError and (odd.code, odd.data) == (-1, {"a": 1})
    assert type(client.ServerError.from_reply("not an object")) is client.InternalError


def test_crash_message_names_the_log_not_the_python(tmp_path: Path) -> None:
    """A crash reported by the client carries its log's path and tail: the sentence uses them
    (it once said 'Full log: .../bin/python')."""
    from glot_blender.server_errors import ServerCrashed
    from glot_blender.session import crash_message

    log = tmp_path / "logs" / "server.log"
    crash = ServerCrashed(-9, "loading models\nKilled: out of memory\n", log)
    text = crash_message(crash, None)
    assert "exit code -9" in text and "Restart Server" in text
    assert f"Full log: {log}." in text and "Last log line: Killed: out of memory" in text
    assert "python" not in text.lower()
    assert f"Full log: {log}." in crash_message(ServerCrashed(1, "", None), None, str(log))
