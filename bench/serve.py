"""Load-test ``hdcore serve``: concurrent clients on the local tier and on a fast remote tier.

    python bench/serve.py [--clients 16] [--requests 4] [--repeat 3] [--size 128]

Each scenario starts its own ``python -m hdcore serve`` (a subprocess, as deployed) and drives it with
``--clients`` concurrent clients (asyncio + httpx, one keep-alive connection each), each sending ``--requests``
``POST /api/ai/hd-image`` one after the other: a ``--size`` px square photo at 2x. Printed per scenario
(medians over ``--repeat`` rounds against the same server, after one warm-up request):

    throughput   delivered images per second of wall time
    p50/p95/p99  per-request latency as the client sees it
    peak RSS     the server process's VmHWM at the end, and its RSS before the load
    429 / errors refusals with Retry-After (by design when the line is full) and everything else that is not
                 a 200 (transport errors included): the target is zero errors

Scenarios:
    local        HDCORE_ORDER=local, HDCORE_SERVE_QUEUE=clients (the line holds every client)
    local, q=8   the same with the default line of 8: the others are refused at once with 429
    local, fast  the first with HDCORE_LOCAL_PRESET=fast (waifu2x photo) instead of the default budget preset
    remote       the Replicate protocol server (tests/servers) with 0.2 s predictions, concurrency = clients
    lanczos      provider lanczos: next to no upscaling work, so what is left is the server's own cost (HTTP,
                 JSON, base64, decoding and encoding the PNGs)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from tests.conftest import photo  # noqa: E402
from tests.servers.replicate_server import TOKEN, ReplicateServer, ReplicateState  # noqa: E402
from tests.serve.live import ServeProcess, clean_env, data_uri  # noqa: E402


@dataclass
class Round:
    seconds: float
    latencies: list[float]
    refused: int
    errors: int

    @property
    def delivered(self) -> int:
        return len(self.latencies)


async def one_client(url: str, body: dict, requests: int, round_: Round) -> None:
    async with httpx.AsyncClient(timeout=300) as client:
        for _ in range(requests):
            started = time.perf_counter()
            try:
                answer = await client.post(f"{url}/api/ai/hd-image", json=body)
            except httpx.HTTPError:
                round_.errors += 1
                continue
            if answer.status_code == 200 and answer.json().get("success"):
                round_.latencies.append(time.perf_counter() - started)
            elif answer.status_code == 429 and answer.headers.get("retry-after"):
                round_.refused += 1
            else:
                round_.errors += 1


async def one_round(url: str, body: dict, clients: int, requests: int) -> Round:
    round_ = Round(0.0, [], 0, 0)
    started = time.perf_counter()
    await asyncio.gather(*(one_client(url, body, requests, round_) for _ in range(clients)))
    round_.seconds = time.perf_counter() - started
    return round_


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def scenario(name: str, env: dict[str, str], args: argparse.Namespace, provider: str = "auto") -> dict:
    body = {"image": data_uri(photo((args.size, args.size))), "scale": 2, "provider": provider}
    with ServeProcess(env) as server:
        assert server.process is not None
        warm = httpx.post(f"{server.url}/api/ai/hd-image", json=body, timeout=300)
        assert warm.status_code == 200, warm.text
        before = memory_kib(server.process.pid, "VmRSS")
        rounds = [asyncio.run(one_round(server.url, body, args.clients, args.requests)) for _ in range(args.repeat)]
        peak = memory_kib(server.process.pid, "VmHWM")
    latencies = [sorted(r.latencies) for r in rounds]
    return {
        "scenario": name,
        "requests": args.clients * args.requests,
        "throughput": statistics.median(r.delivered / r.seconds for r in rounds),
        "p50": statistics.median(percentile(values, 50) for values in latencies),
        "p95": statistics.median(percentile(values, 95) for values in latencies),
        "p99": statistics.median(percentile(values, 99) for values in latencies),
        "rss_before_mib": before / 1024,
        "peak_rss_mib": peak / 1024,
        "refused": max(r.refused for r in rounds),
        "errors": sum(r.errors for r in rounds),
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[index]


def format_table(rows: list[dict]) -> str:
    lines = ["| scenario | requests | throughput | p50 | p95 | p99 | RSS before -> peak | 429 | errors |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        lines.append(
            f"| {row['scenario']} | {row['requests']} | {row['throughput']:.1f}/s | {row['p50'] * 1000:.0f} ms | "
            f"{row['p95'] * 1000:.0f} ms | {row['p99'] * 1000:.0f} ms | {row['rss_before_mib']:.0f} -> "
            f"{row['peak_rss_mib']:.0f} MiB | {row['refused']} | {row['errors']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--requests", type=int, default=4, help="requests per client per round (default 4)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per scenario; medians are printed (default 3)")
    parser.add_argument("--size", type=int, default=128, help="side of the square test photo in px (default 128)")
    args = parser.parse_args(argv)
    clients = str(args.clients)
    rows = [
        scenario("local", clean_env(HDCORE_ORDER="local", HDCORE_SERVE_QUEUE=clients), args),
        scenario("local, q=8", clean_env(HDCORE_ORDER="local"), args),
        scenario("local, fast", clean_env(HDCORE_ORDER="local", HDCORE_SERVE_QUEUE=clients,
                                          HDCORE_LOCAL_PRESET="fast"), args),
    ]
    with ReplicateServer(ReplicateState(run_seconds=0.2)) as replicate:
        env = clean_env(HDCORE_ORDER="replicate", REPLICATE_API_TOKEN=TOKEN, REPLICATE_BASE_URL=replicate.api_url,
                        HDCORE_REPLICATE_CONCURRENCY=clients)  # fmt: skip
        rows.append(scenario("remote (Replicate, 0.2 s)", env, args))
    rows.append(scenario("lanczos", clean_env(), args, provider="lanczos"))
    print(format_table(rows))
    return 0 if all(row["errors"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
