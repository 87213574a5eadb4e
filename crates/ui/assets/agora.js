// Agora: small progressive enhancement. Every action works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A "Copy" button beside each copy-paste line and shown-once secret.
  for (const el of document.querySelectorAll(".copy")) {
    if (!navigator.clipboard) break;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "copy-button small";
    b.textContent = "Copy";
    b.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(el.textContent.trim());
        b.textContent = "Copied";
        setTimeout(() => { b.textContent = "Copy"; }, 1500);
      } catch (_) {
        b.textContent = "Select and copy";
      }
    });
    el.insertAdjacentElement("afterend", b);
  }
  // The device form: show the public key box only for key-based devices.
  for (const form of document.querySelectorAll("form[data-credential]")) {
    const box = form.querySelector(".public-key");
    const update = () => {
      const chosen = form.querySelector("input[name=credential]:checked");
      if (box) box.hidden = !(chosen && chosen.value === "public_key");
    };
    form.addEventListener("change", update);
    update();
  }
});
