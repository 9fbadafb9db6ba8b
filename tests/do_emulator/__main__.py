"""Run the emulator as a process: prints one JSON line {url, ca_path, token} and serves until killed.

    python -m do_emulator --certdir DIR [--port N] [--token T] [--address 10.0.0.5 ...]
(run from tests/, or with tests/ on PYTHONPATH).
"""

import argparse
import json
import sys
import threading
from pathlib import Path

from .server import Emulator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--certdir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="emulator-token")
    parser.add_argument("--address", action="append", default=[])
    parser.add_argument("--limit", type=int, default=250)
    args = parser.parse_args()
    emulator = Emulator(args.token, args.certdir, args.limit, args.address).start(args.port)
    print(json.dumps({"url": emulator.url, "ca_path": emulator.ca_path, "token": args.token}), flush=True)
    sys.stdout.close()
    threading.Event().wait()


if __name__ == "__main__":
    main()
