"use strict";
// The page that `elman serve` shows at /. It sends the text to v1/tag and shows it back with the
// entities highlighted. User text only ever enters the page as DOM text nodes, never as HTML.
(() => {
  const COLOUR_CLASSES = 8;
  const form = document.getElementById("tag-form");
  const input = document.getElementById("text");
  const button = document.getElementById("submit");
  const status = document.getElementById("status");
  const result = document.getElementById("result");
  const legend = document.getElementById("legend");
  const modelName = document.getElementById("model-name");

  // The same rule as colour_class() in elman/tag/html.py: the sum of the code points modulo 8.
  function colourClass(label) {
    let sum = 0;
    for (const char of label) {
      sum += char.codePointAt(0);
    }
    return "c" + (sum % COLOUR_CLASSES);
  }

  function entityMark(label, text, title) {
    const mark = document.createElement("mark");
    mark.className = "entity " + colourClass(label);
    mark.dataset.label = label;
    if (title) {
      mark.title = title;
    }
    mark.append(document.createTextNode(text));
    return mark;
  }

  // The service counts offsets in code points, as Python indexes strings. A JavaScript string
  // counts UTF-16 code units, so the text is sliced as an array of code points instead.
  function renderEntities(text, entities) {
    const characters = Array.from(text);
    const nodes = [];
    let position = 0;
    const sorted = [...entities].sort((a, b) => a.start - b.start);
    for (const entity of sorted) {
      if (entity.start < position || entity.end > characters.length) {
        continue;
      }
      nodes.push(document.createTextNode(characters.slice(position, entity.start).join("")));
      const title = `${entity.label}, confidence ${entity.confidence.toFixed(2)}`;
      const span = characters.slice(entity.start, entity.end).join("");
      nodes.push(entityMark(entity.label, span, title));
      position = entity.end;
    }
    nodes.push(document.createTextNode(characters.slice(position).join("")));
    result.replaceChildren(...nodes);
  }

  function showStatus(message, isError) {
    status.textContent = message;
    status.classList.toggle("error", isError);
  }

  function errorMessage(body, response) {
    if (body && typeof body.detail === "string") {
      return body.detail;
    }
    if (body && Array.isArray(body.detail) && body.detail.length > 0) {
      const first = body.detail[0];
      return `${(first.loc || []).join(".")}: ${first.msg}`;
    }
    return `request failed with status ${response.status}`;
  }

  async function tag(event) {
    event.preventDefault();
    const text = input.value;
    button.disabled = true;
    showStatus("Tagging…", false);
    try {
      const response = await fetch("v1/tag", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: text }),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        showStatus(errorMessage(body, response), true);
        return;
      }
      const entities = body.results[0].entities;
      renderEntities(text, entities);
      const count = entities.length;
      showStatus(count === 1 ? "1 entity" : `${count} entities`, false);
    } catch (error) {
      showStatus(`request failed: ${error.message}`, true);
    } finally {
      button.disabled = false;
    }
  }

  async function showModel() {
    try {
      const response = await fetch("v1/model");
      if (!response.ok) {
        return;
      }
      const info = await response.json();
      modelName.textContent = `Model: ${info.name}`;
      legend.replaceChildren(...info.labels.map((label) => entityMark(label, "", label)));
    } catch (error) {
      showStatus(`cannot read the model's labels: ${error.message}`, true);
    }
  }

  form.addEventListener("submit", tag);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      form.requestSubmit();
    }
  });
  showModel();
})();
