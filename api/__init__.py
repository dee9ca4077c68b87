"""The NimbusGuard API types (pydantic) and the generators of the manifests made from them."""
