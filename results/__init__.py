"""Published figures shipped as package data (published.csv beside this one)."""
