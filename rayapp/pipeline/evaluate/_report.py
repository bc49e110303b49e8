"""What the evaluation job makes: the measures it takes (``MEASURES``, the one table of them),
one ``EvaluationRow`` per image x scale x model, and from the rows ``evaluation.csv`` (every
row) and ``evaluation.html`` (a plot of quality against storage saved, one line per model
through its scales, and a summary table per model x scale), both written atomically under
the output prefix.

In the summary, quality is the mean over the images that were measured; storage saved is
over bytes, ``1 - sum(stored) / sum(original)``, what the bucket's bill sees.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
from collections.abc import Callable
from dataclasses import astuple, dataclass, fields, make_dataclass

import numpy as np

from rayapp import quality, storage
from rayapp.config import EvaluateJobConfig

__all__ = [
    "MEASURES",
    "EvaluationReport",
    "EvaluationRow",
    "Measure",
    "SummaryRow",
    "failures",
    "scale_label",
    "summarise",
    "text_table",
    "write_reports",
]


@dataclass(frozen=True)
class Measure:
    """One quality measure of a restored image against its original (``rayapp.quality``;
    higher is better for each): its column in the rows, how a report shows it."""

    name: str  # the column
    label: str
    unit: str  # "" for a ratio
    digits: int  # decimals shown
    headline: bool  # in the printed summary; the first is the plot's y axis
    function: Callable[..., np.ndarray]
    channel: quality.Channel

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """One value per image of ``a`` against ``b`` (``NHWC``/``HWC`` RGB)."""
        return self.function(a, b, channel=self.channel)

    def heading(self, text: str = "") -> str:
        """The label, ``text`` and the unit: ``PSNR-Y (dB)``, ``SSIM``."""
        return f"{self.label}{text} ({self.unit})" if self.unit else f"{self.label}{text}"


MEASURES = (
    Measure("psnr", "PSNR", "dB", 2, False, quality.psnr, "rgb"),
    Measure("psnr_y", "PSNR-Y", "dB", 2, True, quality.psnr, "y"),
    Measure("ssim", "SSIM", "", 4, False, quality.ssim, "rgb"),
    Measure("ssim_y", "SSIM-Y", "", 4, True, quality.ssim, "y"),
    Measure("ms_ssim", "MS-SSIM", "", 4, False, quality.ms_ssim, "rgb"),
)
_HEADLINE = tuple(m for m in MEASURES if m.headline)


def _record(name: str, doc: str, columns: list[tuple[str, type]]) -> type:
    """A frozen dataclass of ``columns``, generated so that the measures' columns come from
    ``MEASURES`` alone."""
    return make_dataclass(
        name, columns, frozen=True, namespace={"__doc__": doc, "__module__": __name__}
    )


EvaluationRow = _record(
    "EvaluationRow",
    """One original at one scale through one model (a CSV row). Sizes are (width, height);
    bytes are the original file's and the stored small copy's; ``saved_ratio`` is
    ``1 - stored_bytes / original_bytes``. Quality is of the upscaled image against the
    original (``MEASURES``; RGB, alpha left out; NaN where the image is too small for the
    measure). A failed row has ``error`` set and NaN measures.""",
    [
        ("name", str),  # relative to the input prefix
        ("scale", float),
        ("model", str),
        ("width", int),
        ("height", int),
        ("small_width", int),
        ("small_height", int),
        ("format", str),
        ("original_bytes", int),
        ("stored_bytes", int),
        ("saved_ratio", float),
        *((m.name, float) for m in MEASURES),
        ("upscale_s", float),
        ("small", str),  # URI of the stored small copy
        ("error", str),
    ],
)
SummaryRow = _record(
    "SummaryRow",
    """One model at one scale over every image: ``images`` measured (failed rows left
    out), the mean of each measure over them.""",
    [
        ("model", str),
        ("scale", float),
        ("images", int),
        ("failed", int),
        ("original_bytes", int),
        ("stored_bytes", int),
        ("saved_ratio", float),
        *((m.name, float) for m in MEASURES),
        ("upscale_s", float),
    ],
)


def scale_label(scale: float) -> str:
    return f"x{scale:g}"


@dataclass(frozen=True)
class EvaluationReport:
    rows: tuple[EvaluationRow, ...]
    csv: str  # URI of evaluation.csv
    html: str  # URI of evaluation.html
    elapsed_s: float

    @property
    def failed(self) -> tuple[EvaluationRow, ...]:
        return tuple(r for r in self.rows if r.error)

    def failures(self) -> list[tuple[str, str, int]]:
        """(name, error, rows) of each image that failed with one error (``failures``)."""
        return failures(list(self.rows))

    def table(self) -> str:
        """Per model x scale: images, storage saved, the headline measures (aligned text)."""
        return text_table(summarise(list(self.rows)))

    def summary(self) -> str:
        images = len({r.name for r in self.rows})
        return (
            f"{images} images x {len({r.scale for r in self.rows})} scales x "
            f"{len({r.model for r in self.rows})} models: {len(self.rows)} rows, "
            f"{len(self.failed)} failed -> {self.html}"
        )


def summarise(rows: list[EvaluationRow]) -> list[SummaryRow]:
    """One row per model x scale, in the rows' order."""
    groups: dict[tuple[str, float], list[EvaluationRow]] = {}
    for r in rows:
        groups.setdefault((r.model, r.scale), []).append(r)
    out = []
    for (model, scale), group in sorted(groups.items(), key=lambda kv: kv[0][1]):
        ok = [r for r in group if not r.error]
        original = sum(r.original_bytes for r in ok)
        stored = sum(r.stored_bytes for r in ok)
        out.append(
            SummaryRow(
                model=model,
                scale=scale,
                images=len(ok),
                failed=len(group) - len(ok),
                original_bytes=original,
                stored_bytes=stored,
                saved_ratio=1.0 - stored / original if original else math.nan,
                **{m.name: _mean([getattr(r, m.name) for r in ok]) for m in MEASURES},
                upscale_s=_mean([r.upscale_s for r in ok]),
            )
        )
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def write_reports(config: EvaluateJobConfig, rows: list[EvaluationRow]) -> tuple[str, str]:
    """Write ``evaluation.csv`` and ``evaluation.html``; their URIs."""
    csv_uri = storage.join(config.output, "evaluation.csv")
    html_uri = storage.join(config.output, "evaluation.html")
    storage.write_bytes(csv_uri, to_csv(rows).encode())
    storage.write_bytes(html_uri, to_html(config, rows).encode())
    return csv_uri, html_uri


