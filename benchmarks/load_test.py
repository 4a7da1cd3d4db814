"""Drive an ``elman serve`` server on loopback with concurrent clients and report its speed.

Usage:
    python benchmarks/load_test.py --model DIR [--workers 1] [--clients 64] [--requests 2000]
    python benchmarks/load_test.py --url http://127.0.0.1:8080 [--clients 64] [--requests 2000]

With ``--model`` the script starts ``elman -q serve DIR`` on a free loopback port and stops it by
its PID at the end. With ``--url`` it targets a running server, which must be on a loopback
address. Each client is a thread with its own keep-alive connection that sends ``POST /v1/tag``
with one sentence until ``--requests`` requests have been sent in total or ``--max-seconds`` have
passed. The script prints the throughput, the latency percentiles and the number of failed
requests (a transport error or a status other than 200), and exits with status 1 if any failed.
The clients share the machine with the server, so the numbers are a lower bound on what the
server alone could do.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

SENTENCES = [
    "Mira Okafor flew to Lund on Monday to meet the board of Brightwave.",
    "Brightwave hired Tomas Ruiz as chief financial officer, the company said in Oslo.",
    "Kestrel Freight said on Monday it would cut 400 jobs at its Rotterdam depot.",
    "Anna Berg of the Green Party met John Smith in Paris to discuss the treaty.",
    "Striker Kofi Mensworth scored twice as Hamburg beat Velora 2-1 on Sunday.",
    "Finance director Priya Castellan said bad loans remained well under control.",
    "The European Commission fined the German carmaker 1.2 billion euros.",
    "Ines Arrabal said the data would be shared with researchers in Lisbon and Porto.",
]
SERVER_START_SECONDS = 60.0


@dataclass
class Tally:
    """Latencies of successful requests and the count of failed ones, shared by the clients."""

    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, error: str | None) -> None:
        with self.lock:
            if error is None:
                self.latencies.append(seconds)
            else:
                self.failed += 1
                self.errors[error] = self.errors.get(error, 0) + 1


class Budget:
    """Hands out request numbers until ``total`` are used or the deadline passes."""

    def __init__(self, total: int, seconds: float):
        self.remaining = total
        self.deadline = time.monotonic() + seconds
        self.lock = threading.Lock()

    def take(self) -> int | None:
        with self.lock:
            if self.remaining <= 0 or time.monotonic() > self.deadline:
                return None
            self.remaining -= 1
            return self.remaining


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (localhost, 127.0.0.0/8 or ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_health(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"elman serve exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"timed out: {url}/health did not return 200 within {SERVER_START_SECONDS} s"
    )


@contextmanager
def started_server(model: Path, workers: int) -> Iterator[str]:
    """Run ``elman -q serve`` on a free loopback port; stop it by its PID on exit."""
    port = free_port()
    command = [sys.executable, "-m", "elman", "-q", "serve", str(model), "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def run_client(url: str, budget: Budget, tally: Tally, timeout: float) -> None:
    with httpx.Client(base_url=url, timeout=timeout) as client:
        while (number := budget.take()) is not None:
            body = {"text": SENTENCES[number % len(SENTENCES)]}
            started = time.perf_counter()
            error: str | None = None
            try:
                response = client.post("/v1/tag", json=body)
                if response.status_code != 200:
                    error = f"status {response.status_code}"
            except httpx.HTTPError as exception:
                error = type(exception).__name__
            tally.record(time.perf_counter() - started, error)


def percentile(sorted_values: list[float], percent: float) -> float:
    """Return the nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def drive(url: str, clients: int, requests: int, max_seconds: float, timeout: float) -> int:
    """Run the clients against ``url``, print the results and return the exit status."""
    httpx.post(f"{url}/v1/tag", json={"text": SENTENCES[0]}, timeout=timeout).raise_for_status()
    budget = Budget(requests, max_seconds)
    tally = Tally()
    threads = [
        threading.Thread(target=run_client, args=(url, budget, tally, timeout), daemon=True)
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started

    done = len(tally.latencies) + tally.failed
    latencies = sorted(tally.latencies)
    print(f"target: {url}, {clients} clients, {done} requests in {elapsed:.1f} s")
    print(f"throughput: {done / elapsed:.1f} requests/s")
    if latencies:
        p50, p95, p99 = (1000 * percentile(latencies, p) for p in (50, 95, 99))
        print(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}")
    print(f"failed: {tally.failed}" + (f" {tally.errors}" if tally.errors else ""))
    if done < requests:
        print(f"stopped after --max-seconds {max_seconds:g}: {requests - done} requests not sent")
    return 1 if tally.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--model", type=Path, help="start elman serve with this model directory")
    target.add_argument("--url", help="base URL of a running server on a loopback address")
    parser.add_argument("--workers", type=int, default=1, help="server processes for --model")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--requests", type=int, default=2000, help="requests in all (default 2000)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=300.0,
        help="seconds after which no new request starts (default 300)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per request before it fails"
    )
    args = parser.parse_args(argv)
    if args.clients < 1 or args.requests < 1:
        parser.error("--clients and --requests must be 1 or more")

    if args.url is not None:
        host = urlsplit(args.url).hostname or ""
        if not is_loopback(host):
            parser.error(f"--url host {host!r} is not a loopback address; use 127.0.0.1 or ::1")
        return drive(
            args.url.rstrip("/"), args.clients, args.requests, args.max_seconds, args.timeout
        )
    with started_server(args.model, args.workers) as url:
        return drive(url, args.clients, args.requests, args.max_seconds, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
