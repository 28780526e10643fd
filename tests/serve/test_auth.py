"""API keys: none, wrong and right ones, both headers, compared in constant time; no keys, no public bind."""

from __future__ import annotations

import hmac
import subprocess
import sys

import httpx
import pytest

from hdcore.config import Secret
from hdcore.errors import ConfigError
from hdcore.serve import ServeSettings, auth
from hdcore.serve.auth import ApiKeys, check_bind, is_local_host
from tests.serve.live import API_KEY, ROOT, LiveServer, clean_env, data_uri, service

OTHER_KEY = "second-key-Secret-abcdefghijklmnop"
REFUSAL = "missing or unknown API key: send Authorization: Bearer <key> or X-API-Key: <key>"


def upscale(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/api/ai/hd-image", json={"image": data_uri(), "scale": 2, "provider": "lanczos"},
                      headers=headers, timeout=30)  # fmt: skip


def test_without_a_key_or_with_a_wrong_one_the_answer_is_401_and_with_a_right_one_the_image():
    keys = (Secret(API_KEY), Secret(OTHER_KEY))
    with LiveServer(service(api_keys=keys)) as server:
        missing = upscale(server.url, {})
        wrong = upscale(server.url, {"Authorization": f"Bearer {API_KEY[:-1]}x"})
        wrong_scheme = upscale(server.url, {"Authorization": f"Basic {API_KEY}"})
        bearer = upscale(server.url, {"Authorization": f"Bearer {API_KEY}"})
        header = upscale(server.url, {"X-API-Key": OTHER_KEY})
        metrics_without = httpx.get(f"{server.url}/metrics", timeout=30)
        metrics_with = httpx.get(f"{server.url}/metrics", headers={"X-API-Key": API_KEY}, timeout=30)
        probes = [httpx.get(f"{server.url}{path}", timeout=60).status_code for path in ("/healthz", "/readyz")]
    for refused in (missing, wrong, wrong_scheme, metrics_without):
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json() == {"success": False, "attempts": [], "error": REFUSAL}
        assert API_KEY not in refused.text and OTHER_KEY not in refused.text
    assert bearer.status_code == 200 and bearer.json()["success"] is True
    assert header.status_code == 200 and header.json()["provider"] == "lanczos"
    assert metrics_with.status_code == 200 and 'outcome="unauthorized"' in metrics_with.text
    assert probes == [200, 200]  # load balancers probe without a key


def test_every_key_is_compared_in_constant_time_on_digests_whichever_matches(monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", recording)
    keys = ApiKeys([Secret(API_KEY), Secret(OTHER_KEY)])
    assert keys.admits(API_KEY) and keys.admits(OTHER_KEY) and not keys.admits("x" * 40) and not keys.admits(None)
    assert len(compared) == 6  # two keys for each of three presented keys: a match does not stop the loop
    assert all(len(a) == len(b) == 32 for a, b in compared)  # SHA-256 digests: a key's length never shows
    assert all(API_KEY.encode() not in a + b for a, b in compared)


def test_a_server_without_keys_binds_to_this_machine_only():
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_bind(host, ())
        assert is_local_host(host)
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.org"):
        with pytest.raises(ConfigError, match=f"refusing to serve on {host} without API keys"):
            check_bind(host, ())
        check_bind(host, (Secret(API_KEY),))  # with keys: any address
        check_bind(host, (), anonymous=True)  # --no-auth: a proxy in front checks callers


def test_the_command_refuses_a_public_address_without_keys_in_one_line():
    done = subprocess.run([sys.executable, "-m", "hdcore", "serve", "--host", "0.0.0.0", "--port", "0"], cwd=ROOT,
                          env=clean_env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        ("hdcore: error: refusing to serve on 0.0.0.0 without API keys: set HDCORE_API_KEYS, bind 127.0.0.1, "
         "or pass --no-auth when a proxy in front checks callers")
    ]


def test_short_or_unprintable_keys_are_refused_without_repeating_them():
    with pytest.raises(ConfigError, match="HDCORE_API_KEYS: key 2 has 5 characters; each needs 16 or more") as short:
        ServeSettings.from_env({"HDCORE_API_KEYS": f"{API_KEY},Xq7zP"})
    assert "Xq7zP" not in str(short.value) and API_KEY not in str(short.value)
    with pytest.raises(ConfigError, match="key 1 must be printable ASCII without spaces"):
        ServeSettings.from_env({"HDCORE_API_KEYS": "caf\u00e9-0123456789abcdef"})
    settings = ServeSettings.from_env({"HDCORE_API_KEYS": f" {API_KEY} , {OTHER_KEY} ,"})
    assert [key.reveal() for key in settings.api_keys] == [API_KEY, OTHER_KEY]
    assert API_KEY not in repr(settings)
