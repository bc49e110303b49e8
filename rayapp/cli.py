"""Upscale images and videos on this machine: ``upscale`` (an image, or a directory: the
images job), ``models``, ``video`` (the video job), ``plan`` (a video job's frames, chunks,
duration and cost, before it runs), ``demo``. The jobs run in this process (their local
runner).

Options come from the configs (``rayapp.arguments``); a mistake is one readable line on
stderr and exit 2, never a traceback (``rayapp.entrypoint``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from rayapp import storage
from rayapp.arguments import (
    ArgumentParser,
    add_config_arguments,
    config_from_arguments,
    flat_fields,
    plain_text,
)
from rayapp.config import (
    ImagesJobConfig,
    PlanOptions,
    ReplicaConfig,
    VideoJobConfig,
)
from rayapp.entrypoint import run_entry_point
from rayapp.errors import EXIT_FAILED, StorageError

__all__ = ["main"]

# The commands run the jobs in this process: no replica pool, no retries of replicas.
_NOT_LOCAL = (*(name for name, _, _ in flat_fields(ReplicaConfig)), "max_chunk_retries")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="rayapp", description=plain_text(__doc__.split("\n\n")[0]).replace("\n", " ")
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    up = _command(
        sub,
        "upscale",
        "upscale one image, or every image in a directory (the images job: outputs already "
        "there are skipped)",
    )
    up.add_argument("input", help="image file or directory (png, jpg, webp)")
    up.add_argument("output", help="output file, or directory for a directory input")
    add_config_arguments(up, ImagesJobConfig, exclude=("input", "output", *_NOT_LOCAL))

    _command(sub, "models", "list the model registry")

    video = _command(
        sub, "video", "upscale a video, or a folder of them, on this machine (in-process runner)"
    )
    add_config_arguments(video, VideoJobConfig, positional=("input", "output"), exclude=_NOT_LOCAL)
    video.add_argument("--no-progress", action="store_true", help="no progress bar")
    video.add_argument(
        "--container",
        help="for a folder of videos: the outputs' container (mp4, mkv, ...); default: the "
        "input's, mkv for one we do not write",
    )

    plan = _command(
        sub,
        "plan",
        "what a video job (or a folder of videos) will take and cost, before it runs (no full "
        "decode)",
    )
    add_config_arguments(plan, VideoJobConfig, positional=("input",), exclude=("output",))
    plan.add_argument("--output", help="the job's output (its container and codec are "
                      "checked; default: the input's name + .upscaled.mp4)")  # fmt: skip
    add_config_arguments(plan, PlanOptions)
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")

    demo = _command(sub, "demo", "upscale the bundled sample image (no network needed)")
    demo.add_argument("--output", default="rayapp-demo.png", help="where to write the result")
    add_config_arguments(demo, ImagesJobConfig, exclude=("input", "output", *_NOT_LOCAL))
    return parser


def _command(sub: Any, name: str, what: str) -> argparse.ArgumentParser:
    """Subcommand ``name``: ``what`` it does, in the command list and opening its help."""
    return sub.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return run_entry_point("rayapp", lambda: _COMMANDS[args.command](args))


def _cmd_models(args: argparse.Namespace) -> int:
    from rayapp.models import REGISTRY

    print(f"{'name':26} {'arch':8} {'scale':5} {'genre':8} {'offline':7} licence")
    for spec in REGISTRY.values():
        offline = "yes" if spec.offline else "no"
        print(
            f"{spec.name:26} {spec.architecture:8} x{spec.scale:<4} {spec.genre:8} "
            f"{offline:7} {spec.license}"
        )
    return 0


def _cmd_upscale(args: argparse.Namespace) -> int:
    from rayapp.pipeline import run_images_job

    config = config_from_arguments(ImagesJobConfig, args)
    if not storage.exists(config.input):
        raise StorageError(f"Input not found: {config.input}")
    fs, path = storage.filesystem(config.input)
    if not fs.isdir(path):
        return _upscale_file(config)
    report = run_images_job(config, runner="local")
    for failed in report.failed:
        print(f"rayapp: failed: {failed.uri}: {failed.error}", file=sys.stderr)
    print(f"{report.summary()} -> {config.output}")
    return EXIT_FAILED if report.failed else 0


def _upscale_file(config: ImagesJobConfig) -> int:
    from rayapp.pipeline import upscale_image_file

    (h, w), (out_h, out_w) = upscale_image_file(config)
    print(f"{config.input} ({w}x{h}) -> {config.output} ({out_w}x{out_h})")
    return 0


def _cmd_video(args: argparse.Namespace) -> int:
    from rayapp.pipeline import TqdmProgress, is_archive, run_archive_job, run_video_job, summary

    container = args.__dict__.pop("container")
    config = config_from_arguments(VideoJobConfig, args)
    progress = () if args.no_progress else (TqdmProgress(),)
    if is_archive(config.input):  # every video in the folder, into the output folder
        archive = run_archive_job(config, container=container, runner="local", progress=())
        print(archive.describe())
        return archive.exit_code
    result = run_video_job(config, runner="local", progress=progress)
    print(result.describe())
    print(summary(result.report))
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    import json

    from rayapp.pipeline import estimate_for, is_archive

    if args.output is None:  # a folder's outputs: beside it, as the job would write them
        folder = is_archive(args.input)
        args.output = args.input.rstrip("/") + ("-upscaled/" if folder else ".upscaled.mp4")
    config = config_from_arguments(VideoJobConfig, args)
    plan = estimate_for(config, config_from_arguments(PlanOptions, args))
    print(json.dumps(plan.as_dict(), indent=1) if args.json else plan.describe())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from importlib.resources import files

    args.input = str(files("rayapp") / "data" / "astronaut.png")
    return _cmd_upscale(args)


_COMMANDS = {
    "upscale": _cmd_upscale,
    "models": _cmd_models,
    "video": _cmd_video,
    "plan": _cmd_plan,
    "demo": _cmd_demo,
}

if __name__ == "__main__":
    sys.exit(main())
