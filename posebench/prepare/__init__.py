"""Official raw releases -> prepared files (one module per dataset, shared helpers beside them)."""
