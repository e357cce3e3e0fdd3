// Live updates: when the node stores a new entry, re-render the page's live
// region (the server renders it; no client-side templates).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var msg = event.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { event.preventDefault(); }
  });
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var pending = null;
  function refresh() {
    pending = null;
    fetch(window.location.href, { headers: { "X-Kith-Fragment": "live" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { live.innerHTML = html; } });
  }
  var events = new EventSource("/events");
  events.onmessage = function () {
    if (!pending) { pending = setTimeout(refresh, 200); }
  };
})();
