"""Server-side rendering helpers: Markdown with LaTeX as MathML, SVG heat maps and histograms.

Everything here works offline: math becomes MathML (which browsers render natively), plots
are inline SVG, so the pages need no CDN and no JavaScript to be read.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from html import escape
from typing import Any

from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from markupsafe import Markup
from mdit_py_plugins.dollarmath import dollarmath_plugin

VERDICT_LABELS = {
    "accepted": "Accepted",
    "wrong_answer": "Wrong answer",
    "time_limit_exceeded": "Time limit exceeded",
    "memory_limit_exceeded": "Memory limit exceeded",
    "output_limit_exceeded": "Output limit exceeded",
    "runtime_error": "Runtime error",
    "compile_error": "Compile error",
    "rule_violation": "Rule violation",
    "system_error": "System error",
}


def _math(content: str, options: dict[str, Any]) -> str:
    display = bool(options.get("display_mode"))
    try:
        mathml = latex_to_mathml(content.strip(), display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - a formula we cannot convert is shown as its source
        cls = "math-src block" if display else "math-src"
        return f'<code class="{cls}">{escape(content)}</code>'
    if display:
        return f'<div class="math-display">{mathml}</div>\n'
    return mathml


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    # Raw HTML stays off: statements are authored by instructors but rendered for everyone.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough")
    md.use(dollarmath_plugin, allow_space=True, allow_digits=True, double_inline=True, renderer=_math)
    return md


@lru_cache(maxsize=64)
def _markdown_cached(text: str) -> str:
    html: str = _md().render(text)
    return html


def markdown(text: str, drop_title: str = "") -> Markup:
    """Markdown with $inline$ and $$display$$ math rendered to HTML + MathML. A first line
    `# <drop_title>` is left out (the page already shows the title as its heading)."""
    text = text or ""
    first, _, rest = text.lstrip().partition("\n")
    if drop_title and first.strip().lstrip("#").strip() == drop_title.strip() and first.startswith("# "):
        text = rest
    return Markup(_markdown_cached(text))


def inline_code(text: str) -> Markup:
    """A plain message with `backticked` parts shown as code (everything else escaped)."""
    parts = (text or "").split("`")
    out = [escape(p) if i % 2 == 0 else f"<code>{escape(p)}</code>" for i, p in enumerate(parts)]
    if len(parts) % 2 == 0:  # an unmatched backtick: show the text as it is
        return Markup(escape(text))
    return Markup("".join(out))


_UNITS = {"_s": " (s)", "_ms": " (ms)", "_mb": " (MB)", "_kb": " (KB)"}


def limit_label(key: str) -> str:
    """'wall_time_s' -> 'wall time (s)'."""
    for suffix, unit in _UNITS.items():
        if key.endswith(suffix):
            return key[: -len(suffix)].replace("_", " ") + unit
    return key.replace("_", " ")


def verdict_label(verdict: str | None) -> str:
    """A human label for a verdict value."""
    if not verdict:
        return ""
    return VERDICT_LABELS.get(verdict, verdict.replace("_", " "))


def format_ratio(value: float | None) -> str:
    """A speed ratio as '1.23x' ('-' when not measured)."""
    if value is None:
        return "–"
    return f"{value:.2f}×" if value < 100 else f"{value:.0f}×"


def format_number(value: float | str | None, digits: int = 3) -> str:
    """A compact number ('-' for None)."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return "∞" if value == "inf" else value
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.{digits}g}"


def format_when(value: datetime | str | None) -> str:
    """A UTC timestamp as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _heat_colour(ratio: float) -> str:
    # Within tolerance: shades of pale green; outside: orange to dark red on a log scale.
    if ratio <= 1:
        light = 92 - 12 * max(0.0, min(1.0, ratio))
        return f"hsl(140, 45%, {light:.0f}%)"
    t = min(1.0, math.log10(ratio) / 6)
    return f"hsl({30 - 30 * t:.0f}, 85%, {55 - 25 * t:.0f}%)"


def heatmap_svg(rows: list[list[float]] | None, label: str = "error heat map") -> Markup:
    """An inline SVG of error/tolerance ratios (at most 16x16); each cell has a tooltip."""
    if not rows or not rows[0]:
        return Markup("")
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    cell = max(10, min(28, 320 // max(n_cols, 1)))
    width, height = n_cols * cell, n_rows * cell
    worst = max((v for r in rows for v in r), default=0.0)
    parts = [
        f'<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}: {n_rows} by {n_cols} '
        f'regions, worst error {format_number(worst)} times the tolerance">'
    ]
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            parts.append(
                f'<rect x="{j * cell}" y="{i * cell}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{_heat_colour(float(value))}"><title>region ({i}, {j}): '
                f"{format_number(float(value))} × tolerance</title></rect>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram_svg(values: list[float], label: str = "speed relative to the reference") -> Markup:
    """An inline SVG histogram of speed ratios on a log2 axis (0.25x ... 16x and beyond)."""
    edges = [0.0, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 8.0, math.inf]
    names = ["<0.5", "0.5–0.75", "0.75–1", "1–1.25", "1.25–1.5", "1.5–2", "2–3", "3–4", "4–8", "≥8"]
    counts = [0] * len(names)
    for v in values:
        for k in range(len(names)):
            if edges[k] <= v < edges[k + 1]:
                counts[k] += 1
                break
    width, height, pad_l, pad_b, pad_t = 560, 200, 36, 44, 12
    bar_w = (width - pad_l - 8) / len(names)
    top = max(counts) or 1
    plot_h = height - pad_b - pad_t
    parts = [
        f'<svg class="histogram" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="hist-title">'
        f'<title id="hist-title">{escape(label)}: {len(values)} users; '
        + ", ".join(f"{n}: {c}" for n, c in zip(names, counts, strict=True) if c)
        + "</title>",
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - 4}" y2="{height - pad_b}" class="axis"/>',
        f'<text x="4" y="{pad_t + 8}" class="tick">{top}</text>',
        f'<text x="4" y="{height - pad_b}" class="tick">0</text>',
    ]
    for k, (name, count) in enumerate(zip(names, counts, strict=True)):
        x = pad_l + k * bar_w
        h = plot_h * count / top
        cls = "bar fast" if edges[k + 1] <= 1.0 else "bar"
        parts.append(
            f'<rect x="{x + 3:.1f}" y="{height - pad_b - h:.1f}" width="{bar_w - 6:.1f}" '
            f'height="{h:.1f}" class="{cls}"><title>{name}×: {count}</title></rect>'
        )
        if count:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - pad_b - h - 3:.1f}" class="count" '
                f'text-anchor="middle">{count}</text>'
            )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{height - pad_b + 16}" class="tick" '
            f'text-anchor="middle">{name}</text>'
        )
    parts.append(
        f'<text x="{width / 2}" y="{height - 6}" class="axis-label" text-anchor="middle">'
        "time ÷ reference time (lower is faster)</text></svg>"
    )
    return Markup("".join(parts))
