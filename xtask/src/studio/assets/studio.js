// The studio's only script: small conveniences on top of plain forms (every page works
// without it; the server checks everything again).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // NULL toggles: the value they override is greyed out while NULL is ticked.
  for (const toggle of document.querySelectorAll('input[type=checkbox][name="null"], input[type=checkbox][name^="n:"]')) {
    const name = toggle.name === "null" ? "value" : "v:" + toggle.name.slice(2);
    const field = toggle.form && toggle.form.elements.namedItem(name);
    if (!field || !("readOnly" in field)) continue;
    const sync = () => {
      field.readOnly = toggle.checked;
      field.classList.toggle("is-null", toggle.checked);
    };
    toggle.addEventListener("change", sync);
    sync();
  }

  // Insert form: typing a value means "not the default".
  for (const field of document.querySelectorAll('[name^="v:"]')) {
    const d = field.form && field.form.elements.namedItem("d:" + field.name.slice(2));
    if (d) field.addEventListener("input", () => { d.checked = false; });
  }

  // JSON editors: checked as you type, and before the form is sent.
  for (const area of document.querySelectorAll("textarea[data-json]")) {
    const out = area.parentElement.querySelector(".json-error");
    const nullToggle = area.form && area.form.elements.namedItem("null");
    const check = () => {
      if (nullToggle && nullToggle.checked) { out.textContent = ""; return true; }
      try {
        JSON.parse(area.value);
        out.textContent = "";
        area.setCustomValidity("");
        return true;
      } catch (e) {
        out.textContent = "Not valid JSON: " + e.message;
        area.setCustomValidity("Not valid JSON");
        return false;
      }
    };
    area.addEventListener("input", check);
    area.form.addEventListener("submit", (ev) => { if (!check()) ev.preventDefault(); });
  }

  // Grid: "Delete selected" only with a selection.
  const rows = document.getElementById("rows");
  const del = rows && rows.querySelector("button.danger");
  if (del) {
    const boxes = rows.querySelectorAll('input[type=checkbox][name="k"]');
    const sync = () => { del.disabled = ![...boxes].some((b) => b.checked); };
    for (const b of boxes) b.addEventListener("change", sync);
    sync();
  }

  // Console: Ctrl+Enter (Cmd+Enter) runs.
  const sql = document.querySelector('#console textarea[name="sql"]');
  if (sql) {
    sql.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        sql.form.requestSubmit();
      }
    });
  }
});
