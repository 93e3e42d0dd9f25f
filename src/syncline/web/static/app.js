/* syncline web console: live progress on the dashboard (server-sent events from /events),
   and small helpers for the other pages. Works without it: every action is a plain form. */
(function () {
  "use strict";

  function panel(link) { return document.getElementById("progress-" + link); }

  function row(link, stream) {
    var box = panel(link);
    if (!box) { return null; }
    var rows = box.querySelector(".progress-rows");
    var found = rows.querySelector('[data-stream="' + CSS.escape(stream) + '"]');
    if (found) { return found; }
    found = document.createElement("div");
    found.className = "progress-row";
    found.setAttribute("data-stream", stream);
    var name = document.createElement("span");
    name.className = "stream-name";
    name.textContent = stream;
    var bar = document.createElement("div");
    bar.className = "bar unknown";
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-label", stream);
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", "0");
    bar.appendChild(document.createElement("span"));
    var text = document.createElement("span");
    text.className = "progress-text";
    found.appendChild(name);
    found.appendChild(bar);
    found.appendChild(text);
    rows.appendChild(found);
    return found;
  }

  function show(link, stream, p) {
    var r = row(link, stream);
    if (!r) { return; }
    var bar = r.querySelector(".bar");
    var pct = 0;
    if (p.finished) { pct = 100; }
    else if (p.total) { pct = Math.min(100, Math.round(100 * p.done / p.total)); }
    bar.classList.toggle("unknown", !p.total && !p.finished);
    bar.setAttribute("aria-valuenow", String(pct));
    bar.firstChild.style.width = (p.total || p.finished ? pct : 100) + "%";
    var parts = [String(p.done || 0) + (p.total ? " / " + p.total : "")];
    if (p.rate) { parts.push(p.rate + "/s"); }
    if (p.to_write) {
      parts.push("written " + (p.written || 0) + " / " + p.to_write +
                 (p.write_rate ? " (" + p.write_rate + "/s)" : ""));
    }
    if (p.elapsed_s !== undefined && p.elapsed_s !== null) { parts.push(p.elapsed_s.toFixed(1) + " s"); }
    if (p.finished) { parts.push("done"); }
    r.querySelector(".progress-text").textContent = parts.join(" · ");
  }

  function started(link, event) {
    var box = panel(link);
    if (!box) { return; }
    box.hidden = false;
    box.setAttribute("data-state", "running");
    box.querySelector(".progress-rows").textContent = "";
    var who = (event.requested_by || []).length ? " by " + event.requested_by.join(", ") : "";
    box.querySelector(".progress-state").textContent =
      "Running: " + event.mode + " sync (" + event.trigger + ")" + who;
  }

  function finished(link, event) {
    var box = panel(link);
    if (!box) { return; }
    box.querySelectorAll(".progress-row").forEach(function (r) {
      var bar = r.querySelector(".bar");
      bar.classList.remove("unknown");
      bar.setAttribute("aria-valuenow", "100");
      bar.firstChild.style.width = "100%";
      var text = r.querySelector(".progress-text");
      if (text.textContent.indexOf("done") < 0) { text.textContent += " · done"; }
    });
    box.setAttribute("data-state", "done");
    box.setAttribute("data-outcome", event.outcome || "");
    var took = event.duration_s ? " in " + event.duration_s.toFixed(1) + " s" : "";
    box.querySelector(".progress-state").textContent =
      "Finished: " + (event.outcome || "?") + took + (event.error ? " — " + event.error : "");
    var status = document.getElementById("status-" + link);
    if (status && window.htmx) { window.htmx.trigger(status, "refresh"); }
  }

  function live() {
    if (!document.body.hasAttribute("data-live") || !window.EventSource) { return; }
    var source = new EventSource("/events");
    source.addEventListener("snapshot", function (e) {
      var all = JSON.parse(e.data);
      Object.keys(all).forEach(function (link) {
        var snap = all[link];
        if (!snap) { return; }
        started(link, snap);
        Object.keys(snap.streams || {}).forEach(function (s) { show(link, s, snap.streams[s]); });
      });
    });
    source.addEventListener("run_started", function (e) {
      var ev = JSON.parse(e.data); started(ev.link, ev);
    });
    source.addEventListener("stream_started", function (e) {
      var ev = JSON.parse(e.data);
      show(ev.link, ev.stream, {done: 0, total: ev.total, finished: false});
    });
    ["progress", "stream_finished"].forEach(function (kind) {
      source.addEventListener(kind, function (e) {
        var ev = JSON.parse(e.data); show(ev.link, ev.stream, ev);
      });
    });
    source.addEventListener("run_finished", function (e) {
      var ev = JSON.parse(e.data); finished(ev.link, ev);
    });
    document.body.setAttribute("data-events", "connected");
    source.addEventListener("open", function () {
      document.body.setAttribute("data-events", "open");
    });
    window.addEventListener("beforeunload", function () { source.close(); });
  }

  /* Forced sync: the confirm button needs a fresh count of the selected records. */
  function forceForm() {
    var form = document.getElementById("force-form");
    if (!form) { return; }
    form.addEventListener("input", function (e) {
      if (e.target && e.target.closest("#force-criteria")) {
        var confirm = document.getElementById("force-confirm");
        if (!confirm || confirm.disabled) { return; }
        confirm.disabled = true;
        var note = document.createElement("p");
        note.className = "notice notice-error stale";
        note.textContent = "The criteria changed: count again before sending.";
        confirm.parentNode.insertBefore(note, confirm);
      }
    });
  }

  /* Relative times ("5 min ago") stay true while the page is open. */
  function relative(iso) {
    var seconds = (Date.now() - Date.parse(iso)) / 1000;
    var future = seconds < 0;
    seconds = Math.abs(seconds);
    if (seconds < 45) { return future ? "in a moment" : "just now"; }
    var units = [[86400, "day"], [3600, "h"], [60, "min"]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][0]) {
        var n = Math.round(seconds / units[i][0]);
        var word = n + " " + units[i][1] + (units[i][1] === "day" && n !== 1 ? "s" : "");
        return future ? "in " + word : word + " ago";
      }
    }
    return "";
  }

  function tick() {
    document.querySelectorAll("time[datetime]").forEach(function (t) {
      var text = relative(t.getAttribute("datetime"));
      if (text) { t.textContent = text; }
    });
  }

  /* Progress bars rendered by the server carry their width in data-pct (the content
     security policy allows no inline style). */
  function widths(root) {
    (root || document).querySelectorAll(".bar > span[data-pct]").forEach(function (s) {
      s.style.width = Math.max(0, Math.min(100, Number(s.getAttribute("data-pct")) || 0)) + "%";
    });
  }

  document.addEventListener("htmx:load", function (e) { widths(e.target); });

  document.addEventListener("DOMContentLoaded", function () {
    widths(document);
    live();
    forceForm();
    window.setInterval(tick, 30000);
  });
})();
