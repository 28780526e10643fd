"""The seed's ``POST /api/ai/hd-image`` against a real ``hdcore serve``: its own examples (with curl), the file
upload, OpenAPI, and what the endpoint refuses."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from PIL import Image

from hdcore import Config
from hdcore.config import Secret
from tests.conftest import photo, png_bytes
from tests.servers.hf_router import REAL_ESRGAN as HF_REAL_ESRGAN
from tests.servers.hf_router import SD_X4, TOKEN as HF_TOKEN, hf_router
from tests.servers.replicate_server import TOKEN as REPLICATE_TOKEN, ReplicateServer, ReplicateState
from tests.serve.live import API_KEY, LiveServer, ServeProcess, clean_env, data_uri, decoded, service

TIMEOUT = httpx.Timeout(60.0)


def post_json(url: str, body: dict, folder: Path, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """POST ``body`` as the seed's examples do: with curl when it is installed, else with httpx."""
    if shutil.which("curl") is None:
        answer = httpx.post(url, json=body, headers=headers, timeout=TIMEOUT)
        return answer.status_code, answer.json()
    request = folder / "body.json"
    request.write_text(json.dumps(body))
    command = ["curl", "-sS", "-X", "POST", url, "-H", "Content-Type: application/json",
               "--data-binary", f"@{request}", "-o", str(folder / "answer.json"), "-w", "%{http_code}"]  # fmt: skip
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return int(done.stdout), json.loads((folder / "answer.json").read_text())


def test_the_seeds_three_examples_work_against_hdcore_serve(tmp_path):
    """4x uses Stable Diffusion x4 on Hugging Face, 2x its Real-ESRGAN; without HUGGINGFACE_TOKEN, Replicate."""
    body = lambda scale: {"image": data_uri(photo((40, 32)), "JPEG"), "scale": scale}  # noqa: E731
    with hf_router() as hf, ReplicateServer() as replicate:
        env = clean_env(HDCORE_ORDER="hf,replicate,local", HDCORE_HF_BASE_URL=hf.url, HUGGINGFACE_TOKEN=HF_TOKEN,
                        REPLICATE_API_TOKEN=REPLICATE_TOKEN, REPLICATE_BASE_URL=replicate.api_url,
                        HDCORE_API_KEYS=API_KEY)  # fmt: skip
        key = {"Authorization": f"Bearer {API_KEY}"}
        with ServeProcess(env) as server:
            status4, answer4 = post_json(f"{server.url}/api/ai/hd-image", body(4), tmp_path, key)
            status2, answer2 = post_json(f"{server.url}/api/ai/hd-image", body(2), tmp_path, key)
        env.pop("HUGGINGFACE_TOKEN")  # the seed's "simulate HF timeout by removing HUGGINGFACE_TOKEN"
        with ServeProcess(env) as fallback_server:
            status_fallback, fallback = post_json(f"{fallback_server.url}/api/ai/hd-image", body(4), tmp_path, key)
    assert (status4, answer4["success"], answer4["provider"], answer4["model"]) == (200, True, "hf", SD_X4)
    assert decoded(answer4["image"]).size == (160, 128)
    assert (status2, answer2["provider"], answer2["model"]) == (200, "hf", HF_REAL_ESRGAN)
    assert decoded(answer2["image"]).size == (80, 64)
    assert (status_fallback, fallback["success"], fallback["provider"]) == (200, True, "replicate")
    assert [(a["provider"], a["outcome"]) for a in fallback["attempts"]] == [("hf", "skipped"), ("replicate", "ok")]
    assert decoded(fallback["image"]).size == (160, 128)
    logs = server.log + fallback_server.log
    for secret in (HF_TOKEN, REPLICATE_TOKEN, API_KEY):
        assert secret not in logs and all(secret not in json.dumps(a) for a in (answer4, answer2, fallback))


