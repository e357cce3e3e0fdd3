// Kith's only script. Every page works without it; with it:
// - live updates: when the node stores a new entry, the page's live region
//   is re-rendered by the server and swapped in;
// - a markdown preview under compose boxes (rendered by the server, the
//   same way as a published post);
// - keyboard shortcuts: "/" search, "c" write, "g f/q/w/p/s" go to a page;
// - a confirmation before destructive forms (data-confirm).
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  document.addEventListener("submit", function (event) {
    var msg = event.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { event.preventDefault(); }
  });

  // Markdown preview.
  Array.prototype.forEach.call(document.querySelectorAll("textarea[data-preview]"), function (area) {
    var out = document.createElement("div");
    out.className = "preview text";
    out.setAttribute("aria-live", "polite");
    out.setAttribute("aria-label", "Preview");
    area.insertAdjacentElement("afterend", out);
    var timer = null;
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (!area.value.trim()) { out.innerHTML = ""; return; }
        fetch("/preview", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf },
          body: "text=" + encodeURIComponent(area.value),
        })
          .then(function (r) { return r.ok ? r.text() : ""; })
          .then(function (html) { out.innerHTML = html; });
      }, 250);
    });
  });

  // Keyboard shortcuts, never while typing.
  var go = { f: "/", q: "/questions", w: "/wiki", p: "/people", s: "/status" };
  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey || (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) { return; }
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

  // Live updates.
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var pending = null;
  function refresh() {
    pending = null;
    fetch(window.location.href, { headers: { "X-Kith-Fragment": "live" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { live.innerHTML = html; } });
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
