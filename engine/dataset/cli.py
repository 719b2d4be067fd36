"""``python -m engine.dataset build|filter|report|pca|sample|export`` (``ffhquv dataset ...`` once hooked).

Exit codes: 0 done, 2 bad arguments or input (one line on stderr), 70 internal error.
"""
from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ffhquv dataset", description="Build, filter, report, PCA and export "
                                     "a UV-texture dataset from many face photos (engine/dataset/).")
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="reconstruct every photo of SOURCE into DATASET (resumable)")
    b.add_argument("source", help="a folder (walked recursively) or a manifest: .csv, .jsonl, .parquet with a "
                                  "'path' column, optional 'id' and metadata columns")
    b.add_argument("-o", "--output", required=True, help="the dataset folder (created; a rerun resumes it)")
    b.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core; 0: in "
                                                             "this process)")
    b.add_argument("--texture-size", type=int, choices=(256, 512, 1024), default=256)
    b.add_argument("--quality", choices=("fast", "best"), default="fast")
    b.add_argument("--progress", choices=("bar", "json", "none"), default="bar")
    b.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run the items as Ray tasks on this cluster ('auto', 'ray://host:10001', or 'local' "
                        "to start one here); needs the ray extra (requirements-dataset.txt)")

    f = sub.add_parser("filter", help="write a subset index of the items that pass the thresholds (no copies)")
    f.add_argument("dataset")
    f.add_argument("-o", "--output", required=True, help="the subset folder")
    f.add_argument("--max-bs", type=float, default=None, help="largest BS error (both-sides-seen texels)")
    f.add_argument("--max-yaw", type=float, default=None, help="largest |yaw| in degrees")
    f.add_argument("--min-confidence", type=float, default=None, help="smallest mean face confidence (0-1)")
    f.add_argument("--max-expression", type=float, default=None, help="largest L2 norm of the 52 weights")
    f.add_argument("--max-landmark-error", type=float, default=None, help="largest landmark error (IOD)")

    r = sub.add_parser("report", help="one self-contained HTML page and a Markdown summary")
    r.add_argument("dataset")
    r.add_argument("-o", "--output", default=None, help="folder for report.html / report.md (default: DATASET)")
    r.add_argument("--max-thumbs", type=int, default=400, help="thumbnails in the contact sheet")

    p = sub.add_parser("pca", help="streaming randomized PCA of the albedos -> pca.npz")
    p.add_argument("dataset")
    p.add_argument("-o", "--output", default=None, help="npz path (default: DATASET/pca_<size>.npz)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--components", type=int, default=100)
    p.add_argument("--power-iterations", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)

    s = sub.add_parser("sample", help="decode random PCA coefficients to albedo PNGs")
    s.add_argument("pca", help="the npz written by pca")
    s.add_argument("-o", "--output", required=True, help="folder for sample_###.png")
    s.add_argument("-n", "--count", type=int, default=8)
    s.add_argument("--seed", type=int, default=0)

    e = sub.add_parser("export", help="training layout: a folder, or WebDataset tar shards")
    e.add_argument("dataset")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--format", choices=("folder", "webdataset"), default="webdataset")
    e.add_argument("--shard-size", type=int, default=1000, help="items per tar shard (webdataset)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from engine.errors import EngineError

    try:
        return _dispatch(args)
    except EngineError as err:
        print(f"ffhquv dataset: {err.user_message()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("ffhquv dataset: interrupted (committed rows are kept; rerun to resume)", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "build":
        from engine.dataset.build import build
        from engine.dataset.item import BuildSettings

        summary = build(args.source, args.output, BuildSettings(texture_size=args.texture_size, quality=args.quality),
                        workers=args.workers, progress=args.progress, ray_address=args.ray)
        if args.progress != "json":
            print(json.dumps(summary))
        return 0
    if args.command == "filter":
        from engine.dataset.filter import Criteria, filter_dataset

        result = filter_dataset(args.dataset, args.output, Criteria(
            max_bs=args.max_bs, max_yaw=args.max_yaw, min_confidence=args.min_confidence,
            max_expression=args.max_expression, max_landmark_error=args.max_landmark_error))
        print(result.describe())
        return 0
    if args.command == "report":
        from engine.dataset.report import write_report

        html, md = write_report(args.dataset, args.output, max_thumbs=args.max_thumbs)
        print(html)
        print(md)
        return 0
    if args.command == "pca":
        from engine.dataset.pca import fit_pca

        result = fit_pca(args.dataset, args.output, size=args.size, components=args.components,
                         power_iterations=args.power_iterations, seed=args.seed)
        print(json.dumps(result))
        return 0
    if args.command == "sample":
        from engine.dataset.pca import sample

        for path in sample(args.pca, args.output, count=args.count, seed=args.seed):
            print(path)
        return 0
    if args.command == "export":
        from engine.dataset.export import export

        print(json.dumps(export(args.dataset, args.output, fmt=args.format, shard_size=args.shard_size)))
        return 0
    raise AssertionError(args.command)  # argparse only allows the commands above


if __name__ == "__main__":
    sys.exit(main())
