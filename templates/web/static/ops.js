// Ops dashboard: draws the tables from /ops/data.json and redraws them every 5 s (no page reloads).
// All data goes in through textContent.
(function () {
  "use strict";
  var csrf = document.getElementById("csrf").value;
  var live = document.getElementById("live");
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined && text !== null) e.textContent = String(text); return e; }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }
  function badge(status, label) { return el("span", "badge st-" + status, label); }
  function empty(tbody, cols, text) { var tr = el("tr"); var td = el("td", "muted", text); td.colSpan = cols; tr.appendChild(td); tbody.appendChild(tr); }
  function link(href, text) { var a = el("a", "", text); a.href = href; return a; }
  function text(id, v) { document.getElementById(id).textContent = v; }

  function draw(d) {
    text("card-waiting", d.cards.waiting); text("card-failed", d.cards.failed); text("card-manual", d.cards.manual);
    text("card-verify-failed", d.cards.verify_failed); text("card-links", d.cards.link_problems);
    text("card-past", d.cards.past_due_text); text("card-near", d.cards.near_due_text); text("near-limit", d.near_limit);

    var tb = document.querySelector("#oldest tbody"); clear(tb);
    d.oldest.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", "", r.label)); tr.appendChild(el("td", "num", r.count));
      tr.appendChild(el("td", "nowrap small", r.since));
      tr.appendChild(el("td", r.age_seconds > 3600 ? "due-late nowrap" : (r.age_seconds > 600 ? "due-near nowrap" : "nowrap"), r.age));
      tb.appendChild(tr);
    });
    if (!d.oldest.length) empty(tb, 4, "没有待完成的投递");

    tb = document.querySelector("#deadlines tbody"); clear(tb);
    d.deadlines.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", (r.past ? "due-late" : "due-near") + " nowrap", r.due_date + (r.provisional ? "（暂估）" : "") + (r.past ? "（已逾期 " + (-r.days) + " 天）" : (r.days === 0 ? "（今天到期）" : "（还剩 " + r.days + " 天）"))));
      var td = el("td"); td.appendChild(link("/documents/" + r.id, r.title)); tr.appendChild(td);
      tr.appendChild(el("td", "small", r.office)); tr.appendChild(el("td", "nowrap", r.status_label));
      tb.appendChild(tr);
    });
    if (!d.deadlines.length) empty(tb, 4, "没有临近或超过期限的文件");

    tb = document.querySelector("#failures tbody"); clear(tb);
    d.failures.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", "nowrap", r.label)); var st = el("td"); st.appendChild(badge(r.status, r.status_label)); tr.appendChild(st);
      var err = el("td", "wrap small"); err.appendChild(el("div", "", r.error || "（无错误信息）")); if (r.error_class) err.appendChild(el("div", "muted", r.error_class_label || r.error_class)); tr.appendChild(err);
      tr.appendChild(el("td", "num", r.count)); tr.appendChild(el("td", "nowrap small", r.latest));
      var act = el("td", "nowrap");
      var b = el("button", "small", "全部重试（" + r.count + "）"); b.type = "button";
      b.addEventListener("click", function () { bulkRetry(r, b); });
      act.appendChild(b);
      act.appendChild(document.createTextNode(" "));
      act.appendChild(link("/log?channel=" + encodeURIComponent(r.channel) + "&status=" + encodeURIComponent(r.status), "日志"));
      tr.appendChild(act);
      tb.appendChild(tr);
    });
    if (!d.failures.length) empty(tb, 6, "没有失败的投递");

    var mt = document.getElementById("matrix"); var th = mt.querySelector("thead"); tb = mt.querySelector("tbody"); clear(th); clear(tb);
    var hr = el("tr"); hr.appendChild(el("th", "", "文件")); hr.appendChild(el("th", "", "期限"));
    d.matrix_channels.forEach(function (c) { hr.appendChild(el("th", "ch", d.channel_labels[c] || c)); });
    th.appendChild(hr);
    d.matrix.forEach(function (r) {
      var tr = el("tr"); var td = el("td"); td.appendChild(link("/documents/" + r.id, r.title)); td.appendChild(el("div", "muted small", r.index_no)); var st = badge(r.state_badge, r.state_label); st.dataset.state = r.state; td.appendChild(st); tr.appendChild(td);
      tr.appendChild(el("td", "nowrap small", r.due_date + (r.due_date && r.provisional ? "（暂估）" : "")));
      d.matrix_channels.forEach(function (c) {
        var cell = r.cells[c];
        if (!cell) { tr.appendChild(el("td", "none", "—")); return; }
        var tdc = el("td", "cell"); tdc.appendChild(badge(cell.status, cell.label)); tr.appendChild(tdc);
      });
      tb.appendChild(tr);
    });
    if (!d.matrix.length) empty(tb, 2, "还没有文件");

    var ct = document.getElementById("counts"); th = ct.querySelector("thead"); tb = ct.querySelector("tbody"); clear(th); clear(tb);
    var statuses = Object.keys(d.status_labels).filter(function (s) { return d.channels.some(function (c) { return d.counts[c][s]; }); });
    hr = el("tr"); hr.appendChild(el("th", "", "渠道"));
    statuses.forEach(function (s) { hr.appendChild(el("th", "num", d.status_labels[s])); });
    hr.appendChild(el("th", "num", "合计")); th.appendChild(hr);
    d.channels.forEach(function (c) {
      var tr = el("tr"); tr.appendChild(el("td", "nowrap", d.channel_labels[c] || c)); var sum = 0;
      statuses.forEach(function (s) {
        var n = d.counts[c][s] || 0; sum += n;
        var td = el("td", "num"); if (n) { var a = link("/log?channel=" + encodeURIComponent(c) + "&status=" + encodeURIComponent(s), n); a.className = "badge st-" + s; td.appendChild(a); } else td.textContent = "";
        tr.appendChild(td);
      });
      tr.appendChild(el("td", "num", sum)); tb.appendChild(tr);
    });
    if (!d.channels.length) empty(tb, 1, "还没有投递");
    live.className = "live muted"; live.textContent = "数据时间 " + d.generated_at + " · 每 5 秒自动刷新";
  }

  function bulkRetry(r, button) {
    if (!window.confirm("确定重试“" + r.label + "”的 " + r.count + " 条失败投递？")) return;
    button.disabled = true;
    var fd = new FormData();
    fd.append("channel", r.channel); fd.append("status", r.status); fd.append("error_class", r.error_class); fd.append("error", r.error);
    fetch("/ops/retry", { method: "POST", body: fd, credentials: "same-origin", headers: { "X-CSRF-Token": csrf, "Accept": "application/json", "X-Requested-With": "fetch" } })
      .then(function (resp) { return resp.json(); })
      .then(function (j) { var m = document.getElementById("bulk-msg"); m.hidden = false; m.className = j.error ? "flash err" : "flash ok"; m.textContent = j.error || j.message; refresh(); })
      .catch(function () { button.disabled = false; });
  }

  function refresh() {
    fetch("/ops/data.json", { headers: { "Accept": "application/json", "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(draw)
      .catch(function () { live.className = "live stale"; live.textContent = "连接中断，显示的是旧数据，稍后自动重试"; });
  }
  draw(JSON.parse(document.getElementById("ops-data").textContent));
  setInterval(refresh, 5000);
})();
