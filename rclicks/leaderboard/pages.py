"""The leaderboard's HTML pages, rendered on the server (no scripts, no external files):
``/`` (one benchmark's table, sortable by dataset, simulator and metric through links),
``/submissions/{id}`` (one submission's details) and ``/docs`` (the API, from its OpenAPI
schema). Every value is escaped, numbers included; the one style sheet is allowed by its hash
in the Content-Security-Policy (:func:`style_hash`), so nothing else can style or script a
page."""

from __future__ import annotations

import base64
import hashlib
from html import escape as _escape
from typing import Any
from urllib.parse import urlencode

from rclicks.leaderboard import board

NB_HYPHEN = "\u2011"

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:14px 28px}
header h1{margin:0;font-size:21px;font-weight:600}header h1 a{color:#fff}
header p{margin:2px 0 0;opacity:.8;font-size:13px}
main{padding:18px 28px;max-width:1500px}
a{color:#1f5fbf;text-decoration:none}a:hover{text-decoration:underline}
nav{margin:6px 0 12px;display:flex;flex-wrap:wrap;gap:6px;align-items:center}
nav .label{font-size:12px;color:#5b6472;text-transform:uppercase;letter-spacing:.04em;
 margin-right:4px;min-width:80px}
nav a{padding:4px 11px;border-radius:14px;background:#e6ebf2;color:#1d2430;font-size:14px}
nav a.current{background:#1f5fbf;color:#fff}
.meta{color:#5b6472;font-size:13px;margin:4px 0 12px}
.badge{display:inline-block;font-size:11px;padding:1px 7px;border-radius:9px;margin-left:4px;
 background:#d9f2e0;color:#1b6b34}
.badge.off{background:#f6e1e1;color:#8a2424}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:6px 10px;border-bottom:1px solid #e3e7ee;text-align:right;white-space:nowrap}
th{background:#eef2f7;font-weight:600;font-size:13px;white-space:normal;vertical-align:bottom}
td.name{white-space:normal;min-width:160px;max-width:280px;text-align:left}
th a{color:#1d2430}th.sorted{background:#dbe6f5}
td.text,th.text{text-align:left}
tr:hover td{background:#f3f7fd}
.best{font-weight:700}
.err{background:#fde8e8;color:#8a2424;padding:8px 12px;border-radius:4px}
.empty{color:#5b6472;background:#fff;padding:14px;border-radius:4px}
code{background:#eef2f7;padding:1px 4px;border-radius:3px;font-size:13px}
h2{font-size:18px;margin:18px 0 8px}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;margin:0}
dt{color:#5b6472}dd{margin:0}
.hash{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
"""


def escape(value: Any) -> str:
    """Any value as HTML text (``None`` as an empty string)."""
    return "" if value is None else _escape(str(value))


def style_hash() -> str:
    """The CSP source that allows exactly the pages' style sheet."""
    digest = hashlib.sha256(CSS.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        '<header><h1><a href="/">rclicks leaderboard</a></h1>'
        "<p>Interactive segmentation under real users' clicks — every number recomputed by "
        "this server from the submitted predictions and its own ground truth</p></header>"
        f"<main>{body}</main></body></html>"
    )


def fmt(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    if key.startswith(("dSB", "dGR")):
        pct = value * 100
        return "0.0%" if abs(pct) < 0.05 else f"{pct:+.1f}%"
    if key in ("IoU-AuC", "5-mIoU", "1-mIoU", "NSR") or key.endswith("-mIoU"):
        return f"{value:.3f}"
    if key.startswith("NoF"):
        return f"{value:.1f}"
    if key.endswith("_std"):
        return f"± {value:.2f}"
    return f"{value:.2f}"


def _link(value: str | None, label: str | None = None) -> str:
    """An http(s) link (shown as ``label`` when given, the URL as its title); other text
    escaped, shortened to ``label``'s column when a label is asked for."""
    if not value:
        return ""
    if value.startswith(("http://", "https://")):
        return (
            f'<a href="{escape(value)}" title="{escape(value)}" rel="nofollow noopener">'
            f"{escape(label or value)}</a>"
        )
    if label and len(value) > 24:
        return f'<span title="{escape(value)}">{escape(value[:22])}…</span>'
    return escape(value)


def _q(**params: Any) -> str:
    return "/?" + urlencode({k: v for k, v in params.items() if v is not None})


def index(benches: list, data: dict[str, Any] | None, error: str | None) -> str:
    if not benches:
        return _page("rclicks leaderboard", '<p class="empty">No benchmarks configured.</p>')
    parts = ['<nav id="benchmarks"><span class="label">Benchmark</span>']
    current = data["benchmark"] if data else None
    for b in benches:
        cls = "current" if b.name == current else ""
        badge = (
            '<span class="badge">open</span>'
            if b.accepting
            else f'<span class="badge off" title="{escape(b.problem or "")}">no data</span>'
        )
        parts.append(
            f'<a class="{cls} benchmark" data-benchmark="{escape(b.name)}" '
            f'href="{escape(_q(benchmark=b.name))}">{escape(b.name)} '
            f"({b.submissions}){badge}</a>"
        )
    parts.append("</nav>")
    if error:
        parts.append(f'<p class="err" id="error">{escape(error)}</p>')
    if data is None:
        return _page("rclicks leaderboard", "".join(parts))
    bench = next(b for b in benches if b.name == data["benchmark"])
    parts.append(
        f'<p class="meta">Protocol <code>{escape(str(bench.protocol))}</code> · datasets '
        f"{escape(', '.join(bench.datasets))} · simulators {escape(', '.join(bench.simulators))}"
        f" · {bench.groups} groups{' + baseline' if bench.baseline else ''} · "
        f"{bench.max_clicks} clicks · {bench.repeats} repeat(s)"
        + ("" if bench.accepting else f" · not accepting: {escape(bench.problem or '')}")
        + "</p>"
    )
    keep = {"benchmark": data["benchmark"], "simulator": data["simulator"]}
    sort = {"metric": data["metric"], "order": data["order"]}
    tabs = data["datasets"] + ([board.ALL] if len(data["datasets"]) > 1 else [])
    parts.append('<nav id="datasets"><span class="label">Dataset</span>')
    for d in tabs:
        cls = "current" if d == data["dataset"] else ""
        label = "mean of datasets" if d == board.ALL else d
        parts.append(
            f'<a class="{cls} dataset" data-dataset="{escape(d)}" '
            f'href="{escape(_q(**keep, dataset=d, **sort))}">{escape(label)}</a>'
        )
    parts.append("</nav>")
    if len(data["simulators"]) > 1:
        parts.append('<nav id="simulators"><span class="label">Simulator</span>')
        for sim in data["simulators"]:
            cls = "current" if sim == data["simulator"] else ""
            href = _q(benchmark=data["benchmark"], dataset=data["dataset"], simulator=sim, **sort)
            parts.append(
                f'<a class="{cls} simulator" data-simulator="{escape(sim)}" '
                f'href="{escape(href)}">{escape(sim)}</a>'
            )
        parts.append("</nav>")
    entries = data["entries"]
    if not entries:
        parts.append(
            '<p class="empty" id="no-submissions">No submissions yet. Run '
            f"<code>rclicks eval --benchmark {escape(data['benchmark'])} --model M --out RUN</code>"
            " and <code>rclicks submit RUN --to URL</code>.</p>"
        )
        return _page(f"{data['benchmark']} — rclicks leaderboard", "".join(parts))
    best = {}
    for m in board.METRICS:
        vals = [e["metrics"][m.key] for e in entries if e["metrics"][m.key] is not None]
        if vals and m.key not in ("NoC@90_std", "dSB@90"):
            best[m.key] = max(vals) if m.higher_is_better else min(vals)
    head = [
        '<th class="text">#</th><th class="text">Name</th><th class="text">Model</th>'
        '<th class="text" title="what this server checked">Verified</th>'
    ]
    for m in board.METRICS:
        sorted_here = m.key == data["metric"]
        if sorted_here:
            nxt = "asc" if data["order"] == "desc" else "desc"
            arrow = " ▲" if data["order"] == "asc" else " ▼"
        else:
            nxt, arrow = ("desc" if m.higher_is_better else "asc"), ""
        href = _q(**keep, dataset=data["dataset"], metric=m.key, order=nxt)
        title = ("higher" if m.higher_is_better else "lower") + " is better"
        label = escape(m.label).replace("-", NB_HYPHEN)  # "IoU-AuC" never breaks at "-"
        head.append(
            f'<th class="{"sorted" if sorted_here else ""}" title="{title}">'
            f'<a class="sort" data-metric="{escape(m.key)}" href="{escape(href)}">'
            f"{label}{arrow}</a></th>"
        )
    head.append('<th class="text">Paper</th><th class="text">Code</th><th>Submitted</th>')
    rows = []
    for e in entries:
        cells = [
            f'<td class="text">{escape(e["rank"])}</td>',
            f'<td class="name"><a class="submission" href="{escape(e["url"])}">'
            f"{escape(e['name'])}</a></td>",
            f'<td class="text">{escape(e["model"])}</td>',
            f'<td class="text verified">{_badge(e.get("verified"))}</td>',
        ]
        for m in board.METRICS:
            v = e["metrics"][m.key]
            cls = "best" if v is not None and v == best.get(m.key) and len(entries) > 1 else ""
            cells.append(f'<td class="{cls}" data-metric="{escape(m.key)}">{fmt(m.key, v)}</td>')
        cells.append(f'<td class="text">{_link(e["paper"], "paper ↗")}</td>')
        cells.append(f'<td class="text">{_link(e["code"], "code ↗")}</td>')
        cells.append(f"<td>{escape(e['created'][:10])}</td>")
        rows.append(f'<tr data-submission-id="{escape(e["id"])}">{"".join(cells)}</tr>')
    parts.append(
        f'<table id="board"><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    api = "/api/leaderboard?" + urlencode({**keep, "dataset": data["dataset"]})
    parts.append(
        '<p class="meta">Sample NoC, ΔSB, ΔGR and NSR over the clicking groups (see '
        "docs/metrics.md); baseline NoC = the robot's clicks. Click a column to sort, a name "
        f'for the details. JSON: <a href="{escape(api)}">/api/leaderboard</a> · '
        '<a href="/docs">API</a></p>'
    )
    return _page(f"{data['benchmark']} — rclicks leaderboard", "".join(parts))


def _badge(label: str | None) -> str:
    if label and label.startswith("masks"):
        return f'<span class="badge" title="{escape(label)}">✓ masks</span>'
    return f'<span class="badge off" title="{escape(label)}">rows only</span>'


def _verified(sub: dict[str, Any]) -> str:
    v = sub.get("verification") or {}
    if v.get("level") == "masks":
        trajectories, clicks = int(v.get("trajectories", 0)), int(v.get("clicks", 0))
        return (
            f"{_badge(sub.get('verified'))} every IoU recomputed from the submitted masks "
            "against this server's ground truth and every click re-derived "
            f"({trajectories:,} trajectories, {clicks:,} clicks, in "
            f"{escape(v.get('seconds'))} s)"
        )
    return (
        f"{_badge(sub.get('verified'))} metrics recomputed from the submitted rows; the IoUs "
        "and clicks themselves were not checked"
    )


RESULT_KEYS = (
    "instances", "NoC@85", "NoC@90", "NoC@90_std", "NoC@95", "NoF@90", "IoU-AuC", "1-mIoU",
    "5-mIoU", "dSB@90", "dGR@90", "NSR", "SPC",
)  # fmt: skip


def submission(sub: dict[str, Any], spec: dict[str, Any] | None) -> str:
    run = sub.get("run") or {}
    proto = run.get("protocol") or {}
    info = [
        ("Benchmark", f'<a href="{escape(_q(benchmark=sub["benchmark"]))}">'
                      f"{escape(sub['benchmark'])}</a> (protocol "
                      f"<code>{escape(sub['protocol'])}</code>)"),
        ("Model", escape(sub["model"])),
        ("Paper", _link(sub.get("paper")) or "—"),
        ("Code", _link(sub.get("code")) or "—"),
        ("Submitted", escape(sub["created"])),
        ("rclicks", escape(str(sub.get("rclicks")))),
        ("Settings", escape(", ".join(f"{k} {v}" for k, v in proto.items()))),
        ("Device", escape(str(run.get("device")))),
        ("Run", escape(f"{run.get('started')} → {run.get('finished')}")),
        ("Clicks", escape(f"{sub['clicks']:,}")),
        ("Verified", _verified(sub)),
    ]  # fmt: skip
    body = [
        f'<h2 id="submission-name">#{escape(sub["id"])} {escape(sub["name"])}</h2><dl>',
        *(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in info),
        "</dl>",
        "<h2>Results (recomputed by the server)</h2>",
        '<table id="results"><thead><tr><th class="text">Dataset</th>'
        '<th class="text">Simulator</th>',
        *(f"<th>{escape(k)}</th>" for k in RESULT_KEYS),
        "</tr></thead><tbody>",
    ]
    for r in sub["results"]:
        label = r["simulator"] + (f" ×{r['groups']}" if r.get("kind") == "groups" else "")
        cells = []
        for k in RESULT_KEYS:
            v = r.get(k)
            if k == "SPC" and v is not None:
                cells.append(f"<td>{v * 1000:.2f} ms</td>")
            elif k == "instances":
                cells.append(f"<td>{escape(v)}</td>")
            else:
                cells.append(f"<td>{fmt(k, v)}</td>")
        body.append(
            f'<tr><td class="text">{escape(r["dataset"])}</td><td class="text">'
            f"{escape(label)}</td>{''.join(cells)}</tr>"
        )
    body.append("</tbody></table>")
    body.append('<h2>Data</h2><table id="data"><thead><tr><th class="text">Dataset</th>'
                '<th>Images</th><th>Instances</th><th class="text">Manifest sha256</th>'
                "</tr></thead><tbody>")  # fmt: skip
    for d in run.get("datasets") or []:
        body.append(
            f'<tr><td class="text">{escape(str(d.get("dataset")))}</td>'
            f"<td>{escape(d.get('samples'))}</td><td>{escape(d.get('instances'))}</td>"
            f'<td class="text hash">{escape(str(d.get("manifest_sha256")))}</td></tr>'
        )
    body.append("</tbody></table>")
    body.append('<h2>Bundle</h2><table id="files"><thead><tr><th class="text">File</th>'
                '<th>Bytes</th><th class="text">sha256</th></tr></thead><tbody>')  # fmt: skip
    for name, f in sorted((sub.get("files") or {}).items()):
        body.append(
            f'<tr><td class="text">{escape(name)}</td><td>{escape(f.get("bytes"))}</td>'
            f'<td class="text hash">{escape(str(f.get("sha256")))}</td></tr>'
        )
    body.append(
        f'<tr><td class="text"><a href="/api/submissions/{escape(sub["id"])}/bundle">'
        f'bundle (zip)</a></td><td>{escape(sub["bundle_bytes"])}</td><td class="text hash">'
        f"{escape(sub['bundle_sha256'])}</td></tr></tbody></table>"
    )
    plugins = sub.get("plugins") or {}
    if plugins:
        body.append(
            '<h2>Plugins</h2><table id="plugins"><thead><tr><th class="text">Plugin</th>'
            '<th class="text">Distribution</th><th>Version</th></tr></thead><tbody>'
        )
        for name, p in sorted(plugins.items()):
            body.append(
                f'<tr><td class="text">{escape(name)}</td><td class="text">'
                f"{escape(str(p.get('distribution')))}</td><td>{escape(str(p.get('version')))}"
                "</td></tr>"
            )
        body.append("</tbody></table>")
    body.append(
        f'<p class="meta"><a href="/api/submissions/{escape(sub["id"])}">JSON</a> · '
        f'<a href="{escape(_q(benchmark=sub["benchmark"]))}">back to the leaderboard</a></p>'
    )
    return _page(f"#{sub['id']} {sub['name']} — rclicks leaderboard", "".join(body))


def api_docs(schema: dict[str, Any]) -> str:
    """``/docs``: every operation of the OpenAPI schema, its parameters and answers."""
    body = [
        "<h2>API</h2>",
        '<p class="meta">Machine-readable schema: <a href="/openapi.json">/openapi.json</a>. '
        'Every error is JSON <code>{"detail": "..."}</code>.</p>',
    ]
    for path, ops in sorted((schema.get("paths") or {}).items()):
        for method, op in ops.items():
            body.append(
                f'<h2 class="op"><code>{escape(method.upper())} {escape(path)}</code> '
                f"{escape(op.get('summary'))}</h2>"
            )
            if op.get("description"):
                body.append(f'<p class="meta">{escape(op["description"])}</p>')
            params = op.get("parameters") or []
            if params:
                body.append(
                    '<table class="params"><thead><tr><th class="text">Parameter</th>'
                    '<th class="text">In</th><th class="text">Required</th>'
                    '<th class="text">Description</th></tr></thead><tbody>'
                )
                for p in params:
                    body.append(
                        f'<tr><td class="text"><code>{escape(p.get("name"))}</code></td>'
                        f'<td class="text">{escape(p.get("in"))}</td>'
                        f'<td class="text">{"yes" if p.get("required") else "no"}</td>'
                        f'<td class="text">{escape(p.get("description"))}</td></tr>'
                    )
                body.append("</tbody></table>")
            if op.get("requestBody"):
                kinds = ", ".join((op["requestBody"].get("content") or {}).keys())
                body.append(f'<p class="meta">Body: <code>{escape(kinds)}</code></p>')
            responses = (op.get("responses") or {}).items()
            answers = ", ".join(f"{code} {r.get('description', '')}" for code, r in responses)
            body.append(f'<p class="meta">Answers: {escape(answers)}</p>')
    return _page("API — rclicks leaderboard", "".join(body))
