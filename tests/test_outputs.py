"""The output layer (`mpvss_core.io.outputs`) and the CLI's destinations: each bad destination is refused
before any model work, no output replaces or lands in an input, files get the umask's mode, no temporary
file is left; and the notes for ignored options and skipped files, with sizes as WxH."""

from __future__ import annotations

import json
import os
import stat
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mpvss_cli import main
from mpvss_core.data.readers import read_frames_clip
from mpvss_core.errors import InputError
from mpvss_core.evaluation.evaluate import _NO_EXACT_FLOW, _one_dis_fallback_note
from mpvss_core.evaluation.store import EvalResult, ResultStore
from mpvss_core.frame_result import check_frame, check_frame_size
from mpvss_core.io import (
    atomic_file,
    atomic_path,
    check_dir_dest,
    check_distinct,
    check_file_dest,
    read_image_rgb,
    read_label_png,
    write_label_png,
    write_video,
)
from mpvss_core.io.outputs import dir_mode, file_mode

LONG = "a" * 256  # one byte over NAME_MAX


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "cache" / "results"))


@pytest.fixture
def no_model(monkeypatch):
    """Any model resolution fails loudly: a refusal must come before it."""

    def boom(*args, **kwargs):
        raise AssertionError("model work started before the destinations were checked")

    monkeypatch.setattr("mpvss_core.spec.resolve_model", boom)


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, [np.full((32, 48, 3), 40 * i, np.uint8) for i in range(4)], fps=5)
    return path


@pytest.fixture
def frames_dir(tmp_path):
    root = tmp_path / "clip"
    (root / "frames").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((32, 48, 3), 40 * i, np.uint8)).save(root / "frames" / f"{i:03d}.png")
    return root


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


def _fails(capsys, argv, message):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("mpvss: error: ") and "Traceback" not in err
    assert message in err, err
    return err


# --- the checks ---------------------------------------------------------------------------------------


