"""``python -m augrepro.train RUN.json DATA.npz OUT_DIR [--threads N] [--execution JSON] [--pretrained FILE]``: train one resolved run.

The run file holds the resolved configuration (what ``augrepro.studies.study.resolve_run`` returns, as written
in a run's meta.json under ``config``); ``--execution`` the execution-only settings, e.g. '{"device": "cpu"}'.
``--pretrained``: the weights file of a protocol with ``pretrained:`` (torchvision's file, e.g. what the workflow
put in results/pretrained/). Exits with 143 after saving its state when SIGTERM arrives.
"""

from __future__ import annotations

import argparse
import json
import sys

from augrepro.train.engine import Preempted, train_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m augrepro.train", description=__doc__.splitlines()[0])
    parser.add_argument("run", help="JSON file with the resolved run configuration")
    parser.add_argument("data", help="prepared dataset (.npz)")
    parser.add_argument("out", help="output folder of the run")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--execution", default="{}", help="execution-only settings as a JSON object")
    parser.add_argument("--pretrained", default=None, help="weights file for a protocol with 'pretrained:'")
    args = parser.parse_args(argv)
    with open(args.run) as f:
        run = json.load(f)
    try:
        train_run(run, args.data, args.out, json.loads(args.execution), threads=args.threads, pretrained=args.pretrained)
    except Preempted as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
