"""``report``: one self-contained HTML page (every image base64-inlined) and a Markdown summary.

Sections: the funnel (inputs -> processed ok -> kept, with the reasons), histograms (BS error, yaw,
skin L*, face confidence, time per item; matplotlib, Agg), a contact sheet of thumbnails sorted by BS
error (worst first: the bad ones at a glance), the mean texture (mean of the ok items' 256² thumbs,
sRGB averaged), and the failures grouped by kind with example messages.
"""
from __future__ import annotations

import base64
import html
import io
import math
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from engine.dataset.index import Dataset, open_dataset

__all__ = ["write_report", "HISTOGRAMS"]

HISTOGRAMS = (("bs_error", "BS error (both-sides-seen texels)"), ("yaw_deg", "yaw (degrees)"),
              ("skin_L", "skin L* (face albedo)"), ("confidence_mean", "mean face confidence"),
              ("time_total_s", "seconds per item"))
THUMB_PX = 96


def write_report(dataset: str | os.PathLike, output: str | os.PathLike | None = None,
                 max_thumbs: int = 400) -> tuple[Path, Path]:
    """Writes ``report.html`` and ``report.md`` into ``output`` (default: the dataset folder)."""
    ds = open_dataset(dataset)
    out = Path(output).expanduser().resolve() if output else ds.path
    out.mkdir(parents=True, exist_ok=True)
    ok = ds.ok_rows()
    funnel = _funnel(ds)
    failures = _failures(ds.rows)
    hist_png = _histograms(ok)
    mean_png, mean_count = _mean_texture(ds, ok)
    thumbs = sorted(ok, key=lambda r: -(r.get("bs_error") or 0.0))[:max_thumbs]
    md = _markdown(ds, funnel, failures, ok)
    html_text = _html(ds, funnel, failures, ok, hist_png, mean_png, mean_count, thumbs)
    html_path, md_path = out / "report.html", out / "report.md"
    for path, text in ((html_path, html_text), (md_path, md)):
        tmp = path.with_name(f".tmp-{path.name}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return html_path, md_path


def _funnel(ds: Dataset) -> list[tuple[str, int, str]]:
    rows = ds.rows
    funnel_info = ds.info.get("funnel")
    if funnel_info:  # a subset: its parent's inputs, then what the filter kept
        dropped = funnel_info["dropped"]
        errors = {k: v for k, v in dropped.items() if k.startswith("error:")}
        filtered = {k: v for k, v in dropped.items() if not k.startswith("error:")}
        return [("inputs", funnel_info["inputs"], "rows of the parent dataset"),
                ("processed ok", funnel_info["inputs"] - sum(errors.values()),
                 ", ".join(f"{k[6:]}: {v}" for k, v in errors.items()) or "no failures"),
                ("kept", funnel_info["kept"], "dropped for " + (", ".join(f"{k}: {v}" for k, v in filtered.items())
                                                                 or "nothing"))]
    errors = Counter(r["status"] for r in rows if r["status"] != "ok")
    ok = sum(r["status"] == "ok" for r in rows)
    return [("inputs", len(rows), "one row per input"),
            ("processed ok", ok, ", ".join(f"{k}: {v}" for k, v in errors.most_common()) or "no failures")]


def _failures(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["status"] != "ok":
            groups[r["status"]].append(r)
    return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def _values(rows: list[dict], key: str) -> np.ndarray:
    vals = [r.get(key) for r in rows]
    return np.array([v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))], np.float64)


