// Kith's only script. Every page works without it; with it:
// - live updates: when the node stores a new entry, the page's live region
//   is re-rendered by the server and swapped in;
// - a markdown preview under compose boxes (rendered by the server, the
//   same way as a published post);
// - keyboard shortcuts: "/" search, "c" write, "g f/q/w/p/s" go to a page,
//   "?" their help, Esc leaves a text box, Ctrl+Enter sends it;
// - a confirmation before destructive forms (data-confirm);
// - compose boxes count their bytes against the post limit (data-max-bytes)
//   and refuse to submit what the node would refuse, keeping the text;
// - a link to one post of a thread opens the folded replies around it;
// - questions like the one being typed show under its title;
// - a wiki page's task boxes can be ticked, each tick a small change.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  document.addEventListener("submit", function (event) {
    var msg = event.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { event.preventDefault(); }
  });

  // Byte counts against the limit, said before submitting, not after.
  function bytes(text) {
    // As the node counts them: UTF-8, line ends as \n.
    return new TextEncoder().encode(text.replace(/\r\n?/g, "\n")).length;
  }
  function kib(n) { return n < 1024 ? n + " bytes" : (n / 1024).toFixed(1).replace(/\.0$/, "") + " KiB"; }
  Array.prototype.forEach.call(document.querySelectorAll("textarea[data-max-bytes]"), function (area) {
    var max = parseInt(area.getAttribute("data-max-bytes"), 10);
    var note = document.createElement("p");
    note.className = "count";
    note.setAttribute("aria-live", "polite");
    note.id = area.id + "-count";
    area.insertAdjacentElement("afterend", note);
    function check() {
      var n = bytes(area.value);
      var over = n > max;
      note.className = over ? "count error" : "count";
      note.textContent = over
        ? "Too long to post: " + kib(n) + " of at most " + kib(max) + ". Shorten it, or put the long part in a wiki page and link to it."
        : (n > max * 0.8 ? kib(n) + " of " + kib(max) : "");
      area.setAttribute("aria-invalid", over ? "true" : "false");
      return !over;
    }
    area.addEventListener("input", check);
    if (area.form) {
      area.form.addEventListener("submit", function (event) {
        if (!check()) { event.preventDefault(); area.focus(); }
      });
    }
    check();
  });

  // Copy buttons (data-copy: the id of the field to copy).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    field.select();
    var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else { document.execCommand("copy"); done(); }
  });

  // Markdown preview.
  Array.prototype.forEach.call(document.querySelectorAll("textarea[data-preview]"), function (area) {
    var out = document.createElement("div");
    out.className = "preview text";
    out.setAttribute("aria-live", "polite");
    out.setAttribute("aria-label", "Preview");
    area.insertAdjacentElement("afterend", out);
    var timer = null;
    function render() {
      if (!area.value.trim()) { out.innerHTML = ""; return; }
      fetch("/preview", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf },
        body: "text=" + encodeURIComponent(area.value),
      })
        .then(function (r) {
          if (r.ok) { return r.text(); }
          var p = document.createElement("p");
          p.className = "error";
          p.textContent = r.status === 413 ? "Too long to preview." : "No preview: the node refused it (" + r.status + ").";
          return p.outerHTML;
        })
        .then(function (html) { out.innerHTML = html; });
    }
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(render, 250);
    });
    // An editor shows the page as it reads from the start, beside the text.
    if (area.hasAttribute("data-preview-now")) { render(); }
  });

  // Keyboard shortcuts, never while typing.
  var go = { f: "/", q: "/questions", w: "/wiki", p: "/people", s: "/status" };
  var pendingG = false;
  var help = null;
  function toggleHelp() {
    if (!help) {
      help = document.createElement("dialog");
      help.setAttribute("aria-label", "Keyboard shortcuts");
      help.innerHTML = "<h2>Keyboard shortcuts</h2><dl class=\"keys-help\">" +
        "<dt><kbd>/</kbd></dt><dd>search</dd><dt><kbd>c</kbd></dt><dd>write</dd>" +
        "<dt><kbd>g</kbd> then <kbd>f</kbd> <kbd>q</kbd> <kbd>w</kbd> <kbd>p</kbd> <kbd>s</kbd></dt><dd>go to the feed, questions, wiki, people, status</dd>" +
        "<dt><kbd>Ctrl</kbd>+<kbd>Enter</kbd></dt><dd>send what you are writing</dd>" +
        "<dt><kbd>Esc</kbd></dt><dd>leave the text box (or close this)</dd><dt><kbd>?</kbd></dt><dd>this help</dd></dl>" +
        "<form method=\"dialog\"><button>Close</button></form>";
      document.body.appendChild(help);
    }
    if (help.open) { help.close(); } else { help.showModal(); }
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    var typing = t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
    if (typing && e.key === "Escape") { t.blur(); return; }
    if (typing && e.key === "Enter" && (e.ctrlKey || e.metaKey) && t.form) {
      e.preventDefault();
      if (t.form.requestSubmit) { t.form.requestSubmit(); } else { t.form.submit(); }
      return;
    }
    if (!typing && e.key === "?" && !e.ctrlKey && !e.metaKey && !e.altKey) { e.preventDefault(); toggleHelp(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey || typing) { return; }
    if (pendingG && go[e.key]) { e.preventDefault(); window.location.href = go[e.key]; return; }
    pendingG = e.key === "g";
    if (e.key === "/") {
      var q = document.getElementById("q");
      if (q) { e.preventDefault(); q.focus(); q.select(); }
    } else if (e.key === "c") {
      var box = document.querySelector(".compose textarea");
      if (box) { e.preventDefault(); box.focus(); box.scrollIntoView({ block: "center" }); }
    }
  });

  // Live updates: the page's live region, and the inbox's unread count
  // in the navigation of every page.
  var live = document.getElementById("live");
  var count = document.getElementById("inbox-count");
  if ((!live && !count) || !window.EventSource) { return; }
  var pending = null;
  function refresh() {
    pending = null;
    if (live) {
      fetch(window.location.href, { headers: { "X-Kith-Fragment": "live" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { live.innerHTML = html; } });
    }
    if (count) {
      fetch("/inbox/count", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (n) {
          if (n === null) { return; }
          count.textContent = n;
          count.hidden = n.trim() === "0";
        });
    }
  }
  // One live stream per tab, and none for pages kept in the back/forward
  // cache: browsers allow only 6 connections per host, and cached pages
  // holding theirs made the next page load wait.
  var events = null;
  function open() {
    if (events) { return; }
    events = new EventSource("/events");
    events.onmessage = function () {
      if (!pending) { pending = setTimeout(refresh, 200); }
    };
  }
  function close() {
    if (events) { events.close(); events = null; }
  }
  window.addEventListener("pagehide", close);
  window.addEventListener("pageshow", function (e) { if (e.persisted) { refresh(); } open(); });
  open();
})();

