// Review console behaviour: reveal blurred content, SLA countdowns, keyboard shortcuts. No build step.
(function () {
  "use strict";

  function reveal() {
    document.querySelectorAll(".content.blurred").forEach(function (el) { el.classList.remove("blurred"); });
    var form = document.getElementById("reveal-log");
    if (form) { fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" }); }
  }
  document.querySelectorAll("[data-reveal]").forEach(function (b) { b.addEventListener("click", reveal); });

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = Math.round((Date.parse(el.dataset.due) - now) / 1000);
      var late = left < 0, s = Math.abs(left);
      var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
      el.textContent = (late ? "overdue by " : "") + (h ? h + "h " : "") + m + "m " + (sec < 10 ? "0" : "") + sec + "s";
      el.classList.toggle("late", late);
    });
  }
  tick();
  setInterval(tick, 1000);

  var form = document.getElementById("decision");
  function choose(action) {
    var select = form && form.querySelector("select[name=action]");
    if (select) { select.value = action; select.dispatchEvent(new Event("change")); select.focus(); }
  }
  var keys = {
    v: reveal,
    n: function () { var b = document.getElementById("quick-no-violation"); if (b) { b.click(); } },
    r: function () { choose("remove"); },
    t: function () { choose("restrict"); },
    l: function () { choose("escalate_legal"); },
    p: function () { choose("escalate_partner"); },
    u: function () { var b = document.getElementById("release"); if (b) { b.click(); } }
  };
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && form) { e.preventDefault(); form.requestSubmit(); return; }
    if (e.key === "Escape" && document.activeElement) { document.activeElement.blur(); return; }
    if (tag === "input" || tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var action = keys[e.key];
    if (action) { e.preventDefault(); action(); }
  });
})();
