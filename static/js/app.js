// Small behaviours of the data-entry pages. No inline scripts: the pages keep a strict CSP.
(function () {
  "use strict";

  // QoL: show the total as items are scored; a missing item leaves it missing (no partial sums).
  function updateQolTotal() {
    var output = document.getElementById("qol-total");
    if (!output) return;
    var groups = {};
    document.querySelectorAll('input[type="radio"][name^="q_"]').forEach(function (input) {
      groups[input.name] = groups[input.name] || 0;
      if (input.checked) groups[input.name] = parseInt(input.value, 10);
    });
    var names = Object.keys(groups);
    var scored = names.filter(function (name) { return groups[name] > 0; });
    if (names.length && scored.length === names.length) {
      output.textContent = scored.reduce(function (sum, name) { return sum + groups[name]; }, 0);
    } else {
      output.textContent = "— (" + scored.length + " / " + names.length + ")";
    }
  }

  // Formsets: "Add a level" copies the empty row and renumbers it.
  function addRow(button) {
    var prefix = button.getAttribute("data-add-row");
    var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
    var template = document.getElementById(prefix + "-empty-row");
    var index = parseInt(total.value, 10);
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    document.querySelector("#" + prefix + "-table tbody").insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
    var first = document.querySelector("#" + prefix + "-table tbody tr:last-child select, #" + prefix + "-table tbody tr:last-child input:not([type=hidden])");
    if (first) first.focus();
  }

  document.addEventListener("change", function (event) {
    if (event.target.name && event.target.name.indexOf("q_") === 0) updateQolTotal();
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-row]");
    if (button) addRow(button);
    if (event.target.closest("[data-print]")) window.print();
  });
  document.addEventListener("DOMContentLoaded", updateQolTotal);
})();
