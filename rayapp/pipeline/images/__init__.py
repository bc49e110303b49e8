"""The images job: every image under a prefix, upscaled to the same names under another
(listing, skips and collisions planned first), in this process or on Ray Data."""

from __future__ import annotations

from rayapp.pipeline.images._job import ImagesJobReport, run_images_job, upscale_image_file
from rayapp.pipeline.images._plan import input_images, output_name

__all__ = ["ImagesJobReport", "input_images", "output_name", "run_images_job", "upscale_image_file"]
