// /docs: Swagger UI over the Worker's own /openapi.json, every file from this origin (the pinned npm
// swagger-ui-dist, copied to /vendor/swagger-ui/ by `python -m dev_runtime.prepare`). A file of its own
// rather than FastAPI's inline script, so the page runs under the pages' CSP (no inline script).
// No validator badge: it would send the document to validator.swagger.io.
import "/assets/common.js"; // what every page does on load (it deletes a key earlier versions stored)

window.ui = window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
});
