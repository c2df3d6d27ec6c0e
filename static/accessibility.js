// Accessibility: names for the controls that the library's widgets draw beside a form's own
// fields (select2, flatpickr, the JSON editor), which carry no label of their own. The page
// frame's markup is app/admin/accessible_markup.py; colours and focus, static/accessibility.css.
(() => {
  // The id of the <label> of a form field, given one if it has none.
  function labelId(field) {
    if (!field.id) return null;
    const label = document.querySelector(`label[for="${CSS.escape(field.id)}"]`);
    if (!label) return null;
    if (!label.id) label.id = `sb-label-${field.id}`;
    return label.id;
  }

  // The field's label first, then whatever the widget named itself by (select2: the value).
  function labelBy(element, id) {
    const own = element.getAttribute("aria-labelledby");
    if (own && own.split(" ").includes(id)) return;
    element.setAttribute("aria-labelledby", own ? `${id} ${own}` : id);
  }

  function nameWidgets() {
    for (const select of document.querySelectorAll("select.select2-hidden-accessible")) {
      const id = labelId(select);
      const widget = select.nextElementSibling;
      if (!id || !widget?.classList.contains("select2")) continue;
      for (const control of widget.querySelectorAll(".select2-selection, .select2-search__field")) {
        labelBy(control, id);
      }
    }
    for (const input of document.querySelectorAll("input.flatpickr-input")) {
      const id = labelId(input);
      const shown = input._flatpickr?.altInput; // the typed box; the field itself is hidden
      if (id && shown) labelBy(shown, id);
    }
    for (const editor of document.querySelectorAll(".jsoneditor")) {
      editor.querySelector(".jsoneditor-search input")?.setAttribute("aria-label", "Search");
      editor.querySelector(".jsoneditor-refresh")?.setAttribute("aria-label", "Search again");
      for (const box of editor.querySelectorAll("input[type=checkbox]:not([aria-label])")) {
        const field = box.closest("tr")?.querySelector(".jsoneditor-field");
        box.setAttribute("aria-label", field?.textContent || "Value");
      }
    }
  }

  // After the library's own ready handlers (form.js) have drawn the widgets: jQuery runs them
  // together, in a task of their own, so ours goes in the task after theirs.
  window.jQuery(() => setTimeout(nameWidgets));
  document.addEventListener("htmx:afterSettle", nameWidgets);
})();
