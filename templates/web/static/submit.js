// Submit page: catalog tree with search, live body preview (Markdown or the editor's HTML) (rendered by the server's sanitiser),
// due-date + channel preview, attachments with client-side checks, XHR submit with a progress bar,
// and the personal-data acknowledgement. Untrusted text is only ever set through textContent.
(function () {
  "use strict";
  var form = document.getElementById("submit-form");
  if (!form) return;
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var entries = JSON.parse(document.getElementById("entries-data").textContent);
  var tree = document.getElementById("tree");
  var search = document.getElementById("entry-search");
  var entryInput = document.getElementById("entry");
  var publisherInput = document.getElementById("publisher");
  var chosen = document.getElementById("chosen");
  var formedOn = document.getElementById("formed_on");
  var dueBox = document.getElementById("due");
  var body = document.getElementById("body");
  var preview = document.getElementById("preview");
  var personal = document.getElementById("personal");
  var personalList = document.getElementById("personal-list");
  var confirmBox = document.getElementById("confirm_personal_data");
  var maxBytes = parseInt(form.dataset.maxBytes, 10);
  var allowed = form.dataset.allowed.split(",");
  var maxFiles = parseInt(form.dataset.maxFiles, 10);
  var files = [];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function renderTree() {
    var q = search.value.trim().toLowerCase();
    while (tree.firstChild) tree.removeChild(tree.firstChild);
    var lastGroup = null, shown = 0;
    entries.forEach(function (e) {
      var hay = [e.code, e.path_text, e.content, e.offices.join(" "), e.publisher].join(" ").toLowerCase();
      if (q && hay.indexOf(q) < 0) return;
      var group = e.publisher + " · " + e.path[0];
      if (group !== lastGroup) { tree.appendChild(el("div", "grp", group)); lastGroup = group; }
      var row = el("div", "ent" + (e.warnings.length ? " warn" : "") + (entryInput.value === e.code && publisherInput.value === e.publisher ? " sel" : ""));
      row.tabIndex = 0;
      row.dataset.code = e.code;
      row.appendChild(el("div", "t", e.code + "  " + (e.path.length > 1 ? e.path.slice(1).join(" / ") : e.path[0])));
      if (e.content) row.appendChild(el("div", "m", e.content.length > 60 ? e.content.slice(0, 60) + "…" : e.content));
      var chips = el("div", "m chips");
      e.channels.forEach(function (c) { chips.appendChild(el("span", "", c.label)); });
      if (!e.channels.length) chips.appendChild(el("span", "", "未标明渠道"));
      row.appendChild(chips);
      row.appendChild(el("div", "m", "时限：" + (e.time_limit || "未规定") + "；责任科室：" + (e.offices.join("、") || "未指定") + (e.review ? "；需保密审查" : "")));
      row.addEventListener("click", function () { choose(e); });
      row.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { ev.preventDefault(); choose(e); } });
      tree.appendChild(row);
      shown++;
    });
    if (!shown && entries.length) tree.appendChild(el("div", "empty", "没有匹配“" + search.value + "”的事项"));
  }

  function choose(e) {
    entryInput.value = e.code;
    publisherInput.value = e.publisher;
    while (chosen.firstChild) chosen.removeChild(chosen.firstChild);
    chosen.appendChild(el("strong", "", "已选：" + e.code + " " + e.path_text));
    chosen.appendChild(el("div", "muted small", e.content));
    if (e.warnings.length) chosen.appendChild(el("div", "due-near small", "目录提示：" + e.warnings.join("；")));
    renderTree();
    updateDue();
  }

  var dueSeq = 0;
  function updateDue() {
    if (!entryInput.value || !formedOn.value) { dueBox.hidden = true; return; }
    var seq = ++dueSeq;
    var url = "/submit/due.json?entry=" + encodeURIComponent(entryInput.value) + "&publisher=" +
      encodeURIComponent(publisherInput.value) + "&formed_on=" + encodeURIComponent(formedOn.value);
    fetch(url, { headers: { "Accept": "application/json", "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
      .then(function (res) {
        if (seq !== dueSeq) return;
        var ok = res[0], j = res[1];
        while (dueBox.firstChild) dueBox.removeChild(dueBox.firstChild);
        dueBox.hidden = false;
        if (!ok) { dueBox.appendChild(el("span", "due-late", j.error || "无法计算期限")); return; }
        var head = el("div");
        head.appendChild(el("strong", "", "公开期限："));
        head.appendChild(el("span", j.due_date ? "due-near" : "muted", j.due_date ? ("最迟 " + j.due_date + (j.due_date_provisional ? "（暂估）" : "")) : "无法自动计算"));
        head.id = "due-date";
        dueBox.appendChild(head);
        dueBox.appendChild(el("div", "muted small", j.explanation));
        var ch = el("div", "chips");
        ch.id = "due-channels";
        ch.appendChild(el("strong", "", "将发布到：" ));
        j.channels.forEach(function (c) {
          ch.appendChild(el("span", "", c.label + (c.configured ? "" : "（渠道未配置，需运维处理）")));
        });
        if (!j.channels.length) ch.appendChild(el("span", "", "该事项未标明公开渠道"));
        dueBox.appendChild(ch);
        if (j.review) dueBox.appendChild(el("div", "due-near small", "该事项需经保密审查，审核通过后才会发布。"));
      })
      .catch(function () { dueBox.hidden = false; dueBox.textContent = "网络异常，期限暂时无法计算"; });
  }

  var previewTimer = null;
  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(doPreview, 350);
  }
  function doPreview() {
    var fd = new FormData();
    fd.append("body", body.value);
    fd.append("body_format", document.getElementById("body_format").value);
    fd.append("title", document.getElementById("title").value);
    fetch("/submit/preview", { method: "POST", body: fd, credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json", "X-Requested-With": "fetch" } })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        if (j.html === undefined) { preview.textContent = j.error || "预览失败"; return; }
        // Server-sanitised with the same rules as publication (nh3), so it is safe to insert as HTML.
        preview.innerHTML = j.html || "<span class=\"muted\">正文预览</span>";
        showPersonal(j.personal_data || []);
        if (j.content_hits) showContentHits(j.content_hits);
      })
      .catch(function () { preview.textContent = "网络异常，预览暂不可用"; });
  }
  // Content-check hits of a refused submission: a table, and the confirmation box while any is a warning (警告).
  function showContentHits(hits) {
    var box = document.getElementById("content-hits");
    var rows = document.getElementById("content-hits-rows");
    if (!box || !rows) return;
    while (rows.firstChild) rows.removeChild(rows.firstChild);
    hits.forEach(function (h) {
      var tr = el("tr");
      var td = el("td"); td.appendChild(el("span", "badge sev-" + h.severity, h.severity_label)); tr.appendChild(td);
      [h.category_label, h.field, h.term, h.message || h.suggestion, h.context].forEach(function (t) { tr.appendChild(el("td", "", t)); });
      rows.appendChild(tr);
    });
    box.hidden = !hits.length;
    document.getElementById("content-confirm").hidden = !hits.some(function (h) { return h.severity === "warn"; });
  }
  function showPersonal(list) {
    if (list.length) { personal.hidden = false; personalList.textContent = list.join("、"); }
    else { personal.hidden = true; confirmBox.checked = false; }
  }

  // --- attachments ---
  var list = document.getElementById("file-list");
  var drop = document.getElementById("drop");
  var input = document.getElementById("file-input");
  function ext(name) { var i = name.lastIndexOf("."); return i < 0 ? "" : name.slice(i + 1).toLowerCase(); }
  function problem(f) {
    if (allowed.indexOf(ext(f.name)) < 0) return "类型不允许（允许：" + allowed.join("、") + "）";
    if (f.size > maxBytes) return "超过 " + Math.round(maxBytes / 1048576) + " MB";
    if (f.size === 0) return "空文件";
    return "";
  }
  function size(n) { return n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(n / 1024)) + " KB"; }
  function addFiles(fl) {
    for (var i = 0; i < fl.length; i++) files.push(fl[i]);
    renderFiles();
  }
  function renderFiles() {
    while (list.firstChild) list.removeChild(list.firstChild);
    files.forEach(function (f, i) {
      var li = el("li");
      li.appendChild(el("span", "", f.name));
      li.appendChild(el("span", "muted", size(f.size)));
      var p = problem(f);
      if (p) li.appendChild(el("span", "bad", p));
      var rm = el("button", "secondary small", "移除");
      rm.type = "button";
      rm.addEventListener("click", function () { files.splice(i, 1); renderFiles(); });
      li.appendChild(rm);
      list.appendChild(li);
    });
  }
  document.getElementById("pick").addEventListener("click", function (ev) { ev.preventDefault(); input.click(); });
  input.addEventListener("change", function () { addFiles(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (t) { drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.add("over"); }); });
  ["dragleave", "drop"].forEach(function (t) { drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.remove("over"); }); });
  drop.addEventListener("drop", function (ev) { if (ev.dataTransfer && ev.dataTransfer.files) addFiles(ev.dataTransfer.files); });

  // --- submit ---
  var errBox = document.getElementById("client-errors");
  var progress = document.getElementById("progress");
  var btn = document.getElementById("submit-btn");
  var status = document.getElementById("submit-status");
  function showErrors(items) {
    while (errBox.firstChild) errBox.removeChild(errBox.firstChild);
    errBox.appendChild(el("strong", "", "未能登记，请修改后重新提交："));
    var ul = el("ul");
    items.forEach(function (t) { ul.appendChild(el("li", "", t)); });
    errBox.appendChild(ul);
    errBox.hidden = false;
    errBox.scrollIntoView({ block: "center" });
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var problems = [];
    if (!entryInput.value) problems.push("目录事项：请先在左侧目录中选择事项");
    if (files.length > maxFiles) problems.push("附件：最多 " + maxFiles + " 个");
    files.forEach(function (f) { var p = problem(f); if (p) problems.push("附件“" + f.name + "”：" + p); });
    if (problems.length) { showErrors(problems); return; }
    errBox.hidden = true;
    var fd = new FormData(form);
    files.forEach(function (f) { fd.append("files", f, f.name); });
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-Requested-With", "fetch");
    progress.hidden = false; progress.value = 0; btn.disabled = true; status.textContent = "正在上传…";
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { progress.value = Math.round(e.loaded * 100 / e.total); status.textContent = "正在上传 " + progress.value + "%"; }
    });
    xhr.addEventListener("load", function () {
      btn.disabled = false;
      var j = {};
      try { j = JSON.parse(xhr.responseText); } catch (e) { j = { error: "服务器返回了无法识别的内容（HTTP " + xhr.status + "）" }; }
      if (xhr.status === 201 && j.redirect) { status.textContent = "已登记，正在打开文件页面…"; window.location.assign(j.redirect); return; }
      progress.hidden = true; status.textContent = "";
      if (j.personal_data && j.personal_data.length) showPersonal(j.personal_data);
      if (j.content_hits) showContentHits(j.content_hits);
      if (j.errors) showErrors(j.errors.map(function (e) { return (e.field ? e.field + "：" : "") + e.message; }));
      else showErrors([j.error || ("提交失败（HTTP " + xhr.status + "）")]);
    });
    xhr.addEventListener("error", function () { btn.disabled = false; progress.hidden = true; status.textContent = ""; showErrors(["网络异常，未能提交，请稍后重试（已填写的内容仍在页面上）"]); });
    xhr.send(fd);
  });

  search.addEventListener("input", renderTree);
  formedOn.addEventListener("change", updateDue);
  body.addEventListener("input", schedulePreview);
  document.getElementById("title").addEventListener("input", schedulePreview);
  renderTree();
  if (entryInput.value) {
    var pre = entries.filter(function (e) { return e.code === entryInput.value && (!publisherInput.value || e.publisher === publisherInput.value); })[0];
    if (pre) choose(pre);
  }
  if (body.value) doPreview();
})();
