"""The benchmark sections that ``python -m jobs.benchmark`` runs (like Ray's ``release/``:
apart from the entry points, using rayapp's public API only; nothing is patched).

- ``forward``: the bare network (``Upscaler.forward``): ours eager, compiled and bf16 next
  to the ncnn CPU run of the same model and this machine's matmul peak, interleaved in one
  process so background load hits every variant alike.
- ``pipeline``: the video job end to end on generated clips (a short one and one ``--long``
  times longer) on the Ray runner and the local runner, next to the bare model on the same
  decoded frames, with where the time goes (Ray start, replica start-up, first chunk, steady
  state, assembly), peak memory of the driver and of the Ray processes, the object store's
  peak, and the peak temporary disk against the output's size.
- ``steady``: a 10 s 320x240 clip through the local runner and the Ray job in steady state
  against the bare forward on the same frames just before and after, in rounds taken in
  turn (each round shown, and the median).
- ``cold``: ``python -m jobs.upscale_video`` on a 2 s clip in a fresh process: seconds above
  the bare forward, and where they go.
- ``dedup``: a clip with each view held 2 frames (crf 18): speed-up of skipping repeats.
- ``quality``: each offline model on the bundled photograph and a generated clip:
  consistency PSNR (the upscale downscaled back against the input; for the clip, the video
  job's certificate), and the evaluation job (store small, upscale on read) on the photograph
  and frames of the clip: quality against bytes saved at x2 and x4, bicubic the baseline.
- ``gpu``: on an NVIDIA GPU, the fp16 forward at 1280x720 and the job with 4 replicas at a
  quarter GPU each (NVENC and libx264): frames/s and GPU memory per replica.
- ``train``: the fine-tuning data path (decode and degrade in Ray tasks) against what the
  trainers take, and the disk streaming saves next to extracting every frame as PNG.
- ``plan``: ``rayapp plan``'s estimated duration against the job's actual one (10 s clips).
- ``encode``: what this machine's CPUs encode (codecs and presets at 1920x1080 and
  2560x1920, slice against frame threads against one encoder per CPU), and the video job
  with a simulated GPU against ffmpeg on the same clip and settings, whole commands in
  rounds taken in turn (each round shown, and the median of the rounds' ratios).
- ``temporal``: seams and flicker at the output's size against a ground truth (sub-pixel
  pans over photographs, three scenes): the warping error, detail and PSNR with and without
  ``--deflicker`` and what it costs; the step at chunk seams cut by frame count against
  chunks at scene cuts, over one encoder pass; what finding the cuts costs.
- ``interpolate``: frames between frames against a ground truth (every other frame of a
  double-rate clip dropped): PSNR, SSIM and frames/s of the ``flow`` interpolator, FFmpeg's
  ``minterpolate``, RIFE 4.6's architecture (speed only) and blending; and where the
  interpolator runs, after the upscale or before it.
- ``faces``: ``--face-enhance`` on a clip of a moving face: milliseconds a frame of the
  model, finding the faces, steadying them and restoring one (a GFPGAN of random weights),
  and the landmarks' jitter as detected and steadied.
- ``archive``: twenty 2 s clips as one archive job against twenty runs of the same command
  (one a clip) and one clip of the same frames; the driver's RSS and the object store's
  peak for 20 and 200 tiny clips.
"""

from __future__ import annotations

import importlib
from typing import get_args

from benchmarks.config import BenchmarkConfig, Section

__all__ = ["SECTIONS", "run"]


# Section -> the module that measures it (imported only when the section runs: the GPU
# section needs no Ray, the forward section no clip).
SECTIONS = {name: f"benchmarks.{name}" for name in get_args(Section)}


def run(cfg: BenchmarkConfig) -> None:
    """Each section of ``cfg`` in order, its report printed as soon as it is done."""
    for section in cfg.section:
        module = importlib.import_module(SECTIONS[section])
        print(getattr(module, f"section_{section}")(cfg), flush=True)
