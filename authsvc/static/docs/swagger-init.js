// Start Swagger UI from a file, not an inline script, so the docs CSP can
// forbid inline code.
window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui-container");
  window.ui = SwaggerUIBundle({
    url: container.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui-container",
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis],
    // No badge from validator.swagger.io: the docs load nothing from elsewhere.
    validatorUrl: null,
  });
});
