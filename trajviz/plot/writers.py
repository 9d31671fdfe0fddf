"""Frame writers: GIF (Pillow), MP4 (ffmpeg from ``imageio-ffmpeg``), PNG, a folder of frames.

A writer consumes an iterable of ``(H, W, 3)`` uint8 frames and writes them to the path it
is given: `trajviz.save` gives it a temporary file (or an empty temporary folder) and
renames that onto the target only when the writer returns, so a writer never cleans up
after a failure itself. Writers register themselves by name (`register`); `writer_for`
picks one from a path's extension and names the supported ones when it cannot.

GIF frames share one palette, built once from sample frames, and are mapped to it through
a lookup table filled lazily, colour by colour: per-frame quantisation would dominate the
time of rendering an animation. Pixels that did not change are written as transparent.
"""

from __future__ import annotations

import logging
import os
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from PIL import Image

from ..errors import UsageError

if TYPE_CHECKING:
    from ._blit import BlittedFigure

log = logging.getLogger(__name__)


class FrameWriter(ABC):
    """Writes a sequence of RGB frames to one output.

    Subclasses set ``name``, ``extensions`` (``""`` means a folder), ``description`` and,
    if they need an optional encoder, override `available` and set ``install_hint``.
    ``single_frame`` writers only want the last frame. ``needs_figure`` writers (the HTML
    page) are given the `RunFigure` itself, through `write_figure`, instead of frames.
    """

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    description: ClassVar[str]
    install_hint: ClassVar[str] = ""
    single_frame: ClassVar[bool] = False
    needs_figure: ClassVar[bool] = False

    @classmethod
    def available(cls) -> bool:
        return True

    @abstractmethod
    def write(self, path: Path, frames: Iterable[np.ndarray], *, fps: float, n_frames: int,
              sample: np.ndarray | None = None) -> None:
        """Writes ``frames`` (each valid only until the next is drawn) to ``path``.

        Args:
            path: the output file, or the (existing, empty) output folder.
            frames: ``(H, W, 3)`` uint8 arrays, ``n_frames`` of them.
            fps: frames per second.
            n_frames: how many frames ``frames`` yields.
            sample: representative frames stacked vertically (for building a palette).
        """

    def write_figure(self, path: Path, figure: BlittedFigure, steps: np.ndarray, *,
                     fps: float) -> None:
        """Writes ``figure`` itself, to play ``steps`` at ``fps`` (``needs_figure`` writers)."""
        raise NotImplementedError(f"the {self.name} writer takes frames, not a figure")


WRITERS: dict[str, type[FrameWriter]] = {}


def register(cls: type[FrameWriter]) -> type[FrameWriter]:
    """Class decorator: makes a writer available by its ``name`` and extensions."""
    WRITERS[cls.name] = cls
    return cls


def supported() -> str:
    """One line naming every registered format, for messages and help."""
    parts = []
    for cls in WRITERS.values():
        ext = ", ".join(e if e else "a folder (no extension)" for e in cls.extensions)
        parts.append(f"{ext} ({cls.description})")
    return "; ".join(parts)


def writer_for(path: str | os.PathLike[str], writer: str | FrameWriter | None = None
               ) -> FrameWriter:
    """The writer for ``path``: by name or instance if given, else by the extension."""
    if isinstance(writer, FrameWriter):
        return writer
    if writer is not None:
        try:
            cls = WRITERS[writer]
        except KeyError:
            raise UsageError(f"unknown writer {writer!r}; valid writers: "
                             f"{', '.join(WRITERS)}") from None
    else:  # by the name alone: an existing folder called a.gif is not a frames folder
        ext = Path(path).suffix.lower()
        matches = [c for c in WRITERS.values() if ext in c.extensions]
        if not matches:
            raise UsageError(f"cannot write {str(path)!r}: unknown extension {ext!r}; "
                             f"supported: {supported()}")
        cls = matches[0]
    if not cls.available():
        raise UsageError(f"the {cls.name} writer needs an encoder that is not installed: "
                         f"{cls.install_hint}")
    return cls()


