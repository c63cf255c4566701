// The Partner Connect page works without JavaScript; this only makes it nicer:
// live filtering of the tiles, a busy button while a form is being sent, and reloading the
// choices when the catalog changes.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var q = document.getElementById("q");
  var category = document.getElementById("category");
  var groups = document.querySelectorAll("section.group");
  function filter() {
    var text = (q && q.value || "").trim().toLowerCase();
    var cat = category ? category.value : "";
    var any = false;
    groups.forEach(function (group) {
      var visible = 0;
      group.querySelectorAll("li.tile").forEach(function (tile) {
        var show = (!text || tile.dataset.name.indexOf(text) !== -1) &&
          (!cat || group.dataset.category === cat);
        tile.hidden = !show;
        if (show) visible++;
      });
      group.hidden = visible === 0;
      if (visible) any = true;
    });
    var empty = document.querySelector(".js-empty");
    if (empty && groups.length) empty.hidden = any;
  }
  if (groups.length) {
    if (q) q.addEventListener("input", filter);
    if (category) category.addEventListener("change", filter);
  }
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[data-busy]");
      if (!button) return;
      // Let the submission start, then show the progress and prevent a second click.
      setTimeout(function () {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
        button.textContent = button.dataset.busy;
      }, 0);
    });
  });
});
