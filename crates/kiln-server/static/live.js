// Kiln console: live pages, on top of pages that work without JavaScript (a reload shows the
// same). Two things:
// - A running build's duration counts on: elements with data-started (the build's start) and
//   data-now (the server's clock when the page was drawn), both epoch seconds, read "N so far"
//   as the server writes it; the browser's own clock only measures the time since loading.
// - A page with data-live-events (a project's page) follows that event stream; on each
//   "changed" event it reads itself again and swaps in the new version of every element
//   marked data-live (by id), and reloads the badge preview.
"use strict";

(function () {
  var loaded = performance.now();

  // As view::format_duration: "12 s", "1 min 5 s", "1 h 1 min".
  function formatDuration(seconds) {
    var total = Math.max(0, Math.round(seconds));
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    if (h > 0) return h + " h " + m + " min";
    if (m > 0) return m + " min " + s + " s";
    return s + " s";
  }

  function tick() {
    var since = (performance.now() - loaded) / 1000;
    document.querySelectorAll("[data-started][data-now]").forEach(function (el) {
      var started = parseFloat(el.dataset.started), now = parseFloat(el.dataset.now);
      if (isNaN(started) || isNaN(now)) return;
      el.textContent = formatDuration(now - started + since) + " so far";
    });
  }

  // Reads the page again and swaps in its live parts. One read at a time; events that come
  // during a read make one more read after it.
  var reading = false, again = false;
  function refresh() {
    if (reading) { again = true; return; }
    reading = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        // Stamps of the new page: the server's clock moved on.
        loaded = performance.now();
        document.querySelectorAll("[data-live][id]").forEach(function (old) {
          var replacement = fresh.getElementById(old.id);
          if (replacement) old.replaceWith(document.importNode(replacement, true));
        });
        var badge = document.getElementById("badge-preview");
        if (badge && badge.src) {
          var url = new URL(badge.src, window.location.href);
          url.searchParams.set("seen", Date.now().toString());
          badge.src = url.toString();
        }
        tick();
      })
      .catch(function () { /* The next event, or a reload, tries again. */ })
      .then(function () {
        reading = false;
        if (again) { again = false; refresh(); }
      });
  }

  function follow() {
    var page = document.querySelector("[data-live-events]");
    if (!page || !window.EventSource) return;
    var source = new EventSource(page.dataset.liveEvents);
    source.addEventListener("changed", refresh);
    // Back after a lost connection: whatever happened meanwhile is read.
    var lost = false;
    source.onerror = function () { lost = true; };
    source.onopen = function () { if (lost) { lost = false; refresh(); } };
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function start() {
    tick();
    window.setInterval(tick, 1000);
    follow();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
