// Starts Swagger UI on this server's description. A file of its own, not an inline script:
// the Content-Security-Policy runs scripts from this origin only.
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: false,
});
