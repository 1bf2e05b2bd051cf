"""Look-alike raw releases (Human3.6M, MPI-INF-3DHP, MPII) for tests, benchmarks and the demo.

`poses` draws bodies and motions, `render` turns them into frames, and one writer per dataset lays
files out as the official release does; `posebench sample DATASET --out DIR` runs a writer.
"""
