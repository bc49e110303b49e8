"""The ``rayapp`` command: ``upscale`` (an image or a directory), ``models``, ``video``, ``demo``.

User mistakes end in one readable line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from rayapp.arguments import add_upscale_arguments, upscale_config
from rayapp.config import DEFAULT_CHUNK_FRAMES, DEFAULT_SEGMENT_S
from rayapp.errors import RayappError, StorageError

__all__ = ["main"]

log = logging.getLogger("rayapp")

EXIT_USER_ERROR = 2
EXIT_PARTIAL = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rayapp", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("upscale", help="upscale one image, or every image in a directory")
    up.add_argument("input", help="image file or directory (png, jpg, webp)")
    up.add_argument("output", help="output file, or directory for a directory input")
    add_upscale_arguments(up)

    sub.add_parser("models", help="list the model registry")

    video = sub.add_parser("video", help="upscale a video on this machine (sequential driver)")
    video.add_argument("input", help="video path or URI (file, s3://, memory://)")
    video.add_argument("output", help="output path or URI; container from the extension")
    add_upscale_arguments(video)
    video.add_argument(
        "--codec", default="libx264", help="libx264 | libx265 | libsvtav1 | libvpx-vp9"
    )
    video.add_argument("--crf", type=int, help="quality (lower is better); codec default if unset")
    video.add_argument("--preset", help="encoder preset (codec default if unset)")
    video.add_argument(
        "--segment-s",
        type=float,
        default=DEFAULT_SEGMENT_S,
        help="target segment length in seconds (keyframe-aligned)",
    )
    video.add_argument(
        "--chunk-frames",
        type=int,
        default=DEFAULT_CHUNK_FRAMES,
        help="most frames per encoded chunk (the unit of resume)",
    )
    video.add_argument("--work", help="URI for chunks, kept for resume (default: a temp dir)")
    video.add_argument("--no-progress", action="store_true", help="no progress bar")

    demo = sub.add_parser("demo", help="upscale the bundled sample image (no network needed)")
    demo.add_argument("--output", default="rayapp-demo.png", help="where to write the result")
    add_upscale_arguments(demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return _COMMANDS[args.command](args)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        print(f"rayapp: error: {where}: {err['msg']}", file=sys.stderr)
    except RayappError as e:
        print(f"rayapp: error: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("rayapp: interrupted", file=sys.stderr)
    return EXIT_USER_ERROR


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
    from rayapp.pipeline._local_images import upscale_directory, upscale_file
    from rayapp.upscaler import Upscaler

    config = upscale_config(args)
    src = Path(args.input)
    if not src.exists():
        raise StorageError(f"Input not found: {args.input}")
    upscaler = Upscaler.from_config(config)
    if src.is_dir():
        report = upscale_directory(upscaler, src, Path(args.output))
        for name, error in report.failed:
            print(f"rayapp: failed: {name}: {error}", file=sys.stderr)
        print(f"{len(report.written)} written, {len(report.failed)} failed -> {args.output}")
        return EXIT_PARTIAL if report.failed else 0
    h, w, out_h, out_w = upscale_file(upscaler, str(src), args.output)
    print(f"{args.input} ({w}x{h}) -> {args.output} ({out_w}x{out_h})")
    return 0


def _cmd_video(args: argparse.Namespace) -> int:
    from rayapp.upscaler import Upscaler
    from rayapp.video import upscale_video_local

    config = upscale_config(args)
    upscaler = Upscaler.from_config(config)
    result = upscale_video_local(
        args.input,
        args.output,
        upscaler,
        codec=args.codec,
        crf=args.crf,
        preset=args.preset,
        segment_s=args.segment_s,
        chunk_frames=args.chunk_frames,
        work_uri=args.work,
        progress=not args.no_progress,
    )
    w, h = result.input_size
    ow, oh = result.output_size
    print(
        f"{args.input} ({w}x{h}) -> {result.output_uri} ({ow}x{oh} {result.video_codec}): "
        f"{result.frames} frames in {result.elapsed_s:.1f} s "
        f"({result.frames / max(result.elapsed_s, 1e-9):.2f} fps)"
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from importlib.resources import files

    args.input = str(files("rayapp") / "data" / "astronaut.png")
    return _cmd_upscale(args)


_COMMANDS = {
    "upscale": _cmd_upscale,
    "models": _cmd_models,
    "video": _cmd_video,
    "demo": _cmd_demo,
}

if __name__ == "__main__":
    sys.exit(main())
