"""One self-contained HTML report: no network, plots (PNG) and data inlined.

Summary tables, plots, a sortable per-instance table, and for every instance its click
sequences (each trajectory's clicks with their IoU), shown when its link is followed.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from typing import Any

from rclicks.reports.instances import instance_stats_cached, trajectory_rows
from rclicks.reports.plots import all_figures, data_uri
from rclicks.reports.runs import RunData
from rclicks.reports.tables import ReportTable, fmt

#: the tables and plots of the TETRIS section (not the summary's)
TETRIS_TABLES = ("tetris", "tetris_instances")
TETRIS_PLOTS = ("tetris",)

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;
color:#1d232a;background:#fff;max-width:1500px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid
#dde2e8;padding-bottom:4px} h3{font-size:15px;margin:18px 0 6px}
.meta{color:#5b6673;font-size:13px} code{font-size:12px;background:#f2f4f7;padding:1px 4px;
border-radius:3px}
table{border-collapse:collapse;margin:6px 0 4px;font-variant-numeric:tabular-nums}
th,td{padding:3px 9px;border-bottom:1px solid #e6e9ee;white-space:nowrap}
th{background:#f5f7fa;text-align:left;font-weight:600} td.r,th.r{text-align:right}
th.grp{text-align:center;border-bottom:1px solid #c5ccd6}
table.sortable th{cursor:pointer;user-select:none} table.sortable th:hover{background:#e9eef5}
th[aria-sort=ascending]::after{content:" ▲";font-size:10px}
th[aria-sort=descending]::after{content:" ▼";font-size:10px}
tr:hover td{background:#fafbfd} .note{color:#5b6673;font-size:12px;max-width:1100px}
.warn{background:#fff4d6;border:1px solid #e8c55b;padding:8px 12px;border-radius:4px;
margin:8px 0} .plots img{max-width:100%;border:1px solid #e6e9ee;margin:6px 0}
#clicks{border:1px solid #c5ccd6;border-radius:6px;padding:10px 14px;margin:14px 0;
background:#fbfcfe} #clicks[hidden]{display:none}
.pos{color:#137333;font-weight:600} .neg{color:#b3261e;font-weight:600}
.seq td{font-size:12px} .scroll{overflow-x:auto}
"""

