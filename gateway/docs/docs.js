// Swagger UI over the document the nodes serve (embedded in the node from
// docs/api/openapi.json), so the page always shows the API of the running version.
// Authorize with an access token from POST /api/v1/auth/login; it is kept in this page only.
window.addEventListener('DOMContentLoaded', () => {
	window.ui = SwaggerUIBundle({
		url: '/api/v1/openapi.json',
		dom_id: '#swagger-ui',
		deepLinking: true,
		persistAuthorization: false,
		displayRequestDuration: true,
		// No call to the public validator service: the document is linted in scripts/test.
		validatorUrl: null,
		presets: [SwaggerUIBundle.presets.apis],
		layout: 'BaseLayout',
	});
});
