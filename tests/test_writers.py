"""Writers: GIF / MP4 / PNG / frame folders decode to what was rendered; errors are clear."""

import gc
import warnings

import numpy as np
import pytest
from PIL import Image

import trajviz
from trajviz import RunFigure, UsageError
from trajviz.plot import FrameWriter, save, writer_for
from trajviz.plot.writers import FrameIndexer, Mp4Writer, Palette, ffmpeg_exe

SMALL = dict(size=(4, 3), dpi=50)  # 200 x 150 pixels


@pytest.fixture(scope="module")
def figure():
    run = trajviz.run("rosenbrock", "adam:lr=0.1,momentum:lr=1e-3,sgd:lr=1.5e-3", steps=60,
                      progress=False)
    return RunFigure(run, "rosenbrock", **SMALL)


class CountingWriter(FrameWriter):
    """The null writer: counts frames and remembers their shapes, writes nothing."""

    name, extensions, description = "count", (".count",), "counts frames"

    def write(self, path, frames, *, fps, n_frames, sample=None):
        self.shapes = [f.shape for f in frames]
        self.n_frames, self.fps = n_frames, fps


def decode_gif(path):
    with Image.open(path) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.array(im.convert("RGB")))
        return frames, im.size


def test_null_writer_sees_every_frame(figure, tmp_path):
    writer = CountingWriter()
    save(figure, tmp_path / "x.count", frames=25, fps=12, writer=writer)
    assert len(writer.shapes) == writer.n_frames == 25
    assert set(writer.shapes) == {(150, 200, 3)} and writer.fps == 12


def test_gif_decodes_with_expected_frames_and_size(figure, tmp_path):
    path = save(figure, tmp_path / "a.gif", frames=20)
    frames, size = decode_gif(path)
    assert len(frames) == 20 and size == (200, 150)
    steps = figure.frame_steps(20)
    for i in (0, 9, 19):  # each decoded frame is the rendered frame, up to the palette
        diff = np.abs(frames[i].astype(int) - figure.render(steps[i]))
        assert diff.mean() < 1.5, (i, diff.mean())


def test_animation_keeps_its_frames_and_fps(tmp_path):
    run = trajviz.run("quadratic", "adam:lr=0.1", steps=40, progress=False)
    anim = trajviz.animate(run, "quadratic", frames=9, fps=4, **SMALL)
    path = save(anim, tmp_path / "b.gif")
    with Image.open(path) as im:
        assert im.n_frames == 9 and im.info["duration"] == 250


@pytest.mark.skipif(ffmpeg_exe() is None, reason="imageio-ffmpeg provides no ffmpeg here")
def test_mp4_has_expected_frame_count(figure, tmp_path):
    import imageio_ffmpeg

    path = save(figure, tmp_path / "a.mp4", frames=15, fps=10)
    n, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert n == 15 and seconds == pytest.approx(1.5, abs=0.11)


def test_png_is_the_final_frame(figure, tmp_path):
    path = save(figure, tmp_path / "a.png")
    np.testing.assert_array_equal(np.array(Image.open(path).convert("RGB")),
                                  figure.render(figure.run.steps))


def test_folder_gets_numbered_frames(figure, tmp_path):
    save(figure, tmp_path / "frames", frames=7)
    files = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert files == [f"frame_{i:05d}.png" for i in range(7)]
    last = np.array(Image.open(tmp_path / "frames" / files[-1]).convert("RGB"))
    np.testing.assert_array_equal(last, figure.render(figure.run.steps))


@pytest.fixture(scope="module")
def still():
    return trajviz.plot(trajviz.run("booth", "adam:lr=1", steps=5, progress=False), "booth",
                        **SMALL)


@pytest.mark.parametrize("name, start", [
    ("f.png", b"\x89PNG"), ("f.svg", b"<?xml"), ("F.PDF", b"%PDF"),
], ids=["png", "svg", "pdf"])
def test_static_figure_saves_in_the_format_its_extension_names(still, name, start, tmp_path):
    path = save(still, tmp_path / name)
    assert path == tmp_path / name and path.read_bytes().startswith(start)
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize("name, writer, match", [
    ("f.gif", None, r"only be saved as \.png, \.svg, \.pdf, not .*f\.gif"),
    ("f.jpg", None, r"only be saved as \.png"),
    ("f.png", "png", "writer= is for animations"),
], ids=["gif", "jpg", "writer"])
def test_static_figure_refuses_other_formats(still, name, writer, match, tmp_path):
    with pytest.raises(UsageError, match=match):
        save(still, tmp_path / name, writer=writer)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, match", [
    ("a.avi", r"unknown extension '\.avi'; supported: \.gif .*\.mp4 .*\.png .*folder"),
    ("a.GIFF", "unknown extension '.giff'"),
], ids=["avi", "typo"])
def test_unknown_extension_lists_supported_formats(name, match, tmp_path):
    with pytest.raises(UsageError, match=match):
        writer_for(tmp_path / name)


