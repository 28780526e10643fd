"""The command line, run as a real subprocess: outputs, JSON Lines, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import photo

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HDCORE_", "HUGGINGFACE", "REPLICATE"))}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "hdcore", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "astronaut.png"
    photo((40, 32)).save(path)
    return path


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("hdcore: error: ") and fragment in first, result.stderr


def test_default_run_uses_the_local_tier_and_writes_beside_the_input(photo_file):
    result = run("upscale", str(photo_file), "--scale", "2", "--no-progress")
    assert result.returncode == 0, result.stderr
    out = photo_file.with_name("astronaut_x2.png")
    assert Image.open(out).size == (80, 64)
    assert "local/" in result.stdout


def test_json_lines_one_object_per_input(photo_file, tmp_path):
    second = tmp_path / "second.jpg"
    photo((30, 20)).save(second, quality=90)
    result = run("upscale", str(photo_file), str(second), "--scale", "3", "--provider", "lanczos", "--json",
                 "--out-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["input"] for r in records] == [str(photo_file), str(second)]
    assert [r["output_size"] for r in records] == [[120, 96], [90, 60]]
    first = records[0]
    assert first["success"] is True and first["provider"] == "lanczos" and first["model"] == "lanczos"
    attempt = first["attempts"][0]
    assert set(attempt) >= {"tier", "provider", "model", "outcome", "reason", "latency_s", "cost_usd", "cost_kind", "output_size"}
    assert Image.open(tmp_path / "out" / "second_x3.png").size == (90, 60)


def test_output_format_and_explicit_path(photo_file, tmp_path):
    target = tmp_path / "big.jpg"
    result = run("upscale", str(photo_file), "-o", str(target), "--provider", "lanczos", "--format", "jpeg", "--quality", "80")
    assert result.returncode == 0, result.stderr
    assert Image.open(target).format == "JPEG"


def test_transparent_image_asked_as_jpeg_is_written_as_png_with_a_warning(tmp_path):
    source = tmp_path / "logo.png"
    logo = photo((20, 20)).convert("RGBA")
    logo.putalpha(Image.linear_gradient("L").resize((20, 20)))  # real transparency, not an opaque alpha
    logo.save(source)
    result = run("upscale", str(source), "--provider", "lanczos", "--format", "jpeg", "--json")
    record = json.loads(result.stdout)
    assert record["output"].endswith("logo_x4.png")
    assert Image.open(record["output"]).mode == "RGBA"
    assert any("PNG" in w for w in record["warnings"])


@pytest.mark.parametrize(
    "content, fragment",
    [(b"", "empty"), (b"hello, I am text", "text"), (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG")],
)
def test_bad_input_exits_2_with_one_line(tmp_path, content, fragment):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    assert_one_line_error(run("upscale", str(bad), "--provider", "lanczos"), 2, fragment)


def test_missing_file_exits_2(tmp_path):
    assert_one_line_error(run("upscale", str(tmp_path / "nope.png")), 2, "not found")


def test_one_bad_file_does_not_stop_the_others(photo_file, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(photo_file.read_bytes()[:200])
    result = run("upscale", str(bad), str(photo_file), "--provider", "lanczos", "--json")
    assert result.returncode == 2
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["success"] for r in records] == [False, True]
    assert "truncated" in records[0]["error"]


def test_every_tier_failing_exits_3_and_names_each_reason(photo_file):
    result = run("upscale", str(photo_file), "--provider", "local", "--no-progress", env={"HDCORE_LOCAL_TIMEOUT": "0.001"})
    assert result.returncode == 3, result.stderr
    assert "every tier failed" in result.stderr
    assert "tier 1 local: timeout: timed out after 0.0 s" in result.stderr


def test_output_pixel_limit_exits_2(photo_file):
    result = run("upscale", str(photo_file), "--provider", "lanczos", env={"HDCORE_MAX_OUTPUT_PIXELS": "1000"})
    assert_one_line_error(result, 2, "over the limit of 1,000 pixels")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--provider", "nope"], "unknown provider 'nope'"),
        (["--quality", "0"], "--quality must be between 1 and 100"),
    ],
)
def test_usage_errors_exit_2(photo_file, args, fragment):
    assert_one_line_error(run("upscale", str(photo_file), *args), 2, fragment)


@pytest.mark.parametrize("args, fragment", [
    (["upscale", "IN", "--jobs", "100000"], "argument --jobs: must be a whole number from 1 to 256, not '100000'"),
    (["upscale", "IN", "--tile", "9" * 400], "local option tile must be a whole number from 0 to 4,096"),
    (["bench", "--sizes", "64,100000"], "--sizes must be a comma list of sides from 8 to 4,096 px, not '64,100000'"),
    (["bench", "--requests", "1000000000"], "argument --requests: must be a whole number from 0 to 100,000"),
])  # fmt: skip
def test_numbers_on_the_command_line_are_range_checked_too(photo_file, args, fragment):
    result = run(*[str(photo_file) if arg == "IN" else arg for arg in args], timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()[-1]) < 300


def test_argparse_usage_errors_exit_2(photo_file):
    result = run("upscale", str(photo_file), "--scale", "9")
    assert result.returncode == 2 and "must be a number from 1.1 to 8, not '9'" in result.stderr


def test_output_flag_takes_one_input(photo_file):
    assert_one_line_error(run("upscale", str(photo_file), str(photo_file), "-o", "x.png"), 2, "-o/--output takes one input")


def test_bad_configuration_exits_2(photo_file):
    assert_one_line_error(run("upscale", str(photo_file), env={"HDCORE_LOCAL_PRESET": "turbo"}), 2, "HDCORE_LOCAL_PRESET")


def test_providers_lists_every_tier_and_never_a_token():
    result = run("providers", env={"HUGGINGFACE_TOKEN": "hf_neverprintme", "REPLICATE_API_TOKEN": "r8_neverprintme"})
    assert result.returncode == 0, result.stderr
    assert "neverprintme" not in result.stdout + result.stderr
    assert "auto chain: hf -> fal -> replicate -> space -> local" in result.stdout
    assert "status:  configured" in result.stdout
    assert "realesrgan-x4plus" in result.stdout and "lanczos" in result.stdout
    as_json = [json.loads(line) for line in run("providers", "--json").stdout.splitlines()]
    hf = next(row for row in as_json if row["name"] == "hf")
    assert (hf["configured"], hf["status"], hf["timeout_s"]) == (False, "not configured (set HUGGINGFACE_TOKEN)", 10.0)
    local = next(row for row in as_json if row["name"] == "local")
    assert local["configured"] is True and local["timeout_s"] is None
    assert {m["name"] for m in local["models"]} >= {"realesrgan-x4plus", "waifu2x-photo"}


def test_bench_prints_a_table():
    result = run("bench", "--models", "waifu2x-photo", "--sizes", "32")
    assert result.returncode == 0, result.stderr
    assert "waifu2x-photo" in result.stdout and "kpx/s" in result.stdout


def test_bench_runtimes_compares_ncnn_and_openvino_at_each_precision():
    from hdcore.providers.local.openvino_runtime import selectable_precisions

    result = run("bench", "--runtimes", "--models", "waifu2x-photo", "--sizes", "24", "--tile", "0,16")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("waifu2x-photo")]
    variants = [("ncnn", "f32")] + [("openvino", precision) for precision in selectable_precisions()]
    assert [(row[2], row[3], row[4]) for row in rows] == [(runtime, precision, tile) for runtime, precision in variants
                                                          for tile in ("256", "16")]
    assert rows[0][-2:] == ["inf", "dB"]  # the reference itself
    assert all(float(row[-2]) >= 45 for row in rows[1:])
    assert_one_line_error(run("bench", "--tile", "0,16"), 2, "--tile takes one size")
    assert_one_line_error(run("bench", "--sizes", "big"), 2, "--sizes must be a comma list of sides from 8")


def test_probe_calls_each_configured_tier_and_skips_the_rest():
    result = run("providers", "--probe", "--json")
    assert result.returncode == 0, result.stderr
    probes = {row["name"]: row["probe"] for row in map(json.loads, result.stdout.splitlines())}
    assert probes["hf"]["outcome"] == "skipped" and probes["replicate"]["outcome"] == "skipped"
    assert probes["local"]["outcome"] == "ok" and probes["lanczos"]["outcome"] == "ok"
    assert 0 < probes["lanczos"]["latency_s"] < 5


def test_probe_reaches_a_configured_cloud_tier_and_reports_a_failing_one():
    from tests.servers.hf_router import TOKEN, hf_router

    with hf_router() as server:
        env = {
            "HUGGINGFACE_TOKEN": TOKEN,
            "HDCORE_HF_BASE_URL": server.url,
            "HDCORE_HF_MODEL_X2": "nightmareai/real-esrgan",
            "HDCORE_SPACE": "http://127.0.0.1:9",  # nothing listens there: a fast, clear failure
        }
        result = run("providers", "--probe", env=env, timeout=120)
        requests_seen = len(server.state.requests)
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    sections = result.stdout.split("\n\n")
    hf = next(s for s in sections if s.startswith("hf "))
    space = next(s for s in sections if s.startswith("space "))
    assert "probe:   ok in " in hf
    assert "probe:   error in " in space
    assert requests_seen == 1


# --- batches: folders, globs, resume, zip ----------------------------------------------------------------


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = tmp_path / "shots"
    (folder / "sub").mkdir(parents=True)
    photo((40, 32)).save(folder / "a.png")
    photo((30, 20)).save(folder / "b.jpg", quality=90)
    (folder / "broken.png").write_bytes((folder / "a.png").read_bytes()[:150])
    photo((20, 16)).save(folder / "sub" / "c.png")
    return folder


def test_a_folder_with_one_broken_file_writes_the_others_and_exits_2(shots):
    result = run("upscale", str(shots), "--scale", "2", "--provider", "lanczos", "--json")
    assert result.returncode == 2, result.stderr
    records = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(records) == {"a.png", "b.jpg", "broken.png"}  # not the subfolder without --recursive
    assert records["broken.png"]["success"] is False and "truncated" in records["broken.png"]["error"]
    assert f"hdcore: error: {shots / 'broken.png'}: truncated" in result.stderr
    assert Image.open(shots / "a_x2.png").size == (80, 64) and Image.open(shots / "b_x2.png").size == (60, 40)
    assert set(records["a.png"]["quality"]) >= {"lr_psnr", "lr_ssim", "sharpness"}


def test_resume_prints_skipped_and_overwrite_runs_again(shots):
    first = run("upscale", str(shots / "*.png"), "--scale", "2", "--provider", "lanczos")
    assert first.returncode == 2  # broken.png
    again = run("upscale", str(shots / "*.png"), "--scale", "2", "--provider", "lanczos")
    assert f"{shots / 'a.png'} -> {shots / 'a_x2.png'} skipped (exists)" in again.stdout
    as_json = run("upscale", str(shots / "a.png"), "--scale", "2", "--provider", "lanczos", "--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == {"input": str(shots / "a.png"), "output": str(shots / "a_x2.png"),
                                          "success": True, "skipped": True}
    forced = run("upscale", str(shots / "a.png"), "--scale", "2", "--provider", "lanczos", "--json", "--overwrite")
    assert json.loads(forced.stdout)["provider"] == "lanczos"


def test_recursive_glob_to_an_out_dir_with_a_zip(shots, tmp_path):
    target = tmp_path / "results.zip"
    result = run("upscale", str(shots / "**" / "*.png"), "--recursive", "--out-dir", str(tmp_path / "hd"),
                 "--scale", "2", "--provider", "lanczos", "--zip", str(target), "--jobs", "2")
    assert result.returncode == 2, result.stderr  # broken.png again
    assert (tmp_path / "hd" / "sub" / "c_x2.png").is_file()
    import zipfile

    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == ["a_x2.png", "attempts.csv", "sub/c_x2.png"]
        assert "broken.png" in archive.read("attempts.csv").decode()


def test_a_glob_matching_nothing_exits_2(tmp_path):
    assert_one_line_error(run("upscale", str(tmp_path / "*.png")), 2, "no image file matches")


def test_the_auto_model_says_what_it_picked(tmp_path):
    source = tmp_path / "photo.png"
    photo((160, 120)).save(source)
    result = run("upscale", str(source), "--scale", "2", "--provider", "local", "--model", "auto", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["model"] == "waifu2x-photo"
    assert record["warnings"][0].startswith("auto model: waifu2x-photo (photo: ")


# --- qa --------------------------------------------------------------------------------------------------


def test_qa_prints_the_benchmark_table_and_writes_csv(tmp_path):
    reference = tmp_path / "astronaut.png"
    photo((128, 96)).save(reference)
    table = tmp_path / "qa.csv"
    result = run("qa", str(reference), "--providers", "local:waifu2x-photo,lanczos", "--reference", "--scale", "2",
                 "--csv", str(table))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["provider/model", "outcome"] and lines[0].split()[-2:] == ["PSNR", "SSIM"]
    assert lines[2].startswith("local/waifu2x-photo") and lines[3].startswith("lanczos")
    rows = table.read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("entry,provider,model,outcome")


def test_qa_reports_a_failing_entry_and_exits_3_when_all_fail(photo_file):
    mixed = run("qa", str(photo_file), "--providers", "nope,lanczos", "--scale", "2", "--json")
    assert mixed.returncode == 0, mixed.stderr
    rows = [json.loads(line) for line in mixed.stdout.splitlines()]
    assert [(r["entry"], r["outcome"]) for r in rows] == [("nope", "error"), ("lanczos", "ok")]
    assert run("qa", str(photo_file), "--providers", "hf,replicate", "--scale", "2").returncode == 3


def test_qa_refuses_a_bad_image_with_one_line(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"hello")
    assert_one_line_error(run("qa", str(bad)), 2, "plain text")


def test_an_explicit_output_path_is_overwritten(photo_file, tmp_path):
    target = tmp_path / "named.png"
    target.write_bytes(b"old")
    result = run("upscale", str(photo_file), "-o", str(target), "--provider", "lanczos", "--scale", "2")
    assert result.returncode == 0, result.stderr
    assert Image.open(target).size == (80, 64)


def test_adaptive_order_and_cost_caps_are_read_and_checked(photo_file, tmp_path):
    env = {"HDCORE_ORDER_MODE": "adaptive", "HDCORE_MAX_COST_PER_DAY": "5", "HDCORE_DATA_DIR": str(tmp_path / "d")}
    result = run("upscale", str(photo_file), "--scale", "2", "--json", "--no-progress", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["provider"] == "local"
    assert_one_line_error(run("upscale", str(photo_file), env={"HDCORE_ORDER_MODE": "random"}), 2, "HDCORE_ORDER_MODE")


# --- a reader that goes away ------------------------------------------------------------------------------


def run_into_closed_pipes(args: list[str], close_stderr: bool = False) -> tuple[int, str]:
    """``python -m hdcore ARGS`` with stdout (and stderr) a pipe whose reader is already gone, as after
    ``| head -1``: every write to it fails with EPIPE. Returns the exit code and what reached stderr."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HDCORE_", "HUGGINGFACE", "REPLICATE"))}
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "hdcore", *args], cwd=ROOT, env=environment, timeout=240,
                                stdout=write_end, stderr=write_end if close_stderr else subprocess.PIPE)  # fmt: skip
    finally:
        os.close(write_end)
    return result.returncode, (result.stderr or b"").decode()


