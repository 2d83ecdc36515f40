"""The report page's own style and script: paged, filterable lists rendered from JSON embedded in the page.

Nothing is fetched: the lists, thumbnails (data URIs) and plots are all inside the one HTML file.
"""

from __future__ import annotations

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1280px;
       padding: 0 18px 60px; color: #1c2430; background: #fff; }
h1 { margin: 22px 0 4px; font-size: 24px; } h2 { margin-top: 34px; border-bottom: 2px solid #e3e7ee; }
h3 { margin: 18px 0 6px; font-size: 15px; }
nav a { margin-right: 12px; } .meta { color: #5b6677; font-size: 12px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 12.5px; }
th, td { border: 1px solid #dde2ea; padding: 3px 7px; text-align: right; vertical-align: top; }
th { background: #f3f5f9; } td.text, th.text { text-align: left; } tr.ours td { background: #f2f7ff; font-weight: 600; }
.note { color: #5b6677; font-size: 12px; max-width: 1000px; }
.regression { color: #b3261e; font-weight: 700; } .improvement { color: #1b7f3b; font-weight: 700; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 8px 0; }
.controls label { font-size: 12px; color: #5b6677; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 10px; }
.card { border: 1px solid #dde2ea; border-radius: 6px; padding: 6px; font-size: 12px; overflow-wrap: anywhere; }
.card.right { border-left: 5px solid #1b7f3b; } .card.wrong { border-left: 5px solid #b3261e; }
.card img { display: block; max-width: 100%; border-radius: 3px; margin-bottom: 4px; }
.failure { display: grid; grid-template-columns: 140px 1fr; gap: 10px; border-bottom: 1px solid #e3e7ee; padding: 8px 0; }
.failure img { max-width: 132px; display: block; margin-bottom: 4px; } .failure pre { white-space: pre-wrap; margin: 2px 0; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; background: #eef1f6; font-size: 11px; }
.pager button { margin: 0 4px; } details { margin: 4px 0; } details pre { font-size: 11.5px; background: #f7f8fa;
  padding: 8px; overflow: auto; max-height: 420px; }
img.plot { max-width: 100%; } .tables { display: flex; flex-wrap: wrap; gap: 0 16px; align-items: flex-start; }
"""

SCRIPT = r"""
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const thumbs = data.thumbs;
  function esc(value) {
    return String(value).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }
  function img(key, alt) {
    return key && thumbs[key] ? '<img src="' + thumbs[key] + '" alt="' + esc(alt) + '">' : "";
  }
  function renderImage(item) {
    return '<div class="card ' + (item.correct ? "right" : "wrong") + '">' + img(item.thumb, item.prompt) +
      '<div><span class="badge">' + esc(item.category) + '</span> <b>' + (item.correct ? "correct" : "wrong") +
      '</b> · ' + esc(item.model) + ' · image ' + esc(item.image) + '</div><div>' + esc(item.prompt) + '</div>' +
      '<div class="note">' + esc(item.reason) + '</div><div class="note">' + esc(item.details) + '</div></div>';
  }
  function renderFailure(item) {
    return '<div class="failure"><div>' + item.thumbs.map((k) => img(k, item.sample)).join("") + '</div><div>' +
      '<div><span class="badge">' + esc(item.task) + '</span> <span class="badge">' + esc(item.category) +
      '</span> <span class="badge">' + esc(item.kind) + '</span> ' + esc(item.model) + ' · ' + esc(item.sample) +
      '</div><pre>' + esc(item.question) + '</pre><div><b>answer:</b> ' + esc(item.answer) +
      '</div><div><b>target:</b> ' + esc(item.target) + '</div><div class="note">' + esc(item.why) + '</div></div></div>';
  }
  function pagedList(root, items, render) {
    const list = root.querySelector(".items"), status = root.querySelector(".status");
    const selects = Array.from(root.querySelectorAll("select[data-field]"));
    const search = root.querySelector("input[type=search]");
    const size = parseInt(root.dataset.pageSize, 10);
    for (const select of selects) {
      const field = select.dataset.field;
      const values = Array.from(new Set(items.map((item) => String(item[field])))).sort();
      for (const value of values) {
        const option = document.createElement("option");
        option.value = value; option.textContent = value;
        select.appendChild(option);
      }
    }
    let page = 0, shown = items;
    function filter() {
      const query = search ? search.value.toLowerCase() : "";
      shown = items.filter((item) => selects.every((s) => s.value === "" || String(item[s.dataset.field]) === s.value) &&
        (!query || JSON.stringify(item).toLowerCase().includes(query)));
      page = 0; draw();
    }
    function draw() {
      const pages = Math.max(1, Math.ceil(shown.length / size));
      page = Math.min(Math.max(page, 0), pages - 1);
      list.innerHTML = shown.slice(page * size, (page + 1) * size).map(render).join("");
      status.textContent = shown.length + " of " + items.length + " shown · page " + (page + 1) + " of " + pages;
      root.dataset.shown = String(shown.length);
    }
    root.querySelector(".prev").addEventListener("click", () => { page -= 1; draw(); });
    root.querySelector(".next").addEventListener("click", () => { page += 1; draw(); });
    for (const select of selects) select.addEventListener("change", filter);
    if (search) search.addEventListener("input", filter);
    filter();
  }
  const images = document.getElementById("image-list");
  if (images) pagedList(images, data.images, renderImage);
  const failures = document.getElementById("failure-list");
  if (failures) pagedList(failures, data.failures, renderFailure);
  document.body.dataset.ready = "1";
})();
"""
