"""Protocol definitions shipped as package data (TOML files beside this one)."""
