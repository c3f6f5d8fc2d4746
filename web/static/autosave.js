// The self-assessment form saves itself as each field is left (htmx, hx-trigger="change" on #answers). A field
// typed into and left at once, by signing out, switching the language, a link or another form, used to be lost:
// its save was still waiting, or in flight while the sign-out ended the session it was sent under. So every way
// out of the page waits here until the answers are saved, then goes on. A save that leaves out a field typed wrong
// saves the others, and says why beside that field (the server draws it); the way out then waits as for a refused
// save. Without JavaScript none of this runs, and the form's own button saves everything typed, or nothing.
(function () {
  "use strict";

  var form = document.getElementById("answers");
  if (!form || !form.hasAttribute("hx-post") || typeof htmx === "undefined") {
    return; // nothing saves itself here: the form's button sends what was typed
  }
  var dirty = false; // typed into since the last save was sent
  var inFlight = 0; // saves sent and not yet answered
  var failed = false; // the last save was refused: its reason is in #save-status
  var waiting = []; // what to do once nothing is left to save
  var resuming = false; // a submit sent again by us, not to be held again
  var beaconSent = false;

  form.addEventListener("input", function () {
    dirty = true;
  });
  form.addEventListener("htmx:beforeRequest", function (event) {
    if (event.target === form) {
      dirty = false;
      inFlight += 1;
    }
  });
  form.addEventListener("htmx:afterRequest", function (event) {
    if (event.target !== form) {
      return;
    }
    inFlight -= 1;
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    failed = status < 200 || status >= 300;
    if (status === 401) {
      keepForLater();
    }
    settle();
  });

  // A save refused because the session has ended (8 idle hours, or signed out in another tab): the browser is sent
  // to sign in, and back here after. What was typed is kept in this tab meanwhile, for this person only, and put
  // back and saved when they return.
  var KEPT = "dossierflow.unsaved-answers";

  function keepForLater() {
    var fields = [];
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string" && name !== "csrf_token" && name !== "version") {
        fields.push([name, value]);
      }
    });
    try {
      sessionStorage.setItem(KEPT, JSON.stringify({ action: form.action, person: form.dataset.person, fields: fields }));
    } catch (ignored) {
      // Storage refused (full, or private browsing): nothing more can be done.
    }
  }

  function putBack() {
    var kept;
    try {
      kept = JSON.parse(sessionStorage.getItem(KEPT) || "null");
      sessionStorage.removeItem(KEPT);
    } catch (ignored) {
      kept = null;
    }
    if (!kept || kept.action !== form.action || kept.person !== form.dataset.person) {
      return;
    }
    var values = {};
    kept.fields.forEach(function (pair) {
      (values[pair[0]] = values[pair[0]] || []).push(pair[1]);
    });
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.type === "hidden" || field.disabled) {
        return;
      }
      var given = values[field.name] || [];
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = given.indexOf(field.value) >= 0;
      } else if (given.length) {
        field.value = given[0];
      }
    });
    var note = document.createElement("p");
    note.className = "done";
    note.setAttribute("role", "status");
    note.textContent = form.dataset.restored || "";
    form.parentNode.insertBefore(note, form);
    dirty = true;
    htmx.trigger(form, "change");
  }
  // After htmx has set the form up (it does so when the document is parsed, and its script runs before this one).
  document.addEventListener("DOMContentLoaded", putBack);

  function unsaved() {
    return dirty || inFlight > 0;
  }

  function settle() {
    if (inFlight > 0) {
      return;
    }
    if (waiting.length && dirty && !failed) {
      // Typed into again while the last save was on its way, and leaving: save that too first.
      htmx.trigger(form, "change");
      return;
    }
    var then = waiting;
    waiting = [];
    then.forEach(function (go) {
      go();
    });
  }

  // Calls `go` once every answer typed is saved; when a save is refused the person stays, reading why (#save-status
  // says it), and whatever they do next leaves without waiting again.
  function whenSaved(go) {
    failed = false;
    waiting.push(function () {
      if (failed) {
        var status = document.getElementById("save-status");
        if (status) {
          status.scrollIntoView({ block: "center" });
        }
        return;
      }
      go();
    });
    if (inFlight === 0 && dirty) {
      htmx.trigger(form, "change");
    } else {
      settle();
    }
  }

  document.addEventListener(
    "click",
    function (event) {
      var link = event.target instanceof Element ? event.target.closest("a[href]") : null;
      if (!link || event.defaultPrevented || event.button !== 0) {
        return;
      }
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
        return; // another tab or window: this page stays, and saves as it goes
      }
      if (link.hasAttribute("download") || (link.target && link.target !== "_self")) {
        return;
      }
      var url = new URL(link.href, location.href);
      if (url.origin === location.origin && url.pathname === location.pathname && url.search === location.search) {
        return; // a place on this page
      }
      if (!unsaved()) {
        return;
      }
      event.preventDefault();
      whenSaved(function () {
        location.assign(link.href);
      });
    },
    true,
  );

  document.addEventListener(
    "submit",
    function (event) {
      var sent = event.target;
      if (resuming || !(sent instanceof HTMLFormElement) || !unsaved()) {
        return;
      }
      if (sent === form && inFlight === 0) {
        dirty = false; // the form itself carries everything typed: nothing is left for the page's closing
        return;
      }
      // Held until the saves are answered: each one's answer redraws every form's version field, so the form sent
      // after it carries the dossier's version as the save left it, not a version the save has made stale.
      event.preventDefault();
      var submitter = event.submitter && event.submitter.form === sent ? event.submitter : null;
      var go = function () {
        resuming = true;
        try {
          if (submitter) {
            sent.requestSubmit(submitter);
          } else {
            sent.requestSubmit();
          }
        } finally {
          resuming = false;
        }
      };
      if (sent === form) {
        waitForAnswers(go);
      } else {
        whenSaved(go);
      }
    },
    true,
  );

  function waitForAnswers(go) {
    waiting.push(go);
    dirty = false; // the form about to be sent carries what was typed
    settle();
  }

  // Leaving by the address bar, the back button or closing the tab cannot be held: what was typed since the last
  // save goes with the page as it closes, as the plain form would send it, marked as the form saving itself: the
  // server then saves every field it can, as for the saves above, rather than refusing all for one typed wrong.
  window.addEventListener("pagehide", function () {
    if (dirty && inFlight === 0 && navigator.sendBeacon) {
      var data = new FormData(form);
      data.append("autosave", "1");
      beaconSent = navigator.sendBeacon(form.action, data);
      dirty = false;
    }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && beaconSent) {
      // Back to this page as it was kept: the save sent as it closed made its version stale.
      location.reload();
    }
  });
})();