def test_file_destination_refusals(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = [
        (tmp_path / "folder", "is a folder; name a file"),
        (tmp_path / f"{LONG}.json", "is 261 bytes; a file or folder name can be at most 255 bytes"),
        (tmp_path / LONG / "out.json", "is 256 bytes"),
        (tmp_path / "afile" / "out.json", f"'{tmp_path / 'afile'}' is a file, not a folder"),
        (f"{tmp_path}/new/", "ends in a path separator"),
    ]
    for path, message in cases:
        with pytest.raises(InputError, match="--json") as exc:
            check_file_dest(path, "--json")
        assert message in str(exc.value)
    assert check_file_dest(tmp_path / "missing" / "deeper" / "out.json", "--json").name == "out.json"
    assert not (tmp_path / "missing").exists()  # folders are created when written, not when checked
    assert _leftovers(tmp_path) == []  # the write probe is removed


def test_folder_destination_refusals(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="--labels-dir '.*afile' is a file; name a folder"):
        check_dir_dest(tmp_path / "afile", "--labels-dir")
    with pytest.raises(InputError, match="is 256 bytes"):
        check_dir_dest(tmp_path / LONG, "--tables")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_dir_dest(tmp_path / "afile" / "sub", "--tables")
    assert check_dir_dest(tmp_path / "new" / "png", "--labels-dir") == tmp_path / "new" / "png"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_folder_nothing_can_be_created_in_is_refused(tmp_path):
    with pytest.raises(InputError, match="--json '/proc/nope/out.json': no file can be created in '/proc'"):
        check_file_dest("/proc/nope/out.json", "--json")
    with pytest.raises(InputError, match="no file can be created in '/proc'"):
        check_dir_dest("/proc/nope", "--labels-dir")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(InputError, match="no file can be created in"):
            check_file_dest(ro / "out.json", "--json")
        with pytest.raises(InputError, match="no file can be created in"):
            check_dir_dest(ro / "tables", "--tables")
    finally:
        ro.chmod(0o700)


def test_an_output_naming_an_input_is_refused(tmp_path, video, frames_dir):
    link = tmp_path / "link.mp4"
    link.symlink_to(video)
    hard = tmp_path / "hard.mp4"
    os.link(video, hard)
    for dest in (video, tmp_path / "." / "clip.mp4", link, hard):
        with pytest.raises(InputError, match="is an input of this command; .* would replace it"):
            check_file_dest(dest, "--out", inputs=[video])
    with pytest.raises(InputError, match="inside the source folder"):
        check_file_dest(frames_dir / "frames" / "overlay.mp4", "--out", inputs=[frames_dir])
    for dest in (frames_dir, frames_dir / "frames", frames_dir / "labels"):
        with pytest.raises(InputError, match="is an input|inside the source folder"):
            check_dir_dest(dest, "--labels-dir", inputs=[frames_dir])
    # beside the input is fine; inputs that are no path (presets, synthetic specs) are skipped
    check_file_dest(tmp_path / "overlay.mp4", "--out", inputs=[video, None, "tiny"])
    check_dir_dest(tmp_path / "png", "--labels-dir", inputs=[frames_dir])


def test_two_outputs_of_one_name_are_refused(tmp_path):
    with pytest.raises(InputError, match="--labels-dir '.*o.mp4' is also --out"):
        check_distinct({"--out": tmp_path / "o.mp4", "--labels-dir": tmp_path / "." / "o.mp4"})
    check_distinct({"--out": tmp_path / "o.mp4", "--labels-dir": None, "--x": tmp_path / "png"})


# --- atomic writes ------------------------------------------------------------------------------------


def test_atomic_writes_get_the_umask_mode_and_leave_no_temp_file(tmp_path, umask_022):
    assert (file_mode(), dir_mode()) == (0o644, 0o755)
    with atomic_file(tmp_path / "sub" / "a.json") as fh:
        json.dump({"a": 1}, fh)
    assert json.loads((tmp_path / "sub" / "a.json").read_text()) == {"a": 1}
    video = write_video(tmp_path / "v.mp4", [np.zeros((16, 16, 3), np.uint8)] * 2)
    label = write_label_png(tmp_path / "l.png", np.zeros((4, 4), np.uint8))
    for path in (tmp_path / "sub" / "a.json", video, label):
        assert _mode(path) == 0o644, path
    os.umask(0o027)
    with atomic_path(tmp_path / "b.csv") as tmp:
        tmp.write_text("x\n")
    assert _mode(tmp_path / "b.csv") == 0o640
    assert _leftovers(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as fh:
        fh.write("half")
        raise RuntimeError("crash while writing")
    with pytest.raises(ValueError, match="at least one frame"):
        write_video(tmp_path / "v.mp4", [])
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_an_os_error_while_writing_is_an_input_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    bad = tmp_path / "afile" / "out.json"
    with (
        pytest.raises(InputError, match="could not write --json '.*out.json' \\("),
        atomic_file(bad, what="--json") as fh,
    ):
        fh.write("{}")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="could not write"), atomic_path(tmp_path / "folder") as tmp:
        tmp.write_text("x")  # os.replace onto a folder fails
    assert _leftovers(tmp_path) == []


def test_a_long_name_still_gets_a_temp_file_the_file_system_accepts(tmp_path):
    name = "b" * 250 + ".json"  # 255 bytes: a '.NAME.XXXXXXXX' temp name of it would not fit
    with atomic_file(tmp_path / name) as fh:
        fh.write("{}")
    assert (tmp_path / name).read_text() == "{}" and _leftovers(tmp_path) == []


def test_a_stored_result_folder_gets_the_umask_mode(tmp_path, umask_022):
    import pandas as pd

    empty = pd.DataFrame({"a": [1]})
    result = EvalResult({"miou": 1.0}, empty, empty, empty, np.zeros((2, 2), np.int64))
    folder = ResultStore(tmp_path / "store").save("k" * 24, result)
    assert _mode(folder) == 0o755 and _mode(folder / "summary.json") == 0o644


# --- the CLI: every bad destination before the model --------------------------------------------------


def test_infer_refuses_bad_destinations_before_the_model(tmp_path, video, frames_dir, no_model, capsys):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.mp4").mkdir()
    base = ["--model", "tiny", "--quiet"]
    cases = [
        ([str(video), "--out", str(video)], "--out '" + str(video) + "' is an input of this command"),
        ([str(video), "--out", str(tmp_path / "adir.mp4")], "is a folder; name a file"),
        ([str(video), "--out", str(tmp_path / "afile" / "o.mp4")], "is a file, not a folder"),
        ([str(video), "--out", str(tmp_path / f"{LONG}.mp4")], "at most 255 bytes"),
        (
            [str(video), "--out", str(tmp_path / "o.mp4"), "--labels-dir", str(tmp_path / "afile")],
            "is a file",
        ),
        (
            [str(video), "--out", str(tmp_path / "o.mp4"), "--labels-dir", str(tmp_path / "o.mp4")],
            "--labels-dir '" + str(tmp_path / "o.mp4") + "' is also --out",
        ),
        ([str(frames_dir), "--out", str(tmp_path / "o.mp4"), "--labels-dir", str(frames_dir)], "is an input"),
        (
            [str(frames_dir), "--out", str(tmp_path / "o.mp4"), "--labels-dir", str(frames_dir / "frames")],
            "inside the source folder",
        ),
    ]
    if sys.platform.startswith("linux"):
        cases.append(([str(video), "--out", "/proc/x/o.mp4"], "no file can be created in '/proc'"))
    for args, message in cases:
        _fails(capsys, ["infer", *args, *base], message)
    assert (
        video.stat().st_size > 0 and sorted(p.name for p in (frames_dir / "frames").iterdir())[0] == "000.png"
    )
    assert not (tmp_path / "o.mp4").exists() and _leftovers(tmp_path) == []


def test_eval_refuses_bad_destinations_before_the_model(tmp_path, video, frames_dir, no_model, capsys):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    base = ["eval", "--model", "tiny", "--method", "copy", "--quiet", "--data"]
    cases = [
        (
            [str(video), "--json", str(tmp_path / "adir")],
            "--json '" + str(tmp_path / "adir") + "' is a folder",
        ),
        ([str(video), "--json", str(video)], "--json '" + str(video) + "' is an input"),
        ([str(video), "--json", str(tmp_path / f"{LONG}.json")], "at most 255 bytes"),
        (
            [str(video), "--tables", str(tmp_path / "afile")],
            "--tables '" + str(tmp_path / "afile") + "' is a file",
        ),
        ([str(video), "--results", str(video)], "--results '" + str(video) + "' is a file; name a folder"),
        ([str(frames_dir), "--tables", str(frames_dir / "t")], "inside the source folder"),
        ([str(frames_dir), "--json", str(frames_dir / "o.json")], "inside the source folder"),
        ([str(video), "--json", str(tmp_path / "o"), "--tables", str(tmp_path / "o")], "is also --json"),
    ]
    if sys.platform.startswith("linux"):
        cases.append(([str(video), "--json", "/proc/x/o.json"], "no file can be created in '/proc'"))
    for args, message in cases:
        _fails(capsys, [*base, *args], message)
    assert _leftovers(tmp_path) == []  # `--json FOLDER` once left its `.NAME.XXXXXXXX` beside it


def test_eval_refuses_an_unusable_default_results_store(tmp_path, video, no_model, monkeypatch, capsys):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "afile" / "results"))
    _fails(
        capsys,
        ["eval", "--model", "tiny", "--method", "copy", "--data", str(video)],
        "the results store ($MPVSS_RESULTS)",
    )


