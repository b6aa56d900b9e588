"""Load test of `faceedge serve`: requests per second and p50/p99 latency at 1, 8 and 32 concurrent
clients, against a server this script starts on 127.0.0.1 and stops again.

    python benchmarks/serve_load.py --requests 300 --max-seconds 60 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, extra: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "faceedge", "serve", "--port", str(port), "--backend", "cpu", *extra]
    server = subprocess.Popen(command)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"the server exited with {server.returncode}") from None
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("the server did not come up within a minute")


def astronaut_jpeg() -> bytes:
    import cv2
    import skimage.data

    ok, data = cv2.imencode(".jpg", skimage.data.astronaut()[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    return data.tobytes()


def main() -> None:
    from faceedge.bench.load import load_markdown, run_load
    from faceedge.bench.machine import cpu_description

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="At most this many requests per level.")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="Stop sending after this long.")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--image", type=Path, help="A JPEG to send instead of the astronaut.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    body = args.image.read_bytes() if args.image else astronaut_jpeg()
    # The server as it ships, then the same server with batching off, in one run: their ratio is
    # what batching requests into one classifier call is worth on this machine.
    runs = {"batched": [], "unbatched": ["--max-batch", "1"]}
    results = {}
    for name, server_args in runs.items():
        port = free_port()
        server = start_server(port, server_args)
        try:
            results[name] = run_load(
                f"http://127.0.0.1:{port}",
                body,
                "image/jpeg",
                tuple(args.clients),
                args.requests,
                args.max_seconds,
            )
        finally:
            server.terminate()
            server.wait(30)
    cpu, _ = cpu_description()
    machine = f"{cpu}, {os.cpu_count()} CPUs, server and clients on the same machine"
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "machine": machine,
        **{name: [level.to_dict() for level in levels] for name, levels in results.items()},
    }
    (args.out / "serve_load.json").write_text(json.dumps(record, indent=2) + "\n")
    gains = ", ".join(
        f"{b.clients} client{'s' if b.clients > 1 else ''} {b.requests_per_s / u.requests_per_s:.2f}x"
        for b, u in zip(results["batched"], results["unbatched"])
    )
    markdown = (
        load_markdown(results["batched"], machine)
        + "\nThe same server with batching off (`--max-batch 1`), in the same run:\n\n"
        + load_markdown(results["unbatched"], machine).split("\n", 2)[2]
        + f"\nRequests per second with batching against without: {gains}.\n"
    )
    (args.out / "serve_load.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