def to_csv(rows: list[EvaluationRow]) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow([f.name for f in fields(EvaluationRow)])
    out.writerows(astuple(r) for r in rows)
    return buf.getvalue()


def to_html(config: EvaluateJobConfig, rows: list[EvaluationRow]) -> str:
    summary = summarise(rows)
    plot = base64.b64encode(plot_png(summary, rows)).decode()
    head = (
        "model", "scale", "images", "failed", "storage saved",
        *(m.heading() for m in MEASURES), "upscale s/image",
    )  # fmt: skip
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                s.model,
                scale_label(s.scale),
                s.images,
                s.failed,
                _percent(s.saved_ratio),
                *(_num(getattr(s, m.name), m.digits) for m in MEASURES),
                _num(s.upscale_s, 3),
            )
        )
        + "</tr>\n"
        for s in summary
    )
    failed = failures(rows)
    listed = "".join(
        f"<li>{html.escape(name)} ({rows} rows): {html.escape(error)}</li>\n"
        for name, error, rows in failed
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rayapp evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}</style></head><body>
<h1>Store small, upscale on read: evaluation</h1>
<p>{len({r.name for r in rows})} originals under <code>{html.escape(config.input)}</code>,
each downscaled (bicubic, antialiased), stored as {html.escape(config.format)}
(quality {config.image_quality} for JPEG/WebP), upscaled back to its original size and
measured against the original. Storage saved is over bytes: 1 - stored / original.
Rows: <a href="evaluation.csv">evaluation.csv</a>.</p>
<img id="plot" alt="quality against storage saved, per model" src="data:image/png;base64,{plot}">
<h2>Summary</h2>
<table id="summary"><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>
{body}</table>
{f"<h2>Failed</h2><ul id='failed'>{listed}</ul>" if failed else ""}
</body></html>
"""


def failures(rows: list[EvaluationRow]) -> list[tuple[str, str, int]]:
    """(name, error, rows) of each image that failed with one error: an unreadable original
    fails every scale x model of it, listed once."""
    seen: dict[tuple[str, str], int] = {}
    for r in rows:
        if r.error:
            seen[r.name, r.error] = seen.get((r.name, r.error), 0) + 1
    return [(name, error, n) for (name, error), n in seen.items()]


def plot_png(summary: list[SummaryRow], rows: list[EvaluationRow]) -> bytes:
    """The first headline measure against storage saved: each image faintly, each model's
    mean through its scales as a line."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file, in any process
    from matplotlib import pyplot as plt

    y = _HEADLINE[0]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    try:
        for model in dict.fromkeys(s.model for s in summary):
            points = sorted((s for s in summary if s.model == model), key=lambda s: s.scale)
            (line,) = ax.plot(
                [100 * s.saved_ratio for s in points],
                [getattr(s, y.name) for s in points],
                marker="o",
                label=model,
            )
            for s in points:
                at = (100 * s.saved_ratio, getattr(s, y.name))
                ax.annotate(scale_label(s.scale), at, fontsize=8)
            each = [r for r in rows if r.model == model and not r.error]
            ax.scatter(
                [100 * r.saved_ratio for r in each],
                [getattr(r, y.name) for r in each],
                s=8,
                alpha=0.3,
                color=line.get_color(),
            )
        ax.set_xlabel("storage saved (%)")
        ax.set_ylabel(y.heading(" against the original"))
        ax.grid(alpha=0.3)
        ax.legend()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)


def _percent(v: float) -> str:
    return "" if math.isnan(v) else f"{100 * v:.1f} %"


def _num(v: float, digits: int) -> str:
    return "" if math.isnan(v) else f"{v:.{digits}f}"


def text_table(summary: list[SummaryRow]) -> str:
    """The summary as aligned text lines (what the job prints): the headline measures."""
    head = f"{'model':<24} {'scale':>5} {'images':>6} {'saved':>8}"
    lines = [head + "".join(f" {m.label:>7}" for m in _HEADLINE)]
    lines += [
        f"{s.model:<24} {scale_label(s.scale):>5} {s.images:>6} {_percent(s.saved_ratio):>8}"
        + "".join(f" {_num(getattr(s, m.name), m.digits):>7}" for m in _HEADLINE)
        for s in summary
    ]
    return "\n".join(lines)
