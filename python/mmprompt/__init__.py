"""mmprompt: images and audio to JSON-LD prompt fragments with spatial and temporal anchors.

The same library as the ``mmprompt`` command line, in process:

- :func:`extract` gives the JSON-LD document ``mmprompt extract`` writes, for a path, the
  bytes of a file, a numpy image (OpenCV's BGR with ``bgr=True``) or a numpy audio array
  with its ``sample_rate``;
- :class:`Analyzer` takes audio in chunks and gives each segment the moment it closes, as
  ``mmprompt live`` does;
- :func:`prompt` gives the request ``mmprompt prompt`` (a dry run) prints.

Options are the command line's flags in snake case (``--max-regions 10`` is
``max_regions=10``), with the same defaults and the same checks. One name differs:
``sample_rate`` is the rate of the samples you pass, as in librosa, so the flag
``--sample-rate`` (the rate audio is analysed at) is ``analysis_sample_rate`` here.

Failures raise :class:`MmpromptError` with the ``code`` and message of the command line's
error line. The GIL is released while the Rust code works.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Dict, List, Optional, Sequence, Union

from ._mmprompt import MmpromptError, __version__
from . import _mmprompt

__all__ = ["extract", "prompt", "Analyzer", "MmpromptError", "context", "schema", "__version__"]


def _fail(message: str, code: str = "usage", path: Optional[str] = None) -> MmpromptError:
    e = MmpromptError(message)
    e.code = code
    e.path = path
    return e


def _options_json(options: Dict[str, Any]) -> str:
    options = dict(options)
    if "sample_rate" in options:
        raise TypeError(
            "sample_rate is the rate of an audio array; the analysis rate (the CLI's "
            "--sample-rate) is analysis_sample_rate"
        )
    if "analysis_sample_rate" in options:
        options["sample_rate"] = options.pop("analysis_sample_rate")
    try:
        return json.dumps(options)
    except (TypeError, ValueError) as e:
        raise _fail(f"options: {e}") from None


def _array_info(source: Any):
    """(dtype name, shape, contiguous bytes) of a numpy array, or None for other objects."""
    shape = getattr(source, "shape", None)
    dtype = getattr(source, "dtype", None)
    if shape is None or dtype is None or not hasattr(source, "tobytes"):
        return None
    return str(dtype), tuple(shape)


def extract(
    source: Union[str, os.PathLike, bytes, Any],
    *,
    sample_rate: Optional[int] = None,
    bgr: bool = False,
    name: Optional[str] = None,
    **options: Any,
) -> Dict[str, Any]:
    """The JSON-LD document of one image or recording, as ``mmprompt extract`` writes it.

    ``source`` is a path (str or os.PathLike), the bytes of a file (PNG, JPEG, WAV, FLAC,
    ...), a numpy ``uint8`` image (H×W gray, H×W×3 RGB or H×W×4 RGBA; BGR/BGRA with
    ``bgr=True``), or a numpy ``float32``/``int16`` audio array (N samples, or N×C
    channels-last) with its ``sample_rate``. ``name`` is how the document names an array
    or bytes (its ``contentUrl``; default ``array`` or ``bytes``).

    Raises :class:`MmpromptError` for an input or option the command line would refuse.
    """
    opts = _options_json(options)
    if sample_rate is not None and isinstance(source, (str, os.PathLike, bytes, bytearray)):
        raise TypeError(
            "sample_rate is the rate of an audio array; a file declares its own, and the "
            "analysis rate (the CLI's --sample-rate) is analysis_sample_rate"
        )
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        return _mmprompt.extract_path(path, name or path, opts)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _mmprompt.extract_encoded(bytes(source), name or "bytes", opts)
    info = _array_info(source)
    if info is None:
        raise TypeError(
            f"source must be a path, bytes or a numpy array, not {type(source).__name__}"
        )
    dtype, shape = info
    if sample_rate is not None:
        if dtype not in ("float32", "int16"):
            raise _fail(f"audio arrays must be float32 or int16, not {dtype}")
        if len(shape) == 1:
            channels = 1
        elif len(shape) == 2:
            channels = shape[1]
        else:
            raise _fail(f"an audio array is N or N×channels, not {shape}")
        if bgr:
            raise TypeError("bgr applies to images, not to audio arrays")
        return _mmprompt.extract_audio(
            source.tobytes(order="C"), "f32" if dtype == "float32" else "i16",
            int(channels), int(sample_rate), name or "array", opts,
        )
    if dtype != "uint8":
        raise _fail(
            f"image arrays must be uint8, not {dtype} (audio arrays need sample_rate=)"
        )
    if len(shape) == 2:
        height, width, channels = shape[0], shape[1], 1
    elif len(shape) == 3 and shape[2] in (1, 3, 4):
        height, width, channels = shape
    else:
        raise _fail(f"an image array is H×W, H×W×3 or H×W×4, not {shape}")
    return _mmprompt.extract_image(
        source.tobytes(order="C"), int(height), int(width), int(channels), bool(bgr),
        name or "array", opts,
    )


def prompt(
    inputs: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
    *,
    full_body: bool = False,
    extract_options: Optional[Dict[str, Any]] = None,
    **options: Any,
) -> Dict[str, Any]:
    """The request ``mmprompt prompt INPUTS`` prints (a dry run: nothing is sent).

    ``inputs`` are media files, ``.jsonld`` documents or folders, as on the command line.
    ``options`` are the prompt's flags in snake case (``provider="openai"``,
    ``model=...``, ``max_prompt_tokens=800``, ``attach="image"``); ``extract_options``
    are :func:`extract`'s, for media extracted on the fly. Keys are never shown.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = [os.fsdecode(os.fspath(p)) for p in inputs]
    return _mmprompt.prompt(
        paths, json.dumps(options), _options_json(extract_options or {}), bool(full_body)
    )