def test_an_uploaded_file_comes_back_as_image_bytes_with_the_attempts_in_a_header():
    with LiveServer(service()) as server:
        answer = httpx.post(f"{server.url}/api/ai/hd-image/file", timeout=TIMEOUT,
                            files={"file": ("cat photo.png", png_bytes(photo()), "image/png")},
                            data={"scale": "2", "provider": "lanczos", "format": "webp", "quality": "90"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/webp"
    assert answer.headers["content-disposition"] == 'attachment; filename="cat_photo_x2.webp"'
    assert answer.headers["x-hdcore-provider"] == "lanczos"
    attempts = json.loads(answer.headers["x-hdcore-attempts"])
    assert [(a["provider"], a["outcome"], a["output_size"]) for a in attempts] == [("lanczos", "ok", [128, 96])]
    assert Image.open(io.BytesIO(answer.content)).size == (128, 96)


@pytest.mark.parametrize(
    "size, expected",
    [
        ({"scale": 2.5}, (160, 120)),
        ({"width": 100}, (100, 75)),
        ({"width": 200, "height": 100}, (133, 100)),
        ({"width": 200, "height": 100, "fit": "fill"}, (200, 100)),
        ({"longest_side": 256}, (256, 192)),
        ({}, (256, 192)),  # the seed's default: 4x
    ],
)
def test_any_size_is_asked_for_as_the_engine_takes_it(size, expected):
    with LiveServer(service()) as server:
        body = {"image": data_uri(), "provider": "lanczos", **size}
        answer = httpx.post(f"{server.url}/api/ai/hd-image", json=body, timeout=TIMEOUT)
        form = {"provider": "lanczos", **{name: str(value) for name, value in size.items()}}
        upload = httpx.post(f"{server.url}/api/ai/hd-image/file", timeout=TIMEOUT, data=form,
                            files={"file": ("photo.png", png_bytes(photo()), "image/png")})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert decoded(answer.json()["image"]).size == tuple(answer.json()["output_size"]) == expected
    assert upload.status_code == 200, upload.text
    assert Image.open(io.BytesIO(upload.content)).size == expected


def test_a_text_is_never_opened_as_a_path_on_the_server(tmp_path):
    existing = tmp_path / "photo.png"
    existing.write_bytes(png_bytes(photo()))
    with LiveServer(service()) as server:
        answers = [httpx.post(f"{server.url}/api/ai/hd-image", json={"image": str(path), "scale": 2,
                                                                     "provider": "lanczos"}, timeout=TIMEOUT)
                   for path in (existing, tmp_path / "phoxo.png", "/etc/passwd")]  # fmt: skip
    assert {answer.status_code for answer in answers} == {400}
    bodies = [answer.json() for answer in answers]
    assert all(body["success"] is False and body["attempts"] == [] for body in bodies)
    assert bodies[0]["error"] == bodies[1]["error"]  # whether the file exists is not for the caller to learn
    assert all("root:" not in answer.text for answer in answers)


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"scale": 9}, "scale 9 is a 9x enlargement; hdcore enlarges 1.1x to 8x"),
        ({"scale": "four"}, "scale: Input should be a valid number"),
        ({"scale": 2, "width": 300}, "give one size: scale, width and/or height (fit fill: both), or longest_side"),
        ({"scale": None, "width": 300, "fit": "fill"}, "give one size"),
        ({"provider": "nope"}, "nope"),
        ({"quality": 0}, "quality: Input should be greater than or equal to 1"),
        ({"format": "gif"}, "format: Input should be"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"model": "no-such-model"}, "no-such-model"),
        ({"image": "data:image/png;base64,AAAA"}, "not an image"),
    ],
)
def test_a_bad_request_is_a_400_with_a_one_line_reason(change, fragment):
    with LiveServer(service()) as server:
        answer = httpx.post(f"{server.url}/api/ai/hd-image", json={"image": data_uri(), "scale": 2, **change},
                            timeout=TIMEOUT)  # fmt: skip
    body = answer.json()
    assert answer.status_code == 400 and body["success"] is False, answer.text
    assert fragment in body["error"] and "\n" not in body["error"] and "Traceback" not in answer.text


def test_a_body_that_is_not_json_or_has_no_image_is_a_400():
    with LiveServer(service()) as server:
        broken = httpx.post(f"{server.url}/api/ai/hd-image", content=b'{"image":', timeout=TIMEOUT,
                            headers={"content-type": "application/json"})  # fmt: skip
        empty = httpx.post(f"{server.url}/api/ai/hd-image", json={"scale": 2}, timeout=TIMEOUT)
        as_form = httpx.post(f"{server.url}/api/ai/hd-image", content=json.dumps({"image": data_uri()}),
                             headers={"content-type": "application/x-www-form-urlencoded"}, timeout=TIMEOUT)
    assert (broken.status_code, broken.json()["error"]) == (400, "the body is not valid JSON")
    assert (as_form.status_code, as_form.json()["error"]) == (
        400, "send the body as JSON, with Content-Type: application/json")
    assert (empty.status_code, empty.json()["error"]) == (400, "image: Field required")


