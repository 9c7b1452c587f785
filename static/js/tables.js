// Wide tables scroll inside their own box, so that no page scrolls sideways on a phone.
// Each table of the page (and of content htmx swaps in) that is not already inside a
// .table-responsive box gets one; a box that does scroll can be reached and scrolled with the
// keyboard (tabindex), and is named after the table's caption or the heading above it.
(function () {
  "use strict";

  function nameFor(table) {
    if (table.caption && table.caption.textContent.trim()) return table.caption.textContent.trim();
    var labelledBy = table.getAttribute("aria-labelledby");
    if (labelledBy && document.getElementById(labelledBy)) return document.getElementById(labelledBy).textContent.trim();
    return table.getAttribute("aria-label") || "";
  }

  function markScrollable(box) {
    var scrolls = box.scrollWidth > box.clientWidth + 1;
    if (scrolls && !box.hasAttribute("tabindex")) {
      box.setAttribute("tabindex", "0");
      var table = box.querySelector("table");
      var name = table ? nameFor(table) : "";
      if (name) {
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", name);
      }
    } else if (!scrolls && box.getAttribute("data-table-box") === "scroll") {
      box.removeAttribute("tabindex");
      box.removeAttribute("role");
      box.removeAttribute("aria-label");
    }
    if (scrolls) box.setAttribute("data-table-box", "scroll");
    else box.removeAttribute("data-table-box");
  }

  function wrapTables(root) {
    var scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("main table").forEach(function (table) {
      var parent = table.parentElement;
      if (!parent.classList.contains("table-responsive")) {
        var box = document.createElement("div");
        box.className = "table-responsive";
        parent.insertBefore(box, table);
        box.appendChild(table);
      }
    });
    document.querySelectorAll("main .table-responsive").forEach(markScrollable);
  }

  document.addEventListener("DOMContentLoaded", function () { wrapTables(document); });
  document.addEventListener("htmx:load", function (event) { wrapTables(event.target); });
  var resizing;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { document.querySelectorAll("main .table-responsive").forEach(markScrollable); }, 150);
  });
})();
