"""Upscale one video, or every video of an archive, on a Ray cluster.

    python -m jobs.upscale_video --input s3://b/in.mp4 --output s3://b/out.mp4 \\
        --model realesr-animevideov3
    python -m jobs.upscale_video --input s3://b/archive/ --output s3://b/hd/

An input that ends in ``/`` (or is a folder), or ``--input-list`` (a file of URIs, one a
line), is an archive: every video in it, at the same relative names under the output
prefix, through one replica pool; ``<output>/rayapp-archive.csv`` (and ``.json``) has a row
per video, and the exit code is 1 when any video failed.

With ``ray job submit --working-dir . -- python -m jobs.upscale_video ...`` it runs on the
cluster ``RAY_ADDRESS`` names; run directly with no cluster, it starts a local Ray. The
whole job can also come as one JSON document (``--config-json``: a ``VideoJobConfig``, as
the Serve jobs API submits it). Exit code 0 only when the output was written and verified;
a bad input or option is one line on stderr and exit 2; a failure of the job itself is 1.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from rayapp import storage
from rayapp.arguments import add_config_arguments, config_from_arguments, job_parser
from rayapp.config import PlanOptions, VideoJobConfig
from rayapp.entrypoint import run_job
from rayapp.errors import ErrorReport, RayappError

if TYPE_CHECKING:
    from rayapp.pipeline import ArchiveEstimate, VideoEstimate


@dataclass(frozen=True)
class Archive:
    """An archive job's own options: the list of inputs (None: the input prefix), and the
    output container."""

    input_list: str | None = None
    container: str | None = None


def parse_args(
    argv: Sequence[str] | None = None,
) -> tuple[VideoJobConfig, str | None, PlanOptions | None, Archive]:
    """The job's config, where to write its result as JSON (None: nowhere), what to plan
    for when it is a dry run (None: run it), and its archive options."""
    p = job_parser("jobs.upscale_video", __doc__)
    p.add_argument("--config-json", help="the whole job as a VideoJobConfig JSON document")
    p.add_argument("--result-json", help="also write the job's result (chunks, timings) here")
    p.add_argument(
        "--input-list",
        help="an archive named by a file of input URIs, one a line "
        "(instead of --input); outputs at their names under their common folder",
    )
    p.add_argument("--container", help="an archive's output container (mp4, mkv, ...); "
                   "default: the input's, mkv for one we do not write (avi, ts)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="print the job's plan (frames, "
                   "chunks, estimated duration and cost: rayapp plan) and run nothing")  # fmt: skip
    add_config_arguments(p, VideoJobConfig)
    add_config_arguments(p, PlanOptions)
    args = p.parse_args(argv)
    result_json = args.__dict__.pop("result_json")
    archive = Archive(args.__dict__.pop("input_list"), args.__dict__.pop("container"))
    if archive.input_list is not None:
        if getattr(args, "input", None) is not None:
            p.error("--input-list names the inputs; give no --input with it")
        args.input = archive.input_list
    options = config_from_arguments(PlanOptions, args) if args.__dict__.pop("dry_run") else None
    for name in PlanOptions.model_fields:
        args.__dict__.pop(name, None)
    if args.config_json is None:
        return config_from_arguments(VideoJobConfig, args), result_json, options, archive
    if len(vars(args)) > 1:
        p.error("--config-json carries the whole job; give no other option with it")
    return VideoJobConfig.model_validate_json(args.config_json), result_json, options, archive


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("upscale_video", lambda: _run(argv), on_error=_publish_error)


def _run(argv: Sequence[str] | None) -> int:
    # before the heavy imports: a bad option fails fast
    config, result_json, dry_run, archive = parse_args(argv)
    if dry_run is not None:
        print(_plan(config, dry_run, archive).describe(), flush=True)
        return 0
    from rayapp.pipeline import LogProgress, is_archive, run_video_job, submission_id, summary
    from rayapp.pipeline.progress import RayKvProgress, publish_job_state

    job_id = submission_id()
    if archive.input_list is not None or is_archive(config.input):
        return _run_archive(config, archive, job_id, result_json)
    progress = [LogProgress(), *([RayKvProgress(job_id)] if job_id else [])]
    try:
        result = run_video_job(config, progress=progress)
    except RayappError as e:
        if job_id and getattr(e, "report", None):  # an output that failed its certificate
            publish_job_state(job_id, {"report": e.report})
        raise
    print(result.describe(), flush=True)
    print(summary(result.report), flush=True)
    if job_id:  # for the Serve jobs API and the web page
        publish_job_state(job_id, {"report": result.report})
    if result_json:
        storage.write_bytes(result_json, json.dumps(asdict(result)).encode())
    return 0


def _run_archive(
    config: VideoJobConfig, archive: Archive, job_id: str | None, result_json: str | None
) -> int:
    """Every video of the archive; under the Serve jobs API, its totals published as each
    video ends (each video's own frames would read as the whole job's)."""
    from rayapp.pipeline import LogProgress, run_archive_job
    from rayapp.pipeline.progress import publish_job_state

    def published(totals: dict) -> None:
        publish_job_state(job_id, {"archive": totals})

    result = run_archive_job(
        config,
        input_list=_input_list(archive),
        container=archive.container,
        progress=[LogProgress()],
        on_video=published if job_id else None,
    )
    print(result.describe(), flush=True)
    if result_json:
        storage.write_bytes(result_json, json.dumps(asdict(result)).encode())
    return result.exit_code


def _plan(
    config: VideoJobConfig, options: PlanOptions, archive: Archive
) -> VideoEstimate | ArchiveEstimate:
    """On a cluster (``RAY_ADDRESS``, as under ``ray job submit``), in a Ray task with one
    replica's resources: the model is timed where the replicas will run. Here, in this
    process: a local job's replicas run on this machine. An archive's plan when the input
    is a prefix or a list."""
    import os

    from rayapp.pipeline import ensure_ray, estimate_for, estimate_task

    kwargs = {"input_list": _input_list(archive), "container": archive.container}
    if not os.environ.get("RAY_ADDRESS"):
        return estimate_for(config, options, **kwargs)
    import ray

    ensure_ray()
    return ray.get(estimate_task(config).remote(config, options, **kwargs))


def _input_list(archive: Archive) -> list[str] | None:
    if archive.input_list is None:
        return None
    return storage.read_bytes(archive.input_list).decode().splitlines()


def _publish_error(report: ErrorReport) -> None:
    """Under Ray's job API, the error goes where the Serve jobs API reads the job's state."""
    from rayapp.pipeline import submission_id

    job_id = submission_id()
    if job_id is None:
        return
    from rayapp.pipeline.progress import publish_job_state

    try:
        publish_job_state(job_id, {"error": asdict(report)})
    except Exception:  # noqa: BLE001 - the error line on stderr is the report that counts
        logging.getLogger("upscale_video").warning("could not publish the error", exc_info=True)


if __name__ == "__main__":
    sys.exit(main())
