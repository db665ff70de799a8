// Submit page, documents in: a small rich-text editor over the canonical body subset (contenteditable + toolbar),
// paste cleaned by the server (the same cleaner the API uses), image paste/upload stored as attachments, and import of
// a Word/WPS/PDF file that prefills the form. Only server-sanitised HTML is ever put into the page as HTML; anything
// else goes through textContent. No inline script (CSP: script-src 'self').
(function () {
  "use strict";
  // The submit page and the correction (new version) form on the document page share this editor.
  var form = document.getElementById("submit-form") || document.getElementById("version-form");
  var editor = document.getElementById("rich-editor");
  if (!form || !editor) return;
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var body = document.getElementById("body");
  var fmt = document.getElementById("body_format");
  var toolbar = document.getElementById("rich-toolbar");
  var modeRich = document.getElementById("mode-rich");
  var modeMd = document.getElementById("mode-markdown");
  var imageInput = document.getElementById("image-input");
  var importInput = document.getElementById("import-file");
  var importStatus = document.getElementById("import-status");
  var importFound = document.getElementById("import-found");
  var stagedBox = document.getElementById("staged");
  var markdownText = fmt.value === "markdown" ? body.value : "";
  var headers = { "X-CSRF-Token": csrf, "Accept": "application/json", "X-Requested-With": "fetch" };

  function post(url, fd) {
    return fetch(url, { method: "POST", body: fd, credentials: "same-origin", headers: headers })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); });
  }
  function el(tag, text) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; return e; }

  // The editor's HTML goes to the form's body field (and so to the live preview, which renders it on the server).
  function sync() {
    if (fmt.value !== "html") return;
    body.value = editor.innerHTML;
    body.dispatchEvent(new Event("input"));
  }
  function cleaned(html) {  // server-side cleaning (Word/WPS markup → canonical subset)
    var fd = new FormData();
    fd.append("body", html);
    fd.append("body_format", "html");
    return post("/submit/preview", fd).then(function (res) {
      if (!res.ok || res.j.html === undefined) throw new Error(res.j.error || "清理失败");
      return res.j.html;
    });
  }
  function setMode(mode) {
    if (mode === fmt.value) return;
    if (mode === "markdown") {
      fmt.value = "markdown";
      body.value = markdownText;
      editor.hidden = true; toolbar.hidden = true; body.hidden = false;
    } else {
      markdownText = body.value;
      fmt.value = "html";
      editor.hidden = false; toolbar.hidden = false; body.hidden = true;
      sync();
    }
    body.dispatchEvent(new Event("input"));
  }
  if (modeRich) modeRich.addEventListener("change", function () { if (modeRich.checked) setMode("html"); });
  if (modeMd) modeMd.addEventListener("change", function () { if (modeMd.checked) setMode("markdown"); });

  // --- toolbar ---
  function insertTable() {
    var rows = parseInt(window.prompt("表格行数", "3"), 10), cols = parseInt(window.prompt("表格列数", "3"), 10);
    if (!(rows > 0 && cols > 0 && rows <= 50 && cols <= 12)) return;
    var t = el("table"), tb = el("tbody");
    for (var r = 0; r < rows; r++) {
      var tr = el("tr");
      for (var c = 0; c < cols; c++) { var td = el(r === 0 ? "th" : "td"); td.appendChild(el("br")); tr.appendChild(td); }
      tb.appendChild(tr);
    }
    t.appendChild(tb);
    var holder = el("div");
    holder.appendChild(t);
    document.execCommand("insertHTML", false, holder.innerHTML + "<p><br></p>");
  }
  toolbar.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-cmd]");
    if (!b) return;
    ev.preventDefault();
    editor.focus();
    var cmd = b.dataset.cmd;
    if (cmd === "h2" || cmd === "h3" || cmd === "p") document.execCommand("formatBlock", false, cmd);
    else if (cmd === "table") insertTable();
    else if (cmd === "image") imageInput.click();
    else document.execCommand(cmd, false, null);
    sync();
  });

  // --- images: stored as attachments on the server, shown from there ---
  function uploadImage(file) {
    var fd = new FormData();
    fd.append("file", file, file.name || "粘贴图片.png");
    importStatus.textContent = "正在上传图片…";
    return post("/submit/image", fd).then(function (res) {
      if (!res.ok) { importStatus.textContent = res.j.error || "图片上传失败"; return; }
      importStatus.textContent = "";
      var img = el("img");
      img.setAttribute("src", res.j.url);
      img.setAttribute("alt", "");
      var holder = el("div");
      holder.appendChild(img);
      editor.focus();
      document.execCommand("insertHTML", false, holder.innerHTML);
      sync();
    }).catch(function () { importStatus.textContent = "网络异常，图片未上传"; });
  }
  imageInput.addEventListener("change", function () {
    for (var i = 0; i < imageInput.files.length; i++) uploadImage(imageInput.files[i]);
    imageInput.value = "";
  });

  // --- paste: Word/WPS HTML cleaned by the server; pasted images uploaded ---
  editor.addEventListener("paste", function (ev) {
    var cd = ev.clipboardData;
    if (!cd) return;
    ev.preventDefault();
    var html = cd.getData("text/html");
    var images = [];
    for (var i = 0; i < cd.files.length; i++) if (/^image\//.test(cd.files[i].type)) images.push(cd.files[i]);
    if (!html && images.length) { images.forEach(uploadImage); return; }
    if (!html) {
      var holder = el("div");
      cd.getData("text/plain").split(/\r?\n/).forEach(function (line) { if (line.trim()) holder.appendChild(el("p", line)); });
      document.execCommand("insertHTML", false, holder.innerHTML);
      sync();
      return;
    }
    cleaned(html).then(function (clean) {
      editor.focus();
      document.execCommand("insertHTML", false, clean);
      sync();
      if (/<img[^>]+src=["']?file:/i.test(html)) importStatus.textContent = "Word 中的图片无法直接粘贴，请用“插入图片”上传";
    }).catch(function (e) { importStatus.textContent = "粘贴内容清理失败：" + e.message; });
  });
  editor.addEventListener("input", sync);

  // --- import a Word/WPS/PDF file: prefill for the clerk to confirm ---
  function setField(id, value) {
    var f = document.getElementById(id);
    if (f && value) { f.value = value; f.dispatchEvent(new Event("change")); }
  }
  if (importInput) importInput.addEventListener("change", function () {
    var file = importInput.files[0];
    if (!file) return;
    var fd = new FormData();
    fd.append("file", file, file.name);
    importStatus.textContent = "正在读取“" + file.name + "”…";
    post("/submit/import", fd).then(function (res) {
      importInput.value = "";
      if (!res.ok) { importStatus.textContent = res.j.error || "导入失败"; return; }
      var j = res.j, f = j.fields;
      setMode("html"); modeRich.checked = true;
      editor.innerHTML = j.editor_html;  // sanitised by the server
      sync();
      setField("title", f.title);
      setField("doc_number", f.doc_number);
      var formed = document.getElementById("formed_on");
      var warnings = (j.warnings || []).slice();
      if (f.formed_on && (!formed.max || f.formed_on <= formed.max)) setField("formed_on", f.formed_on);
      else if (f.formed_on) warnings.push("文件的成文日期 " + f.formed_on + " 晚于今天，未填入“生成日期”，请核对后填写");
      setField("summary", j.summary);
      while (stagedBox.firstChild) stagedBox.removeChild(stagedBox.firstChild);
      (j.staged || []).forEach(function (ref) {
        var i = el("input"); i.type = "hidden"; i.name = "staged"; i.value = ref; stagedBox.appendChild(i);
      });
      while (importFound.firstChild) importFound.removeChild(importFound.firstChild);
      importFound.appendChild(el("strong", "已从文件识别（请逐项核对）："));
      var ul = el("ul");
      [["发文机关", f.issuer], ["文号", f.doc_number], ["标题", f.title], ["主送", f.recipient],
       ["附件说明", (f.attachments_note || []).join("；")], ["落款", f.signature], ["成文日期", f.signed_on_text]]
        .forEach(function (p) { ul.appendChild(el("li", p[0] + "：" + (p[1] || "未识别"))); });
      if (j.kind === "pdf") ul.appendChild(el("li", "PDF 原件将作为文件本身随文登记"));
      warnings.forEach(function (w) { ul.appendChild(el("li", "提示：" + w)); });
      importFound.appendChild(ul);
      importFound.hidden = false;
      importStatus.textContent = "已导入“" + file.name + "”";
    }).catch(function () { importStatus.textContent = "网络异常，导入失败"; });
  });

  // A form shown again after a refusal: the editor gets its body back, cleaned by the server.
  if (fmt.value === "html" && body.value) {
    cleaned(body.value).then(function (html) { editor.innerHTML = html; sync(); }).catch(function () {});
  }
})();
