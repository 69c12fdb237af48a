"""Ray Serve deployments, the HTTP API and the Gradio UI."""
