"""report.html: one self-contained page (tables, and the PNGs embedded as data: URIs)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from .tables import tables

__all__ = ["page"]

STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1400px}"
         "table{border-collapse:collapse;margin:0.5em 0 2em;font-size:13px}"
         "th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}"
         "th{background:#eee}td:nth-child(-n+4){text-align:left}img{max-width:100%}")


def _table(headers, rows) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                     for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def page(report: dict, figures: dict[str, Path], notes: list[str]) -> str:
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             "<title>sqhw report</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>sqhw report: accuracy beside hardware cost</h1>",
             f"<p>{html.escape(report['generator'])}; inputs: "
             f"{html.escape(', '.join(report['inputs']))}</p>"]
    for title, path in figures.items():
        data = base64.b64encode(Path(path).read_bytes()).decode()
        parts += [f"<h2>{html.escape(title)}</h2>",
                  f"<img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"]
    for title, headers, rows in tables(report):
        parts += [f"<h2>{html.escape(title)}</h2>", _table(headers, rows)]
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>"
                                                     for n in notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
