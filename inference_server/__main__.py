"""``python -m inference_server [--models DIR] [--log-file PATH] [--threads N]``.

Starts the JSON-RPC server on stdin/stdout (see ``docs/protocol.md``). The real stdout is
kept as the private protocol stream and file descriptor 1 is pointed at stderr, so that a
stray ``print`` or a library writing to stdout can never corrupt the protocol.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import IO

from .server import Server, configure_logging
from .wire import MessageWriter


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m inference_server",
        description="GLoT inference server: newline-delimited JSON-RPC 2.0 on stdin/stdout.")
    parser.add_argument("--models", type=Path, default=None,
                        help="folder with the model files (searched before GLOT_MODELS_DIR "
                             "and the user data folder)")
    parser.add_argument("--log-file", type=Path, default=None,
                        help="also write the log to this file (it always goes to stderr)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads torch may use (default: torch's choice); lower it to "
                             "keep Blender responsive while a job runs on the CPU")
    return parser.parse_args(argv)


def take_stdout() -> IO[str]:
    """Return a private handle on the real stdout and send everything else to stderr."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", encoding="utf-8", newline="\n", buffering=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    protocol_out = take_stdout()
    configure_logging(args.log_file, sys.stderr)
    if args.threads is not None and args.threads >= 1:
        import torch

        torch.set_num_threads(args.threads)
    server = Server(sys.stdin.buffer, MessageWriter(protocol_out), models_dir=args.models)
    try:
        code = server.serve_forever()
    except KeyboardInterrupt:
        logging.getLogger("inference_server.server").info("interrupted: exiting")
        code = 0
    logging.shutdown()
    try:
        protocol_out.flush()
    except OSError:
        pass
    return code


if __name__ == "__main__":
    # os._exit: a job thread stuck inside a long torch call must not keep the process alive.
    exit_code = main()
    sys.stderr.flush()
    os._exit(exit_code)