// A link to one post of a thread (`/thread/…#e-ID`, where a reply lands
// once written) opens the folded replies around it and shows it.
(function () {
  function reveal() {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (!target) { return; }
    for (var el = target.parentElement; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") { el.open = true; }
    }
    target.scrollIntoView({ block: "center" });
  }
  window.addEventListener("hashchange", reveal);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reveal);
  } else {
    reveal();
  }
})();

// A question's title, as it is typed: questions and answers like it show
// under the box (data-similar names where to ask), so nobody asks twice.
(function () {
  Array.prototype.forEach.call(document.querySelectorAll("input[data-similar]"), function (input) {
    var out = document.getElementById(input.getAttribute("aria-describedby"));
    var timer = null;
    var asked = "";
    function look() {
      var text = input.value.trim();
      if (text === asked) { return; }
      asked = text;
      if (text.length < 4) { out.innerHTML = ""; return; }
      fetch(input.getAttribute("data-similar") + "?text=" + encodeURIComponent(text), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) { if (asked === text) { out.innerHTML = html; } })
        .catch(function () {});
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(look, 300);
    });
  });
})();

// A page's task boxes can be ticked where they stand: each tick is a form
// sent to the page (one character changed: a small change of its own).
(function () {
  Array.prototype.forEach.call(document.querySelectorAll(".page-body[data-task-url]"), function (body) {
    var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
    Array.prototype.forEach.call(body.querySelectorAll('input[type="checkbox"]'), function (box, n) {
      box.disabled = false;
      box.title = "Tick to save";
      box.addEventListener("change", function () {
        var form = document.createElement("form");
        form.method = "post";
        form.action = body.getAttribute("data-task-url");
        var fields = { csrf: csrf, task: String(n), base: body.getAttribute("data-base") || "" };
        if (box.checked) { fields.done = "1"; }
        Object.keys(fields).forEach(function (name) {
          var input = document.createElement("input");
          input.type = "hidden";
          input.name = name;
          input.value = fields[name];
          form.appendChild(input);
        });
        document.body.appendChild(form);
        box.disabled = true;
        form.submit();
      });
    });
  });
})();