class Analyzer:
    """Audio pushed in chunks; each segment comes back the moment it closes.

    ``Analyzer(sample_rate, channels=1, **options)`` analyses samples at ``sample_rate``
    Hz exactly as ``mmprompt live`` analyses a microphone: :meth:`push` returns the
    segments a chunk closed, :meth:`finish` the last ones, each a JSON-LD Annotation as
    ``live`` writes on one line. How the audio is cut into chunks does not change them.
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int = 1,
        *,
        name: str = "python",
        session: Optional[str] = None,
        **options: Any,
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self._stream = _mmprompt.Stream(
            self.sample_rate, self.channels, name, session or uuid.uuid4().hex,
            _options_json(options),
        )

    def push(self, chunk: Any) -> List[Dict[str, Any]]:
        """Analyses one chunk (float32 or int16; N or N×channels); returns closed segments."""
        info = _array_info(chunk)
        if info is None:
            raise TypeError(f"chunk must be a numpy array, not {type(chunk).__name__}")
        dtype, shape = info
        if dtype not in ("float32", "int16"):
            raise _fail(f"audio chunks must be float32 or int16, not {dtype}")
        width = 1 if len(shape) == 1 else shape[1]
        if len(shape) > 2 or width != self.channels:
            raise _fail(
                f"a chunk is N×{self.channels} samples for this analyzer, not {shape}"
            )
        return self._stream.push(chunk.tobytes(order="C"), "f32" if dtype == "float32" else "i16")

    def finish(self) -> List[Dict[str, Any]]:
        """Ends the audio: closes the open segment and returns the last segments."""
        return self._stream.finish()


def context() -> Dict[str, Any]:
    """The JSON-LD context of the documents."""
    return json.loads(_mmprompt.resources()[0])


def schema() -> Dict[str, Any]:
    """The JSON Schema of the documents."""
    return json.loads(_mmprompt.resources()[1])
