"""``python -m inference_server.synthetic DIR [--seed N]``: write synthetic model files."""

from __future__ import annotations

import argparse
import sys

from inference_server.synthetic import write_synthetic_models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inference_server.synthetic",
        description="Write model files with the official names and layouts and RANDOM weights "
                    "(for tests and trying the tool; results are not meaningful).")
    parser.add_argument("folder", help="folder to write the files into (created if needed)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    for name, path in write_synthetic_models(args.folder, seed=args.seed).items():
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)  [{name}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
