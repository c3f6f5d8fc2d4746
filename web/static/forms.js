// A form once sent is not sent again while the page that sent it is still shown: a slow double click on a button
// (or Enter pressed twice) sent it twice, and the second answer replaced the first in the browser. On a dossier the
// server now recognises the second sending, but elsewhere it was a refusal ("this username is already taken") in
// place of the page the first sending drew, such as the one-time password made for a person, shown that once.
(function () {
  "use strict";

  var sent = new WeakSet();
  // Bubbling, after htmx's own handlers and autosave.js's hold: a submit they took over is not a sending.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || event.defaultPrevented) {
      return;
    }
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") {
      return; // a search or a choice: sending it again asks again, and harms nothing
    }
    if (form.hasAttribute("data-download")) {
      return; // answered with a file, the page stays: each press is a download of its own
    }
    if (sent.has(form)) {
      event.preventDefault();
      return;
    }
    sent.add(form);
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      sent = new WeakSet(); // back to the page as it was kept: its forms may be sent again
    }
  });
})();
