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

  // Formsets: a row not saved yet is removed by marking it deleted (the row numbering stays intact).
  function removeRow(button) {
    var row = button.closest("tr");
    var marker = row.querySelector('input[name$="-DELETE"]');
    if (marker) marker.value = "on";
    row.hidden = true;
  }

  // Dates: a date the picker cannot read (30 February) has no value, and would be sent as empty:
  // "This field is required", or an optional date silently lost. Say so next to it and keep the form.
  function dateProblem(input) {
    var id = input.id + "-unreadable";
    var shown = document.getElementById(id);
    if (input.validity && input.validity.badInput) {
      input.classList.add("is-invalid");
      input.setAttribute("aria-invalid", "true");
      if (!shown) {
        shown = document.createElement("div");
        shown.id = id;
        shown.className = "invalid-feedback d-block";
        shown.setAttribute("data-testid", "unreadable-date");
        input.setAttribute("aria-describedby", id);
        input.insertAdjacentElement("afterend", shown);
      }
      shown.textContent = input.getAttribute("data-unreadable-date");
      return true;
    }
    if (shown) {
      shown.remove();
      input.classList.remove("is-invalid");
      input.removeAttribute("aria-invalid");
    }
    return false;
  }

  // Numbers as the server reads them (trials/unreadable.py): a point, or one comma not grouping thousands;
  // full-width digits from a Chinese input method count as digits.
  function typedNumber(text) {
    var plain = (text || "").normalize("NFKC").trim();
    if (!/^[+-]?(\d+([.,]\d*)?|[.,]\d+)$/.test(plain) || /^[+-]?\d{1,3},\d{3}$/.test(plain)) return null;
    return parseFloat(plain.replace(",", "."));
  }

  // Lab form: ranges in the chosen unit; the critical-value tick only for a critical value.
  function updateLabRow(row) {
    var select = row.querySelector("select.lab-unit");
    var unit = select ? select.value : row.getAttribute("data-unit");
    row.querySelectorAll("[data-range-unit]").forEach(function (span) {
      span.hidden = span.getAttribute("data-range-unit") !== unit;
    });
    var confirmation = row.querySelector("[data-critical-confirmation]");
    if (!confirmation) return;
    var value = typedNumber(row.querySelector("input.lab-value").value);
    var factor = select ? parseFloat(select.selectedOptions[0].getAttribute("data-factor")) : 1;
    var low = row.getAttribute("data-critical-low"), high = row.getAttribute("data-critical-high");
    var canonical = value === null ? null : value * factor;
    var critical = canonical !== null && ((low !== null && canonical < parseFloat(low)) || (high !== null && canonical > parseFloat(high)));
    confirmation.hidden = !critical;
    if (!critical) confirmation.querySelector("input").checked = false;
  }

  document.addEventListener("change", function (event) {
    if (event.target.name && event.target.name.indexOf("q_") === 0) updateQolTotal();
    if (event.target.type === "date") dateProblem(event.target);
    var labRow = event.target.closest && event.target.closest("tr[data-analyte]");
    if (labRow && event.target.matches("select.lab-unit")) updateLabRow(labRow);
  });
  document.addEventListener("input", function (event) {
    var labRow = event.target.closest && event.target.closest("tr[data-analyte]");
    if (labRow && event.target.matches("input.lab-value")) updateLabRow(labRow);
  });
  // Leaving a date by clicking elsewhere: the message waits for the end of that click, as showing it at
  // once would move the radio button or link being clicked from under the pointer.
  var pressing = false, afterPress = [];
  document.addEventListener("pointerdown", function () { pressing = true; }, true);
  document.addEventListener("pointerup", function () {
    pressing = false;
    var waiting = afterPress;
    afterPress = [];
    setTimeout(function () { waiting.forEach(function (check) { check(); }); }, 0);
  }, true);
  document.addEventListener("focusout", function (event) {
    var input = event.target;
    if (input.type !== "date") return;
    if (pressing) afterPress.push(function () { dateProblem(input); });
    else dateProblem(input);
  });
  document.addEventListener("submit", function (event) {
    var unreadable = Array.prototype.filter.call(event.target.querySelectorAll('input[type="date"]'), dateProblem);
    if (unreadable.length) {
      event.preventDefault();
      unreadable[0].focus();
    }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-row]");
    if (button) addRow(button);
    var remove = event.target.closest("[data-remove-row]");
    if (remove) removeRow(remove);
    if (event.target.closest("[data-print]")) window.print();
  });
  document.addEventListener("DOMContentLoaded", updateQolTotal);
})();
