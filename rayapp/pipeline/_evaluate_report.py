"""The evaluation job's outputs: ``evaluation.csv`` (every row) and ``evaluation.html`` (a
plot of quality against storage saved, one line per model through its scales, and a summary
table per model x scale), both written atomically under the output prefix.

In the summary, quality is the mean over the images that were measured; storage saved is
over bytes, ``1 - sum(stored) / sum(original)``, what the bucket's bill sees.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
from dataclasses import astuple, dataclass, fields

from rayapp import storage
from rayapp.config import EvaluateJobConfig
from rayapp.pipeline._evaluate import EvaluationRow, scale_label

__all__ = ["SummaryRow", "failures", "summarise", "text_table", "write_reports"]


@dataclass(frozen=True)
class SummaryRow:
    model: str
    scale: float
    images: int  # measured (failed rows left out)
    failed: int
    original_bytes: int
    stored_bytes: int
    saved_ratio: float
    psnr: float
    psnr_y: float
    ssim: float
    ssim_y: float
    ms_ssim: float
    upscale_s: float


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
                **{k: _mean([getattr(r, k) for r in ok]) for k in _MEASURES},
                upscale_s=_mean([r.upscale_s for r in ok]),
            )
        )
    return out


_MEASURES = ("psnr", "psnr_y", "ssim", "ssim_y", "ms_ssim")


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
        "model", "scale", "images", "failed", "storage saved", "PSNR (dB)", "PSNR-Y (dB)",
        "SSIM", "SSIM-Y", "MS-SSIM", "upscale s/image",
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
                _num(s.psnr, 2),
                _num(s.psnr_y, 2),
                _num(s.ssim, 4),
                _num(s.ssim_y, 4),
                _num(s.ms_ssim, 4),
                _num(s.upscale_s, 3),
            )  # fmt: skip
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
    """PSNR-Y against storage saved: each image faintly, each model's mean through its
    scales as a line."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file, in any process
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    try:
        for model in dict.fromkeys(s.model for s in summary):
            points = sorted((s for s in summary if s.model == model), key=lambda s: s.scale)
            (line,) = ax.plot(
                [100 * s.saved_ratio for s in points],
                [s.psnr_y for s in points],
                marker="o",
                label=model,
            )
            for s in points:
                ax.annotate(scale_label(s.scale), (100 * s.saved_ratio, s.psnr_y), fontsize=8)
            each = [r for r in rows if r.model == model and not r.error]
            ax.scatter(
                [100 * r.saved_ratio for r in each],
                [r.psnr_y for r in each],
                s=8,
                alpha=0.3,
                color=line.get_color(),
            )
        ax.set_xlabel("storage saved (%)")
        ax.set_ylabel("PSNR-Y against the original (dB)")
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
    """The summary as aligned text lines (what the job prints)."""
    lines = [f"{'model':<24} {'scale':>5} {'images':>6} {'saved':>8} {'PSNR-Y':>7} {'SSIM-Y':>7}"]
    lines += [
        f"{s.model:<24} {scale_label(s.scale):>5} {s.images:>6} {_percent(s.saved_ratio):>8} "
        f"{_num(s.psnr_y, 2):>7} {_num(s.ssim_y, 4):>7}"
        for s in summary
    ]
    return "\n".join(lines)