@pytest.mark.parametrize("close_stderr", [False, True], ids=["stdout", "stdout-and-stderr"])
def test_a_closed_stdout_ends_output_quietly_and_the_batch_still_completes(tmp_path, close_stderr):
    inputs = []
    for index in range(3):
        inputs.append(tmp_path / f"shot{index}.png")
        photo((24 + index, 16)).save(inputs[-1])
    archive = tmp_path / "all.zip"
    code, stderr = run_into_closed_pipes(["upscale", *map(str, inputs), "--scale", "2", "--provider", "lanczos",
                                          "--out-dir", str(tmp_path / "out"), "--zip", str(archive)], close_stderr)
    assert code == 0 and "Traceback" not in stderr and "Error" not in stderr and "Exception ignored" not in stderr
    assert "batch:" in stderr or close_stderr  # the progress bars go on where someone still reads them
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["shot0_x2.png", "shot1_x2.png", "shot2_x2.png"]
    import zipfile

    with zipfile.ZipFile(archive) as packed:
        assert sorted(packed.namelist()) == ["attempts.csv", "shot0_x2.png", "shot1_x2.png", "shot2_x2.png"]


def test_a_listing_into_a_closed_pipe_stops_quietly():
    code, stderr = run_into_closed_pipes(["providers", "--json"])
    assert code == 141 and stderr == ""  # as a program killed by SIGPIPE would end, without the noise