def test_reproduce_refuses_bad_destinations_before_the_model(tmp_path, frames_dir, no_model, capsys):
    (tmp_path / "afile").write_text("x")
    base = ["reproduce", "table_1", "--model", "tiny"]
    _fails(
        capsys, [*base, "--out", str(tmp_path / "afile")], "--out '" + str(tmp_path / "afile") + "' is a file"
    )
    _fails(
        capsys, [*base, "--data", str(frames_dir), "--out", str(frames_dir / "r")], "inside the source folder"
    )
    _fails(capsys, [*base, "--out", str(tmp_path / LONG)], "at most 255 bytes")


def test_demo_and_preview_destinations(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    _fails(capsys, ["demo", "--out", str(tmp_path / "afile")], "is a file; name a folder")
    _fails(capsys, ["data", "preview", "--seed", "1", "--out", str(tmp_path / "p.nope")], "use an image file")
    _fails(capsys, ["data", "preview", "--seed", "1", "--out", str(tmp_path)], "is a folder; name a file")


def test_cli_outputs_get_the_umask_mode_and_leave_no_temp_file(tmp_path, video, umask_022, capsys):
    out, labels, js, tables = tmp_path / "o.mp4", tmp_path / "png", tmp_path / "r" / "o.json", tmp_path / "t"
    argv = ["--model", "tiny", "--threads", "1", "--quiet", "--interval", "2"]
    assert main(["infer", str(video), "--out", str(out), "--labels-dir", str(labels), *argv]) == 0
    assert (
        main(
            [
                "eval",
                "--data",
                str(video),
                "--method",
                "copy",
                "--json",
                str(js),
                "--tables",
                str(tables),
                *argv,
            ]
        )
        == 0
    )
    written = [out, js, *labels.iterdir(), *tables.iterdir()]
    assert len(written) == 2 + 4 + 2
    assert {p.name: _mode(p) for p in written} == {p.name: 0o644 for p in written}
    assert _leftovers(tmp_path) == []


# --- notes for ignored options and skipped files ------------------------------------------------------


def test_jpeg_label_files_are_skipped_with_a_note(frames_dir):
    (frames_dir / "labels").mkdir()
    for i in range(2):
        Image.fromarray(np.zeros((32, 48), np.uint8)).save(frames_dir / "labels" / f"{i:03d}.jpg")
    write_label_png(frames_dir / "labels" / "003.png", np.zeros((32, 48), np.uint8))
    clip = read_frames_clip(frames_dir)
    assert clip.labelled.tolist() == [False, False, False, True]
    assert clip.notes == [
        "skipped 2 .jpg file(s) in 'labels/' (e.g. '000.jpg'): label maps must be lossless "
        "(.bmp, .png, .tif, .tiff); save them as PNG"
    ]


def test_the_dis_fallback_of_exact_tc_flow_is_one_note():
    notes = ["a: resolution cap", _NO_EXACT_FLOW + "a", _NO_EXACT_FLOW + "b"]
    assert _one_dis_fallback_note(notes) == [
        "a: resolution cap",
        "--tc-flow exact: 2 clip(s) have no exact flow (a, b); their TC used DIS flow",
    ]
    assert _one_dis_fallback_note(["x"]) == ["x"]
    many = _one_dis_fallback_note([_NO_EXACT_FLOW + str(i) for i in range(7)])
    assert many == [
        "--tc-flow exact: 7 clip(s) have no exact flow (0, 1, 2, 3, 4 and 2 more); their TC used DIS flow"
    ]


def test_eval_notes_jpeg_labels_exact_tc_flow_and_an_ignored_split(frames_dir, capsys):
    (frames_dir / "labels").mkdir()
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(frames_dir / "labels" / "000.jpg")
    argv = ["eval", "--model", "tiny", "--data", str(frames_dir), "--method", "copy", "--interval", "2"]
    assert main([*argv, "--tc-flow", "exact", "--split", "val", "--threads", "1", "--quiet", "--no-epe"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "note: clip: skipped 1 .jpg file(s) in 'labels/' (e.g. '000.jpg'): label maps must be lossless " \
        "(.bmp, .png, .tif, .tiff); save them as PNG" in printed  # fmt: skip
    assert "note: --tc-flow exact: 1 clip(s) have no exact flow (clip); their TC used DIS flow" in printed
    assert f"note: --split val ignored: {frames_dir} is not a VSPW or Cityscapes root" in printed


def test_a_decompression_bomb_warning_becomes_a_note(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(path)
    write_label_png(tmp_path / "lab.png", np.zeros((40, 30), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1200 pixels: warned, under twice the limit
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read_image_rgb(path, notes).shape == (40, 30, 3)
        assert read_label_png(tmp_path / "lab.png").shape == (40, 30)  # its frame carries the note
    assert [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)] == []
    assert notes == [
        "a 30x40 image (0.0 Mpixel) decoded although it is above Pillow's decompression-bomb warning "
        "size (0.0 Mpixel)"
    ]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # over twice the limit: Pillow refuses
    with pytest.raises(InputError, match="'big.png' is too large to decode"):
        read_image_rgb(path)


# --- one size convention: WxH -------------------------------------------------------------------------


def test_sizes_are_given_as_width_x_height():
    with pytest.raises(InputError, match="frame 0 is 20x10: at least 16x16 is needed"):
        check_frame(np.zeros((10, 20, 3), np.uint8), None, 0)
    with pytest.raises(InputError, match="frame 3 is 40x20 but the clip's first frame is 48x32"):
        check_frame(np.zeros((20, 40, 3), np.uint8), (32, 48), 3)
    with pytest.raises(
        InputError, match="the frames are 2000x4 and would run at 1280x3 after the resolution cap"
    ):
        check_frame_size((3, 1280), source=(4, 2000))


def test_a_wide_video_is_reported_by_its_source_size(tmp_path, capsys):
    wide = tmp_path / "wide.mp4"
    write_video(wide, [np.full((4, 2000, 3), 30 * i, np.uint8) for i in range(3)], fps=5)
    message = (
        "the frames are 2000x4 and would run at 1280x3 after the resolution cap (longer side at most 1280)"
    )
    _fails(
        capsys, ["infer", str(wide), "--model", "tiny", "--out", str(tmp_path / "o.mp4"), "--quiet"], message
    )
    argv = ["eval", "--model", "tiny", "--data", str(wide), "--method", "copy", "--quiet", "--threads", "1"]
    _fails(capsys, argv, message)
