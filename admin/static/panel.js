// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  document.addEventListener("change", function (e) {
    var t = e.target;
    // "Select all" checkbox of the inbox.
    if (t.matches && t.matches("input[data-select-all]")) {
      var name = t.getAttribute("data-select-all");
      document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (c) {
        c.checked = t.checked;
      });
    }
    // A response template fills the reply box.
    if (t.matches && t.matches("select[data-fills]")) {
      var box = document.getElementById(t.getAttribute("data-fills"));
      var opt = t.options[t.selectedIndex];
      if (box && opt && opt.getAttribute("data-body")) {
        box.value = opt.getAttribute("data-body");
      }
    }
  });
  // Ask before final or far-reaching steps.
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("[data-confirm]") : null;
    if (b && !window.confirm(b.getAttribute("data-confirm"))) {
      e.preventDefault();
    }
  });
})();
