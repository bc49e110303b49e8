"""What an archive job will take and cost, before it runs: ``rayapp plan DIR/`` and the video
job's ``--dry-run`` on a prefix.

1. List the archive as the job lists it (``_archive_list.list_archive``).
2. Probe (packets only, no decode) every video, or ``probes`` of them spread over the
   listing when there are more: each one's frames, seconds, segments and chunks, cut by the
   job's own ``plan_video_job``; a video that fails to probe will be a failed row. A
   sampled archive counts the rest at the probed videos' mean.
3. Plan the longest probed video as ``rayapp plan`` plans one (repeats sampled, the model
   and encoder timed where the replicas run) and estimate the whole archive's work at those
   rates (``_estimate.estimate_video`` with ``totals``): time at N replicas, cost, the replicas
   for a deadline. The replicas start once for the whole archive, so start-up counts once.

``estimate_for`` is the one entry for a video or an archive (``estimate_task``: as a Ray task where
the replicas will run).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from rayapp.config import PlanOptions, VideoJobConfig
from rayapp.errors import RayappError
from rayapp.pipeline.archive._job import video_config
from rayapp.pipeline.archive._list import ArchiveVideo, is_archive, list_archive, no_video_error
from rayapp.pipeline.planning import Totals, VideoEstimate, estimate_video, plan_video_job

__all__ = ["ArchiveEstimate", "estimate_archive", "estimate_for", "estimate_task"]


@dataclass(frozen=True)
class ArchiveEstimate:
    input: str
    videos: int
    probed: int
    unreadable: tuple[str, ...]  # probed, and failed to: failed rows when the job runs
    ignored: int  # files that are not videos
    measured_on: str  # the longest probed video: the rates are its
    plan: VideoEstimate  # the archive's work at those rates

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        probed = "all probed" if self.probed == self.videos else f"{self.probed} probed"
        head = (
            f"archive {self.input}: {self.videos} videos ({probed}), {self.ignored} other "
            "files ignored"
        )
        if self.unreadable:
            head += f"; {len(self.unreadable)} unreadable (first: {self.unreadable[0]})"
        return f"{head}\n{self.plan.describe()}\n(rates measured on {self.measured_on})"


def estimate_archive(
    config: VideoJobConfig,
    options: PlanOptions | None = None,
    *,
    input_list: list[str] | None = None,
    container: str | None = None,
    probes: int = 16,
) -> ArchiveEstimate:
    """Plan the archive ``config.input`` (or ``input_list``) as the archive job would run
    it (module docstring)."""
    listing = list_archive(config.input, config.output, input_list=input_list, container=container)
    if not listing.videos:
        raise no_video_error(config.input if input_list is None else "the list", listing)
    chosen = _spread(listing.videos, probes)
    work: list[tuple[ArchiveVideo, Totals]] = []
    unreadable = []
    for video in chosen:
        try:
            work.append((video, _work_of(video_config(config, video))))
        except RayappError:
            unreadable.append(video.input)
    if not work:
        raise no_video_error(f"{config.input} ({len(unreadable)} probed, none readable)", listing)
    scale = len(listing.videos) / len(chosen)
    totals = Totals(
        frames=round(scale * sum(t.frames for _, t in work)),
        duration_s=scale * sum(t.duration_s for _, t in work),
        segments=round(scale * sum(t.segments for _, t in work)),
        chunks=round(scale * sum(t.chunks for _, t in work)),
    )
    longest = max(work, key=lambda w: w[1].frames)[0]
    plan = estimate_video(video_config(config, longest), options, totals=totals)
    source = config.input if input_list is None else "the list"
    return ArchiveEstimate(
        input=source,
        videos=len(listing.videos),
        probed=len(chosen),
        unreadable=tuple(unreadable),
        ignored=len(listing.ignored),
        measured_on=longest.input,
        plan=replace(plan, input=f"{len(listing.videos)} videos"),
    )


def _spread(videos: tuple[ArchiveVideo, ...], count: int) -> list[ArchiveVideo]:
    if len(videos) <= count:
        return list(videos)
    return [videos[k * len(videos) // count] for k in range(count)]


def _work_of(config: VideoJobConfig) -> Totals:
    """One video's frames, seconds, segments and chunks, from its packets, cut as the job
    cuts it by length (``plan_video_job``: for one chunk per replica, where the job on a GPU
    node cuts a short clip for every encoder, a little finer), but not at its scene cuts:
    finding them decodes every frame, too long a wait for a plan of many videos."""
    plan = plan_video_job(config.model_copy(update={"scene_cuts": False}))
    video = plan.info.video
    return Totals(video.frame_count, video.duration_s, len(plan.segments), len(plan.runs))


def estimate_for(
    config: VideoJobConfig,
    options: PlanOptions | None = None,
    *,
    input_list: list[str] | None = None,
    container: str | None = None,
) -> VideoEstimate | ArchiveEstimate:
    """The plan of the job ``config`` runs: one video's, or an archive's (a prefix input, or
    ``input_list``)."""
    if input_list is not None or is_archive(config.input):
        return estimate_archive(config, options, input_list=input_list, container=container)
    return estimate_video(config, options)


def estimate_task(config: VideoJobConfig) -> Any:  # noqa: ANN401 - a Ray remote function
    """``estimate_for`` as a Ray task with the resources one of the job's replicas gets, so
    that the model is timed on the device the replicas will use (``.remote(config,
    options)``; ``ray.get`` or await the result)."""
    import ray  # Ray only when the plan runs on a cluster

    return ray.remote(estimate_for).options(
        num_cpus=1, num_gpus=config.replicas.num_gpus_per_replica, max_retries=0
    )
