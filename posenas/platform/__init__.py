"""Pipeline stages (skeleton layouts, geometry, detection, lifting, encoding) and the Ray jobs that run them."""
