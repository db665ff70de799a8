// Search over titles and 文号. Prefers the server route (api/search) when the site is served by the app;
// falls back to the static JSON shards so the column also works from any plain web server.
(function () {
  "use strict";
  var form = document.getElementById("search-form");
  var input = document.getElementById("search-q");
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  var MAX = 200;

  function show(items, q) {
    list.textContent = "";
    if (!items.length) {
      status.textContent = "未找到与“" + q + "”相关的信息。";
      return;
    }
    status.textContent = "找到 " + items.length + " 条相关信息" + (items.length >= MAX ? "（仅显示前 " + MAX + " 条）" : "") + "。";
    items.slice(0, MAX).forEach(function (it) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = it.u;
      a.textContent = it.t;
      li.appendChild(a);
      var meta = document.createElement("span");
      meta.className = "date";
      meta.textContent = (it.n ? it.n + "　" : "") + (it.d || "");
      li.appendChild(meta);
      list.appendChild(li);
    });
  }

  function matches(it, q) {
    return (it.t && it.t.indexOf(q) >= 0) || (it.n && it.n.indexOf(q) >= 0);
  }

  function fromShards(q) {
    return fetch("search/manifest.json", { cache: "no-cache" })
      .then(function (r) { if (!r.ok) { throw new Error("manifest"); } return r.json(); })
      .then(function (m) {
        var jobs = [];
        for (var i = m.shards; i >= 1; i--) {
          jobs.push(fetch("search/s" + i + ".json", { cache: "no-cache" }).then(function (r) { return r.ok ? r.json() : []; }));
        }
        return Promise.all(jobs);
      })
      .then(function (shards) {
        var out = [];
        shards.forEach(function (s) { s.forEach(function (it) { if (matches(it, q)) { out.push(it); } }); });
        out.sort(function (a, b) { return (b.s || 0) - (a.s || 0); });
        return out;
      });
  }

  function run(q) {
    q = (q || "").trim();
    if (!q) { return; }
    input.value = q;
    status.textContent = "正在检索……";
    fetch("api/search?q=" + encodeURIComponent(q))
      .then(function (r) {
        var type = r.headers.get("content-type") || "";
        if (!r.ok || type.indexOf("json") < 0) { throw new Error("no server search"); }
        return r.json();
      })
      .catch(function () { return fromShards(q); })
      .then(function (items) { show(items, q); })
      .catch(function () { status.textContent = "检索暂时不可用，请稍后再试。"; });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    history.replaceState(null, "", "search.html?q=" + encodeURIComponent(input.value.trim()));
    run(input.value);
  });
  var initial = new URLSearchParams(location.search).get("q");
  if (initial) { run(initial); }
})();