// Attaching files: a button beside every textarea marked `data-attach`,
// and paste or drop of files onto it. Each file is uploaded to the node
// (`/blob/upload`), and its markdown goes in at the cursor: an image shows
// inline, another file is a link. A post's form also gets the file's
// signed reference (the hidden `files` field); the wiki editor has the node
// sign an entry naming it instead (`data-attach="declare"`).
(function () {
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  Array.prototype.forEach.call(document.querySelectorAll("textarea[data-attach]"), function (area) {
    var declare = area.getAttribute("data-attach") === "declare";
    var form = area.form;
    var refs = [];
    var field = null;
    if (!declare && form) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "files";
      field.value = "[]";
      form.appendChild(field);
    }
    var bar = document.createElement("div");
    bar.className = "attach";
    var picker = document.createElement("input");
    picker.type = "file";
    picker.multiple = true;
    picker.hidden = true;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "link attach-button";
    button.textContent = "Attach a file";
    button.title = "Attach a file or image (you can also paste or drop one here)";
    var status = document.createElement("span");
    status.className = "attach-status";
    status.setAttribute("role", "status");
    bar.appendChild(button);
    bar.appendChild(picker);
    bar.appendChild(status);
    // Below the editor's text-and-preview pair, not between them.
    (area.closest(".editor") || area).insertAdjacentElement("afterend", bar);
    button.addEventListener("click", function () { picker.click(); });
    picker.addEventListener("change", function () {
      Array.prototype.forEach.call(picker.files, upload);
      picker.value = "";
    });
    area.addEventListener("paste", function (e) {
      var files = e.clipboardData && e.clipboardData.files;
      if (files && files.length) {
        e.preventDefault();
        Array.prototype.forEach.call(files, upload);
      }
    });
    area.addEventListener("dragover", function (e) { e.preventDefault(); });
    area.addEventListener("drop", function (e) {
      var files = e.dataTransfer && e.dataTransfer.files;
      if (files && files.length) {
        e.preventDefault();
        Array.prototype.forEach.call(files, upload);
      }
    });
    function insert(text) {
      var at = area.selectionStart || area.value.length;
      var before = area.value.slice(0, at);
      var sep = before && !/\s$/.test(before) ? "\n" : "";
      area.value = before + sep + text + "\n" + area.value.slice(area.selectionEnd || at);
      area.dispatchEvent(new Event("input"));
    }
    function upload(file) {
      var name = file.name || ("pasted." + ((file.type || "image/png").split("/")[1] || "bin"));
      status.textContent = "Uploading " + name + "…";
      fetch("/blob/upload?name=" + encodeURIComponent(name) + (declare ? "&declare=1" : ""), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "Content-Type": "application/octet-stream" },
        body: file,
      })
        .then(function (r) {
          if (r.ok) { return r.json(); }
          return r.text().then(function (t) { throw new Error(t || ("the node refused it (" + r.status + ")")); });
        })
        .then(function (view) {
          insert(view.markdown);
          if (field) {
            refs.push({ hash: view.hash, size: view.size, media_type: view.media_type, name: view.name });
            field.value = JSON.stringify(refs);
          }
          status.textContent = "Attached " + name + ".";
        })
        .catch(function (e) { status.textContent = "Could not attach " + name + ": " + e.message; });
    }
  });
})();

// Mentions: typing `@` and the start of a name in a compose box offers the
// names of the people you trust; a click (or Enter on a highlighted one)
// completes it. The node resolves `@name` to the person when it posts.
(function () {
  var areas = document.querySelectorAll("textarea[data-attach]");
  if (!areas.length) { return; }
  var names = null;
  function load() {
    if (names) { return Promise.resolve(names); }
    return fetch("/people/names", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) { names = list; return list; })
      .catch(function () { return []; });
  }
  Array.prototype.forEach.call(areas, function (area) {
    var list = document.createElement("ul");
    list.className = "mentions";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    area.insertAdjacentElement("afterend", list);
    function typed() {
      var before = area.value.slice(0, area.selectionStart);
      var m = /(^|[^\w@])@([\w.-]*)$/.exec(before);
      return m ? m[2] : null;
    }
    function complete(mention) {
      var at = area.selectionStart;
      var start = area.value.lastIndexOf("@", at - 1);
      area.value = area.value.slice(0, start) + "@" + mention + " " + area.value.slice(at);
      var caret = start + mention.length + 2;
      area.setSelectionRange(caret, caret);
      list.hidden = true;
      area.focus();
      area.dispatchEvent(new Event("input"));
    }
    area.addEventListener("input", function () {
      var part = typed();
      if (part === null) { list.hidden = true; return; }
      load().then(function (all) {
        var lower = part.toLowerCase();
        var hits = all.filter(function (n) { return n.mention.toLowerCase().indexOf(lower) === 0; }).slice(0, 6);
        list.innerHTML = "";
        hits.forEach(function (n) {
          var li = document.createElement("li");
          li.setAttribute("role", "option");
          li.textContent = "@" + n.mention + (n.name !== n.mention ? " (" + n.name + ")" : "");
          li.addEventListener("mousedown", function (e) { e.preventDefault(); complete(n.mention); });
          list.appendChild(li);
        });
        list.hidden = hits.length === 0;
      });
    });
    area.addEventListener("keydown", function (e) {
      if (list.hidden) { return; }
      if (e.key === "Escape") { list.hidden = true; return; }
      if (e.key === "Tab" || (e.key === "Enter" && !e.ctrlKey && !e.metaKey)) {
        var first = list.querySelector("li");
        if (first) {
          e.preventDefault();
          first.dispatchEvent(new MouseEvent("mousedown"));
        }
      }
    });
    area.addEventListener("blur", function () { list.hidden = true; });
  });
})();
