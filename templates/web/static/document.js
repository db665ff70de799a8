// Document page: poll the deliveries' states and update the rows in place (no full reload),
// reloading only when new deliveries appear (a new version, an approval, a withdrawal).
// Never reload over the user: not while a navigation they started is under way (the reload would cancel it),
// and not once they have typed into a form on the page (the reload would throw their input away); then say
// that the page is out of date and let them reload it when they are done.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var table = document.getElementById("deliveries");
  if (!live) return;
  var known = {};
  if (table) table.querySelectorAll("tr[data-id]").forEach(function (tr) { known[tr.dataset.id] = tr; });
  var docStatus = document.getElementById("doc-status");
  var initialDocStatus = null;
  var edited = false, leaving = false, stale = false;
  // Only the user's own typing counts (isTrusted): the editor's script fires input events of its own on load.
  function markEdited(e) {
    if (e.isTrusted && e.target && e.target.closest && e.target.closest("form, [contenteditable=true]")) edited = true;
  }
  document.addEventListener("input", markEdited, true);
  document.addEventListener("change", markEdited, true);
  // Fires when a link, a form or the address bar starts a navigation. If the page is still here a little later the
  // navigation became a download or was cancelled, so polling carries on as before.
  window.addEventListener("beforeunload", function () {
    leaving = true;
    setTimeout(function () { leaving = false; }, 10000);
  });
  function showStale() {
    if (stale) return;
    stale = true;
    live.className = "live stale";
    live.textContent = "";
    var a = document.createElement("a");
    a.href = window.location.pathname + window.location.search;
    a.id = "live-reload";
    a.textContent = "本文件有新进展，点此刷新页面（刷新会清空尚未提交的填写内容，请先提交）";
    live.appendChild(a);
  }
  // Every other time on the page is Beijing time; so is this clock, whatever the browser's own time zone.
  var BEIJING_CLOCK = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  var ERROR_STATES = ["retrying", "failed", "not_configured", "removed"];
  function set(tr, role, fn) { var c = tr.querySelector("[data-role=" + role + "]"); if (c) fn(c); }
  function tick() {
    if (leaving || stale) return;
    fetch(live.dataset.url, { headers: { "Accept": "application/json", "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (j) {
        if (initialDocStatus === null) initialDocStatus = j.document_status;
        var fresh = j.deliveries.some(function (d) { return !known[d.id]; });
        if (fresh || j.document_status !== initialDocStatus) {
          if (leaving) return;
          if (edited) { showStale(); return; }
          window.location.reload();
          return;
        }
        if (docStatus && j.document_state_label) {
          docStatus.className = "badge st-" + j.document_state_badge;
          docStatus.dataset.state = j.document_state;
          docStatus.textContent = j.document_state_label;
        }
        j.deliveries.forEach(function (d) {
          var tr = known[d.id];
          set(tr, "status", function (c) { c.className = "badge st-" + d.status; c.textContent = d.label; });
          set(tr, "attempts", function (c) { c.textContent = d.attempts + "/" + d.max_attempts; });
          // The last error is current only while the delivery is failing (not once cancelled or delivered).
          set(tr, "error", function (c) { c.textContent = ERROR_STATES.indexOf(d.status) >= 0 ? (d.last_error || "") : ""; });
          set(tr, "delivered", function (c) { if (d.delivered_at && !c.textContent.trim()) c.textContent = d.delivered_at; });
          set(tr, "due", function (c) { c.className = "small nowrap " + d.due_cls; c.textContent = d.due_text; });
          set(tr, "links", function (c) {
            if (!d.links.length) return;
            while (c.firstChild) c.removeChild(c.firstChild);
            d.links.forEach(function (l, i) {
              var a = document.createElement("a");
              a.href = l[1]; a.textContent = l[0]; a.target = "_blank"; a.rel = "noopener noreferrer";
              if (i) c.appendChild(document.createElement("br"));
              c.appendChild(a);
            });
          });
        });
        live.className = "live muted";
        live.textContent = "自动刷新中 · " + BEIJING_CLOCK.format(new Date());
      })
      .catch(function () { live.className = "live stale"; live.textContent = "连接中断，稍后自动重试"; });
  }
  tick();
  setInterval(tick, 3000);
})();

// File pickers: the native control is hidden (its "Choose File" follows the browser's language); show the chosen names.
(function () {
  "use strict";
  document.querySelectorAll("input[type=file][data-file-names]").forEach(function (input) {
    var out = input.parentNode.querySelector("[data-role=file-names]");
    if (!out) return;
    input.addEventListener("change", function () {
      var names = Array.prototype.map.call(input.files || [], function (f) { return f.name; });
      out.textContent = names.length ? names.join("、") : "未选择文件";
    });
  });
})();
