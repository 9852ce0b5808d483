// The solution editor on a problem's page: CodeMirror (vendored, no build step) over the
// form's plain textareas, one tab per file, a draft kept in localStorage across reloads, and
// the choice between the editor's code and uploaded files made visible (never silent).
// Without JavaScript the textareas work as they are.
(function () {
  "use strict";

  var form = document.getElementById("solution-form");
  if (!form || typeof window.CodeMirror === "undefined") { return; }

  var key = form.getAttribute("data-draft-key");
  var isPackage = form.getAttribute("data-package") === "true";
  var tabsEl = form.querySelector(".editor-tabs");
  var filesEl = form.querySelector(".editor-files");
  var tools = form.querySelector(".editor-tools");
  var status = document.getElementById("draft-status");
  var upload = document.getElementById("files");
  var editors = [];  // {path, el, cm}
  var active = 0;
  var saveTimer = null;
  var PATH_RE = /^[A-Za-z0-9_][A-Za-z0-9_.\-]*(\/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*\.py$/;

  function say(text) { if (status) { status.textContent = text; } }

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  function readDraft() {
    var s = storage();
    if (!s || !key) { return null; }
    try {
      var d = JSON.parse(s.getItem(key) || "null");
      return d && Array.isArray(d.files) && d.files.length ? d : null;
    } catch (e) { return null; }
  }

  function saveDraft() {
    var s = storage();
    if (!s || !key) { return; }
    var files = editors.map(function (e) { return {path: e.path, text: e.cm.getValue()}; });
    try {
      s.setItem(key, JSON.stringify({files: files, active: active, saved: Date.now()}));
      say("Draft saved in this browser.");
    } catch (e) { say("This browser could not keep a draft."); }
  }

  function scheduleSave() {
    if (saveTimer) { clearTimeout(saveTimer); }
    saveTimer = setTimeout(saveDraft, 300);
  }

  function fileBlock(path, text) {
    var div = document.createElement("div");
    div.className = "editor-file";
    div.setAttribute("data-path", path);
    var hidden = document.createElement("input");
    hidden.type = "hidden"; hidden.name = "paths"; hidden.value = path;
    var area = document.createElement("textarea");
    area.name = "codes"; area.rows = 22; area.className = "code-editor"; area.spellcheck = false;
    area.value = text;
    div.appendChild(hidden); div.appendChild(area);
    filesEl.appendChild(div);
    return div;
  }

  function attach(div) {
    var area = div.querySelector("textarea");
    var label = div.querySelector("label");
    if (label) { label.classList.add("visually-hidden"); }
    var cm = window.CodeMirror.fromTextArea(area, {
      mode: "python", lineNumbers: true, indentUnit: 4, tabSize: 4, indentWithTabs: false,
      matchBrackets: true, viewportMargin: Infinity,
      extraKeys: {
        Tab: function (c) {
          if (c.somethingSelected()) { c.indentSelection("add"); } else { c.replaceSelection("    ", "end"); }
        },
        "Shift-Tab": function (c) { c.indentSelection("subtract"); },
        Esc: function (c) { c.getInputField().blur(); }
      }
    });
    cm.getInputField().setAttribute("aria-label", "Code of " + div.getAttribute("data-path"));
    cm.on("change", scheduleSave);
    var entry = {path: div.getAttribute("data-path"), el: div, cm: cm};
    editors.push(entry);
    return entry;
  }

  function show(index) {
    active = Math.max(0, Math.min(index, editors.length - 1));
    editors.forEach(function (e, i) {
      e.el.hidden = i !== active;
      if (i === active) { e.cm.refresh(); }
    });
    renderTabs();
  }

  function renderTabs() {
    tabsEl.innerHTML = "";
    tabsEl.hidden = editors.length < 2 && !isPackage;
    editors.forEach(function (e, i) {
      var tab = document.createElement("button");
      tab.type = "button";
      tab.className = "tab" + (i === active ? " active" : "");
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-selected", i === active ? "true" : "false");
      tab.textContent = e.path;
      tab.addEventListener("click", function () { show(i); saveDraft(); });
      tabsEl.appendChild(tab);
      if (editors.length > 1) {
        var close = document.createElement("button");
        close.type = "button";
        close.className = "tab-close";
        close.setAttribute("aria-label", "Remove " + e.path);
        close.textContent = "×";
        close.addEventListener("click", function () { removeFile(i); });
        tabsEl.appendChild(close);
      }
    });
  }

  function removeFile(i) {
    var e = editors[i];
    if (!window.confirm("Remove " + e.path + " from your solution?")) { return; }
    e.cm.toTextArea();
    e.el.remove();
    editors.splice(i, 1);
    show(Math.min(active, editors.length - 1));
    saveDraft();
  }

  function addFile(path) {
    path = (path || "").trim().replace(/^\/+/, "");
    if (!PATH_RE.test(path) || path.split("/").indexOf("..") >= 0) {
      say("A file path such as src/modeling/norm.py (letters, digits, _ . - and /, ending in .py).");
      return;
    }
    if (editors.some(function (e) { return e.path === path; })) { say(path + " is already open."); return; }
    attach(fileBlock(path, ""));
    show(editors.length - 1);
    saveDraft();
  }

  // A draft from an earlier visit replaces the server's pre-fill (unless this page is the
  // form sent back with an error: then what was just typed is what counts).
  var draft = form.getAttribute("data-restore") === "true" ? readDraft() : null;
  if (draft) {
    filesEl.innerHTML = "";
    draft.files.forEach(function (f) {
      if (typeof f.path === "string" && PATH_RE.test(f.path)) { fileBlock(f.path, String(f.text || "")); }
    });
  }
  Array.prototype.forEach.call(filesEl.querySelectorAll(".editor-file"), attach);
  if (!editors.length) { attach(fileBlock("solution.py", "")); }
  if (tools) { tools.hidden = false; }
  show(draft && typeof draft.active === "number" ? draft.active : 0);
  if (draft) { say("Restored your draft from this browser."); }

  var addButton = document.getElementById("add-file");
  if (addButton) {
    addButton.addEventListener("click", function () {
      var input = document.getElementById("new-file");
      addFile(input.value);
      input.value = "";
    });
  }
  document.getElementById("reset-editor").addEventListener("click", function () {
    var s = storage();
    if (s && key) { s.removeItem(key); }
    window.location.reload();
  });

  // Upload or editor: say which one will be sent.
  function sourceChanged() {
    var chosen = form.querySelector('input[name="source"]:checked');
    var fromUpload = chosen && chosen.value === "upload";
    form.classList.toggle("editor-inactive", !!fromUpload);
    var note = "The uploaded files will be sent, not the editor's code.";
    if (fromUpload) { say(note); } else if (status && status.textContent === note) { say(""); }
  }
  if (upload) {
    upload.addEventListener("change", function () {
      var want = upload.files && upload.files.length ? "upload" : "editor";
      form.querySelector('input[name="source"][value="' + want + '"]').checked = true;
      sourceChanged();
    });
  }
  Array.prototype.forEach.call(form.querySelectorAll('input[name="source"]'), function (r) {
    r.addEventListener("change", sourceChanged);
  });
  sourceChanged();

  form.addEventListener("submit", function () {
    editors.forEach(function (e) { e.cm.save(); });
    var s = storage();
    if (s && key) { s.removeItem(key); }  // the next visit opens this attempt from the server
  });
}());
