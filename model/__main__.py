"""`python -m model train|publish|fetch|list`: the model lifecycle from the command line.

The store is `--store URL`, else the MODEL_STORE env var, else the embedded store `file://<repo>/.models`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model.errors import ModelError
from model.manifest import DEFAULT_MODEL_NAME, MODEL_FILE
from model.registry import DEFAULT_MIN_ACCURACY, LATEST, fetch, list_versions, publish
from model.store import default_store_url, open_store

TRAINING_FILE = "training.json"  # metrics and framework versions, beside model.onnx, written by `train`


def _train(args: argparse.Namespace) -> None:
    from model.train import train

    trained = train(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / MODEL_FILE).write_bytes(trained.onnx)
    training = {"metrics": trained.metrics, "framework": trained.framework}
    (args.out / TRAINING_FILE).write_text(json.dumps(training, indent=2) + "\n")
    print(f"trained {args.out / MODEL_FILE}: accuracy {trained.metrics['accuracy']}")


def _publish(args: argparse.Namespace) -> None:
    if args.from_dir is None:
        from model.train import train

        trained = train()
        model_bytes, metrics, framework = trained.onnx, trained.metrics, trained.framework
    else:
        try:
            model_bytes = (args.from_dir / MODEL_FILE).read_bytes()
            training = json.loads((args.from_dir / TRAINING_FILE).read_text())
            metrics, framework = training["metrics"], training["framework"]
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(
                f"--from {args.from_dir} needs {MODEL_FILE} and {TRAINING_FILE} as `python -m model train "
                f"--out DIR` writes them ({exc})"
            ) from None
    manifest = publish(
        open_store(args.store), model_bytes, metrics, framework, args.name, args.version, args.min_accuracy
    )
    print(f"published {manifest.name} version {manifest.version} (sha256 {manifest.sha256}) to {args.store}")


def _fetch(args: argparse.Namespace) -> None:
    manifest = fetch(open_store(args.store), args.dest, args.name, args.version)
    print(f"fetched {manifest.name} version {manifest.version} (sha256 {manifest.sha256}) into {args.dest}")


def _list(args: argparse.Namespace) -> None:
    versions = list_versions(open_store(args.store), args.name)
    if args.json:
        rows = [
            {"version": v.version, "complete": v.complete, "latest": v.latest}
            | ({"sha256": v.manifest.sha256, "created": v.manifest.created} if v.manifest else {})
            for v in versions
        ]
        print(json.dumps(rows))
        return
    if not versions:
        print(f"no {args.name!r} model in {args.store}; publish one with `python -m model publish`")
    for v in versions:
        if v.manifest is None:
            print(f"{v.version:>5}  incomplete upload (no manifest)")
        else:
            mark = "  latest" if v.latest else ""
            accuracy = v.manifest.metrics.get("accuracy")
            print(
                f"{v.version:>5}  {v.manifest.created}  accuracy {accuracy}  sha256 {v.manifest.sha256}{mark}"
            )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m model", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    def with_store(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--store", default=default_store_url(), help="model store URL (env MODEL_STORE)")
        command.add_argument("--name", default=DEFAULT_MODEL_NAME, help="model name (default %(default)s)")
        return command

    train = commands.add_parser("train", help="train the reference model into a directory")
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--seed", type=int, default=2018)
    train.set_defaults(run=_train)

    pub = with_store("publish", "publish a new version (trains the reference model unless --from is given)")
    pub.add_argument("--from", dest="from_dir", type=Path, help="a directory written by `train`")
    pub.add_argument("--version", help="version number (default: the next one)")
    pub.add_argument("--min-accuracy", type=float, default=DEFAULT_MIN_ACCURACY, help="quality gate")
    pub.set_defaults(run=_publish)

    get = with_store("fetch", "download and verify one version")
    get.add_argument("--version", default=LATEST)
    get.add_argument("--dest", type=Path, required=True)
    get.set_defaults(run=_fetch)

    ls = with_store("list", "list the published versions")
    ls.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    ls.set_defaults(run=_list)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (ModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