def test_unknown_writer_name_lists_writers():
    with pytest.raises(UsageError, match="valid writers: gif, mp4, png, frames"):
        writer_for("x.gif", "webp")


def test_missing_encoder_says_what_to_install(monkeypatch):
    monkeypatch.setattr(Mp4Writer, "available", classmethod(lambda cls: False))
    with pytest.raises(UsageError, match="pip install imageio-ffmpeg"):
        writer_for("movie.mp4")


class FailingWriter(CountingWriter):
    """Writes half a file where it is told to, then fails, cleaning up nothing."""

    def write(self, path, frames, *, fps, n_frames, sample=None):
        path.write_bytes(b"half a file")
        raise RuntimeError("encoder crashed")


def test_failed_write_leaves_nothing(figure, tmp_path):
    with pytest.raises(RuntimeError, match="encoder crashed"):
        save(figure, tmp_path / "x.count", writer=FailingWriter())
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_file_it_would_have_replaced(figure, tmp_path):
    (tmp_path / "x.count").write_bytes(b"the old file")
    with pytest.raises(RuntimeError, match="encoder crashed"):
        save(figure, tmp_path / "x.count", writer=FailingWriter())
    assert [p.name for p in tmp_path.iterdir()] == ["x.count"]
    assert (tmp_path / "x.count").read_bytes() == b"the old file"


def deletion_warnings(save_it: bool, tmp_path) -> list[str]:
    """matplotlib's warnings as an animation is deleted, after `save` or without it."""
    run = trajviz.run("quadratic", "adam:lr=0.1", steps=10, progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        anim = trajviz.animate(run, "quadratic", frames=3, **SMALL)
        if save_it:
            save(anim, tmp_path / "a.gif")
        del anim
        gc.collect()
    return [str(w.message) for w in caught if "deleted without rendering" in str(w.message)]


def test_a_saved_animation_is_deleted_without_matplotlibs_warning(tmp_path):
    assert deletion_warnings(True, tmp_path) == []
    assert deletion_warnings(False, tmp_path) != []  # the warning itself still works


def test_palette_maps_its_colours_to_themselves_and_others_to_the_nearest():
    rng = np.random.default_rng(0)
    sample = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    palette = Palette(sample)
    own = palette.rgb.astype(np.uint8)[None]
    np.testing.assert_array_equal(palette.rgb[palette.index(own)[0]], palette.rgb)
    probe = rng.integers(0, 256, size=(1, 5000, 3), dtype=np.uint8)
    dist = ((probe[0, :, None].astype(int) - palette.rgb[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(palette.index(probe)[0], dist.argmin(axis=1))


def test_a_colour_as_near_to_several_entries_takes_the_first():
    sample = np.array([[[0, 0, 0], [2, 0, 0], [0, 2, 0], [200, 200, 200]]], dtype=np.uint8)
    palette = Palette(np.repeat(sample, 4, axis=0))
    probe = np.array([[[1, 0, 0], [1, 1, 0], [0, 1, 0], [101, 100, 100]]], dtype=np.uint8)
    dist = ((probe[0, :, None].astype(int) - palette.rgb[None]) ** 2).sum(-1)
    assert (dist == dist.min(axis=1, keepdims=True)).sum(1).tolist()[:3] == [2, 3, 2]  # ties
    np.testing.assert_array_equal(palette.index(probe)[0], dist.argmin(axis=1))


def test_indexing_only_the_changed_pixels_equals_indexing_all_of_them():
    rng = np.random.default_rng(1)
    palette = Palette(rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8))
    indexer = FrameIndexer(palette)
    frame = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(indexer(frame), palette.index(frame))
    for share in (0.0, 0.01, 0.3, 1.0, 0.0, 0.05):
        frame = frame.copy()
        moved = rng.random(frame.shape) < share  # single channels change too
        frame[moved] = rng.integers(0, 256, size=int(moved.sum()), dtype=np.uint8)
        view = np.concatenate([frame, frame[..., :1]], -1)[..., :3]  # strided, like a canvas
        np.testing.assert_array_equal(indexer(view), palette.index(frame))
