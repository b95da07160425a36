"""The fixed text of report.html: its HTML skeleton, its CSS and its tables' JavaScript.

`PAGE` is filled in by `allocator.outputs.html.render_report`; `TABLE_SCRIPT` sorts a
table on a click of its header and filters its rows as you type. Never imports Pyomo.
"""

from __future__ import annotations

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
<script>{plotly_js}</script>
</head>
<body>
<header>{header}<nav>{nav}</nav></header>
<main>
{body}
</main>
<script>{script}</script>
</body>
</html>
"""


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  margin: 0; color: #222; background: #fafafa; }
header { background: #fff; border-bottom: 1px solid #ddd; padding: 12px 24px; }
h1 { font-size: 22px; margin: 4px 0 10px; }
h2 { font-size: 18px; margin: 0 0 8px; }
nav { margin-top: 8px; font-size: 14px; }
nav a { color: #08519c; text-decoration: none; }
main { padding: 12px 24px; }
section { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px;
  padding: 14px 16px; margin: 0 0 16px; }
.facts { display: flex; flex-wrap: wrap; gap: 8px; }
.fact { border: 1px solid #e3e3e3; border-radius: 6px; padding: 6px 10px; background: #f6f8fa; }
.fact span { display: block; font-size: 11px; color: #666; text-transform: uppercase; }
.fact b { font-size: 15px; }
.note { color: #555; font-size: 13px; margin: 4px 0 8px; }
.chart { width: 100%; }
.table-tools { margin: 8px 0 4px; font-size: 13px; }
.table-tools input { padding: 4px 8px; width: 260px; }
.count { color: #666; margin-left: 8px; }
.table-wrap { max-height: 520px; overflow: auto; border: 1px solid #e3e3e3; }
table.grid { border-collapse: collapse; font-size: 13px; width: 100%; }
table.grid th { position: sticky; top: 0; background: #eef2f6; cursor: pointer;
  text-align: left; padding: 6px 8px; border-bottom: 1px solid #ccc; white-space: nowrap; }
table.grid th.asc::after { content: " \\25B2"; }
table.grid th.desc::after { content: " \\25BC"; }
table.grid td { padding: 4px 8px; border-bottom: 1px solid #f0f0f0; vertical-align: top; }
table.grid tr:nth-child(even) td { background: #fbfbfb; }
"""


TABLE_SCRIPT = """
(function () {
  function key(cell) {
    var raw = cell.getAttribute('data-sort');
    var number = parseFloat(raw);
    return (raw !== '' && isFinite(raw)) ? number : raw.toLowerCase();
  }
  document.querySelectorAll('table.grid').forEach(function (table) {
    table.querySelectorAll('th').forEach(function (th, column) {
      th.addEventListener('click', function () {
        var ascending = !th.classList.contains('asc');
        table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
        th.classList.add(ascending ? 'asc' : 'desc');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[column]), y = key(b.cells[column]);
          if (typeof x !== typeof y) { x = String(x); y = String(y); }
          return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  document.querySelectorAll('input[data-table]').forEach(function (input) {
    input.addEventListener('input', function () {
      var table = document.getElementById(input.getAttribute('data-table'));
      var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var text = row.textContent.toLowerCase();
        var match = words.every(function (word) { return text.indexOf(word) >= 0; });
        row.style.display = match ? '' : 'none';
        if (match) { shown += 1; }
      });
      document.getElementById(input.getAttribute('data-table') + '-count').textContent =
        shown.toLocaleString() + ' rows';
    });
  });
})();
"""
