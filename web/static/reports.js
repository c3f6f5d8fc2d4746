// The reports form asks for its report as soon as a choice changes (htmx, hx-trigger="change, submit"). Its Show
// button, pressed after a choice as one does without JavaScript, asked a second time for the very report just
// shown, and that answer, swapped in after the focus had moved on, took the focus with it. A Show that asks for what
// is shown (or on its way) sends nothing and takes the person to the result; any other choice goes as before.
(function () {
  "use strict";

  var form = document.querySelector("form.report-choice");
  if (!form) {
    return;
  }

  function asked() {
    return new URLSearchParams(new FormData(form)).toString();
  }

  var last = asked(); // the choice the page was drawn for
  form.addEventListener("htmx:beforeRequest", function (event) {
    if (event.target === form) {
      last = asked();
    }
  });
  document.addEventListener(
    "submit",
    function (event) {
      if (event.target !== form || asked() !== last) {
        return;
      }
      // Before htmx's own handler on the form: neither it nor the browser sends anything.
      event.preventDefault();
      event.stopPropagation();
      var result = document.getElementById("result");
      if (result) {
        result.focus();
      }
    },
    true,
  );
})();