def _histograms(ok: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(HISTOGRAMS), figsize=(3.2 * len(HISTOGRAMS), 2.6), dpi=90)
    for ax, (key, label) in zip(axes, HISTOGRAMS):
        vals = _values(ok, key)
        if len(vals):
            ax.hist(vals, bins=min(30, max(5, len(vals) // 3)), color="#4a7db3")
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _mean_texture(ds: Dataset, ok: list[dict]) -> tuple[bytes | None, int]:
    from PIL import Image

    total, count = None, 0
    for r in ok:
        path = ds.item_dir(r["id"]) / "thumb.png"
        try:
            img = np.asarray(Image.open(path).convert("RGB"), np.float64)
        except Exception:  # noqa: BLE001 - a missing thumb is skipped, the report still renders
            continue
        total = img if total is None else total + img
        count += 1
    if total is None:
        return None, 0
    return _png(np.clip(total / count + 0.5, 0, 255).astype(np.uint8)), count


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _thumb_jpeg(path: Path) -> bytes | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((THUMB_PX, THUMB_PX), Image.BILINEAR)
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
            return buf.getvalue()
    except Exception:  # noqa: BLE001
        return None


def _img(data: bytes, mime: str, attrs: str = "") -> str:
    return f'<img src="data:{mime};base64,{base64.b64encode(data).decode()}" {attrs}>'


def _stats(ok: list[dict]) -> list[tuple[str, str]]:
    out = []
    for key, label in HISTOGRAMS + (("landmark_error_iod", "landmark error (IOD)"), ("filled_share_face", "filled share"),
                                    ("expression_l2", "expression L2"), ("cpu_s", "CPU s per item"),
                                    ("peak_rss_mb", "peak RSS per worker (MB)")):
        vals = _values(ok, key)
        text = "—" if not len(vals) else (f"median {np.median(vals):.3g}, p10 {np.percentile(vals, 10):.3g}, "
                                         f"p90 {np.percentile(vals, 90):.3g}")
        out.append((label, text))
    return out


def _markdown(ds: Dataset, funnel, failures, ok) -> str:
    lines = [f"# Dataset report: {ds.path.name}", "", f"Written {time.strftime('%Y-%m-%d %H:%M:%S')}; "
             f"settings {ds.info.get('settings')}, engine {ds.info.get('engine_version')}.", "", "## Funnel", "",
             "| step | count | reasons |", "|---|---:|---|"]
    lines += [f"| {name} | {n} | {why} |" for name, n, why in funnel]
    lines += ["", "## Metrics of the ok items", "", "| metric | distribution |", "|---|---|"]
    lines += [f"| {label} | {text} |" for label, text in _stats(ok)]
    lines += ["", "## Failures by kind", ""]
    if not failures:
        lines.append("none")
    for kind, rows in failures.items():
        lines.append(f"- **{kind}** ({len(rows)}): " + "; ".join(f"`{r['id']}`: {r['error']}" for r in rows[:5]))
    return "\n".join(lines) + "\n"


def _html(ds: Dataset, funnel, failures, ok, hist_png, mean_png, mean_count, thumbs) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Dataset report: {e(ds.path.name)}</title>",
             "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
             ".sheet{display:flex;flex-wrap:wrap;gap:4px}.sheet figure{margin:0;width:96px;font-size:10px;"
             "overflow:hidden}</style></head><body>",
             f"<h1>Dataset report: {e(ds.path.name)}</h1><p>{e(str(ds.path))}; settings {e(str(ds.info.get('settings')))}"
             f"; engine {e(str(ds.info.get('engine_version')))}</p>",
             "<h2>Funnel</h2><table><tr><th>step</th><th>count</th><th>reasons</th></tr>"]
    parts += [f"<tr><td>{e(n)}</td><td>{c}</td><td>{e(w)}</td></tr>" for n, c, w in funnel]
    parts.append("</table><h2>Histograms</h2>" + _img(hist_png, "image/png", "style='max-width:100%'"))
    parts.append("<h2>Metrics</h2><table>" + "".join(f"<tr><td>{e(a)}</td><td>{e(b)}</td></tr>" for a, b in _stats(ok))
                 + "</table>")
    parts.append(f"<h2>Mean texture ({mean_count} items)</h2>")
    parts.append(_img(mean_png, "image/png", "width=256 height=256") if mean_png else "<p>no ok items</p>")
    parts.append(f"<h2>Contact sheet, worst BS error first ({len(thumbs)} of {len(ok)})</h2><div class='sheet'>")
    for r in thumbs:
        data = _thumb_jpeg(ds.item_dir(r["id"]) / "thumb.png")
        bs = r.get("bs_error")
        img = _img(data, "image/jpeg", f"width={THUMB_PX} height={THUMB_PX} title='{e(r['id'])}'") if data else ""
        parts.append(f"<figure>{img}<figcaption>{e(r['id'])}{'' if bs is None else f'<br>BS {bs:.1f}'}"
                     "</figcaption></figure>")
    parts.append("</div><h2>Failures by kind</h2>")
    if not failures:
        parts.append("<p>none</p>")
    for kind, rows in failures.items():
        parts.append(f"<h3>{e(kind)} ({len(rows)})</h3><table><tr><th>id</th><th>source</th><th>message</th></tr>")
        parts += [f"<tr><td>{e(r['id'])}</td><td>{e(r['source_path'] or '')}</td><td>{e(r['error'] or '')}</td></tr>"
                  for r in rows[:50]]
        parts.append("</table>" + (f"<p>... and {len(rows) - 50} more</p>" if len(rows) > 50 else ""))
    parts.append("</body></html>")
    return "\n".join(parts)
