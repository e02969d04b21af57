"""Type stubs of the extension module; use the functions of ``mmprompt`` itself."""

from typing import Any, Dict, List, Optional, Tuple

__version__: str

class MmpromptError(Exception):
    """An input or option mmprompt refused.

    ``str(e)`` is the text of the command line's error line (``PATH: reason``).
    """

    code: str
    """Machine-readable code, as in the CLI's manifest (``unknown_format``, ``too_large``,
    ``truncated``, ``usage`` for a bad option, ...)."""
    path: Optional[str]
    """The input the error names; None for options."""
    document: Dict[str, Any]
    """Only for a stream damaged part-way: the document of what came before the damage."""

def extract_path(path: str, name: str, options_json: str) -> Dict[str, Any]:
    """The document of the file at ``path``, named ``name``."""

def extract_encoded(data: bytes, name: str, options_json: str) -> Dict[str, Any]:
    """The document of an encoded file held in ``data``."""

def extract_image(
    pixels: bytes, height: int, width: int, channels: int, bgr: bool, name: str, options_json: str
) -> Dict[str, Any]:
    """The document of 8-bit pixels, H×W×C in row order."""

def extract_audio(
    samples: bytes, dtype: str, channels: int, sample_rate: int, name: str, options_json: str
) -> Dict[str, Any]:
    """The document of interleaved ``f32`` or ``i16`` samples."""

def prompt(
    inputs: List[str], settings_json: str, options_json: str, full_body: bool
) -> Dict[str, Any]:
    """The dry-run report of ``mmprompt prompt``."""

def resources() -> Tuple[str, str]:
    """The JSON-LD context and the JSON Schema, as text."""

class Stream:
    """A live analysis: interleaved chunks in, closed segments out."""

    def __init__(
        self, sample_rate: int, channels: int, name: str, session: str, options_json: str
    ) -> None: ...
    def push(self, samples: bytes, dtype: str) -> List[Dict[str, Any]]:
        """Analyses one chunk; returns the annotations of the segments it closed."""
    def finish(self) -> List[Dict[str, Any]]:
        """Closes the open segment; returns the last annotations."""
