// Live progress of a notice: refreshes the progress block every 3 seconds while sending.
(function () {
  "use strict";
  function tick() {
    var el = document.getElementById("progress");
    if (!el || el.getAttribute("data-live") !== "true") { return; }
    fetch(el.getAttribute("data-refresh-url"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html) {
          var box = document.createElement("div");
          box.innerHTML = html;
          var fresh = box.querySelector("#progress");
          if (fresh) { el.replaceWith(fresh); }
        }
        setTimeout(tick, 3000);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 3000);
})();