# --- files that are no images, and images deeper than 8 bits ---------------------------------------------


def test_a_fifo_or_a_device_given_as_input_is_refused_at_once(tmp_path):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    result = run("upscale", str(fifo), "/dev/zero", "--provider", "lanczos", "--scale", "2", "--no-progress",
                 timeout=60)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("hdcore: error: ")]
    assert "is a device, pipe or socket" in errors[0] and "device or system file" in errors[1]


def test_a_16_bit_tiff_comes_out_as_a_16_bit_png(tmp_path):
    import cv2
    import numpy as np

    ramp = (np.linspace(0, 65535, 48 * 32 * 3).reshape(32, 48, 3)).astype(np.uint16)  # steps finer than 8 bits
    source = tmp_path / "deep.tif"
    assert cv2.imwrite(str(source), ramp)
    result = run("upscale", str(source), "--provider", "lanczos", "--scale", "2", "--no-progress")
    assert result.returncode == 0 and "8-bit" not in result.stderr, result.stderr
    written = cv2.imread(str(tmp_path / "deep_x2.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == (64, 96, 3)
    assert len(np.unique(written)) > 256 and np.any(written % 257 != 0)  # not 8-bit values scaled up


def test_control_characters_from_names_and_servers_never_reach_the_terminal(tmp_path):
    """A file name or a server's error holding terminal escapes (set the title, clear the screen, reorder the
    line) is printed with them spelled out, never sent to the terminal."""
    import json as json_module

    from tests.servers.hostile import HostileState, hostile_server

    hostile = "\x1b]0;owned\x07\x1b[2J\u202egnp.exe"
    (tmp_path / f"{hostile}.png").write_bytes(b"not a picture")
    state = HostileState(status=400, body=json_module.dumps({"error": f"denied {hostile}"}),
                         content_type="application/json")  # fmt: skip
    with hostile_server(state) as server:
        env = {"HUGGINGFACE_TOKEN": "hf_x", "HDCORE_HF_BASE_URL": server.url, "HDCORE_RETRIES": "0"}
        broken = run("upscale", str(tmp_path / f"{hostile}.png"), "--scale", "2", "--no-progress", env=env)
        photo((16, 12)).save(tmp_path / "good.png")
        failed = run("upscale", str(tmp_path / "good.png"), "--scale", "2", "--provider", "hf", env=env)
        listing = run("providers", "--probe", env=env)
    for result in (broken, failed, listing):
        output = result.stdout + result.stderr
        assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output, output
    assert "\\x1b]0;owned\\x07" in broken.stderr and "denied \\x1b]0;owned" in failed.stderr
    assert "denied \\x1b]0;owned" in listing.stdout
# --- animations and metadata ------------------------------------------------------------------------------


@pytest.fixture
def gif_file(tmp_path: Path) -> Path:
    from tests.test_animated import film

    path = tmp_path / "pan.gif"
    path.write_bytes(film(loop=3))
    return path


def test_an_animated_gif_is_upscaled_frame_by_frame_on_the_local_tier_keeping_timing_and_loop(gif_file, tmp_path):
    from tests.test_animated import DURATIONS

    # A configured cloud tier in the auto chain is left out: every frame would be a paid call.
    result = run("upscale", str(gif_file), "--scale", "2", "--json", "--no-progress", "--out-dir", str(tmp_path / "out"),
                 env={"REPLICATE_API_TOKEN": "r8_SENTINEL_not_sent_anywhere"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["output"].endswith("pan_x2.gif") and record["frames"] == 20 and record["format"] == "gif"
    assert record["durations_ms"] == DURATIONS and record["loop"] == 3 and record["output_size"] == [128, 96]
    assert {attempt["provider"] for attempt in record["attempts"]} == {"local"}
    with Image.open(record["output"]) as written:
        assert written.n_frames == 20 and written.info["loop"] == 3 and written.size == (128, 96)


def test_first_frame_makes_a_still_and_a_cloud_only_chain_needs_allow_paid(gif_file, tmp_path):
    still = run("upscale", str(gif_file), "--scale", "2", "--first-frame", "--provider", "lanczos", "--json")
    assert still.returncode == 0, still.stderr
    record = json.loads(still.stdout)
    assert record["output"].endswith("pan_x2.png") and "frames" not in record
    assert Image.open(record["output"]).size == (128, 96)
    refused = run("upscale", str(gif_file), "--provider", "replicate", "--overwrite",
                  env={"REPLICATE_API_TOKEN": "r8_SENTINEL_not_sent_anywhere"})  # fmt: skip
    assert_one_line_error(refused, 2, "an animation is one call per frame, and replicate runs in the cloud")
    assert "--allow-paid" in refused.stderr and "r8_SENTINEL" not in refused.stderr


def test_metadata_is_copied_unless_no_metadata_is_given(tmp_path):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Hasselblad", "500C/M"
    source = tmp_path / "moon.jpg"
    photo((20, 16)).save(source, quality=90, exif=exif)
    kept = run("upscale", str(source), "--scale", "2", "--provider", "lanczos", "-o", str(tmp_path / "kept.png"))
    bare = run("upscale", str(source), "--scale", "2", "--provider", "lanczos", "--no-metadata",
               "-o", str(tmp_path / "bare.png"))  # fmt: skip
    assert kept.returncode == bare.returncode == 0, kept.stderr + bare.stderr
    assert Image.open(tmp_path / "kept.png").getexif().get(0x0110) == "500C/M"
    assert not Image.open(tmp_path / "bare.png").getexif()