def test_an_image_over_the_pixel_limit_is_a_413():
    with LiveServer(service(Config(max_input_pixels=1000))) as server:
        answer = httpx.post(f"{server.url}/api/ai/hd-image", json={"image": data_uri(), "scale": 2}, timeout=TIMEOUT)
    assert answer.status_code == 413 and "over the limit of 1,000 pixels" in answer.json()["error"]


def test_every_tier_failing_is_a_502_with_each_attempt():
    with ReplicateServer(ReplicateState(fault="500")) as replicate:
        config = Config(order=("replicate", "lanczos")).with_settings(
            {"REPLICATE_API_TOKEN": REPLICATE_TOKEN, "REPLICATE_BASE_URL": replicate.api_url})
        with LiveServer(service(config)) as server:
            body = {"image": data_uri(), "scale": 2, "provider": "replicate"}
            answer = httpx.post(f"{server.url}/api/ai/hd-image", json=body, timeout=TIMEOUT)
    body = answer.json()
    assert answer.status_code == 502 and body["success"] is False
    assert body["error"].startswith("every tier failed (replicate:")
    assert [(a["provider"], a["outcome"]) for a in body["attempts"]] == [("replicate", "error")]
    assert REPLICATE_TOKEN not in answer.text


def test_openapi_documents_the_request_and_both_answers():
    with LiveServer(service()) as server:
        schema = httpx.get(f"{server.url}/openapi.json", timeout=TIMEOUT).json()
        docs = httpx.get(f"{server.url}/docs", timeout=TIMEOUT)
    operation = schema["paths"]["/api/ai/hd-image"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    assert request["title"] == "HDImageRequest" and request["required"] == ["image"]
    assert {"image", "scale", "width", "height", "longest_side", "fit", "provider", "model", "format",
            "quality"} <= set(request["properties"])  # fmt: skip
    assert request["additionalProperties"] is False
    components = schema["components"]["schemas"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/HDImageResponse")
    assert {"success", "image", "provider", "attempts"} <= set(components["HDImageResponse"]["properties"])
    assert operation["responses"]["502"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    upload = schema["paths"]["/api/ai/hd-image/file"]["post"]
    assert list(upload["requestBody"]["content"]) == ["multipart/form-data"]
    form = components["UploadForm"]
    assert form["required"] == ["file"] and {"file", "scale", "width", "format"} <= set(form["properties"])
    assert "image/png" in upload["responses"]["200"]["content"]
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_no_token_or_key_shows_in_any_answer_or_log_line_even_when_a_tier_echoes_it(caplog):
    caplog.set_level("DEBUG")
    with ReplicateServer(ReplicateState(fault="echo-token")) as replicate:
        config = Config(order=("replicate", "lanczos")).with_settings(
            {"REPLICATE_API_TOKEN": REPLICATE_TOKEN, "REPLICATE_BASE_URL": replicate.api_url})
        with LiveServer(service(config, api_keys=(Secret(API_KEY),))) as server:
            key = {"X-API-Key": API_KEY}
            answers = [
                httpx.post(f"{server.url}/api/ai/hd-image", json={"image": data_uri(), "scale": 2, "provider": name},
                           headers=key, timeout=TIMEOUT)  # fmt: skip
                for name in ("replicate", "auto")
            ]
            answers.append(httpx.get(f"{server.url}/metrics", headers=key, timeout=TIMEOUT))
            answers.append(httpx.get(f"{server.url}/nope", timeout=TIMEOUT))
    assert [answer.status_code for answer in answers] == [502, 200, 200, 404]
    assert "refused Bearer ***" in answers[0].json()["attempts"][0]["reason"]  # the echoed token, blanked
    assert answers[3].json()["error"] == "Not Found: GET /nope"
    seen = "\n".join(answer.text for answer in answers) + "\n".join(str(a.headers) for a in answers) + caplog.text
    assert REPLICATE_TOKEN not in seen and API_KEY not in seen