_JS = r"""
(function(){
  function key(td){var v=td.getAttribute('data-v');if(v===null)v=td.textContent;
    var n=parseFloat(v);return (v!==''&&!isNaN(n)&&isFinite(v))?n:v.toLowerCase();}
  document.querySelectorAll('table.sortable').forEach(function(t){
    t.querySelectorAll('thead tr:last-child th').forEach(function(th,i){
      th.addEventListener('click',function(){
        var asc=th.getAttribute('aria-sort')!=='ascending';
        t.querySelectorAll('thead th').forEach(function(h){h.removeAttribute('aria-sort');});
        th.setAttribute('aria-sort',asc?'ascending':'descending');
        var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
          if(typeof x!==typeof y){x=String(x);y=String(y);}
          return (x<y?-1:x>y?1:0)*(asc?1:-1);});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  var data=JSON.parse(document.getElementById('click-data').textContent);
  var panel=document.getElementById('clicks');
  function esc(s){return String(s).replace(/[&<>"]/g,function(c){
    return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c];});}
  function show(){
    var m=/^#clicks-(\d+)$/.exec(location.hash);
    if(!m||!data[+m[1]]){panel.hidden=true;return;}
    var d=data[+m[1]],n=0,h='<h3>Click sequences: '+esc(d.model)+' · '+esc(d.dataset)+
      ' · sample '+esc(d.sample)+' · instance '+esc(d.instance)+'</h3>';
    d.trajectories.forEach(function(t){n=Math.max(n,t.c.length);});
    h+='<div class="scroll"><table class="seq"><thead><tr><th>trajectory</th>';
    for(var k=1;k<=n;k++)h+='<th class="r">click '+k+'</th>';
    h+='</tr></thead><tbody>';
    d.trajectories.forEach(function(t){
      var name=t.s+(t.g?' G'+t.g:'')+(t.r>1||t.s==='users'?' #'+t.r:'');
      h+='<tr><td>'+esc(name)+'</td>';
      t.c.forEach(function(c){h+='<td class="r"><span class="'+(c[2]?'pos">+':'neg">−')+
        '</span> ('+c[0]+', '+c[1]+') <b>'+c[3].toFixed(3)+'</b></td>';});
      h+='</tr>';});
    h+='</tbody></table></div><p class="note">Each cell: side (+ add, − remove), the click '+
      '(x, y) in image pixels, and the IoU after it. <a href="#instances">back to the '+
      'table</a></p>';
    panel.innerHTML=h;panel.hidden=false;panel.scrollIntoView();
  }
  window.addEventListener('hashchange',show);show();
})();
"""


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def table_html(t: ReportTable, sortable: bool = False) -> str:
    out = [f'<h3 id="table-{_e(t.name)}">{_e(t.title)}</h3>']
    out.append(f'<table class="{"sortable " if sortable else ""}report" data-table="{t.name}">')
    out.append("<thead>")
    if any(c.group for c in t.columns):
        out.append("<tr>")
        i = 0
        while i < len(t.columns):
            g, j = t.columns[i].group, i
            while j + 1 < len(t.columns) and t.columns[j + 1].group == g:
                j += 1
            out.append(f'<th class="grp" colspan="{j - i + 1}">{_e(g or "")}</th>')
            i = j + 1
        out.append("</tr>")
    out.append(
        "<tr>"
        + "".join(
            f'<th class="{"r" if c.align == "right" else "l"}">{_e(c.label)}</th>'
            for c in t.columns
        )
        + "</tr></thead><tbody>"
    )
    for row in t.rows:
        cells = []
        for c, cell in zip(t.columns, row.cells):
            v = "" if cell.value is None or isinstance(cell.value, str) else repr(cell.value)
            cls = "r" if c.align == "right" else "l"
            cells.append(f'<td class="{cls}" data-v="{_e(v)}">{_e(cell.text)}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    out += [f'<p class="note">{_e(n)}</p>' for n in t.notes]
    return "\n".join(out)


def _instances(runs: list[RunData], t: str) -> tuple[str, list[dict[str, Any]]]:
    """The per-instance table (HTML) and the click data its links open."""
    data: list[dict[str, Any]] = []
    index: dict[tuple, int] = {}
    for r in runs:
        for (d, s, i), trajs in trajectory_rows(r).items():
            index[(r.label, d, s, i)] = len(data)
            data.append(
                {
                    "model": r.label,
                    "dataset": d,
                    "sample": s,
                    "instance": i,
                    "trajectories": [
                        {"s": x["simulator"], "g": x["group"], "r": x["repeat"], "c": x["clicks"]}
                        for x in trajs
                    ],
                }
            )
    heads = [
        ("Model", "l"),
        ("Dataset", "l"),
        ("Sample", "l"),
        ("Inst.", "l"),
        ("Clicks", "l"),
        (f"Baseline NoC@{t}", "r"),
        (f"Sample NoC@{t}", "r"),
        ("± std", "r"),
        (f"G1 NoC@{t}", "r"),
        (f"GN NoC@{t}", "r"),
        ("IoU@1", "r"),
        ("IoU@1 std", "r"),
        ("NSR@1", "r"),
        ("IoU-AuC", "r"),
        ("", "l"),
    ]
    rows = []
    for r in runs:
        for x in instance_stats_cached(r):
            b = x.get("baseline") or {}
            per = x.get(f"NoC@{t}_per_group") or []
            kind = x["kind"]
            who = x["simulator"] + (f" ×{x['groups']}" if kind == "groups" else "")
            who += f" ({x['users']} users)" if kind == "users" else ""
            vals: list[tuple[Any, int]] = [
                (b.get(f"NoC@{t}") if kind != "single" else x.get(f"NoC@{t}"), 2),
                (x.get(f"NoC@{t}") if kind == "groups" else None, 2),
                (x.get(f"NoC@{t}_std") if kind == "groups" else None, 2),
                (per[0] if per else None, 2),
                (per[-1] if per else None, 2),
                (x.get("IoU@1"), 3),
                (x.get("IoU@1_std"), 3),
                (x.get("IoU@1 NSR"), 3),
                (x.get("IoU-AuC"), 3),
            ]
            k = index.get((r.label, x["dataset"], x["sample_id"], x["instance_id"]))
            cells = [
                f'<td class="l">{_e(v)}</td>'
                for v in (r.label, x["dataset"], x["sample_id"], x["instance_id"], who)
            ]
            for v, digits in vals:
                dv = "" if v is None else repr(float(v))
                cells.append(f'<td class="r" data-v="{dv}">{_e(fmt(v, digits))}</td>')
            link = f'<a href="#clicks-{k}">clicks</a>' if k is not None else ""
            cells.append(f'<td class="l" data-v="">{link}</td>')
            rows.append("<tr>" + "".join(cells) + "</tr>")
    table = (
        '<table class="sortable" id="instance-table"><thead><tr>'
        + "".join(f'<th class="{a}">{_e(h)}</th>' for h, a in heads)
        + "</tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table>"
    )
    return table, data


def render_html(
    runs: list[RunData],
    tables: list[ReportTable],
    warnings: list[str],
    t: str = "90",
    figures: dict[str, Any] | None = None,
    compare_force: bool = False,
    seed: int = 0,
) -> str:
    """The whole report; with several runs, also the paired comparison of each against the
    first (NoC@t, bootstrap CIs, Wilcoxon) and its forest plot."""
    figures = all_figures(runs, t) if figures is None else figures
    compare_html = ""
    if len(runs) > 1:
        from rclicks.reports.comparison import compare
        from rclicks.reports.plots import forest_plot
        from rclicks.reports.tables import comparison_table

        df = compare(*runs, metric=f"noc@{t}", seed=seed, force=compare_force)
        if len(df):
            compare_html = table_html(comparison_table(df))
            fig = forest_plot(df)
            if fig is not None:
                compare_html += (
                    f'<img id="plot-forest" alt="paired differences" src="{data_uri(fig)}">'
                )
    inst_table, data = _instances(runs, t)
    blob = json.dumps(data, separators=(",", ":"), allow_nan=False)
    blob = blob.replace("</", "<\\/")  # never close the script element early
    runs_html = "".join(
        f"<li><b>{_e(r.label)}</b> — <code>{_e(r.path)}</code>; max_clicks "
        f"{r.protocol.get('max_clicks')}, groups {r.protocol.get('groups')}, repeats "
        f"{r.protocol.get('repeats')}, seed {r.protocol.get('seed')}; datasets "
        + ", ".join(f"{_e(d)} (manifest {_e((s or '—')[:12])})" for d, s in r.manifests().items())
        + "</li>"
        for r in runs
    )
    warn_html = "".join(f'<div class="warn">warning: {_e(w)}</div>' for w in warnings)
    titles = {
        "iou_vs_click": "IoU vs click number",
        "noc_per_group": f"NoC@{t} per clicking group",
        "difficulty": "Instance difficulty (mean vs std of IoU@1)",
        "tetris": "TETRIS: mean IoU and boundary IoU of the min, baseline and max clicks",
    }

    def plot_html(k: str, f: Any) -> str:
        title = _e(titles.get(k, k))
        return f'<h3>{title}</h3><img id="plot-{k}" alt="{title}" src="{data_uri(f)}">'

    plots_html = "".join(plot_html(k, f) for k, f in figures.items() if k not in TETRIS_PLOTS)
    summary_tables = [x for x in tables if x.name not in TETRIS_TABLES]
    tetris_tables = "".join(table_html(x) for x in tables if x.name in TETRIS_TABLES)
    tetris_plots = "".join(plot_html(k, f) for k, f in figures.items() if k in TETRIS_PLOTS)
    tetris_html = ""
    if tetris_tables or tetris_plots:
        tetris_html = (
            '<h2 id="tetris">TETRIS robustness</h2>\n<p class="note">Per instance, TETRIS '
            "searches the clicks that make the IoU lowest (min) and highest (max), click by "
            "click, inside the error region where the baseline robot clicks; Δ = Max − Min of "
            "the IoU-AuC is how much the model's result depends on where in that region a "
            "person clicks. <code>rclicks show-clicks RUN --simulator tetris-min</code> draws "
            "one trajectory with every position the search evaluated.</p>"
            f'<div class="scroll">{tetris_tables}</div><div class="plots">{tetris_plots}</div>'
        )
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    models = ", ".join(r.label for r in runs)
    body = f"""<h1>rclicks report</h1>
<p class="meta">{len(runs)} run(s), generated {stamp}. Every number is recomputed from
<code>per_click.parquet</code>.</p>
<ul class="meta">{runs_html}</ul>
{warn_html}
<h2 id="tables">Summary</h2>
{"".join(table_html(x) for x in summary_tables)}
<h2 id="plots">Plots</h2>
<div class="plots">{plots_html}</div>
{tetris_html}
{
        '<h2 id="compare">Paired comparison</h2><div class="plots">' + compare_html + "</div>"
        if compare_html
        else ""
    }
<h2 id="instances">Instances</h2>
<p class="note">Click a column header to sort. "clicks" opens the instance's click sequences.
G1 / GN: NoC in the least / most clickable group; IoU@1 and its std over groups (or users);
NSR@1 = std / mean.</p>
<div class="scroll">{inst_table}</div>
<section id="clicks" hidden></section>
<script type="application/json" id="click-data">{blob}</script>
<script>{_JS}</script>"""
    return page(f"rclicks report — {models}", body)


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML page with the report's style."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{_e(title)}</title>
<style>{_CSS}</style></head>
<body>
{body}
</body></html>
"""


def comparison_html(df: Any) -> str:
    """A self-contained HTML page of a :func:`rclicks.compare` table and its forest plot."""
    from rclicks.reports.plots import forest_plot
    from rclicks.reports.tables import comparison_table

    fig = forest_plot(df)
    body = "<h1>rclicks compare</h1>" + table_html(comparison_table(df))
    if fig is not None:
        body += (
            "<h3>Paired differences (B − A) with 95% CIs</h3>"
            f'<img id="plot-forest" alt="forest plot" src="{data_uri(fig)}">'
        )
    return page("rclicks compare", body)