class Palette:
    """A fixed palette of at most 256 colours and a lazily filled RGB -> index table."""

    def __init__(self, sample: np.ndarray, colors: int = 255) -> None:
        image = Image.fromarray(np.ascontiguousarray(sample))
        quantized = image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT,
                                   dither=Image.Dither.NONE)
        n = len(quantized.getcolors(colors) or []) or colors
        self.rgb = np.array(quantized.getpalette()[:3 * n], dtype=np.int32).reshape(-1, 3)
        self.flat = [int(v) for v in self.rgb.ravel()]
        self._table = np.full(1 << 24, -1, dtype=np.int16)
        self._twice = 2.0 * self.rgb.T  # for `_nearest`, as float64 (exact for these ints)
        self._norms = (self.rgb.astype(np.float64) ** 2).sum(1)

    def index(self, frame: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 -> ``(H, W)`` uint8 palette indices (nearest colour)."""
        return FrameIndexer(self)(frame)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Colour keys ``r | g << 8 | b << 16`` -> uint8 indices of the nearest entries."""
        idx = self._table[keys]
        missing = idx < 0
        if missing.any():
            new = np.unique(keys[missing]).astype(np.int64)
            for lo in range(0, len(new), 4096):
                self._table[new[lo:lo + 4096]] = self._nearest(new[lo:lo + 4096])
            idx = self._table[keys]
        return idx.astype(np.uint8)

    def _nearest(self, keys: np.ndarray) -> np.ndarray:
        """The index of the nearest entry (squared RGB distance; the first of equals) for
        each colour key: ``|c - p|^2 = |c|^2 + |p|^2 - 2 c.p``, and ``|c|^2`` is the same for
        every entry, so the argmin of ``|p|^2 - 2 c.p``, one matrix product. Every term is
        an integer below 2**18, so float64 computes it exactly: the same index, ties
        included, as the integer distances give."""
        rgb = np.stack([keys & 255, (keys >> 8) & 255, keys >> 16], axis=1).astype(np.float64)
        return (self._norms - rgb @ self._twice).argmin(axis=1)


class FrameIndexer:
    """Palette indices of an animation's frames, one after another: only the pixels whose
    colour differs from the previous frame's (in an animation, a small share) are looked
    up."""

    def __init__(self, palette: Palette) -> None:
        self.palette = palette
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # keys and indices

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 -> ``(H, W)`` uint8 palette indices."""
        keys = color_keys(frame)
        if self._last is None or self._last[0].shape != keys.shape:
            index = self.palette.lookup(keys)
        else:
            last_keys, last_index = self._last
            changed = keys != last_keys
            index = last_index.copy()
            index[changed] = self.palette.lookup(keys[changed])
        self._last = keys, index
        return index


def color_keys(frame: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(H, W)`` keys ``r | g << 8 | b << 16``. The RGB view of a
    canvas's RGBA rows (pixel stride 4) is read as one 32-bit word a pixel."""
    h, w, _ = frame.shape
    if frame.strides == (4 * w, 4, 1):
        rgba = np.lib.stride_tricks.as_strided(frame, (h, w, 4), (4 * w, 4, 1))
        return rgba.view("<u4")[..., 0] & np.uint32(0xFFFFFF)
    rgb = frame.astype(np.uint32)
    return rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)


@register
class GifWriter(FrameWriter):
    """Animated GIF through Pillow, one shared palette, looping, the last frame held."""

    name = "gif"
    extensions = (".gif",)
    description = "animated GIF via Pillow"

    def __init__(self, hold: float = 1.5) -> None:
        self.hold = hold

    def write(self, path: Path, frames: Iterable[np.ndarray], *, fps: float, n_frames: int,
              sample: np.ndarray | None = None) -> None:
        frames = iter(frames)
        first = np.array(next(frames))
        palette = Palette(sample if sample is not None else first)
        indexer = FrameIndexer(palette)
        first_index = indexer(first)

        def images() -> Iterator[Image.Image]:
            for frame in frames:
                yield self._image(palette, indexer(frame))

        duration = [round(1000 / fps)] * n_frames
        duration[-1] += round(1000 * self.hold)
        # optimize: Pillow encodes each frame's unchanged pixels as transparent (an index
        # the 255-colour palette leaves free), which compresses to almost nothing
        self._image(palette, first_index).save(
            path, format="GIF", save_all=True, append_images=images(), loop=0,
            duration=duration if n_frames > 1 else duration[0], optimize=True, disposal=1)

    @staticmethod
    def _image(palette: Palette, indices: np.ndarray) -> Image.Image:
        image = Image.fromarray(indices, mode="P")
        image.putpalette(palette.flat)
        return image


def ffmpeg_exe() -> str | None:
    """The ffmpeg binary shipped by the ``imageio-ffmpeg`` wheel, if installed."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as e:
        log.debug("no ffmpeg: %s", e)
        return None


@register
class Mp4Writer(FrameWriter):
    """H.264 MP4 through the ``imageio-ffmpeg`` wheel's ffmpeg, frames piped raw."""

    name = "mp4"
    extensions = (".mp4",)
    description = "H.264 video via ffmpeg from imageio-ffmpeg"
    install_hint = "pip install imageio-ffmpeg"

    def __init__(self, crf: int = 20) -> None:
        self.crf = crf

    @classmethod
    def available(cls) -> bool:
        return ffmpeg_exe() is not None

    def write(self, path: Path, frames: Iterable[np.ndarray], *, fps: float, n_frames: int,
              sample: np.ndarray | None = None) -> None:
        frames = iter(frames)
        first = np.ascontiguousarray(next(frames))
        h, w = first.shape[:2]
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo",
               "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-",
               "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264",
               "-pix_fmt", "yuv420p", "-crf", str(self.crf), "-movflags", "+faststart",
               "-f", "mp4", str(path)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            proc.stdin.write(first.tobytes())
            for frame in frames:
                proc.stdin.write(np.ascontiguousarray(frame).tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {path}: {err.strip()}")


@register
class PngWriter(FrameWriter):
    """The last frame as one PNG image (the run's final state as a static figure)."""

    name = "png"
    extensions = (".png",)
    description = "the final frame as a static image"
    single_frame = True

    def write(self, path: Path, frames: Iterable[np.ndarray], *, fps: float, n_frames: int,
              sample: np.ndarray | None = None) -> None:
        last = None
        for frame in frames:
            last = frame
        if last is None:
            raise UsageError("no frame to write")
        Image.fromarray(np.ascontiguousarray(last)).save(path, format="PNG")


@register
class FramesWriter(FrameWriter):
    """A folder of numbered PNG frames: ``frame_00000.png``, ``frame_00001.png``, ..."""

    name = "frames"
    extensions = ("",)
    description = "numbered PNG frames"

    def write(self, path: Path, frames: Iterable[np.ndarray], *, fps: float, n_frames: int,
              sample: np.ndarray | None = None) -> None:
        digits = max(5, len(str(n_frames)))
        for i, frame in enumerate(frames):
            Image.fromarray(np.ascontiguousarray(frame)).save(
                path / f"frame_{i:0{digits}d}.png", format="PNG", compress_level=3)
